"""The main window: assembles the model browser, transport, mix, latent, MIDI and export controls and the views into
the plugin-style layout, and runs the GUI timer that draws the engine's latest snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import QRect, QSettings, QSize, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from core.bundle import Bundle
from core.latent import LatentControls

from ..engine.audio.latency import DEFAULT_LATENCY
from ..engine.audio.live import LiveEngine
from ..engine.parameters.values import HOP_RANGE_S, LIVE_MODES, StreamConfig
from . import main_thread_gc, theme
from .export_controls import ExportControls
from .first_run import FirstRunHint
from .fit_model import FitToModel
from .generate_panel import GeneratePanel
from .knob import Knob
from .latent_panel import LatentPanel
from .menus import Menus
from .midi_controls import MidiControls
from .mix_controls import MixControls
from .model_browser import ModelBrowser
from .panel import Panel
from .pitch_view import PitchView
from .qtfix import keep_none_alive
from .settings_adapter import SettingsAdapter
from .status_line import StatusLine
from .transport import Transport
from .views import ScopeView

GUI_HZ = 30
FIT_SIZE = (1280, 720)  # the start size: inside a 1366x768 laptop screen with its title bar and panel
TITLE_BAR_PX = 32


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
    device_latency: str | float | tuple = DEFAULT_LATENCY  # PortAudio's: seconds, 'low' / 'high', or (IN, OUT)
    autostart: bool = True
    list_devices: bool = True  # False in widget tests: never touch PortAudio
    driver_factory: Callable | None = None  # (input_device, output_device) -> driver
    modal_errors: bool = True
    preloader: object | None = None  # engine.audio.startup.Preloader: the model and device list, loading already


class MainWindow(QMainWindow):
    def __init__(self, engine: LiveEngine, settings: QSettings, options: AppOptions | None = None):
        super().__init__()
        self.engine = engine
        self.settings = settings
        self.opts = options or AppOptions()
        self.messages: list[str] = []
        self.remote = None  # desktop.control.remote.RemoteControl, attached by the app (OSC, MIDI)
        self._engine_message = ""  # the engine error the message line shows now (cleared when it clears)
        self.last_snapshot = None
        self.setWindowTitle("LatentSynth")
        keep_none_alive()
        main_thread_gc.take_over()  # Qt objects in garbage cycles die on this thread, never in a worker's
        self.setStyleSheet(theme.STYLESHEET)
        self.browser = ModelBrowser(engine, settings, self.show_message, self._model_loaded, self.opts.preloader)
        self.transport = Transport(engine, settings, self.opts, self.show_message, self)
        self.mix = MixControls(engine)
        self.latent = LatentPanel(engine, self.show_message, self.mix.set_params, lambda: self.remote)
        self.fit = FitToModel(
            lambda: self.engine.controls,
            lambda: self.pitch_view.input,
            self.latent.front.set_controls,
            lambda text, kind: self.show_message(text, modal=False, kind=kind),
        )
        self.latent.front.extra = self.fit.button  # beside the Transpose knob, for bundles it can fit
        self.generate = GeneratePanel(
            engine, lambda text, kind: self.show_message(text, modal=False, kind=kind), self._use_streaming
        )
        self.midi = MidiControls(engine, settings, self.show_message, self.messages, self)
        self.exporter = ExportControls(self._export_context, self.show_message, self)
        self._build()
        self.menus = Menus(self)
        self.settings_adapter = SettingsAdapter(self)
        self.settings_adapter.restore()
        self.hint.show_if_new(settings, str(self.transport.recordings_folder), self.source_combo.currentIndex() == 0)
        self.fit_to_screen(size=self.size() if self.settings_adapter.restored_geometry else None)
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
        t, mix, midi = self.transport, self.mix, self.midi

        outer.addLayout(self._build_head())
        self.hint = FirstRunHint()  # shown on the first start only (settings remember it)
        outer.addWidget(self.hint)
        outer.addWidget(self.browser.facts)

        body = QHBoxLayout()
        body.setSpacing(6)
        body.addWidget(self._build_input_panel())
        middle = QVBoxLayout()  # the CONTROLS panel, and GENERATE in the room under it
        middle.setSpacing(6)
        middle.addWidget(self.latent, 1)
        middle.addWidget(self.generate)
        body.addLayout(middle, 1)

        body.addWidget(self._build_output_panel())
        outer.addLayout(body, 0)  # the panels at their height; the views take the rest

        views = QHBoxLayout()
        self.scope = ScopeView()
        self.scope.setMinimumHeight(190)
        views.addWidget(self.scope, 2)
        self.pitch_view = PitchView()
        views.addWidget(self.pitch_view, 1)
        outer.addLayout(views, 1)

        self.status_line = StatusLine()
        self.status_label, self.message_label = self.status_line.status, self.status_line.message
        outer.addLayout(self.status_line)
        self.setCentralWidget(root)
        # the widgets app.py and the tests reach by their old names
        self.facts, self.source_combo, self.record_input_box = self.browser.facts, t.source_combo, t.record_input_box
        self.dry_wet, self.midi_combo = mix.dry_wet, midi.midi_combo
        self.export_bar, self.export_btn = self.exporter.export_bar, self.exporter.export_btn

    def _build_head(self) -> QHBoxLayout:
        """Title, model, mode, hop and the power button."""
        t = self.transport
        head = QHBoxLayout()  # title, model, provider, mode, hop, power
        title = QLabel("LATENTSYNTH")
        title.setObjectName("title")
        head.addWidget(title)
        head.addSpacing(10)
        head.addWidget(self.browser)
        head.addWidget(QLabel("Mode"))
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(list(LIVE_MODES))
        self.mode_combo.setToolTip(
            "streaming: a streaming (causal) bundle block by block, ~25-40 ms; other "
            "bundles play low-latency\n"
            "window: 1 s windows, full crossfade (smooth, ~1 s latency)\n"
            "low-latency: 1 s of context, only the newest hop is played"
        )
        self.mode_combo.activated.connect(lambda _: self._apply_stream_config())
        head.addWidget(self.mode_combo)
        self.mode_note = QLabel("")  # the mode actually playing, when it differs
        self.mode_note.setObjectName("facts")
        head.addWidget(self.mode_note)
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
        head.addWidget(t.power_btn)
        return head

    def _build_input_panel(self) -> Panel:
        """The input source and devices, MIDI, how held notes follow, the input gain and meter."""
        t, mix, midi = self.transport, self.mix, self.midi
        inp = Panel("INPUT")
        il = inp.body
        for w in (
            t.source_combo,
            t.file_btn,
            t.file_label,
            QLabel("Input device"),
            t.in_dev_combo,
            QLabel("Output device"),
            t.out_dev_combo,
            QLabel("MIDI input"),
            midi.midi_combo,
        ):
            il.addWidget(w)
        self.notes_label = QLabel("Notes follow · glide")  # shown only for bundles with a 'pitch' control
        il.addWidget(self.notes_label)
        notes = QHBoxLayout()
        notes.addWidget(midi.follow_combo, 1)
        notes.addWidget(midi.glide_spin)
        il.addLayout(notes)
        grid = QGridLayout()
        grid.addWidget(mix.in_gain, 0, 0)
        grid.addWidget(mix.gate, 1, 0)
        grid.addWidget(mix.in_meter, 0, 1, 2, 1)
        il.addLayout(grid)
        il.addStretch(1)
        inp.setFixedWidth(190)
        return inp

    def _build_output_panel(self) -> Panel:
        """Dry/wet, output gain and meter, bypass, limiter, recording and export."""
        t, mix = self.transport, self.mix
        out = Panel("OUTPUT")
        ol = out.body
        grid = QGridLayout()
        grid.addWidget(mix.dry_wet, 0, 0)
        grid.addWidget(mix.out_gain, 1, 0)
        grid.addWidget(mix.out_meter, 0, 1, 2, 1)
        ol.addLayout(grid)
        for w in (
            mix.bypass_btn,
            mix.limiter_btn,
            t.record_btn,
            t.record_input_box,
            self.exporter.export_btn,
            self.exporter.export_bar,
            self.exporter.cancel_btn,
        ):
            ol.addWidget(w)
        ol.addStretch(1)
        out.setFixedWidth(150)
        return out

    # ---- wiring between the parts -------------------------------------------------------------------------
    def _model_loaded(self, bundle: Bundle, controls: LatentControls) -> None:
        if self.remote is not None:
            self.remote.bind_model(bundle.manifest)
        self.latent.build(bundle)
        self.fit.bind(bundle.manifest)
        self.generate.bind(bundle)
        self.pitch_view.set_trained_range(bundle.manifest.extra.get("trained_range"))
        pitch = bundle.manifest.control("pitch") is not None  # held notes play only a bundle with a pitch control
        for widget in (self.notes_label, self.midi.follow_combo, self.midi.glide_spin):
            widget.setVisible(pitch)
        self.midi.add_midi_menus(self.knob_addresses())
        self.latent.sync_from(controls)

    def _export_context(self):
        return self.transport.input_audio, self.browser.runner, self.engine.controls, self.hop_spin.value() / 1000

    def _apply_stream_config(self) -> None:
        cfg = StreamConfig(self.mode_combo.currentText(), self.hop_spin.value() / 1000)
        if cfg != self.engine.config:
            self.engine.set_stream_config(cfg)

    def _use_streaming(self) -> None:
        """Generate plays in the streaming mode: select it."""
        self.mode_combo.setCurrentText("streaming")
        self._apply_stream_config()

    def knob_addresses(self) -> dict[str, Knob]:
        """Every knob by its registry address (docs/remote-control.md): what MIDI learn binds and OSC moves."""
        knobs = {**self.mix.knob_addresses(), **self.latent.knob_addresses()}
        generate = self.generate.knob_addresses()  # registered only for a bundle that can generate
        registered = self.remote.registry.params if self.remote is not None else {}
        return {**knobs, **{a: k for a, k in generate.items() if a in registered}}

    def attach_remote(self, remote) -> None:
        """Take OSC and MIDI writes from ``remote`` (the app's RemoteControl); MIDI bindings from the settings."""
        self.remote = remote
        if self.bundle is not None:
            remote.bind_model(self.bundle.manifest)
        self.midi.attach(remote, self.knob_addresses())

    def _follow_remote_writes(self) -> None:
        """Widgets follow what OSC and MIDI wrote (drained on the GUI timer, never from their threads)."""
        if not self.midi.changes_arrived():
            return
        self.latent.sync_from(self.engine.controls)
        self.mix.sync_from(self.engine.params)
        self.midi.sync_from_remote()
        self.generate.sync_from(self.engine.generator)
        cfg = self.engine.config
        for w, setter, v in (
            (self.mode_combo, self.mode_combo.setCurrentText, cfg.mode),
            (self.hop_spin, self.hop_spin.setValue, cfg.hop_s * 1000),
        ):
            w.blockSignals(True)
            setter(v)
            w.blockSignals(False)

    # ---- the window's public surface (app.py, tests) ------------------------------------------------------
    bundle = property(lambda self: self.browser.bundle)
    runner = property(lambda self: self.browser.runner)
    input_audio = property(lambda self: self.transport.input_audio)
    latent_knobs = property(lambda self: self.latent.knobs)
    record_error = property(lambda self: self.transport.record_error)
    starting = property(lambda self: self.transport.starting)
    exporting = property(lambda self: self.exporter.exporting)
    missing_devices = property(lambda self: self.settings_adapter.missing_devices)

    def load_bundle_path(self, path: str) -> bool:
        return self.browser.load_bundle_path(path)

    def set_input_file(self, path: str, quiet: bool = False) -> bool:
        return self.transport.set_input_file(path, quiet)

    def start_audio(self) -> bool:
        return self.transport.start_audio()

    def start_audio_async(self, done: Callable[[bool], None] | None = None) -> None:
        self.transport.start_audio_async(done)

    def stop_audio(self) -> None:
        self.transport.stop_audio()

    def start_recording(self, path: str | None = None) -> bool:
        return self.transport.start_recording(path)

    def stop_recording(self) -> None:
        self.transport.stop_recording()

    def export_to(self, path: str) -> bool:
        return self.exporter.export_to(path)

    def set_controls(self, controls: LatentControls) -> None:
        self.latent.set_controls(controls)

    def reset_knobs(self) -> None:
        self.latent.reset_knobs()

    def randomize_knobs(self) -> None:
        self.latent.randomize_knobs()

    def save_preset(self, path: str) -> None:
        self.latent.save_preset(path)

    def load_preset(self, path: str) -> bool:
        return self.latent.load_preset(path)

    def fill_midi_ports(self, names: list[str] | None = None) -> None:
        self.midi.fill_midi_ports(names)

    def _on_midi_chosen(self) -> None:
        self.midi.on_midi_chosen()

    def midi_learn(self, address: str) -> None:
        self.midi.midi_learn(address)

    def save_settings(self) -> None:
        self.settings_adapter.save()

    # ---- messages and the GUI timer -----------------------------------------------------------------------
    def show_message(self, text: str, modal: bool = True, kind: str | None = None) -> None:
        """Show ``text`` on the message line in its kind's colour ('error', 'warn', 'success', 'info'; by default
        'error' when modal, else 'warn'); an error may also open a box (``modal``, unless the options say not)."""
        self.messages.append(text)
        self.status_line.show_message(text, kind or ("error" if modal else "warn"))
        if modal and self.opts.modal_errors:
            box = QMessageBox(QMessageBox.Warning, "LatentSynth", text, QMessageBox.Ok, self)
            box.setAttribute(Qt.WA_DeleteOnClose)
            box.open()  # not exec(): the audio, the views and the timer keep running

    def fit_to_screen(self, available: QRect | None = None, size: QSize | None = None) -> None:
        """Size the window to fit ``available`` (the screen's free area; a 1366x768 laptop's included): ``size``
        (a restored one) or FIT_SIZE, at most the free area less the title bar, never less than the layout needs."""
        if available is None:
            screen = self.screen() or QApplication.primaryScreen()
            available = screen.availableGeometry()
        want = size or QSize(*FIT_SIZE)
        w = min(want.width(), available.width())
        h = min(want.height(), available.height() - TITLE_BAR_PX)
        self.resize(max(w, self.minimumSizeHint().width()), max(h, self.minimumSizeHint().height()))
        frame = self.frameGeometry()
        if not available.contains(frame):
            self.move(available.topLeft())

    def tick(self) -> None:
        keep_none_alive()
        main_thread_gc.collect_due()
        self.transport.collect_start()
        self._follow_remote_writes()
        snap = self.engine.snapshot()
        self.last_snapshot = snap
        if snap.running:
            self.scope.update_from(snap)
            self.pitch_view.update_from(snap)
        self.mix.show_levels(snap)
        self.latent.show_positions(snap.latent_positions)
        self.generate.show_state(snap)
        streaming = snap.mode == "streaming"  # a streaming bundle plays block by block: no hop to set
        if self.hop_spin.isEnabled() == streaming:
            self.hop_spin.setEnabled(not streaming)
            self.hop_spin.setToolTip(
                "the streaming mode plays the bundle's own blocks; the hop applies to window and low-latency"
                if streaming
                else "how far the 1 s window moves each step (window and low-latency modes)"
            )
        self.status_line.show(snap, self.engine.latency_parts() if snap.running else {})
        self._show_mode(snap)
        on = snap.running or self.transport.starting
        if self.transport.power_btn.isChecked() != on:
            self.transport.power_btn.setChecked(on)
        if snap.error != self._engine_message:  # show engine trouble while it lasts, and clear it after
            if snap.error:
                self.show_message(snap.error, modal=False, kind="error")
            else:
                self.status_line.clear_message_if(self._engine_message)
            self._engine_message = snap.error
        self.exporter.poll()

    def _show_mode(self, snap) -> None:
        """Say so beside the Mode menu when the mode playing is not the one chosen (a bundle that cannot stream)."""
        wanted = self.mode_combo.currentText()
        note = f"→ playing {snap.mode}" if snap.running and snap.mode and snap.mode != wanted else ""
        if note != self.mode_note.text():
            self.mode_note.setText(note)
            self.mode_note.setToolTip(f"This bundle cannot play {wanted}: it plays {snap.mode} instead" if note else "")

    def closeEvent(self, event) -> None:
        self.save_settings()
        self.timer.stop()
        self.stop_audio()
        super().closeEvent(event)
