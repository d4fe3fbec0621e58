"""Reading and writing audio files, with errors that name the file and the problem.

Shared by the trainer (dataset) and the player (render, file input), so both accept exactly the same files:
wav, flac, ogg, mp3 (and anything else libsndfile reads), any sample rate, any channel count.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from .formats import FormatError, check_writable, output_format

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus")


class AudioFileError(Exception):
    """An audio file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Audio:
    """``samples``: float32[C, T] in [-1, 1] (nominally); ``sample_rate`` in Hz."""

    samples: np.ndarray
    sample_rate: int
    path: Path | None = None
    subtype: str | None = None  # the file's sample format (PCM_16, PCM_24, FLOAT...), when read from one

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


def _checked_path(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: empty file (0 bytes)")
    return path


def _non_finite_message(path: Path, bad: int, total: int) -> str:
    return f"{path}: {bad} of {total} samples are NaN or infinite; repair or re-export the file"


def load_audio(path: str | Path, allow_empty: bool = False) -> Audio:
    """Read an audio file. NaN or infinite samples, an empty or unreadable file raise ``AudioFileError``."""
    path = _checked_path(path)
    subtype = None
    try:
        with sf.SoundFile(str(path)) as f:
            subtype = f.subtype
            data = f.read(dtype="float32", always_2d=True)
            sr = f.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        data, sr = _read_with_librosa(path, exc)
    except OSError as exc:  # permission denied, I/O error
        raise AudioFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    samples = np.ascontiguousarray(data.T, dtype=np.float32)
    if samples.shape[1] == 0 and not allow_empty:
        raise AudioFileError(f"{path}: contains no audio frames (zero length)")
    bad = ~np.isfinite(samples)
    if bad.any():
        raise AudioFileError(_non_finite_message(path, int(bad.sum()), samples.size))
    if sr <= 0:
        raise AudioFileError(f"{path}: invalid sample rate {sr}")
    return Audio(samples, int(sr), path, subtype)


BLOCK_FRAMES = 1 << 16  # frames per read when a file is streamed (1.5 s at 44.1 kHz)


@dataclass(frozen=True)
class AudioFileInfo:
    """A file ``audio_info`` checked like ``load_audio`` would, without holding its samples."""

    path: Path
    frames: int
    sample_rate: int
    channels: int
    subtype: str | None

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: str | Path) -> AudioFileInfo | None:
    """``load_audio``'s checks and errors (a float file is scanned block by block for NaN), for reading the file in
    blocks (``read_blocks``) with bounded memory. None: libsndfile cannot read it (``load_audio``'s fallback
    decoder may)."""
    path = _checked_path(path)
    bad = 0
    try:
        with sf.SoundFile(str(path)) as f:
            info = AudioFileInfo(path, int(f.frames), int(f.samplerate), int(f.channels), f.subtype)
            if f.subtype in ("FLOAT", "DOUBLE"):  # only float samples can be NaN or infinite
                bad = sum(int(np.count_nonzero(~np.isfinite(b))) for b in f.blocks(BLOCK_FRAMES, dtype="float32"))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    except OSError as exc:  # permission denied, I/O error
        raise AudioFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if info.frames == 0:
        raise AudioFileError(f"{path}: contains no audio frames (zero length)")
    if bad:
        raise AudioFileError(_non_finite_message(path, bad, info.frames * info.channels))
    if info.sample_rate <= 0:
        raise AudioFileError(f"{path}: invalid sample rate {info.sample_rate}")
    return info


def read_blocks(info: AudioFileInfo, frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """The file's samples as float32[n, C] blocks of ``frames`` (the last shorter)."""
    try:
        with sf.SoundFile(str(info.path)) as f:
            yield from f.blocks(frames, dtype="float32", always_2d=True)
    except (OSError, sf.LibsndfileError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise AudioFileError(f"{info.path}: cannot read ({reason})") from exc


def wav_declared_frames(path: str | Path) -> int | None:
    """The frames a RIFF WAV's header declares for its data (None: not a RIFF WAV, or no usable header). A file cut
    short (a copy or a download that stopped) declares more than it holds; libsndfile reads what is there."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block = 0
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"data":  # 0 and 0xFFFFFFFF: a writer that streamed and never came back to say
                    return size // block if block and size not in (0, 0xFFFFFFFF) else None
                body = f.read(size + size % 2) if cid == b"fmt " else f.seek(size + size % 2, 1)
                if cid == b"fmt " and len(body) >= 14:
                    block = struct.unpack("<H", body[12:14])[0]
    except OSError:
        return None


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
    """Resample along the last axis with soxr's high-quality filter; identity when rates match.

    The same filter and output length as ``librosa.resample(res_type="soxr_hq")``, called directly: importing
    librosa costs about 1.5 s (numba), which is most of the app's start-up time when it plays a file."""
    x = np.asarray(x, dtype=np.float32)
    if orig_sr == target_sr:
        return x
    import soxr

    n = int(np.ceil(x.shape[-1] * float(target_sr) / orig_sr))
    if x.ndim == 1:
        y = soxr.resample(x, orig_sr, target_sr, quality="HQ")
    else:
        flat = x.reshape(-1, x.shape[-1])
        y = soxr.resample(np.ascontiguousarray(flat.T), orig_sr, target_sr, quality="HQ").T
        y = y.reshape(*x.shape[:-1], y.shape[-1])
    return fit_length(np.asarray(y, dtype=np.float32), n)


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Crop or zero-pad the last axis to ``length``."""
    n = x.shape[-1]
    if n >= length:
        return x[..., :length]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, length - n)]
    return np.pad(x, pad)


def write_audio(
    path: str | Path, samples: np.ndarray, sample_rate: int, subtype: str | None = None, like: str | None = None
) -> Path:
    """Write float32[C, T] (or [T]) atomically: a temporary file in the same folder, then a rename.

    The container comes from the extension and the sample format from ``subtype`` or, failing that, ``like``
    (the input's): see ``formats.output_format``. Any failure (full disk, read-only folder, a rate the
    container cannot take) raises ``AudioFileError`` naming ``path``; the previous file, if any, is untouched.
    """
    path = Path(path)
    samples = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    if not np.isfinite(samples).all():
        raise AudioFileError(f"{path}: refusing to write NaN or infinite samples")
    try:
        fmt = output_format(path, subtype, like)
        check_writable(fmt, sample_rate, samples.shape[0])
    except FormatError as exc:
        raise AudioFileError(str(exc)) from None
    tmp = None
    # the folders as the kernel resolves them: 'sub/../x.wav' writes x.wav and creates no 'sub'
    target = Path(os.path.realpath(path.parent)) / path.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Encoded in memory, then written with plain file writes: a full disk then says "No space left on
        # device" instead of libsndfile's "System error.".
        buf = io.BytesIO()
        data = samples.T if not fmt.clips else np.clip(samples, -1.0, 1.0).T
        sf.write(buf, data, sample_rate, subtype=fmt.subtype, format=fmt.format)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getbuffer())
            os.fchmod(f.fileno(), _new_file_mode(target))  # mkstemp's 0600 is for the temporary name only
        os.replace(tmp, target)
    except (OSError, sf.LibsndfileError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise AudioFileError(f"{path}: cannot write ({reason}); nothing was replaced") from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


class _Sink:
    """The temporary file as libsndfile writes it (through soundfile's virtual IO), unbuffered: an OSError is kept,
    not raised inside the C callback (where it would print a traceback and leave libsndfile to say "System
    error."), and the writer raises it with its reason."""

    def __init__(self, f):
        self.f = f
        self.error: OSError | None = None

    def write(self, data) -> int:
        view, done = memoryview(data), 0
        try:
            while done < len(view):
                n = self.f.write(view[done:])
                if not n:
                    break
                done += n
        except OSError as exc:
            self.error = self.error or exc
        return done

    def seek(self, offset: int, whence: int = 0) -> int:
        try:
            return self.f.seek(offset, whence)
        except OSError as exc:
            self.error = self.error or exc
            return -1

    def tell(self) -> int:
        return self.f.tell()

    def read(self, n: int = -1) -> bytes:
        try:
            return self.f.read(n)
        except OSError as exc:
            self.error = self.error or exc
            return b""


class AudioWriter:
    """Writes float32[n, C] blocks into a temporary file beside ``path``; ``commit()`` gives it the permissions of
    the file it replaces (or a new file's) and renames it over ``path``. Until then ``path`` is untouched: a render
    that fails or is interrupted (``abort``, or leaving the ``with`` block on an exception) removes its temporary
    file and replaces nothing. Any failure raises ``AudioFileError`` naming ``path`` and the reason. Samples are
    clipped to full scale when the format cannot hold more (``fmt.clips``)."""

    def __init__(self, path: str | Path, sample_rate: int, channels: int, fmt):
        self.path = Path(path)
        self.fmt = fmt
        # the folders as the kernel resolves them: 'sub/../x.wav' writes x.wav and creates no 'sub'
        self.target = Path(os.path.realpath(self.path.parent)) / self.path.name
        self._tmp: str | None = None
        self._sink: _Sink | None = None
        self._file = None
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(prefix=".tmp-", suffix=self.path.suffix, dir=self.target.parent)
            self._sink = _Sink(os.fdopen(fd, "w+b", buffering=0))
            self._file = sf.SoundFile(self._sink, "w", sample_rate, channels, fmt.subtype, format=fmt.format)
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            self._fail(exc)

    def _fail(self, exc: Exception):
        reason = (self._sink.error if self._sink is not None and self._sink.error else None) or exc
        text = getattr(reason, "strerror", None) or str(reason)
        self.abort()
        raise AudioFileError(f"{self.path}: cannot write ({text}); nothing was replaced") from exc

    def write(self, block: np.ndarray) -> None:
        if not np.isfinite(block).all():
            self.abort()
            raise AudioFileError(f"{self.path}: refusing to write NaN or infinite samples; nothing was replaced")
        try:
            self._file.write(np.clip(block, -1.0, 1.0) if self.fmt.clips else block)
        except (OSError, sf.LibsndfileError, RuntimeError, AssertionError) as exc:  # soundfile asserts a short write
            self._fail(exc)
        if self._sink.error is not None:
            self._fail(self._sink.error)

    def commit(self) -> Path:
        try:
            self._file.close()  # the header's sizes are written here
            if self._sink.error is not None:
                raise self._sink.error
            os.fchmod(self._sink.f.fileno(), _new_file_mode(self.target))  # mkstemp's 0600 is for the temporary
            self._sink.f.close()
            os.replace(self._tmp, self.target)
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            self._fail(exc)
        self._tmp = None
        return self.path

    def abort(self) -> None:
        """Stop writing and remove the temporary file (what ``path`` was stays)."""
        for close in (getattr(self._file, "close", None), getattr(getattr(self._sink, "f", None), "close", None)):
            try:
                if close is not None:
                    close()
            except (OSError, sf.LibsndfileError, RuntimeError):
                pass
        if self._tmp is not None and os.path.exists(self._tmp):
            os.unlink(self._tmp)
        self._tmp = None

    def __enter__(self) -> "AudioWriter":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if self._tmp is not None:
            self.abort()


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (os.umask can only set it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_file_mode(target: Path) -> int:
    """The permissions a written file gets: those of the file it replaces, else a new file's (0666 less the umask)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def find_audio_files(folder: str | Path) -> list[Path]:
    """Every audio file under ``folder``, recursively, sorted for determinism."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AudioFileError(f"{folder}: not a folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
