"""The window offscreen (pytest-qt): knobs per latent dim wired to the engine, bad bundles, record, export, settings."""
import json
import time

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QSettings

from desktop.engine.devices import NullDriver
from desktop.engine.live import LiveEngine
from desktop.engine.render import default_bundle_path
from desktop.ui.main_window import AppOptions, MainWindow


def make_window(qtbot, settings_path, **kw):
    settings = QSettings(str(settings_path), QSettings.IniFormat)
    opts = AppOptions(list_devices=False, modal_errors=False,
                      driver_factory=lambda i, o: NullDriver(44100, 512, source=None), **kw)
    w = MainWindow(LiveEngine(), settings, opts)
    qtbot.addWidget(w)
    return w


def test_one_knob_per_latent_dim_in_variance_order(qtbot, settings_path, default_bundle):
    w = make_window(qtbot, settings_path)
    m = default_bundle.manifest
    knobs = w.latent_knobs["z"]
    assert len(knobs) == m.levels[0].dim == 16
    assert knobs[0][0].label.startswith("PC1 ") and knobs[15][0].label.startswith("PC16 ")
    ratios = m.latent_stats["z"].explained_variance_ratio
    assert list(ratios) == sorted(ratios, reverse=True)
    assert "22050 Hz" in w.facts.text() and "z:16" in w.facts.text() and "CPU" in w.facts.text()


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


def test_live_views_record_and_export(qtbot, settings_path, data_dir, tmp_path):
    w = make_window(qtbot, settings_path, input_file=str(data_dir / "speech_arctic_a0007.wav"))
    w.show()
    assert w.source_combo.currentIndex() == 1
    assert w.start_audio()
    qtbot.waitUntil(lambda: w.scope.frames_drawn > 10 and w.last_snapshot.frames_out > 44100 // 2, timeout=15000)
    snap = w.last_snapshot
    assert snap.in_peak > 0.001 and snap.latency_ms > 0 and "latency" in w.status_label.text()
    qtbot.waitUntil(lambda: w.last_snapshot.latent_positions.get("z") is not None, timeout=5000)
    assert w.latent_knobs["z"][0][0]._marker is not None
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


def test_settings_persist(qtbot, settings_path, data_dir):
    w = make_window(qtbot, settings_path, input_file=str(data_dir / "speech_arctic_a0007.wav"))
    w.mode_combo.setCurrentText("window")
    w.hop_spin.setValue(250)
    w._apply_stream_config()
    w.show()
    w.resize(1100, 700)
    qtbot.waitUntil(lambda: w.width() == 1100)
    w.close()
    w2 = make_window(qtbot, settings_path)
    w2.show()
    assert w2.mode_combo.currentText() == "window" and w2.hop_spin.value() == 250
    assert w2.engine.config.mode == "window" and abs(w2.engine.config.hop_s - 0.25) < 1e-9
    assert w2.input_audio is not None and w2.bundle.path == default_bundle_path()
    # the offscreen platform clamps windows to its virtual screen, so check what was stored
    assert len(bytes(QSettings(str(settings_path), QSettings.IniFormat).value("window/geometry"))) > 20
