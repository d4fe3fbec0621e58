"""Offline export as a job: an audio file rendered through the model in a thread, with progress, cancel and a result.

Qt-free. The window starts one with :meth:`ExportJob.start` and polls ``progress`` (0..1) and ``done`` from its GUI
timer; ``result`` is the one line to show when it is done ("Exported 4.1 s to out.wav (WAV, PCM 16-bit)" or
"Export failed: ..."). The output follows the renderer's rules (``latentsynth-render``): never onto an input, a
folder or an unwritable place, in the format its extension names; nothing is written when the job fails or is
cancelled.
"""

from __future__ import annotations

import threading
from pathlib import Path

from core.audiofile import Audio, AudioFileError, audio_info, write_audio
from core.formats import FormatError, output_format
from core.latent import LatentControls
from core.output_path import OutputPathError, check_output_file
from core.render import render_audio
from core.session import ModelRunner, WindowModel

from .file_render import render_file


class ExportError(ValueError):
    """The export cannot start: the message says why (the output path or its format)."""


class _Cancelled(Exception):
    pass


class ExportJob:
    """``audio`` rendered through ``runner`` with the knobs ``controls`` (frozen at creation) to ``path``; the window
    modes at ``hop_s`` (the smoothest: full crossfades), streaming bundles block by block as they play live."""

    def __init__(self, audio: Audio, runner: ModelRunner, controls: LatentControls, path: str | Path, hop_s: float):
        try:
            check_output_file(path, inputs=[audio.path])
            self.format = output_format(path, like=audio.subtype)
        except (OutputPathError, FormatError) as exc:
            raise ExportError(str(exc)) from exc
        self.audio, self.path, self.hop_s = audio, str(path), hop_s
        self.model = WindowModel(runner, controls)
        self.progress = 0.0  # written by the job's thread, read by anyone
        self.result = ""
        self.failed = False
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "ExportJob":
        self._thread = threading.Thread(target=self._run, name="latentsynth-export", daemon=True)
        self._thread.start()
        return self

    def _progress(self, done: int, total: int) -> None:
        if self._cancel.is_set():
            raise _Cancelled
        self.progress = done / max(total, 1)

    def _file_info(self):
        """The input's file on disk when it still holds what was loaded: then it is rendered from there in blocks
        (``file_render``), so the export holds no second copy of the file and no whole output."""
        if self.audio.path is None:
            return None
        try:
            info = audio_info(self.audio.path)
        except AudioFileError:
            return None
        same = (self.audio.frames, self.audio.channels, self.audio.sample_rate)
        return info if info is not None and (info.frames, info.channels, info.sample_rate) == same else None

    def _run(self) -> None:
        try:
            info = self._file_info()
            if info is not None:  # written to a temporary file renamed at the end: a cancel leaves nothing
                render_file(info, self.path, self.model, self.format, self._progress, hop_seconds=self.hop_s)
            else:
                y = render_audio(self.audio, self.model, self.hop_s, self._progress)
                if self._cancel.is_set():
                    raise _Cancelled
                write_audio(self.path, y, self.audio.sample_rate, self.format.subtype)
            self.result = f"Exported {self.audio.seconds:.1f} s to {self.path} ({self.format.describe()})"
        except _Cancelled:
            self.result, self.failed = "Export cancelled", True
        except Exception as exc:  # any failure becomes a message, never a crash
            self.result, self.failed = f"Export failed: {exc}", True
        self.progress = 1.0

    def cancel(self) -> None:
        """Stop at the next progress step; nothing is written."""
        self._cancel.set()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished (or ``timeout`` seconds); True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done
