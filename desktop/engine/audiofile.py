"""Reading and writing audio files, with errors that name the file and the problem.

Shared by the trainer (dataset) and the player (render, file input), so both accept exactly the same files:
wav, flac, ogg, mp3 (and anything else libsndfile reads), any sample rate, any channel count.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus")


class AudioFileError(Exception):
    """An audio file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Audio:
    """``samples``: float32[C, T] in [-1, 1] (nominally); ``sample_rate`` in Hz."""

    samples: np.ndarray
    sample_rate: int
    path: Path | None = None

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def mono(self) -> np.ndarray:
        """float32[T]: the mean of the channels."""
        return self.samples.mean(axis=0).astype(np.float32)


def load_audio(path: str | Path, allow_empty: bool = False) -> Audio:
    """Read an audio file. NaN or infinite samples, an empty or unreadable file raise ``AudioFileError``."""
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: empty file (0 bytes)")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        data, sr = _read_with_librosa(path, exc)
    samples = np.ascontiguousarray(data.T, dtype=np.float32)
    if samples.shape[1] == 0 and not allow_empty:
        raise AudioFileError(f"{path}: contains no audio frames (zero length)")
    bad = ~np.isfinite(samples)
    if bad.any():
        raise AudioFileError(
            f"{path}: {int(bad.sum())} of {samples.size} samples are NaN or infinite; "
            "repair or re-export the file"
        )
    if sr <= 0:
        raise AudioFileError(f"{path}: invalid sample rate {sr}")
    return Audio(samples, int(sr), path)


def _read_with_librosa(path: Path, first_error: Exception):
    """Fallback for formats libsndfile lacks (e.g. some mp3 or m4a builds), via audioread."""
    import warnings

    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y, sr = librosa.load(str(path), sr=None, mono=False)
    except Exception as exc:  # any decoder failure means "cannot read", with both reasons
        raise AudioFileError(f"{path}: cannot decode audio ({first_error}; fallback decoder: {exc})") from exc
    y = np.atleast_2d(np.asarray(y, dtype=np.float32))
    return y.T, int(sr)


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with a high-quality polyphase/soxr filter; identity when rates match."""
    if orig_sr == target_sr:
        return np.asarray(x, dtype=np.float32)
    import librosa

    return librosa.resample(np.asarray(x, dtype=np.float32), orig_sr=orig_sr, target_sr=target_sr,
                            res_type="soxr_hq").astype(np.float32)


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Crop or zero-pad the last axis to ``length``."""
    n = x.shape[-1]
    if n >= length:
        return x[..., :length]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, length - n)]
    return np.pad(x, pad)


def write_audio(path: str | Path, samples: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write float32[C, T] (or [T]) atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    samples = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    if not np.isfinite(samples).all():
        raise AudioFileError(f"{path}: refusing to write NaN or infinite samples")
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower(), "WAV")
    if fmt == "OGG":
        subtype = "VORBIS"
    elif fmt == "FLAC" and subtype == "FLOAT":
        subtype = "PCM_24"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, np.clip(samples, -1.0, 1.0).T if subtype != "FLOAT" else samples.T, sample_rate,
                 subtype=subtype, format=fmt)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def find_audio_files(folder: str | Path) -> list[Path]:
    """Every audio file under ``folder``, recursively, sorted for determinism."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AudioFileError(f"{folder}: not a folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
