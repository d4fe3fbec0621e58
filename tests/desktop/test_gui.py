"""The window offscreen (pytest-qt): knobs per latent dim wired to the engine, bad bundles, swapping the model while
playing, record, export and its progress, the MIDI notes' follow switch and glide, settings."""

import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPoint, QSettings

from core.bundle import Control
from core.bundle_io import read_manifest, write_manifest
from desktop.engine.audio.devices import NullDriver
from desktop.engine.audio.live import LiveEngine
from desktop.engine.model.factory import default_bundle_path
from desktop.engine.parameters.params import PREFIX
from desktop.ui.knob import Knob
from desktop.ui.latent_panel import percent
from desktop.ui.main_window import AppOptions, MainWindow


def make_window(qtbot, settings_path, **kw):
    settings = QSettings(str(settings_path), QSettings.IniFormat)
    opts = AppOptions(
        list_devices=False, modal_errors=False, driver_factory=lambda i, o: NullDriver(44100, 512, source=None), **kw
    )
    w = MainWindow(LiveEngine(), settings, opts)
    qtbot.addWidget(w)
    return w


def test_one_knob_per_latent_dim_in_variance_order(qtbot, settings_path, default_bundle):
    """What the panel shows, not what the manifest says: its knobs, their labels in reading order, and that each
    offset and scale knob moves its own axis."""
    w = make_window(qtbot, settings_path)
    w.show()
    assert not w.latent.knob_area.isVisible()  # the front panel first; the grid behind 'All axes'
    w.latent.grid_btn.click()
    ratios = default_bundle.manifest.latent_stats["z"].explained_variance_ratio
    knobs = w.latent_knobs["z"]
    assert len(w.latent.knob_holder.findChildren(Knob)) == 2 * len(knobs) == 2 * 16  # no knob left over
    offsets = [off for off, _ in knobs]
    effects = default_bundle.manifest.axis_effects  # each knob named by its measured effect, PCk where it has none
    names = [effects.effect("z", i).name or f"PC{i + 1}" for i in range(16)]
    assert [k.label for k in offsets] == [f"{n} {percent(r)}" for n, r in zip(names, ratios)]
    assert names[0] == "cleaner" and names.count("brighter") > 3 and "PC11" in names  # (axis 11 changes little)
    shown = [float(k.label.split()[1].strip("<%")) for k in offsets]  # the percentages as a user reads them
    assert shown == sorted(shown, reverse=True) and shown[0] > shown[-1]
    at = [k.mapTo(w.latent, QPoint(0, 0)) for k in offsets]  # 8 to a row, PC1 top left, PC9 under it
    assert all(at[i].x() < at[i + 1].x() and at[i].y() == at[i + 1].y() for i in (0, 1, 2, 3, 4, 5, 6))
    assert at[8].x() == at[0].x() and at[8].y() > at[0].y() and all(k.isVisible() for k in offsets)
    for i, (off, sc) in enumerate(knobs):
        off.setValue(-2.0 + 0.25 * i)
        sc.setValue(0.1 * i)
    c = w.engine.controls
    assert c.offsets["z"] == tuple(-2.0 + 0.25 * i for i in range(16))
    assert c.scales["z"] == pytest.approx(tuple(0.1 * i for i in range(16)))
    facts = w.facts.text()
    assert "22050 Hz" in facts and "z:16" in facts and "provider in use: CPU" in facts and "trained on" in facts
    assert w.browser.model_combo.currentData() == str(default_bundle_path())


def test_knobs_swap_frozen_controls_into_the_engine(qtbot, settings_path):
    w = make_window(qtbot, settings_path)
    before = w.engine.controls
    w.latent_knobs["z"][5][0].setValue(1.5)
    w.latent_knobs["z"][2][1].setValue(0.25)
    c = w.engine.controls
    assert c is not before and c.offsets["z"][5] == 1.5 and c.scales["z"][2] == 0.25
    assert w.engine.slot.window_model.controls is c
    w.randomize_knobs()
    assert any(v != 0 for v in w.engine.controls.offsets["z"])
    assert w.latent_knobs["z"][0][0].value() == w.engine.controls.offsets["z"][0]
    w.reset_knobs()
    assert w.engine.controls.is_neutral() and w.latent_knobs["z"][5][0].value() == 0.0


def test_bad_bundle_keeps_the_previous_model(qtbot, settings_path, tmp_path):
    w = make_window(qtbot, settings_path)
    slot = w.engine.slot
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text(json.dumps({"format_version": 99}))
    assert not w.load_bundle_path(str(bad))
    assert "format_version 99" in w.messages[-1] and "Still playing" in w.messages[-1]
    assert w.engine.slot is slot and w.bundle.path == default_bundle_path()


def test_live_views_record_and_export(qtbot, settings_path, fixtures_dir, tmp_path):
    w = make_window(qtbot, settings_path, input_file=str(fixtures_dir / "speech_arctic_a0007.wav"))
    w.show()
    assert w.source_combo.currentIndex() == 1
    assert w.start_audio()
    qtbot.waitUntil(lambda: w.scope.frames_drawn > 10 and w.last_snapshot.frames_out > 44100 // 2, timeout=15000)
    snap = w.last_snapshot
    assert snap.in_peak > 0.001 and snap.latency_ms > 0 and "latency" in w.status_label.text()
    qtbot.waitUntil(lambda: w.last_snapshot.latent_positions.get("z") is not None, timeout=5000)
    assert w.latent.front.axes[0][3]._marker is not None  # the front panel's Axis 1: where the input sits
    assert w.start_recording(str(tmp_path / "rec.wav"))
    qtbot.wait(1200)
    w.stop_recording()
    y, sr = sf.read(tmp_path / "rec.wav")
    assert sr == 44100 and y.size > 44100 * 0.8 and np.abs(y).max() > 0
    assert w.export_to(str(tmp_path / "export.wav"))
    qtbot.waitUntil(lambda: not w.exporting and w.export_bar.value() == 100, timeout=60000)
    w.tick()
    e, esr = sf.read(tmp_path / "export.wav")
    assert esr == w.input_audio.sample_rate and e.shape[0] == w.input_audio.frames
    assert "Exported" in w.messages[-1]
    w.grab().save(str(tmp_path / "shot.png"))
    assert (tmp_path / "shot.png").stat().st_size > 10000
    w.close()
    assert not w.engine.running


def test_settings_persist(qtbot, settings_path, fixtures_dir):
    w = make_window(qtbot, settings_path, input_file=str(fixtures_dir / "speech_arctic_a0007.wav"))
    w.tick()
    assert w.mode_combo.currentText() == "streaming" and not w.hop_spin.isEnabled()  # the default bundle streams
    w.mode_combo.setCurrentText("window")
    w.hop_spin.setValue(250)
    w._apply_stream_config()
    w.tick()
    assert w.hop_spin.isEnabled()
    w.show()
    w.resize(1100, 700)
    qtbot.waitUntil(lambda: w.width() == 1100)
    w.menus.restore_action.setChecked(True)  # Settings > restore the last session: the file comes back too
    w.close()
    w2 = make_window(qtbot, settings_path)
    w2.show()
    assert w2.mode_combo.currentText() == "window" and w2.hop_spin.value() == 250
    assert w2.engine.config.mode == "window" and abs(w2.engine.config.hop_s - 0.25) < 1e-9
    assert w2.input_audio is not None and w2.bundle.path == default_bundle_path()
    # the offscreen platform clamps windows to its virtual screen, so check what was stored
    assert len(bytes(QSettings(str(settings_path), QSettings.IniFormat).value("window/geometry"))) > 20


def test_swapping_the_model_while_playing(qtbot, settings_path, fixtures_dir):
    """The model browser while audio runs: the engine keeps running and plays the new model, the knobs, facts and
    list follow it; a bad pick leaves it playing."""
    w = make_window(qtbot, settings_path, input_file=str(fixtures_dir / "speech_arctic_a0007.wav"))
    w.show()
    assert w.start_audio()
    qtbot.waitUntil(lambda: w.last_snapshot is not None and w.last_snapshot.frames_out > 44100 // 4, timeout=15000)
    combo = w.browser.model_combo
    hvae = str(default_bundle_path().parent / "hvae")
    combo.setCurrentIndex(combo.findData(hvae))
    combo.activated.emit(combo.currentIndex())  # what a user's pick does
    assert w.bundle.path == default_bundle_path().parent / "hvae" and w.engine.running
    assert set(w.latent_knobs) == {"top", "bottom"} and "top:" in w.facts.text() and "bottom:" in w.facts.text()
    qtbot.waitUntil(lambda: w.engine.slot.window_model.runner is w.runner, timeout=10000)  # the worker took it
    frames = w.last_snapshot.frames_out
    qtbot.waitUntil(
        lambda: w.last_snapshot.frames_out > frames + 44100 // 4 and w.last_snapshot.out_peak > 0.001, timeout=15000
    )
    w.latent_knobs["bottom"][0][0].setValue(1.0)
    assert w.engine.controls.offsets["bottom"][0] == 1.0
    assert not w.load_bundle_path(str(settings_path.parent / "nothing-here")) and "Still playing" in w.messages[-1]
    assert w.engine.running and w.bundle.path.name == "hvae" and combo.currentData() == hvae
    combo.setCurrentIndex(combo.findData(str(default_bundle_path())))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: w.engine.slot.window_model.runner is w.runner, timeout=10000)
    assert w.engine.running and set(w.latent_knobs) == {"z"} and w.engine.error == ""
    assert w.engine.controls.is_neutral()  # other levels: the knobs start at rest
    w.close()


def test_export_progress_reaches_one_and_writes_the_file(qtbot, settings_path, fixtures_dir, tmp_path):
    w = make_window(qtbot, settings_path, input_file=str(fixtures_dir / "speech_arctic_a0007.wav"))
    out = tmp_path / "export.flac"
    assert w.export_to(str(out))
    job = w.exporter.job
    assert w.exporting and not w.export_btn.isEnabled() and not w.export_to(str(tmp_path / "second.wav"))
    bar = []
    qtbot.waitUntil(lambda: bar.append(w.export_bar.value()) or w.exporter.job is None, timeout=60000)  # the tick
    bar.append(w.export_bar.value())
    assert job.progress == 1.0 and bar == sorted(bar) and bar[-1] == 100
    assert w.export_btn.isEnabled() and w.exporter.job is None
    assert w.messages[-1].startswith(f"Exported {w.input_audio.seconds:.1f} s to {out}")
    y, sr = sf.read(out)
    assert sr == w.input_audio.sample_rate and y.shape[0] == w.input_audio.frames and np.abs(y).max() > 0.01
    assert not (tmp_path / "second.wav").exists()


@pytest.fixture(scope="module")
def pitch_bundle(tmp_path_factory):
    """A streaming bundle declaring the sf family's two note controls: 'pitch' (set) and 'transpose' (add)."""
    pytest.importorskip("onnx")
    from tests.streaming_identity_bundle import build_streaming_identity_bundle

    d = build_streaming_identity_bundle(tmp_path_factory.mktemp("pitch") / "pitch")
    controls = (
        Control("transpose", "semitones", -24.0, 24.0, 0.0, "z", 1, "add", 1 / 12),
        Control("pitch", "note", 0.0, 127.0, 69.0, "z", 0, "set", 1 / 12),
    )
    write_manifest(d, replace(read_manifest(d), controls=controls))
    return d


def test_follow_switch_and_glide_drive_the_engine_and_are_saved(qtbot, settings_path, pitch_bundle):
    mido = pytest.importorskip("mido")
    from desktop.control.remote import RemoteControl
    from desktop.engine.parameters.values import HOP_RANGE_S, LIVE_MODES

    w = make_window(qtbot, settings_path, bundle=str(pitch_bundle))
    remote = RemoteControl(w.engine, LIVE_MODES, HOP_RANGE_S)
    w.attach_remote(remote)
    midi = w.midi
    assert midi.follow_combo.currentData() == "input" and remote.midi.follow == "input"
    assert w.engine.controls.glide_s == pytest.approx(0.046)  # the default: 4 frames of this bundle
    assert w.engine.slot.streaming_model.glide_frames(w.engine.controls) == 4

    remote.midi.handle(mido.Message("note_on", note=67, velocity=100))  # follow input: transpose by 67 - 60
    assert w.engine.controls.values == {"transpose": 7.0}
    remote.midi.handle(mido.Message("note_off", note=67))

    midi.follow_combo.setCurrentIndex(midi.follow_combo.findData("keyboard"))
    midi.follow_combo.activated.emit(midi.follow_combo.currentIndex())  # a user's pick
    assert remote.midi.follow == "keyboard"
    remote.midi.handle(mido.Message("note_on", note=64, velocity=100))  # follow keyboard: the note IS the pitch
    assert w.engine.controls.values["pitch"] == 64.0 and w.engine.controls.values["transpose"] == 0.0
    remote.midi.handle(mido.Message("note_off", note=64))
    assert "pitch" not in w.engine.controls.values  # released: the input's own pitch again

    midi.glide_spin.setValue(186)  # typed or stepped: the engine's glide follows
    assert w.engine.controls.glide_s == pytest.approx(0.186)
    assert w.engine.slot.streaming_model.glide_frames(w.engine.controls) == 16  # 186 ms at 256 / 22050 Hz
    w.randomize_knobs()
    w.reset_knobs()  # knob moves and resets keep the glide: it is a playing setting, not a knob
    assert w.engine.controls.glide_s == pytest.approx(0.186)

    # both are registry addresses: an OSC write moves the engine and, on the GUI timer, the widgets
    assert remote.registry.get(f"{PREFIX}/notes/glide_s") == pytest.approx(0.186)
    remote.registry.set(f"{PREFIX}/notes/follow", "input")
    remote.registry.set(f"{PREFIX}/notes/glide_s", 0.3)
    w.tick()
    assert midi.follow_combo.currentData() == "input" and remote.midi.follow == "input"
    assert midi.glide_spin.value() == 300 and w.engine.controls.glide_s == pytest.approx(0.3)
    w.midi.set_follow("keyboard")  # what app.py does for --midi-follow keyboard
    assert remote.midi.follow == "keyboard" and remote.registry.get(f"{PREFIX}/notes/follow") == "keyboard"
    w.menus.restore_action.setChecked(True)  # the restart below restores the session's model
    w.close()

    w2 = make_window(qtbot, settings_path)  # a restart: the switch and the glide come back
    remote2 = RemoteControl(w2.engine, LIVE_MODES, HOP_RANGE_S)
    w2.attach_remote(remote2)
    assert w2.bundle.path == pitch_bundle and w2.midi.follow == "keyboard" and remote2.midi.follow == "keyboard"
    assert w2.midi.glide_spin.value() == 300 and w2.engine.controls.glide_s == pytest.approx(0.3)
    assert remote2.registry.get(f"{PREFIX}/notes/glide_s") == pytest.approx(0.3)
    w2.close()


def test_export_can_be_cancelled_and_writes_nothing(qtbot, settings_path, fixtures_dir, tmp_path):
    """A long input (the fixture clips, 8 times over): Cancel right after the start stops the job at its next
    progress step, says so, and leaves no file."""
    clips = [sf.read(p, dtype="float32")[0] for p in sorted(fixtures_dir.glob("*.wav"))]
    mono = [c if c.ndim == 1 else c.mean(axis=1) for c in clips]
    long = tmp_path / "long.wav"
    sf.write(long, np.tile(np.concatenate(mono), 8), 22050)
    w = make_window(qtbot, settings_path, input_file=str(long))
    out = tmp_path / "cancelled.wav"
    assert not w.exporter.cancel_btn.isEnabled()
    assert w.export_to(str(out))
    assert w.exporter.cancel_btn.isEnabled()
    w.exporter.cancel_btn.click()
    qtbot.waitUntil(lambda: w.tick() or w.exporter.job is None, timeout=60000)
    assert w.messages[-1] == "Export cancelled" and not out.exists()
    assert w.export_btn.isEnabled() and not w.exporter.cancel_btn.isEnabled()
    w.close()


def test_a_knob_draws_its_value_and_marker_and_repaints_only_what_moved(qtbot):
    """The knob draws its face (arc, pointer, label, value) once per value and the live marker on top: a new value
    or a visibly moved marker changes the pixels; a marker move under a quarter degree is not repainted at all."""
    k = Knob("PC1", -3, 3, 0, "{:+.2f}", bipolar=True)
    qtbot.addWidget(k)
    k.show()

    def pixels():
        return k.grab().toImage()

    plain = pixels()
    face = k._face
    k.setMarker(1.0)
    marked = pixels()
    assert marked != plain and k._face is face  # the marker is drawn on the cached face, which is not redrawn
    k.setMarker(1.0 + 0.2 * 6 / 270 / 4)  # 0.2 of the quarter degree the dot must move before it is drawn again
    assert k._marker == 1.0 and pixels() == marked
    k.setMarker(-1.0)
    assert pixels() not in (marked, plain)
    k.setMarker(None)
    assert pixels() == plain
    k.setValue(2.0)
    turned = pixels()
    assert turned != plain and k._face is not face  # a new value redraws the face
    k.setValue(0.0)
    assert pixels() == plain


def test_the_spectrogram_view_colours_each_new_column_by_its_level(qtbot):
    """A 2 kHz sine pushed into the scrolling spectrogram: the newest column of the image handed to pyqtgraph is the
    colour map at that column's dB levels, read on a log-frequency axis (brightest at the row nearest 2 kHz), and
    older columns scroll left."""
    import pyqtgraph as pg

    from desktop.engine.model.spectral import colour_lut, db_column
    from desktop.ui.views import LEVELS, N_COLS, N_FFT, N_ROWS, Spectrogram

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    spec = Spectrogram(widget.getPlotItem(), "test")
    rate = 22050
    t = np.arange(4096) / rate
    sine = (0.5 * np.sin(2 * np.pi * 2000.0 * t)).astype(np.float32)
    spec.push(sine, rate)
    rgba = spec.image.image
    assert rgba.dtype == np.uint8 and rgba.shape == (N_ROWS, N_COLS, 4)
    ratios = spec.freqs[1:] / spec.freqs[:-1]
    assert spec.freqs[0] == 40.0 and spec.freqs[-1] == rate / 2 and np.allclose(ratios, ratios[0])  # log-spaced
    col = np.interp(spec.bin_pos, np.arange(N_FFT // 2 + 1), db_column(sine[-N_FFT:]))
    lut = colour_lut()
    idx = np.clip((col - LEVELS[0]) * (255 / (LEVELS[1] - LEVELS[0])), 0, 255).astype(int)
    assert np.array_equal(rgba[:, -1, :3], lut[idx]) and (rgba[:, -1, 3] == 255).all()
    brightest = spec.freqs[int(np.argmax(rgba[:, -1, :3].astype(int).sum(1)))]
    assert abs(12 * np.log2(brightest / 2000.0)) < 1.0  # within a semitone: the rows are 0.8 semitone apart
    assert (rgba[:, 0, :3] == lut[0]).all()  # not filled yet: the floor's colour
    newest = rgba[:, -1].copy()
    spec.push(np.zeros(4096, np.float32), rate)
    after = spec.image.image
    assert np.array_equal(after[:, -2], newest) and (after[:, -1, :3] == lut[0]).all()
