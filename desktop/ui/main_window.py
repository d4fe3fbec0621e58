"""The plugin-style main window: model, transport, latent knobs, mix, meters, views, recording and export."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtWidgets import (QMenu, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFrame, QGridLayout,
                               QHBoxLayout, QLabel, QMainWindow, QMessageBox, QProgressBar, QPushButton,
                               QScrollArea, QSizePolicy, QVBoxLayout, QWidget)

from ..engine.audiofile import Audio, AudioFileError, load_audio, write_audio
from ..engine.bundle import Bundle, BundleError, TrainingData, load_bundle, read_manifest
from ..engine.latent import LatentControls
from ..engine.live import HOP_RANGE_S, LIVE_MODES, EngineParams, FileSource, LiveEngine, ModelSlot, StreamConfig
from ..engine.formats import FormatError, output_format
from ..engine.output_path import OutputPathError, check_output_file, unique_path
from ..engine.params import PREFIX
from ..engine.presets import PresetError, load_preset, preset_midi, random_controls, save_preset
from ..engine.render import default_bundle_path, render_audio
from ..engine.session import ModelRunner, WindowModel, available_providers
from . import theme
from .knob import Knob, Meter
from .qtfix import keep_none_alive
from .views import ScopeView

GUI_HZ = 30


@dataclass
class AppOptions:
    """What the command line (or a test) decides; ``None`` means: from the saved settings."""

    bundle: str | None = None
    input_file: str | None = None
    provider: str | None = None
    mode: str | None = None
    hop: float | None = None
    input_device: str | None = None
    output_device: str | None = None
    device_block: int = 512  # frames per device callback (the engine is built with the same block)
    device_latency: str | float = 0.08  # PortAudio's suggested latency: seconds, or 'low' / 'high'
    autostart: bool = True
    list_devices: bool = True  # False in widget tests: never touch PortAudio
    driver_factory: Callable | None = None  # (input_device, output_device) -> driver
    modal_errors: bool = True
    preloader: object | None = None  # engine.startup.Preloader: the model and device list, loading already


def factory_bundles() -> list[Path]:
    root = default_bundle_path().parent
    return sorted(p for p in root.iterdir() if (p / "manifest.json").is_file())


def manifest_facts(bundle_dir: Path) -> str:
    m = read_manifest(bundle_dir)
    data = m.provenance.get("data", {}) if isinstance(m.provenance, dict) else {}
    dims = " + ".join(f"{l.name}:{l.dim}" for l in m.levels)
    lines = [f"family {m.family} · {m.sample_rate} Hz · window {m.window / m.sample_rate:.2f} s",
             f"latent dims {dims} · compression {m.compression_ratio:.0f}:1" + (" · quantized" if "quantizer" in m.parts else "")]
    if m.training_data is not None:
        lines.append(f"{training_data_line(m.training_data)} · step {m.provenance.get('step', '?')}")
    elif data:
        lines.append(f"trained on {data.get('files', '?')} files, {data.get('minutes', '?')} min"
                     f" · step {m.provenance.get('step', '?')}")
    return "\n".join(lines)


def training_data_line(td: TrainingData) -> str:
    """'trained on 66.1 min: speech 22.4 (GPL-2), music 21.1 (GPL-3+, Expat)': training minutes per category
    with its licences, each cut at its first parenthesis (the manifest holds the full text)."""
    if not td.sources:
        return f"trained on {td.train_minutes:.1f} min, {td.train_files} files (licences unknown)"
    minutes: dict[str, float] = {}
    licences: dict[str, list[str]] = {}
    for s in td.sources:
        category = s.category or "other"
        minutes[category] = minutes.get(category, 0.0) + s.minutes
        short = s.license.split(" (")[0].strip() or "?"
        if short not in licences.setdefault(category, []):
            licences[category].append(short)
    parts = [f"{c} {minutes[c]:.1f} ({', '.join(licences[c])})" for c in sorted(minutes, key=lambda c: -minutes[c])]
    unknown = f", {td.unlisted_train_files} files unlisted" if td.unlisted_train_files else ""
    return f"trained on {td.train_minutes:.1f} min: " + ", ".join(parts) + unknown


def percent(ratio: float) -> str:
    """Explained variance as a label: 62%, 3.8%, <0.1%."""
    pct = 100.0 * ratio
    if pct >= 9.95:
        return f"{pct:.0f}%"
    if pct >= 0.1:
        return f"{pct:.1f}%"
    return "<0.1%"


def _panel(title: str) -> tuple[QFrame, QVBoxLayout]:
    frame = QFrame()
    frame.setObjectName("panel")
    lay = QVBoxLayout(frame)
    lay.setContentsMargins(8, 6, 8, 8)
    lay.setSpacing(4)
    label = QLabel(title)
    label.setObjectName("section")
    lay.addWidget(label)
    return frame, lay


class MainWindow(QMainWindow):
    def __init__(self, engine: LiveEngine, settings: QSettings, options: AppOptions | None = None):
        super().__init__()
        self.engine = engine
        self.settings = settings
        self.opts = options or AppOptions()
        self.bundle: Bundle | None = None
        self.runner: ModelRunner | None = None
        self.input_audio: Audio | None = None
        self.latent_knobs: dict[str, list[tuple[Knob, Knob]]] = {}
        self.messages: list[str] = []
        self._export_thread: threading.Thread | None = None
        self._export_progress = 0.0
        self._export_result = ""
        self._updating = False
        self._starting: threading.Thread | None = None
        self._start_result: tuple[bool, str] | None = None
        self._start_done: Callable | None = None
        self._engine_message = ""  # the engine error the message line shows now (cleared when it clears)
        self.record_error = ""
        self.missing_devices: dict[str, str] = {}  # kind -> a saved device name that is not present
        self.remote = None  # desktop.control.remote.RemoteControl, attached by the app (OSC, MIDI)
        self._midi_names: list[str] | None = None  # MIDI input ports, handed over by the thread that lists them
        self.rng = np.random.default_rng()
        self.setWindowTitle("LatentSynth")
        keep_none_alive()
        self.setStyleSheet(theme.STYLESHEET)
        self._build()
        self._restore_settings()
        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / GUI_HZ))
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    # ---- layout --------------------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QWidget()
        outer = QVBoxLayout(root)
        outer.setContentsMargins(8, 6, 8, 6)
        outer.setSpacing(6)

        # header: title, model, provider, mode, hop, power
        head = QHBoxLayout()
        title = QLabel("LATENTSYNTH")
        title.setObjectName("title")
        head.addWidget(title)
        head.addSpacing(10)
        head.addWidget(QLabel("Model"))
        self.model_combo = QComboBox()
        self.model_combo.setMinimumWidth(230)
        self.model_combo.activated.connect(self._on_model_chosen)
        head.addWidget(self.model_combo)
        self.open_bundle_btn = QPushButton("Open…")
        self.open_bundle_btn.setToolTip("Open a bundle folder (manifest.json + ONNX parts)")
        self.open_bundle_btn.clicked.connect(self._open_bundle_dialog)
        head.addWidget(self.open_bundle_btn)
        head.addWidget(QLabel("Provider"))
        self.provider_combo = QComboBox()
        self.provider_combo.addItems(["auto"] + available_providers()[::-1])
        self.provider_combo.activated.connect(lambda _: self.reload_model())
        head.addWidget(self.provider_combo)
        head.addWidget(QLabel("Mode"))
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(list(LIVE_MODES))
        self.mode_combo.setToolTip("streaming: a streaming (causal) bundle block by block, ~25-40 ms; other "
                                   "bundles play low-latency\n"
                                   "window: 1 s windows, full crossfade (smooth, ~1 s latency)\n"
                                   "low-latency: 1 s of context, only the newest hop is played")
        self.mode_combo.activated.connect(lambda _: self._apply_stream_config())
        head.addWidget(self.mode_combo)
        head.addWidget(QLabel("Hop"))
        self.hop_spin = QDoubleSpinBox()
        self.hop_spin.setRange(HOP_RANGE_S[0] * 1000, HOP_RANGE_S[1] * 1000)
        self.hop_spin.setSingleStep(10)
        self.hop_spin.setDecimals(0)
        self.hop_spin.setSuffix(" ms")
        self.hop_spin.setValue(200)
        self.hop_spin.editingFinished.connect(self._apply_stream_config)
        head.addWidget(self.hop_spin)
        head.addStretch(1)
        self.power_btn = QPushButton("● Audio on")
        self.power_btn.setCheckable(True)
        self.power_btn.clicked.connect(lambda on: self.start_audio() if on else self.stop_audio())
        head.addWidget(self.power_btn)
        outer.addLayout(head)

        self.facts = QLabel("")
        self.facts.setObjectName("facts")
        self.facts.setWordWrap(True)  # the training-data line is long; never let it widen the window
        outer.addWidget(self.facts)

        body = QHBoxLayout()
        body.setSpacing(6)
        # input panel
        inp, il = _panel("INPUT")
        self.source_combo = QComboBox()
        self.source_combo.addItems(["Microphone", "File (looped)"])
        self.source_combo.activated.connect(lambda _: self._restart_if_running())
        il.addWidget(self.source_combo)
        self.file_btn = QPushButton("Choose file…")
        self.file_btn.clicked.connect(self._open_file_dialog)
        il.addWidget(self.file_btn)
        self.file_label = QLabel("no file")
        self.file_label.setObjectName("facts")
        self.file_label.setWordWrap(True)
        self.file_label.setMaximumWidth(170)
        il.addWidget(self.file_label)
        il.addWidget(QLabel("Input device"))
        self.in_dev_combo = QComboBox()
        self.in_dev_combo.setMaximumWidth(170)
        il.addWidget(self.in_dev_combo)
        il.addWidget(QLabel("Output device"))
        self.out_dev_combo = QComboBox()
        self.out_dev_combo.setMaximumWidth(170)
        il.addWidget(self.out_dev_combo)
        for combo in (self.in_dev_combo, self.out_dev_combo):
            combo.activated.connect(lambda _: self._restart_if_running())
        il.addWidget(QLabel("MIDI input"))
        self.midi_combo = QComboBox()
        self.midi_combo.setMaximumWidth(170)
        self.midi_combo.setToolTip("MIDI controllers and keyboards; right-click a knob for MIDI learn")
        self.midi_combo.activated.connect(lambda _: self._on_midi_chosen())
        il.addWidget(self.midi_combo)
        row = QHBoxLayout()
        self.in_gain = Knob("IN GAIN", -24, 24, 0, "{:+.1f} dB", bipolar=True, color=theme.ACCENT2)
        self.in_gain.valueChanged.connect(lambda _: self._apply_params())
        row.addWidget(self.in_gain)
        self.in_meter = Meter("IN")
        row.addWidget(self.in_meter)
        il.addLayout(row)
        il.addStretch(1)
        inp.setFixedWidth(190)
        body.addWidget(inp)

        # latent panel
        lat, self.latent_layout = _panel("LATENT  ·  offset (std) and scale per PCA axis, ordered by explained variance")
        bar = QHBoxLayout()
        for text, slot in (("Reset", self.reset_knobs), ("Randomize", self.randomize_knobs),
                           ("Save preset…", self._save_preset_dialog), ("Load preset…", self._load_preset_dialog)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            bar.addWidget(b)
        bar.addStretch(1)
        legend = QLabel("● live position of the input")
        legend.setStyleSheet(f"color: {theme.ACCENT2};")
        bar.addWidget(legend)
        self.latent_layout.addLayout(bar)
        self.knob_area = QScrollArea()
        self.knob_area.setWidgetResizable(True)
        self.knob_holder = QWidget()
        self.knob_grid = QVBoxLayout(self.knob_holder)
        self.knob_grid.setContentsMargins(0, 0, 0, 0)
        self.knob_area.setWidget(self.knob_holder)
        self.latent_layout.addWidget(self.knob_area, 1)
        body.addWidget(lat, 1)

        # output panel
        out, ol = _panel("OUTPUT")
        grid = QGridLayout()
        self.dry_wet = Knob("DRY/WET", 0, 100, 100, "{:.0f} %")
        self.out_gain = Knob("OUT GAIN", -24, 24, 0, "{:+.1f} dB", bipolar=True)
        self.dry_wet.valueChanged.connect(lambda _: self._apply_params())
        self.out_gain.valueChanged.connect(lambda _: self._apply_params())
        grid.addWidget(self.dry_wet, 0, 0)
        grid.addWidget(self.out_gain, 1, 0)
        self.out_meter = Meter("OUT")
        grid.addWidget(self.out_meter, 0, 1, 2, 1)
        ol.addLayout(grid)
        self.bypass_btn = QPushButton("Bypass")
        self.bypass_btn.setCheckable(True)
        self.bypass_btn.setToolTip("Dry signal only, delayed by the same latency so the timing does not jump")
        self.bypass_btn.toggled.connect(lambda _: self._apply_params())
        ol.addWidget(self.bypass_btn)
        self.limiter_btn = QPushButton("Limiter -1 dB")
        self.limiter_btn.setCheckable(True)
        self.limiter_btn.setChecked(True)
        self.limiter_btn.toggled.connect(lambda _: self._apply_params())
        ol.addWidget(self.limiter_btn)
        self.record_btn = QPushButton("● Record")
        self.record_btn.setObjectName("record")
        self.record_btn.setCheckable(True)
        self.record_btn.clicked.connect(lambda on: self.start_recording() if on else self.stop_recording())
        ol.addWidget(self.record_btn)
        self.record_input_box = QCheckBox("also record input")
        ol.addWidget(self.record_input_box)
        self.export_btn = QPushButton("Export file…")
        self.export_btn.setToolTip("Render the loaded input file through the current model and knobs to a WAV")
        self.export_btn.clicked.connect(self._export_dialog)
        ol.addWidget(self.export_btn)
        self.export_bar = QProgressBar()
        self.export_bar.setRange(0, 100)
        self.export_bar.setValue(0)
        ol.addWidget(self.export_bar)
        ol.addStretch(1)
        out.setFixedWidth(150)
        body.addWidget(out)
        outer.addLayout(body, 3)

        self.scope = ScopeView()
        self.scope.setMinimumHeight(200)
        outer.addWidget(self.scope, 2)

        status = QHBoxLayout()
        self.status_label = QLabel("stopped")
        self.status_label.setObjectName("status")
        status.addWidget(self.status_label, 1)
        self.message_label = QLabel("")
        self.message_label.setObjectName("warn")
        self.message_label.setWordWrap(True)
        status.addWidget(self.message_label, 1)
        outer.addLayout(status)
        self.setCentralWidget(root)
        self.resize(1180, 780)

    # ---- settings -----------------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s, o = self.settings, self.opts
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        mode = o.mode or s.value("stream/mode", "streaming")
        self.mode_combo.setCurrentText(mode if mode in LIVE_MODES else "streaming")
        hop = o.hop if o.hop is not None else float(s.value("stream/hop", 0.2))
        self.hop_spin.setValue(hop * 1000)
        provider = o.provider or s.value("model/provider", "auto")
        idx = self.provider_combo.findText(provider)
        self.provider_combo.setCurrentIndex(max(0, idx))
        self._fill_devices(o.input_device or s.value("audio/input_device", "default"),
                           o.output_device or s.value("audio/output_device", "default"),
                           saved=(o.input_device is None, o.output_device is None))
        self.engine.set_stream_config(StreamConfig(self.mode_combo.currentText(), self.hop_spin.value() / 1000))
        self._refresh_model_list()
        bundle = o.bundle or s.value("model/last_bundle") or str(default_bundle_path())
        if not self.load_bundle_path(bundle) and bundle != str(default_bundle_path()):
            self.load_bundle_path(str(default_bundle_path()))
        file = o.input_file or s.value("audio/source_file")
        if file:
            self.set_input_file(file, quiet=o.input_file is None)
        if o.input_file or (file and s.value("audio/source", "file") == "file" and self.input_audio is not None):
            self.source_combo.setCurrentIndex(1 if self.input_audio is not None else 0)

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("stream/mode", self.mode_combo.currentText())
        s.setValue("stream/hop", self.hop_spin.value() / 1000)
        s.setValue("model/provider", self.provider_combo.currentText())
        if self.bundle is not None:
            s.setValue("model/last_bundle", str(self.bundle.path))
        for key, combo in (("audio/input_device", self.in_dev_combo), ("audio/output_device", self.out_dev_combo)):
            if combo.currentIndex() in self._listed_devices.get(key, ()):  # never save a name no device has
                s.setValue(key, combo.currentData() or "default")
        s.setValue("audio/source", "file" if self.source_combo.currentIndex() == 1 else "microphone")
        if self.remote is not None:
            s.setValue("midi/bindings", json.dumps(self.remote.midi.to_json()))
        if self.input_audio is not None and self.input_audio.path is not None:
            s.setValue("audio/source_file", str(self.input_audio.path))
        s.sync()

    def _fill_devices(self, want_in, want_out, saved: tuple[bool, bool] = (False, False)) -> None:
        """Fill the device menus. A device named on the command line that is not present stays selected (the
        start then says so); one only remembered from the settings falls back to the default, with a message,
        so a device that has gone away never keeps a plain start silent."""
        self._listed_devices: dict[str, set[int]] = {}
        devices, listed = [], False
        if self.opts.list_devices:
            try:
                pre = self.opts.preloader
                if pre is not None and pre.backend is not None:
                    devices = pre.backend.result()
                else:
                    from ..engine.devices import list_devices

                    devices = list_devices()
                listed = True
            except Exception as exc:  # DeviceError, PortAudio missing
                self.show_message(str(exc), modal=False)
        for combo, kind, want, from_settings in ((self.in_dev_combo, "input", want_in, saved[0]),
                                                 (self.out_dev_combo, "output", want_out, saved[1])):
            key = f"audio/{kind}_device"
            combo.clear()
            combo.addItem("default", "default")
            for d in devices:
                if (d.inputs if kind == "input" else d.outputs) > 0:
                    combo.addItem(f"{d.name} ({d.hostapi})", d.name)
            self._listed_devices[key] = set(range(combo.count())) if listed else {0}
            i = combo.findData(want)
            if i < 0 and want not in (None, "", "default"):
                if listed and from_settings:
                    self.missing_devices[kind] = str(want)
                    self.show_message(f"The saved {kind} device '{want}' is not present; using the default.",
                                      modal=False)
                    i = 0
                else:
                    combo.addItem(str(want), str(want))
                    i = combo.count() - 1
            combo.setCurrentIndex(max(0, i))

    # ---- model browser ------------------------------------------------------------------------------------
    def _user_bundles(self) -> list[str]:
        raw = self.settings.value("model/user_bundles", "[]")
        try:
            return [p for p in json.loads(raw) if isinstance(p, str)]
        except (TypeError, json.JSONDecodeError):
            return []

    def _refresh_model_list(self) -> None:
        self.model_combo.clear()
        for p in factory_bundles() + [Path(p) for p in self._user_bundles()]:
            try:
                name = str(read_manifest(p).provenance.get("name") or p.name)
            except BundleError:
                name = p.name + " (unreadable)"
            label = name if p.parent == default_bundle_path().parent else f"{name} — {p}"
            self.model_combo.addItem(label, str(p))
        if self.bundle is not None:
            self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(str(self.bundle.path))))

    def _on_model_chosen(self, index: int) -> None:
        path = self.model_combo.itemData(index)
        if path and (self.bundle is None or str(self.bundle.path) != path):
            self.load_bundle_path(path)

    def _open_bundle_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a model bundle folder")
        if path:
            self.load_bundle_path(path)

    def reload_model(self) -> None:
        if self.bundle is not None:
            self.load_bundle_path(str(self.bundle.path))

    def load_bundle_path(self, path: str) -> bool:
        """Load and swap in a bundle; on any error the previous model keeps running and a message says why."""
        provider = self.provider_combo.currentText()
        try:
            pre = self.opts.preloader.take_model(path, provider) if self.opts.preloader is not None else None
            if pre is not None:
                bundle, runner, slot = pre
            else:
                bundle = load_bundle(path)
                runner = ModelRunner(bundle, provider=provider, threads=1)
                slot = ModelSlot.from_runner(runner)
        except (BundleError, RuntimeError, ValueError, OSError) as exc:
            self.show_message(f"Cannot load model: {exc}" + ("" if self.bundle is None else
                              f"\nStill playing {self.bundle.name}."))
            if self.bundle is not None:
                self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(str(self.bundle.path))))
            return False
        same_levels = self.runner is not None and self.runner.manifest.levels == bundle.manifest.levels
        controls = self.engine.controls if same_levels else LatentControls()
        slot.window_model.controls = controls
        self.bundle, self.runner = bundle, runner
        self.engine.set_model(slot)
        self.engine.set_controls(controls)
        p = Path(path).resolve()
        if p.parent != default_bundle_path().parent.resolve() and str(p) not in self._user_bundles():
            self.settings.setValue("model/user_bundles", json.dumps(self._user_bundles() + [str(p)]))
        self._refresh_model_list()
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(str(bundle.path))))
        self.facts.setText(manifest_facts(bundle.path).replace("\n", "   ·   ") +
                           f"   ·   provider in use: {runner.short_provider.upper()}")
        if self.remote is not None:
            self.remote.bind_model(bundle.manifest)
        self._build_knobs()
        self._sync_knobs_from(controls)
        return True

    # ---- latent knobs -------------------------------------------------------------------------------------
    def _build_knobs(self) -> None:
        while self.knob_grid.count():
            item = self.knob_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.latent_knobs = {}
        m = self.bundle.manifest
        cols = 8
        for level in m.levels:
            group = QWidget()
            gl = QGridLayout(group)
            gl.setContentsMargins(0, 0, 0, 0)
            gl.setHorizontalSpacing(2)
            gl.setVerticalSpacing(0)
            ratios = m.latent_stats[level.name].explained_variance_ratio
            if len(m.levels) > 1:
                head = QLabel(f"level {level.name} · {level.dim} dims · one frame per {level.hop} samples")
                head.setObjectName("section")
                self.knob_grid.addWidget(head)
            pairs = []
            for i in range(level.dim):
                off = Knob(f"PC{i + 1} {percent(ratios[i])}", -3, 3, 0, "{:+.2f}σ", size=48, bipolar=True)
                off.setToolTip(f"{level.name} PCA axis {i + 1}: {100 * ratios[i]:.1f}% of the latent variance.\n"
                               "Offset in standard deviations; the amber dot is where the input sits now.")
                sc = Knob("scale", 0, 3, 1, "×{:.2f}", size=30, color=theme.DIM)
                sc.setToolTip(f"{level.name} PCA axis {i + 1}: scale of the input's movement along it")
                off.valueChanged.connect(lambda v, n=level.name, k=i, d=level.dim: self._on_offset(n, k, v, d))
                sc.valueChanged.connect(lambda v, n=level.name, k=i, d=level.dim: self._on_scale(n, k, v, d))
                cell = QVBoxLayout()
                cell.setSpacing(0)
                cell.addWidget(off, 0, Qt.AlignHCenter)
                cell.addWidget(sc, 0, Qt.AlignHCenter)
                gl.addLayout(cell, i // cols, i % cols)
                pairs.append((off, sc))
            self.latent_knobs[level.name] = pairs
            self.knob_grid.addWidget(group)
        self.knob_grid.addStretch(1)
        self._add_midi_menus()

    # ---- remote control (OSC, MIDI learn) -----------------------------------------------------------------
    def knob_addresses(self) -> dict[str, Knob]:
        """Every knob by its registry address (docs/desktop.md): what MIDI learn binds and OSC moves."""
        out = {f"{PREFIX}/mix/input_gain_db": self.in_gain, f"{PREFIX}/mix/output_gain_db": self.out_gain,
               f"{PREFIX}/mix/dry_wet": self.dry_wet}
        for name, pairs in self.latent_knobs.items():
            for i, (off, sc) in enumerate(pairs):
                out[f"{PREFIX}/latent/{name}/{i}/offset"] = off
                out[f"{PREFIX}/latent/{name}/{i}/scale"] = sc
        return out

    def attach_remote(self, remote) -> None:
        """Take OSC and MIDI writes from ``remote`` (the app's RemoteControl); MIDI bindings from the settings."""
        self.remote = remote
        if self.bundle is not None:
            remote.bind_model(self.bundle.manifest)
        errors = remote.midi.load_json(json.loads(self.settings.value("midi/bindings", "[]") or "[]"))
        for e in errors:
            self.messages.append(e)
        self._add_midi_menus()
        self.fill_midi_ports([])  # 'none' and the open port now; the system's list is read off the GUI thread

        def list_ports() -> None:
            from ..control.midi import input_names

            self._midi_names = input_names()

        threading.Thread(target=list_ports, name="midi-ports", daemon=True).start()

    def fill_midi_ports(self, names: list[str] | None = None) -> None:
        """The MIDI input list: 'none', the ports there are, and the open one even if it has gone."""
        from ..control.midi import input_names

        names = input_names() if names is None else names
        current = self.remote.midi_in.name if self.remote is not None and self.remote.midi_in else ""
        self.midi_combo.clear()
        self.midi_combo.addItem("none", "")
        for n in names + ([current] if current and current not in names else []):
            self.midi_combo.addItem(n, n)
        self.midi_combo.setCurrentIndex(max(0, self.midi_combo.findData(current)))

    def _on_midi_chosen(self) -> None:
        name = self.midi_combo.currentData() or ""
        if self.remote is None:
            return
        try:
            if name:
                self.remote.open_midi(name)
            else:
                self.remote.close_midi()
            self.settings.setValue("midi/input", name)
        except OSError as exc:
            self.show_message(str(exc), modal=False)
            self.fill_midi_ports()

    def _add_midi_menus(self) -> None:
        if self.remote is None:
            return
        for address, knob in self.knob_addresses().items():
            if knob.property("midi_menu"):  # mix knobs outlive model swaps: one menu each
                continue
            knob.setProperty("midi_menu", True)
            knob.setContextMenuPolicy(Qt.CustomContextMenu)
            knob.customContextMenuRequested.connect(lambda pos, a=address, k=knob: self._midi_menu(a, k, pos))

    def _midi_menu(self, address: str, knob: Knob, pos) -> None:
        menu = QMenu(self)
        learn = menu.addAction("MIDI learn (move a controller)")
        bound = [f"CC {c} ch {ch + 1}" for (ch, c), a in self.remote.midi.bindings.items() if a == address]
        forget = menu.addAction("Forget MIDI " + (", ".join(bound) if bound else "mapping"))
        forget.setEnabled(bool(bound))
        chosen = menu.exec(knob.mapToGlobal(pos))
        if chosen is learn:
            self.midi_learn(address)
        elif chosen is forget:
            self.remote.midi.forget(address)

    def midi_learn(self, address: str) -> None:
        self.remote.midi.learn(address)
        self.show_message(f"MIDI learn: move a controller for {address.removeprefix(PREFIX + '/')}", modal=False)

    def _apply_remote_changes(self) -> None:
        """Widgets follow what OSC and MIDI wrote (drained on the GUI timer, never from their threads)."""
        if self._midi_names is not None:  # the port list arrived from its thread
            names, self._midi_names = self._midi_names, None
            self.fill_midi_ports(names)
        if self.remote is None or not self.remote.changes():
            return
        self._sync_knobs_from(self.engine.controls)
        p = self.engine.params
        self.in_gain.setValue(p.input_gain_db, emit=False)
        self.out_gain.setValue(p.output_gain_db, emit=False)
        self.dry_wet.setValue(100 * p.dry_wet, emit=False)
        for btn, on in ((self.bypass_btn, p.bypass), (self.limiter_btn, p.limiter)):
            btn.blockSignals(True)
            btn.setChecked(on)
            btn.blockSignals(False)
        cfg = self.engine.config
        for w, setter, v in ((self.mode_combo, self.mode_combo.setCurrentText, cfg.mode),
                             (self.hop_spin, self.hop_spin.setValue, cfg.hop_s * 1000)):
            w.blockSignals(True)
            setter(v)
            w.blockSignals(False)

    def _on_offset(self, level: str, axis: int, value: float, dim: int) -> None:
        if not self._updating:
            self.engine.set_controls(self.engine.controls.with_offset(level, axis, value, dim))

    def _on_scale(self, level: str, axis: int, value: float, dim: int) -> None:
        if not self._updating:
            self.engine.set_controls(self.engine.controls.with_scale(level, axis, value, dim))

    def _sync_knobs_from(self, controls: LatentControls) -> None:
        self._updating = True
        try:
            for name, pairs in self.latent_knobs.items():
                offs = controls.offsets.get(name) or ()
                scs = controls.scales.get(name) or ()
                for i, (off, sc) in enumerate(pairs):
                    off.setValue(offs[i] if i < len(offs) else 0.0, emit=False)
                    sc.setValue(scs[i] if i < len(scs) else 1.0, emit=False)
        finally:
            self._updating = False

    def set_controls(self, controls: LatentControls) -> None:
        self.engine.set_controls(controls)
        self._sync_knobs_from(controls)

    def reset_knobs(self) -> None:
        self.set_controls(LatentControls())

    def randomize_knobs(self) -> None:
        if self.bundle is not None:
            self.set_controls(random_controls(self.bundle.manifest, self.rng))

    def save_preset(self, path: str) -> None:
        midi = self.remote.midi.to_json() if self.remote is not None else None
        save_preset(path, self.engine.controls, self.bundle.manifest, self.engine.params, self.bundle.name, midi)

    def load_preset(self, path: str) -> bool:
        try:
            controls, params = load_preset(path, self.bundle.manifest, EngineParams)
        except PresetError as exc:
            self.show_message(str(exc))
            return False
        self.set_controls(controls)
        if params is not None:
            self._set_param_widgets(params)
        if self.remote is not None:
            try:
                midi = preset_midi(path)
            except PresetError:
                midi = []
            if midi:
                for e in self.remote.midi.load_json(midi):
                    self.show_message(e, modal=False)
        return True

    def _save_preset_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save preset", "preset.json", "Presets (*.json)")
        if path:
            self.save_preset(path)

    def _load_preset_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load preset", "", "Presets (*.json)")
        if path:
            self.load_preset(path)

    # ---- mix parameters -----------------------------------------------------------------------------------
    def _apply_params(self) -> None:
        self.engine.set_params(replace(self.engine.params, input_gain_db=self.in_gain.value(),
                                       output_gain_db=self.out_gain.value(), dry_wet=self.dry_wet.value() / 100,
                                       bypass=self.bypass_btn.isChecked(), limiter=self.limiter_btn.isChecked()))

    def _set_param_widgets(self, p: EngineParams) -> None:
        self.in_gain.setValue(p.input_gain_db)
        self.out_gain.setValue(p.output_gain_db)
        self.dry_wet.setValue(100 * p.dry_wet)
        self.bypass_btn.setChecked(p.bypass)
        self.limiter_btn.setChecked(p.limiter)
        self._apply_params()

    def _apply_stream_config(self) -> None:
        cfg = StreamConfig(self.mode_combo.currentText(), self.hop_spin.value() / 1000)
        if cfg != self.engine.config:
            self.engine.set_stream_config(cfg)

    # ---- input and transport ------------------------------------------------------------------------------
    def set_input_file(self, path: str, quiet: bool = False) -> bool:
        try:
            audio = load_audio(path)
        except AudioFileError as exc:
            if not quiet:
                self.show_message(f"Cannot use the input file: {exc}")
            return False
        self.input_audio = audio
        self.file_label.setText(f"{Path(path).name}\n{audio.seconds:.1f} s · {audio.sample_rate} Hz")
        self.source_combo.setCurrentIndex(1)
        return True

    def _open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose an input file", "",
                                              "Audio (*.wav *.flac *.ogg *.mp3 *.aif *.aiff)")
        if path and self.set_input_file(path):
            self._restart_if_running()

    def _restart_if_running(self) -> None:
        if self.engine.running:
            self.stop_audio()
            self.start_audio()

    def _driver_maker(self, input_needed: bool) -> Callable:
        ind = self.in_dev_combo.currentData()
        outd = self.out_dev_combo.currentData()
        factory = self.opts.driver_factory
        if factory is not None:
            return lambda: factory(ind, outd)
        from ..engine.devices import SoundDeviceDriver

        block, latency = self.opts.device_block, self.opts.device_latency
        pre = self.opts.preloader
        wake = getattr(pre, "wake", None)  # the stream opened at launch, taken over when its settings match
        return lambda: SoundDeviceDriver(ind, outd, blocksize=block, latency=latency, wake=wake)

    def _prepare_start(self) -> Callable[[], None]:
        """Read the widgets (GUI thread) and return the work that opens the stream (any thread)."""
        use_file = self.source_combo.currentIndex() == 1 and self.input_audio is not None
        source = (FileSource(self.input_audio.mono(), self.input_audio.sample_rate,
                             self.input_audio.path.name if self.input_audio.path else "file") if use_file else None)
        make = self._driver_maker(not use_file)

        pre = self.opts.preloader

        def work() -> None:
            self.engine.set_file_source(source)
            try:
                self.engine.start(make())
            except Exception:
                if pre is None or not pre.close_wake():
                    raise
                self.engine.start(make())  # the device may take one stream only: again, without the wake stream
            if pre is not None:
                pre.close_wake()  # taken over, or the real stream runs now and keeps the sound server awake

        return work

    def _start_finished(self, ok: bool, error: str) -> bool:
        if not ok:  # DeviceError and PortAudio's own errors: report, keep the window alive
            self.show_message(f"Audio could not start: {error}")
        self.power_btn.setChecked(ok)
        return ok

    def start_audio(self) -> bool:
        """Open the stream now, on this thread; True when audio runs."""
        try:
            self._prepare_start()()
        except Exception as exc:
            return self._start_finished(False, str(exc))
        return self._start_finished(True, "")

    def start_audio_async(self, done: Callable[[bool], None] | None = None) -> None:
        """Open the stream in a thread, so the window keeps drawing while PortAudio and the sound server start;
        the GUI timer reports the result and then calls ``done(ok)``."""
        work = self._prepare_start()
        self._start_result, self._start_done = None, done

        def run():
            try:
                work()
                self._start_result = (True, "")
            except Exception as exc:
                self._start_result = (False, str(exc))

        self._starting = threading.Thread(target=run, name="latentsynth-start", daemon=True)
        self._starting.start()

    @property
    def starting(self) -> bool:
        return self._starting is not None

    def stop_audio(self) -> None:
        if self._starting is not None:
            self._starting.join(timeout=10)  # an opening stream finishes opening, then stops
            self._collect_start()
        self.stop_recording()
        self.engine.stop()
        self.power_btn.setChecked(False)

    # ---- recording and export -----------------------------------------------------------------------------
    def start_recording(self, path: str | None = None) -> bool:
        if not self.engine.running:
            self.show_message("Start the audio before recording.")
            self.record_btn.setChecked(False)
            return False
        if path is None:  # a generated name: never one that is taken (a recording never replaces a file)
            folder = Path(self.settings.value("record/folder", str(Path.home() / "LatentSynth")))
            path = str(unique_path(folder / time.strftime("latentsynth-%Y%m%d-%H%M%S.wav")))
        try:
            self.engine.start_recording(path, self.record_input_box.isChecked())
        except (OutputPathError, OSError) as exc:
            self.record_error = f"Cannot record: {exc}"
            self.show_message(self.record_error)
            self.record_btn.setChecked(False)
            return False
        self.record_btn.setChecked(True)
        return True

    def stop_recording(self) -> None:
        rec = self.engine.stop_recording()
        self.record_btn.setChecked(False)
        if rec is not None:
            if rec.error:
                self.record_error = rec.error
                self.show_message(f"Recording stopped with an error: {rec.error} "
                                  f"({rec.seconds:.1f} s are in {rec.path})")
            else:
                self.show_message(f"Recorded {rec.seconds:.1f} s to {rec.path}", modal=False)

    def _export_dialog(self) -> None:
        if self.input_audio is None:
            self.show_message("Choose an input file first: export renders that file through the model.")
            return
        stem = self.input_audio.path.stem if self.input_audio.path else "export"
        path, _ = QFileDialog.getSaveFileName(self, "Export", f"{stem}-latentsynth.wav",
                                              "Audio (*.wav *.flac *.ogg *.mp3 *.aif *.aiff)")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> bool:
        """Render the input file offline (window mode: the smoothest) in a thread; progress shows in the bar."""
        if self.input_audio is None or self.runner is None:
            self.show_message("Choose an input file first: export renders that file through the model.")
            return False
        if self._export_thread is not None and self._export_thread.is_alive():
            return False
        try:  # the same rules as latentsynth-render: never onto the input, a folder, or an unwritable place
            check_output_file(path, inputs=[self.input_audio.path])
            fmt = output_format(path, like=self.input_audio.subtype)
        except (OutputPathError, FormatError) as exc:
            self.show_message(f"Cannot export: {exc}")
            return False
        audio, model = self.input_audio, WindowModel(self.runner, self.engine.controls)
        hop = self.hop_spin.value() / 1000
        self._export_progress, self._export_result = 0.0, ""

        def work():
            try:
                y = render_audio(audio, model, hop, lambda d, t: setattr(self, "_export_progress", d / max(t, 1)))
                write_audio(path, y, audio.sample_rate, fmt.subtype)
                self._export_result = f"Exported {audio.seconds:.1f} s to {path} ({fmt.describe()})"
            except Exception as exc:  # any failure becomes a message, never a crash
                self._export_result = f"Export failed: {exc}"
            self._export_progress = 1.0

        self._export_thread = threading.Thread(target=work, name="latentsynth-export", daemon=True)
        self._export_thread.start()
        self.export_btn.setEnabled(False)
        return True

    @property
    def exporting(self) -> bool:
        return self._export_thread is not None and self._export_thread.is_alive()

    # ---- messages and the GUI timer -----------------------------------------------------------------------
    def show_message(self, text: str, modal: bool = True) -> None:
        self.messages.append(text)
        self.message_label.setText(text.splitlines()[0][:160])
        self.message_label.setToolTip(text)
        if modal and self.opts.modal_errors:
            box = QMessageBox(QMessageBox.Warning, "LatentSynth", text, QMessageBox.Ok, self)
            box.setAttribute(Qt.WA_DeleteOnClose)
            box.open()  # not exec(): the audio, the views and the timer keep running

    def _collect_start(self) -> None:
        if self._starting is None or self._starting.is_alive() or self._start_result is None:
            return
        ok, error = self._start_result
        self._starting, self._start_result = None, None
        done, self._start_done = self._start_done, None
        self._start_finished(ok, error)
        if done is not None:
            done(ok)

    def tick(self) -> None:
        keep_none_alive()
        self._collect_start()
        self._apply_remote_changes()
        snap = self.engine.snapshot()
        self.last_snapshot = snap
        if snap.running:
            self.scope.update_from(snap)
        self.in_meter.setPeak(snap.in_peak)
        self.out_meter.setPeak(snap.out_peak)
        for name, pairs in self.latent_knobs.items():
            pos = snap.latent_positions.get(name)
            for i, (off, _) in enumerate(pairs):
                off.setMarker(float(pos[i]) if pos is not None and i < len(pos) else None)
        if snap.running:
            rec = f" · ● REC {snap.recording_s:5.1f} s" if snap.recording_path else ""
            parts = self.engine.latency_parts()  # block + compute slot + model delay + device block + resampler + device
            detail = " + ".join(f"{k.replace('_', ' ')} {v:.0f}" for k, v in parts.items()
                                if k != "block_p99_compute" and v >= 0.5)
            self.status_label.setText(
                f"{snap.mode} · latency {snap.latency_ms:5.0f} ms ({detail or 'algo %.0f' % snap.algorithmic_ms})"
                f" · load {snap.rtf:4.2f}× RT · xruns {snap.xruns} · late {snap.late_windows}"
                f" · {snap.provider.upper()} · {snap.device_rate}→{snap.model_rate} Hz · {snap.source}{rec}")
        else:
            self.status_label.setText(f"stopped · {snap.provider.upper()}")
        if snap.error != self._engine_message:  # show engine trouble while it lasts, and clear it after
            if snap.error:
                self.show_message(snap.error, modal=False)
            elif self.message_label.text() == self._engine_message.splitlines()[0][:160]:
                self.message_label.setText("")
                self.message_label.setToolTip("")
            self._engine_message = snap.error
        if self._export_thread is not None:
            self.export_bar.setValue(int(100 * self._export_progress))
            if not self._export_thread.is_alive():
                self._export_thread = None
                self.export_btn.setEnabled(True)
                if self._export_result:
                    self.show_message(self._export_result, modal=self._export_result.startswith("Export failed"))

    def closeEvent(self, event) -> None:
        self.save_settings()
        self.timer.stop()
        self.stop_audio()
        super().closeEvent(event)
