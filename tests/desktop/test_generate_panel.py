"""The GENERATE panel through the real widgets offscreen (issue 27): silence comes in, Generate (the button, then G)
plays the default bundle's prior and sound comes out; the temperature knob reaches the engine; Continue primes from
what was heard; temperature and seed come back in the next window; a bundle without a prior shows the controls
disabled with the reason."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSettings

from desktop.engine.model.factory import default_bundle_path
from tests.desktop.test_gui import make_window

NO_PRIOR = default_bundle_path().parent / "mel-vae"


def out_peak(w) -> float:
    return float(np.abs(w.engine.disp_out.latest(4410)).max())  # the last 0.1 s played


def test_generate_plays_sound_from_silence_with_the_temperature_knob_and_continue(qtbot, settings_path):
    w = make_window(qtbot, settings_path)  # NullDriver with no source: the microphone hears silence
    w.show()
    panel = w.generate
    assert panel.toggle.isEnabled() and panel.continue_btn.isEnabled() and "learned prior" in panel.toggle.toolTip()
    assert w.start_audio()
    qtbot.waitUntil(lambda: w.engine.snapshot().running and w.engine.frames_out > 44100, timeout=20000)
    quiet = out_peak(w)

    panel.toggle.click()
    gen = w.engine.generator
    assert gen.settings.on and w.engine.config.mode == "streaming"
    qtbot.waitUntil(lambda: gen.playing, timeout=10000)
    qtbot.waitUntil(lambda: out_peak(w) > max(0.02, 10 * quiet), timeout=10000)  # sound, from silence
    qtbot.waitUntil(lambda: w.generate.state.text().startswith("playing"), timeout=5000)

    panel.temperature.setValue(0.4)  # what a drag or the wheel ends in: the knob's own signal
    assert gen.settings.temperature == 0.4 and gen.settings.on
    panel.seed.setValue(7)
    assert gen.settings.seed == 7
    qtbot.waitUntil(lambda: gen.playing and not gen.starting, timeout=10000)  # the new seed's start, then playing
    qtbot.waitUntil(lambda: out_peak(w) > max(0.02, 10 * quiet), timeout=10000)
    assert np.isfinite(w.engine.disp_out.latest(44100)).all()

    w.menus.keys["G"].trigger()  # G: off, the input (silence) again
    assert not gen.settings.on
    qtbot.waitUntil(lambda: not gen.playing, timeout=5000)
    w.menus.keys["C"].trigger()  # C: continue the last seconds heard, Generate on again
    assert gen.settings.on and panel.toggle.isChecked() and w.messages[-1].startswith("Continuing the last")
    qtbot.waitUntil(lambda: gen.playing, timeout=10000)
    w.save_settings()
    w.close()

    again = make_window(qtbot, settings_path)  # temperature and seed come back; Generate itself starts off
    assert again.generate.temperature.value() == 0.4 and again.generate.seed.value() == 7
    assert not again.generate.toggle.isChecked()
    again.close()


def test_a_bundle_without_a_prior_shows_generate_disabled_and_says_why(qtbot, settings_path):
    w = make_window(qtbot, settings_path, bundle=str(NO_PRIOR))
    panel = w.generate
    assert w.engine.generator is None
    for widget in (panel.toggle, panel.temperature, panel.seed, panel.continue_btn):
        assert not widget.isEnabled() and "no learned prior" in widget.toolTip() and "N(0, I)" in widget.toolTip()
    w.menus.keys["G"].trigger()
    assert "no learned prior" in w.messages[-1] and not panel.toggle.isChecked()
    assert w.load_bundle_path(str(default_bundle_path()))  # and a bundle with one turns it on
    assert panel.toggle.isEnabled() and w.engine.generator is not None
    w.close()


def test_a_bad_saved_temperature_falls_back_to_1_with_a_message(qtbot, settings_path):
    s = QSettings(str(settings_path), QSettings.IniFormat)
    s.setValue("generate/temperature", "hot")
    s.sync()
    w = make_window(qtbot, settings_path)
    assert w.generate.temperature.value() == 1.0
    assert any("[generate] temperature=hot: not a number" in m for m in w.messages)
    w.close()
