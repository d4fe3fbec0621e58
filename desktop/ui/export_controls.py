"""The Export file… and Cancel buttons and the progress bar: start an engine ``ExportJob`` on the loaded input file
and show its progress and result from the GUI timer (the rendering itself runs in the job's thread, no Qt there)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QFileDialog, QProgressBar, QPushButton, QWidget

from core.audiofile import Audio
from core.latent import LatentControls
from core.session import ModelRunner

from ..engine.files.export_job import ExportError, ExportJob


class ExportControls:
    """``context()`` returns (input audio or None, model runner or None, controls, hop in seconds) at the moment an
    export starts; ``parent`` owns the save dialog."""

    def __init__(
        self,
        context: Callable[[], tuple[Audio | None, ModelRunner | None, LatentControls, float]],
        show_message: Callable[..., None],
        parent: QWidget,
    ):
        self.context, self.show_message, self.parent = context, show_message, parent
        self.job: ExportJob | None = None
        self.export_btn = QPushButton("Export file…")
        self.export_btn.setToolTip("Render the loaded input file through the current model and knobs to a WAV")
        self.export_btn.clicked.connect(self._export_dialog)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Stop the export; nothing is written")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        self.export_bar = QProgressBar()
        self.export_bar.setRange(0, 100)
        self.export_bar.setValue(0)

    def _export_dialog(self) -> None:
        audio = self.context()[0]
        if audio is None:
            self.show_message("Choose an input file first: export renders that file through the model.")
            return
        stem = audio.path.stem if audio.path else "export"
        path, _ = QFileDialog.getSaveFileName(
            self.parent, "Export", f"{stem}-latentsynth.wav", "Audio (*.wav *.flac *.ogg *.mp3 *.aif *.aiff)"
        )
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> bool:
        """Start rendering the input file offline to ``path``; False (with a message) when it cannot start."""
        audio, runner, controls, hop_s = self.context()
        if audio is None or runner is None:
            self.show_message("Choose an input file first: export renders that file through the model.")
            return False
        if self.exporting:
            return False
        try:
            job = ExportJob(audio, runner, controls, path, hop_s)
        except ExportError as exc:
            self.show_message(f"Cannot export: {exc}")
            return False
        self.job = job.start()
        self.export_bar.setValue(0)
        self.export_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        return True

    @property
    def exporting(self) -> bool:
        return self.job is not None and not self.job.done

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_btn.setEnabled(False)

    def poll(self) -> None:
        """On the GUI timer: the bar follows the job; when it is done, the button comes back and the result shows."""
        job = self.job
        if job is None:
            return
        done = job.done  # read before the progress: a finished job's progress is already 1.0
        self.export_bar.setValue(int(100 * job.progress))
        if done:
            self.job = None
            self.export_btn.setEnabled(True)
            self.cancel_btn.setEnabled(False)
            if job.result:
                failed = job.result.startswith("Export failed")
                cancelled = job.result.startswith("Export cancelled")
                kind = "error" if failed else "info" if cancelled else "success"
                self.show_message(job.result, modal=failed, kind=kind)
