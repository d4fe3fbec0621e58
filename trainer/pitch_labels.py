"""Pitch labels for the hpn family: a YIN tracker over each training file once, cached on disk by the audio's content.

A label track is per file: ``f0`` float32[J] in Hz (NaN where unvoiced) and ``voiced`` float32[J] (0..1), frame
j centred on sample j * ``LABEL_HOP`` at the model rate. YIN (de Cheveigne & Kawahara 2002: librosa.yin's
difference function, written here on librosa's public API) with parabolic refinement, voiced (softly) where the
normalised difference at the chosen period is low (``APERIODICITY``) and the frame is not silent, then octave jumps against a 5-frame median removed. pYIN (what the
evaluation measures with) was the first choice: it costs ~3 s per file here (the corpus would take hours on a
shared core); this takes ~0.05 s. :func:`chunk_labels` reads the
values a training chunk needs at its own latent frames by linear interpolation (log-frequency for f0).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

LABEL_HOP = 256
FMIN, FMAX = 50.0, 1500.0
FRAME = 2048
TROUGH = 0.1  # YIN's absolute threshold for the first trough
APERIODICITY = (0.35, 0.65)  # voiced 1 below, 0 above, linear between (normalised difference at the period)
SILENCE_DB = -55.0  # frames quieter than this (RMS, dBFS) are unvoiced
VERSION = 2  # part of the cache key: bump when the labeller changes


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "latentsynth" / "pitch"


def cache_key(signal: np.ndarray, sample_rate: int) -> str:
    h = hashlib.sha1(np.ascontiguousarray(signal, np.float32).tobytes())
    h.update(f"{sample_rate}/{LABEL_HOP}/{FMIN}/{FMAX}/{FRAME}/v{VERSION}".encode())
    return h.hexdigest()


def track(signal: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """YIN on float32[T]: (f0 Hz float32[J] with NaN where unvoiced, voiced 0..1 float32[J]), J = 1 + T // LABEL_HOP."""
    import librosa

    x = np.asarray(signal, np.float32)
    n = 1 + x.shape[0] // LABEL_HOP
    x = np.pad(x, (FRAME // 2, FRAME // 2 + FRAME))
    frames = librosa.util.frame(x, frame_length=FRAME, hop_length=LABEL_HOP)[:, :n]
    lo, hi = int(np.floor(sample_rate / FMAX)), min(int(np.ceil(sample_rate / FMIN)), FRAME - 1)
    d = _normalised_difference(frames, lo, hi)  # [periods, frames]
    shifts = _parabolic_shifts(d)
    trough = librosa.util.localmin(d, axis=0)
    trough[0] = d[0] < d[1]
    below = trough & (d < TROUGH)
    idx = np.where(below.any(0), np.argmax(below, 0), np.argmin(d, 0))
    cols = np.arange(d.shape[1])
    aper = d[idx, cols]
    f0 = sample_rate / (lo + idx + shifts[idx, cols])
    rms_db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, 0) + 1e-12)
    lo_a, hi_a = APERIODICITY
    soft = np.clip((hi_a - aper) / (hi_a - lo_a), 0.0, 1.0)
    voiced = (soft > 0) & (rms_db > SILENCE_DB) & (f0 >= FMIN) & (f0 <= FMAX)
    # octave errors: a voiced frame an octave (or more) away from the median of its voiced neighbours takes it
    lp = np.where(voiced, np.log2(np.maximum(f0, 1e-3)), np.nan)
    pad = np.pad(lp, 2, constant_values=np.nan)
    windows = np.stack([pad[i : i + lp.shape[0]] for i in range(5)])
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(windows, 0)
    jump = voiced & np.isfinite(med) & (np.abs(lp - med) > 0.75)
    lp = np.where(jump, med, lp)
    f0 = np.where(voiced, 2.0**lp, np.nan).astype(np.float32)
    return f0, np.where(voiced, soft, 0.0).astype(np.float32)


def _normalised_difference(frames: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """YIN's cumulative-mean-normalised difference (de Cheveigne & Kawahara 2002, eq. 8) of float32[N, J] frames at
    the periods lo..hi: float64[hi - lo + 1, J]. d(k) = 2 (r(0) - r(k)) - sum_{m<k} x(m)^2 from each frame's
    autocorrelation r (librosa.autocorrelate), normalised by its running mean; the same numbers as librosa.yin's."""
    import librosa

    acf = librosa.autocorrelate(frames, max_size=hi + 1, axis=-2)
    energy = np.cumsum(np.square(frames), axis=-2)
    energy[0] = 0
    d = np.zeros((hi + 1, frames.shape[1]), frames.dtype)
    d[1:] = 2 * (acf[0:1] - acf[1 : hi + 1]) - energy[:hi]
    mean = np.cumsum(d[1:], axis=-2) / np.arange(1, hi + 1)[:, None]
    den = mean[lo - 1 : hi]
    return d[lo:] / (den + np.finfo(den.dtype).tiny)


def _parabolic_shifts(d: np.ndarray) -> np.ndarray:
    """Per period and frame, where a parabola through it and its two neighbours has its optimum, in periods
    (0 at the ends, and where that lies a whole period or more away); librosa.yin's interpolation."""
    a = (d[2:] + d[:-2]).astype(np.float64) - 2 * d[1:-1].astype(np.float64)
    b = (d[2:] - d[:-2]).astype(np.float64) / 2
    shifts = np.zeros_like(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        shifts[1:-1] = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a)
    return shifts


def label_signals(
    signals: list[np.ndarray], sample_rate: int, cache_dir: str | Path | None = None, show_progress: bool = True
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(f0, voiced) per signal, from the cache where present; computed (and cached) otherwise."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for sig in tqdm(
        signals, desc="pitch labels (YIN, cached)", unit="file", disable=not show_progress, file=sys.stderr
    ):
        path = cache / (cache_key(sig, sample_rate) + ".npz")
        if path.is_file():
            with np.load(path) as data:
                out.append((data["f0"], data["voiced"]))
            continue
        f0, voiced = track(sig, sample_rate)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, f0=f0, voiced=voiced)
        os.replace(tmp, path)
        out.append((f0, voiced))
    return out


def chunk_labels(
    label: tuple[np.ndarray, np.ndarray], start: int, frames: int, hop: int, gain: float = 1.0
) -> np.ndarray:
    """float32[2, frames]: (log2(f0 / 440 Hz) or NaN, voiced probability) at the samples where a chunk starting at
    ``start`` ends its latent frames: frame f of the model covers samples up to start + (f + 1) * hop."""
    del gain
    f0, voiced = label
    t = (start + (np.arange(frames) + 1) * hop) / LABEL_HOP
    j0 = np.clip(np.floor(t).astype(int), 0, len(f0) - 1)
    j1 = np.clip(j0 + 1, 0, len(f0) - 1)
    w = (t - np.floor(t)).astype(np.float32)
    p0 = np.log2(f0[j0] / 440.0)
    p1 = np.log2(f0[j1] / 440.0)
    # both voiced: interpolate; one voiced: the nearer one if it is voiced, else NaN
    near = np.where(w < 0.5, p0, p1)
    pitch = np.where(np.isfinite(p0) & np.isfinite(p1), (1 - w) * p0 + w * p1, near)
    v = (1 - w) * voiced[j0] + w * voiced[j1]
    return np.stack([pitch, v]).astype(np.float32)
