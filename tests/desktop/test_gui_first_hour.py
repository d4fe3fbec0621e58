"""A musician's first hour (issue 24), the window offscreen: a plain start plays the microphone through the default
model, the recordings folder is a setting with a visible indicator, the keyboard shortcuts and the Help menu."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt

from desktop.engine.model.factory import default_bundle_path
from desktop.engine.parameters.params import PREFIX
from desktop.ui.knob import Knob
from tests.desktop.test_gui import make_window

HVAE = default_bundle_path().parent / "hvae"


def test_a_plain_start_plays_the_microphone_and_the_default_model(qtbot, settings_path, fixtures_dir):
    clip = str(fixtures_dir / "speech_arctic_a0007.wav")
    w = make_window(qtbot, settings_path, input_file=clip, bundle=str(HVAE))
    assert w.bundle.path == HVAE and w.source_combo.currentIndex() == 1
    w.close()  # saves: the last model was hvae, the source a file

    plain = make_window(qtbot, settings_path)
    assert plain.bundle.path == default_bundle_path()
    assert plain.source_combo.currentText() == "Microphone" and plain.input_audio is None
    assert not plain.menus.restore_action.isChecked()
    plain.menus.restore_action.trigger()  # the Settings menu: restore the last session at start
    plain.close()
    assert QSettings(str(settings_path), QSettings.IniFormat).value("session/restore") == "true"

    restored = make_window(qtbot, settings_path)  # the session saved by ``plain``: the default on the microphone
    assert restored.bundle.path == default_bundle_path() and restored.source_combo.currentIndex() == 0
    restored.load_bundle_path(str(HVAE))
    restored.set_input_file(clip)
    restored.close()
    again = make_window(qtbot, settings_path)
    assert again.bundle.path == HVAE and again.input_audio is not None and again.source_combo.currentIndex() == 1
    assert again.menus.restore_action.isChecked()
    again.close()


def test_the_recordings_folder_is_chosen_and_shown_while_recording(qtbot, settings_path, fixtures_dir, tmp_path):
    w = make_window(qtbot, settings_path, input_file=str(fixtures_dir / "speech_arctic_a0007.wav"))
    w.show()
    assert str(w.transport.recordings_folder).endswith("LatentSynth")  # the default, ~/LatentSynth
    folder = tmp_path / "takes"
    w.transport.set_recordings_folder(str(folder))
    assert str(folder) in w.transport.record_btn.toolTip() and str(folder) in w.menus.shortcuts_text()
    assert w.start_audio()
    w.transport.record_btn.click()  # Record with no name: a new file in the chosen folder
    qtbot.waitUntil(lambda: w.status_line.recording.isVisible(), timeout=5000)
    path = w.engine.recorder.path
    assert path.parent == folder
    assert w.status_line.recording.text().startswith("● REC") and str(path) in w.status_line.recording.text()
    qtbot.wait(300)
    w.transport.record_btn.click()
    w.tick()
    assert not w.status_line.recording.isVisible() and path.is_file()
    assert w.messages[-1].startswith("Recorded") and str(path) in w.messages[-1]
    w.close()
    w2 = make_window(qtbot, settings_path)
    assert w2.transport.recordings_folder == folder
    w2.close()


def test_space_r_and_b_play_record_and_bypass_and_help_lists_them(qtbot, settings_path, fixtures_dir, tmp_path):
    w = make_window(qtbot, settings_path, input_file=str(fixtures_dir / "speech_arctic_a0007.wav"))
    w.transport.set_recordings_folder(str(tmp_path))
    w.show()
    w.activateWindow()
    qtbot.waitUntil(lambda: w.isActiveWindow(), timeout=5000)
    w.transport.power_btn.setFocus()  # a focused button must not take Space for itself
    assert w.transport.power_btn.text() == "○ Audio off"
    qtbot.keyClick(w.transport.power_btn, Qt.Key_Space)
    assert w.engine.running and w.transport.power_btn.text() == "● Audio on"
    qtbot.keyClick(w, Qt.Key_B)
    assert w.engine.params.bypass and w.mix.bypass_btn.isChecked()
    qtbot.keyClick(w, Qt.Key_B)
    assert not w.engine.params.bypass
    qtbot.keyClick(w, Qt.Key_R)
    assert w.engine.recorder is not None and w.engine.recorder.path.parent == tmp_path
    qtbot.wait(200)
    qtbot.keyClick(w, Qt.Key_R)
    assert w.engine.recorder is None and w.messages[-1].startswith("Recorded")
    qtbot.keyClick(w, Qt.Key_Space)
    assert not w.engine.running and w.transport.power_btn.text() == "○ Audio off"
    text = w.menus.shortcuts_text()
    assert all(k in text for k in ("Space", "R ", "B ", "F1")) and "desktop.md" in text
    titles = [a.text() for a in w.menuBar().actions()]
    assert titles == ["&Edit", "&Settings", "&Help"] and w.menus.docs_action.isEnabled()
    w.close()


DSP = Path(__file__).resolve().parents[2] / "desktop" / "evaluation" / "dsp_bundle"  # sf: declares 4 controls


def test_the_front_panel_shows_the_declared_controls_in_their_units_then_axes(qtbot, settings_path):
    w = make_window(qtbot, settings_path, bundle=str(DSP))
    w.show()
    front = w.latent.front
    declared = [(c.name, k.label, k.fmt.format(k.value())) for c, k in front.declared]
    assert declared == [
        ("transpose", "Transpose", "+0.0 st"),
        ("formant", "Formant", "+0.0 st"),
        ("breath", "Breath", "+0.0 dB"),
    ]  # 'pitch' is a 'set' control: a held MIDI note plays it, so Notes follow shows instead
    assert "formants stay" in front.declared[0][1].toolTip()
    assert [k.label for *_, k in front.axes] == ["Axis 1", "Axis 2", "Axis 3"]
    assert all(k.isVisible() for k in w.latent.front.findChildren(Knob)) and not w.latent.knob_area.isVisible()
    assert w.notes_label.isVisible() and w.midi.follow_combo.isVisible()
    front.declared[0][1].setValue(7.0)  # Transpose +7 semitones
    assert w.engine.controls.values == {"transpose": 7.0}
    assert f"{PREFIX}/control/transpose" in w.knob_addresses()
    front.axes[1][3].setValue(1.5)  # Axis 2 on the front moves PC2 in the grid, and the other way round
    assert w.engine.controls.offsets["z"][1] == 1.5 and w.latent_knobs["z"][1][0].value() == 1.5
    w.latent_knobs["z"][0][0].setValue(-2.0)
    assert front.axes[0][3].value() == -2.0 and w.engine.controls.offsets["z"][0] == -2.0
    w.reset_knobs()
    assert front.declared[0][1].value() == 0.0 and front.axes[1][3].value() == 0.0

    w.load_bundle_path(str(default_bundle_path()))  # declares nothing: six axes named by what they do, no notes row
    labels = [k.label for *_, k in front.axes]
    assert front.declared == [] and len(labels) == 6 and not any(label.startswith("Axis") for label in labels)
    assert labels[:2] == ["Brighter", "Cleaner"]  # the two strongest effects the export measured (axis_effects)
    tip = front.axes[0][3].toolTip()
    assert tip.startswith("Turn right: brighter.") and "brightness" in tip and "(compensated)" in tip
    assert not w.notes_label.isVisible() and not w.midi.follow_combo.isVisible()
    w.close()


ONSET_READINGS = 4  # readings whose 2048-sample frame can still reach back before the sound began (30 a second)


def ticks_at(ticks: dict[float, str], name: str) -> float:
    return next(v for v, label in ticks.items() if label == name)


def test_the_pitch_view_shows_a_220_hz_sine_as_a3(qtbot, settings_path, tmp_path):
    import soundfile as sf

    rate = 22050
    sine = tmp_path / "a3.wav"
    sf.write(sine, (0.3 * np.sin(2 * np.pi * 220.0 * np.arange(3 * rate) / rate)).astype(np.float32), rate)
    w = make_window(qtbot, settings_path, input_file=str(sine))
    w.show()
    assert w.start_audio()
    qtbot.waitUntil(lambda: w.pitch_view.input.last.f0 > 0, timeout=10000)
    qtbot.wait(300)
    reading = w.pitch_view.input.last
    assert abs(1200 * np.log2(reading.f0 / 220.0)) < 5
    text = w.pitch_view.in_note.text()  # the tuner: "IN  A3 +0 ct" over "220.0 Hz"
    first, second = text.split("\n")
    assert first.startswith("IN  A3") and first.endswith(" ct") and second.strip().startswith("220.")
    cents = float(text.split()[2])
    assert abs(cents) < 5
    qtbot.waitUntil(lambda: np.isfinite(w.pitch_view.curves["input"][0].getData()[1]).sum() >= 12, timeout=10000)
    drawn = w.pitch_view.curves["input"][0].getData()[1]
    voiced = drawn[np.isfinite(drawn)]
    # the curve sits on A3 (MIDI 57) within 5 cents once the analysed frame holds only the sine: the first voiced
    # reading's frame still holds the silence before it began (in some runs it read 11 cents sharp, in others B5)
    assert np.max(np.abs(voiced[ONSET_READINGS:] - 57.0)) < 0.05
    plot = w.pitch_view.pitch_plot
    low, high = plot.getViewBox().viewRange()[1]
    ticks = dict(plot.getAxis("left")._tickLevels[0])  # the note names on the axis, by MIDI note
    assert low < ticks_at(ticks, "C3") < 57.0 < ticks_at(ticks, "C4") < high  # drawn between its named neighbours
    w.close()


def test_the_model_list_shows_the_bundle_playing_however_its_path_is_spelled(qtbot, settings_path, monkeypatch):
    import os

    voice = default_bundle_path().parent / "voice"
    monkeypatch.chdir(voice.parent)  # a relative path, as `latentsynth --bundle desktop/factory/voice` gives it
    w = make_window(qtbot, settings_path, bundle=os.path.join(".", "voice"))
    assert w.browser.model_combo.currentText().startswith("voice")
    w.load_bundle_path(str(default_bundle_path()))
    w.load_bundle_path("voice")
    assert w.browser.model_combo.currentText().startswith("voice")
    w.close()


def test_an_instruments_timbre_knob_rests_at_its_own_tone(qtbot, settings_path):
    """The flute's front panel: its declared knobs in their units, Timbre at 0 % (its own tone); turned, the engine
    plays the value; Reset brings it back to 0 %."""
    w = make_window(qtbot, settings_path, bundle=str(default_bundle_path().parent / "flute"))
    w.show()
    front = w.latent.front
    shown = [(c.name, k.fmt.format(k.value())) for c, k in front.declared]
    assert shown == [
        ("transpose", "+0.0 st"),
        ("formant", "+0.0 st"),
        ("breath", "+0.0 dB"),
        ("loudness", "+0.0 dB"),
        ("timbre", "0 %"),
    ]
    timbre = front.declared[-1][1]
    assert "own tone" in timbre.toolTip() and f"{PREFIX}/control/timbre" in w.knob_addresses()
    timbre.setValue(60.0)
    assert w.engine.controls.values == {"timbre": 60.0}
    w.reset_knobs()
    assert timbre.value() == 0.0 and "timbre" not in w.engine.controls.values
