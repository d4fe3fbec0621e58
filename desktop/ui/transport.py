"""Audio on and off, and recording: the input source and file, the device menus, opening the stream (now, or in a
thread while the window keeps drawing), stopping it, and the Record button."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QCheckBox, QComboBox, QFileDialog, QLabel, QPushButton, QWidget

from core.audiofile import Audio, AudioFileError, load_audio
from core.output_path import OutputPathError, unique_path

from ..engine.audio.live import LiveEngine
from ..engine.parameters.values import FileSource
from .saved_values import saved_value

DEFAULT_RECORDINGS = Path.home() / "LatentSynth"


class Transport:
    """The widgets (placed by the window) and the start/stop/record logic. ``opts`` is the window's AppOptions
    (driver factory, device block and latency, the preloader's wake stream); ``parent`` owns the file dialogs."""

    def __init__(
        self, engine: LiveEngine, settings: QSettings, opts, show_message: Callable[..., None], parent: QWidget
    ):
        self.engine, self.settings, self.opts = engine, settings, opts
        self.show_message, self.parent = show_message, parent
        self.input_audio: Audio | None = None
        self.record_error = ""
        self._starting: threading.Thread | None = None
        self._start_result: tuple[bool, str] | None = None
        self._start_done: Callable | None = None

        self.power_btn = QPushButton("○ Audio off")
        self.power_btn.setCheckable(True)
        self.power_btn.setMinimumWidth(96)
        self.power_btn.toggled.connect(
            lambda on: self.power_btn.setText("● Audio on" if on else "○ Audio off")  # the state, not the action
        )
        self.power_btn.setToolTip("Start or stop the audio (Space)")
        self.power_btn.clicked.connect(lambda on: self.start_audio() if on else self.stop_audio())
        self.source_combo = QComboBox()
        self.source_combo.addItems(["Microphone", "File (looped)"])
        self.source_combo.activated.connect(lambda _: self.restart_if_running())
        self.file_btn = QPushButton("Choose file…")
        self.file_btn.clicked.connect(self._open_file_dialog)
        self.file_label = QLabel("no file")
        self.file_label.setObjectName("facts")
        self.file_label.setWordWrap(True)
        self.file_label.setMaximumWidth(170)
        self.in_dev_combo = QComboBox()
        self.out_dev_combo = QComboBox()
        for combo in (self.in_dev_combo, self.out_dev_combo):
            combo.setMaximumWidth(170)
            combo.activated.connect(lambda _: self.restart_if_running())
        self.record_btn = QPushButton("● Record")
        self.record_btn.setObjectName("record")
        self.record_btn.setCheckable(True)
        self.record_btn.clicked.connect(lambda on: self.start_recording() if on else self.stop_recording())
        self.record_input_box = QCheckBox("also record input")
        self._record_tooltip()

    # ---- input --------------------------------------------------------------------------------------------
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
        path, _ = QFileDialog.getOpenFileName(
            self.parent, "Choose an input file", "", "Audio (*.wav *.flac *.ogg *.mp3 *.aif *.aiff)"
        )
        if path and self.set_input_file(path):
            self.restart_if_running()

    def restart_if_running(self) -> None:
        if self.engine.running:
            self.stop_audio()
            self.start_audio()

    # ---- start and stop -----------------------------------------------------------------------------------
    def _driver_maker(self) -> Callable:
        ind = self.in_dev_combo.currentData()
        outd = self.out_dev_combo.currentData()
        factory = self.opts.driver_factory
        if factory is not None:
            return lambda: factory(ind, outd)
        from ..engine.audio.devices import SoundDeviceDriver

        block, latency = self.opts.device_block, self.opts.device_latency
        wake = getattr(self.opts.preloader, "wake", None)  # the stream opened at launch, taken over when it matches
        return lambda: SoundDeviceDriver(ind, outd, blocksize=block, latency=latency, wake=wake)

    def _prepare_start(self) -> Callable[[], None]:
        """Read the widgets (GUI thread) and return the work that opens the stream (any thread)."""
        use_file = self.source_combo.currentIndex() == 1 and self.input_audio is not None
        source = (
            FileSource(
                self.input_audio.mono(),
                self.input_audio.sample_rate,
                self.input_audio.path.name if self.input_audio.path else "file",
            )
            if use_file
            else None
        )
        make = self._driver_maker()
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
        ``collect_start`` (on the GUI timer) reports the result and then calls ``done(ok)``."""
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

    def collect_start(self) -> None:
        if self._starting is None or self._starting.is_alive() or self._start_result is None:
            return
        ok, error = self._start_result
        self._starting, self._start_result = None, None
        done, self._start_done = self._start_done, None
        self._start_finished(ok, error)
        if done is not None:
            done(ok)

    def stop_audio(self) -> None:
        if self._starting is not None:
            self._starting.join(timeout=10)  # an opening stream finishes opening, then stops
            self.collect_start()
        self.stop_recording()
        self.engine.stop()
        self.power_btn.setChecked(False)

    # ---- recording ----------------------------------------------------------------------------------------
    @property
    def recordings_folder(self) -> Path:
        """Where Record writes (Settings > Recordings folder…; ~/LatentSynth until one is chosen)."""
        return Path(saved_value(self.settings, "record/folder") or DEFAULT_RECORDINGS)

    def set_recordings_folder(self, folder: str) -> None:
        self.settings.setValue("record/folder", str(folder))
        self.settings.sync()
        self._record_tooltip()

    def _record_tooltip(self) -> None:
        self.record_btn.setToolTip(f"Record the output to a new WAV in {self.recordings_folder} (R)")

    def start_recording(self, path: str | None = None) -> bool:
        if not self.engine.running:
            self.show_message("Start the audio before recording.")
            self.record_btn.setChecked(False)
            return False
        if path is None:  # a generated name: never one that is taken (a recording never replaces a file)
            path = str(unique_path(self.recordings_folder / time.strftime("latentsynth-%Y%m%d-%H%M%S.wav")))
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
                self.show_message(
                    f"Recording stopped with an error: {rec.error} ({rec.seconds:.1f} s are in {rec.path})"
                )
            else:
                self.show_message(f"Recorded {rec.seconds:.1f} s to {rec.path}", modal=False, kind="success")
