"""Crash-safe WAV recording: at most the last second is lost if the process is killed.

The file is a plain 32-bit float WAV written as it goes; the header's sizes are rewritten and the file
fsync'ed at least every ``flush_s`` seconds, so a killed process leaves a file whose header covers all but
the newest second. A journal entry (one JSON file per recording in ``journal_dir``) marks a recording in
progress; ``recover_recordings`` at the next start patches each unfinished file's header to the data that
actually reached the disk and removes the entry.
"""

from __future__ import annotations

import json
import os
import queue
import struct
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from core.output_path import claim_new_file, is_locked

_HEADER_BYTES = 44


def _header(channels: int, sample_rate: int, data_bytes: int) -> bytes:
    block_align = 4 * channels
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 3, channels, sample_rate, sample_rate * block_align, block_align, 32)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class CrashSafeWavWriter:
    """Writes float32[T, C] blocks; ``write`` never blocks on more than one small file write.

    The file must not exist: it is created exclusively and locked while open (``output_path.claim_new_file``),
    so a second writer, or another instance's crash recovery, is refused instead of destroying this take."""

    def __init__(
        self,
        path: str | Path,
        sample_rate: int,
        channels: int = 1,
        flush_s: float = 0.5,
        journal_dir: str | Path | None = None,
    ):
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.flush_s = float(flush_s)
        self._f = claim_new_file(self.path)
        self._f.write(_header(self.channels, self.sample_rate, 0))
        self.frames = 0
        self._last_flush = time.monotonic()
        self._journal = None
        if journal_dir is not None:
            jdir = Path(journal_dir)
            jdir.mkdir(parents=True, exist_ok=True)
            self._journal = jdir / f"{uuid.uuid4().hex}.json"
            self._journal.write_text(
                json.dumps(
                    {"path": str(self.path.resolve()), "channels": self.channels, "sample_rate": self.sample_rate}
                )
            )
        self._sync()

    def write(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype="<f4").reshape(-1, self.channels)
        self._f.write(block.tobytes())
        self.frames += block.shape[0]
        if time.monotonic() - self._last_flush >= self.flush_s:
            self._sync()

    def _sync(self) -> None:
        data_bytes = self.frames * 4 * self.channels
        self._f.flush()
        self._f.seek(0)
        self._f.write(_header(self.channels, self.sample_rate, data_bytes))
        self._f.seek(0, os.SEEK_END)
        self._f.flush()
        os.fsync(self._f.fileno())
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if self._f.closed:
            return
        self._sync()
        self._f.close()
        if self._journal is not None and self._journal.exists():
            self._journal.unlink()

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def repair_wav(path: str | Path, channels: int | None = None) -> int:
    """Make a WAV written by ``CrashSafeWavWriter`` cover every whole frame on disk. Returns the frames."""
    path = Path(path)
    with open(path, "r+b") as f:
        head = f.read(_HEADER_BYTES)
        if len(head) < _HEADER_BYTES or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError(f"{path}: not a LatentSynth recording (no RIFF/WAVE header)")
        ch = channels or struct.unpack("<H", head[22:24])[0]
        sr = struct.unpack("<I", head[24:28])[0]
        size = os.fstat(f.fileno()).st_size - _HEADER_BYTES
        frames = max(0, size) // (4 * ch)
        f.truncate(_HEADER_BYTES + frames * 4 * ch)
        f.seek(0)
        f.write(_header(ch, sr, frames * 4 * ch))
    return frames


def recover_recordings(journal_dir: str | Path) -> list[tuple[Path, int]]:
    """Repair every recording a previous run left unfinished; returns (file, frames) for each."""
    jdir = Path(journal_dir)
    done = []
    if not jdir.is_dir():
        return done
    for entry in sorted(jdir.glob("*.json")):
        try:
            info = json.loads(entry.read_text())
            path = Path(info["path"])
            if path.exists() and is_locked(path):
                continue  # another running instance is recording it: not unfinished, and not ours to touch
            if path.exists():
                done.append((path, repair_wav(path, int(info.get("channels", 0)) or None)))
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            pass
        entry.unlink(missing_ok=True)
    return done


class Recorder:
    """Records output (and optionally input) in its own thread so disk waits never reach the worker.

    ``push(out, inp)`` is called by the engine worker with float32[T] blocks at the device rate.
    """

    def __init__(
        self, path: str | Path, sample_rate: int, record_input: bool = False, journal_dir: str | Path | None = None
    ):
        self.path = Path(path)
        self.record_input = record_input
        self.input_path = self.path.with_name(self.path.stem + "-input" + self.path.suffix) if record_input else None
        self._out = CrashSafeWavWriter(self.path, sample_rate, 1, journal_dir=journal_dir)
        try:
            self._in = (
                CrashSafeWavWriter(self.input_path, sample_rate, 1, journal_dir=journal_dir) if record_input else None
            )
        except Exception:  # e.g. NAME-input.wav exists: give back the empty output file this call created
            self._out.close()
            self.path.unlink(missing_ok=True)
            raise
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self.pushed_frames = 0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="latentsynth-recorder", daemon=True)
        self._thread.start()

    @property
    def seconds(self) -> float:
        return self._out.seconds

    def push(self, out: np.ndarray, inp: np.ndarray | None = None) -> None:
        self.pushed_frames += out.shape[0]  # what the file must hold once closed (a test checks nothing is lost)
        self._q.put((out, inp if self.record_input else None))

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                break
            if self.error:
                continue
            try:
                self._out.write(item[0])
                if self._in is not None and item[1] is not None:
                    self._in.write(item[1])
            except OSError as exc:  # disk full, file removed: report, keep the audio running
                self.error = f"recording to {self.path} failed: {exc}"

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=5)
        for w in (self._out, self._in):
            if w is not None:
                try:
                    w.close()
                except OSError as exc:
                    self.error = self.error or f"closing {w.path} failed: {exc}"
