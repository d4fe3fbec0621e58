"""'Fit to model' (issue 25, item 3), through the real widgets offscreen: a tone 1.2 octaves above the pitch the dsp
bundle was trained around, played into it, fits Transpose to -12 through the knobs' path (the knob moves, Ctrl+Z undoes it, a preset
keeps it); no voiced input changes nothing and says so; a bundle that declares ``loudness`` and records
``loudness_db`` gets its level fitted too; the button is hidden for a bundle without a trained range."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from core.pitch_track import Reading, midi_of
from desktop.engine.audio.devices import NullDriver
from desktop.engine.audio.live import LiveEngine
from desktop.engine.model.factory import default_bundle_path
from desktop.ui.fit_model import MIN_VOICED, input_medians
from desktop.ui.main_window import AppOptions, MainWindow
from tests.desktop.test_gui import make_window

DSP = Path(__file__).resolve().parents[2] / "desktop" / "evaluation" / "dsp_bundle"
# the pitch the bundle was trained around, as its manifest records it and the app reads it (about 155 Hz)
TRAINED = json.loads((DSP / "manifest.json").read_text())["extra"]["trained_range"]["pitch_hz"][1]
TRAINED_HZ = f"{TRAINED:.0f} Hz"
# the voice: 1.2 octaves above it, so one octave down is clearly the nearest (whole Hz: 2 s loop cleanly)
VOICE_HZ = float(round(TRAINED * 2**1.2))
RATE = 44100


def tone_window(qtbot, settings_path, hz: float = VOICE_HZ, amplitude: float = 0.3):
    t = np.arange(RATE * 2) / RATE
    tone = (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)  # 2 s, a whole number of periods: loops clean
    opts = AppOptions(
        bundle=str(DSP),
        list_devices=False,
        modal_errors=False,
        driver_factory=lambda i, o: NullDriver(RATE, 512, source=tone),  # the fake microphone
    )
    w = MainWindow(LiveEngine(), QSettings(str(settings_path), QSettings.IniFormat), opts)
    qtbot.addWidget(w)
    return w


def test_a_voice_above_the_trained_range_fits_the_dsp_bundle_an_octave_down_as_one_undoable_step(
    qtbot, settings_path, tmp_path
):
    w = tone_window(qtbot, settings_path)
    w.show()
    button = w.fit.button
    assert button.isVisible() and "Transpose" in button.toolTip() and TRAINED_HZ in button.toolTip()
    transpose = next(knob for c, knob in w.latent.front.declared if c.name == "transpose")
    assert w.source_combo.currentIndex() == 0 and w.start_audio()
    qtbot.waitUntil(lambda: np.isfinite(w.pitch_view.input.midi).sum() >= MIN_VOICED + 5, timeout=20000)
    hz, _ = input_medians(w.pitch_view.input)
    assert hz == pytest.approx(VOICE_HZ, rel=0.01)

    button.click()
    assert w.engine.controls.values["transpose"] == -12.0 and transpose.value() == -12.0
    assert w.messages[-1] == f"Octave -1: your voice ({VOICE_HZ:.0f} Hz) moved toward the model's {TRAINED_HZ}"
    assert w.status_line.message.text().startswith("Octave -1")
    assert w.menus.undo_action.isEnabled()

    w.save_preset(str(tmp_path / "fitted.json"))  # a preset keeps the declared knobs
    assert json.loads((tmp_path / "fitted.json").read_text())["controls"]["transpose"] == -12.0
    w.menus.undo_action.trigger()  # one step: back where it was
    assert w.engine.controls.values.get("transpose", 0.0) == 0.0 and transpose.value() == 0.0
    assert w.load_preset(str(tmp_path / "fitted.json"))
    assert w.engine.controls.values["transpose"] == -12.0 and transpose.value() == -12.0

    w.menus.keys["F"].trigger()  # F fits again: the input's pitch, not the output's, so the same octave
    assert w.engine.controls.values["transpose"] == -12.0
    w.close()


def test_without_a_voiced_input_nothing_changes_and_the_message_says_so(qtbot, settings_path):
    w = make_window(qtbot, settings_path, bundle=str(DSP))
    before = w.engine.controls
    assert not w.fit.fit()
    assert w.engine.controls is before and not w.latent.history.can_undo
    assert "no voiced input heard yet" in w.messages[-1]
    w.close()


def test_a_loudness_control_and_range_fit_the_level_too(qtbot, settings_path, tmp_path):
    bundle = tmp_path / "instrument"
    shutil.copytree(DSP, bundle)
    data = json.loads((bundle / "manifest.json").read_text())
    data["controls"].append(
        {"name": "loudness", "unit": "dB", "minimum": -30.0, "maximum": 30.0, "default": 0.0, "level": "control",
         "channel": 3, "transform": "add", "scale": 0.1, "description": "dB added to the input's loudness"}
    )  # fmt: skip
    data["extra"]["trained_range"] = {"pitch_hz": [260.0, 522.0, 1000.0], "loudness_db": [-40.0, -26.0, -12.0]}
    (bundle / "manifest.json").write_text(json.dumps(data))
    w = make_window(qtbot, settings_path, bundle=str(bundle))
    assert not w.fit.button.isHidden() and "Loudness" in w.fit.button.toolTip()
    for i in range(60):  # a low voice at -35 dBFS, with a few unvoiced readings that do not count
        w.pitch_view.input.push(Reading(127.0, midi_of(127.0), -35.0) if i % 4 else Reading(0.0, np.nan, -70.0))
    assert w.fit.fit()
    assert w.engine.controls.values["transpose"] == 24.0 and w.engine.controls.values["loudness"] == 9.0
    assert w.messages[-1].startswith("Octave +2: your voice (127 Hz) moved toward the model's 522 Hz; loudness +9 dB")
    loud = next(knob for c, knob in w.latent.front.declared if c.name == "loudness")
    assert loud.value() == 9.0
    w.close()


def test_the_button_is_hidden_for_a_bundle_without_a_trained_range(qtbot, settings_path):
    w = make_window(qtbot, settings_path, bundle=str(DSP))
    assert not w.fit.button.isHidden()
    assert w.load_bundle_path(str(default_bundle_path()))  # no trained range, no transpose
    assert w.fit.button.isHidden()
    w.menus.keys["F"].trigger()
    assert "nothing to fit" in w.messages[-1] and not w.latent.history.can_undo
    assert w.load_bundle_path(str(DSP))  # and back
    assert not w.fit.button.isHidden()
    w.close()


def test_a_preset_keeps_the_declared_knobs_and_refuses_one_out_of_range(tmp_path):
    from core.bundle_io import read_manifest
    from core.latent import LatentControls
    from desktop.engine.parameters.presets import PresetError, read_preset, save_preset

    m = read_manifest(DSP)
    c = LatentControls().with_value(m.control("transpose"), -12).with_value(m.control("breath"), 3.0)
    path = save_preset(tmp_path / "p.json", c.with_value(m.control("pitch"), 60), m)  # a held note: not saved
    assert json.loads(path.read_text())["controls"] == {"transpose": -12.0, "breath": 3.0}
    assert read_preset(path, m).controls.values == {"transpose": -12.0, "breath": 3.0}
    data = json.loads(path.read_text())
    data["controls"]["transpose"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(PresetError, match="controls.transpose"):
        read_preset(path, m)
