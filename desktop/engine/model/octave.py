"""Input range mapping for instrument (timbre) bundles: whole octaves and a loudness offset that move a player's
pitch and level into the range the bundle was trained on (``manifest.extra['trained_range']``, recorded at export:
``pitch_hz`` = [p5, p50, p95] of the training audio's voiced f0, ``loudness_db`` = the same percentiles of its
loudness). Pure functions on numbers, numpy only: the renderer, the app and the evaluation share them.
"""

from __future__ import annotations

import math

import numpy as np


def _median_of(trained_range: dict | None, key: str) -> float | None:
    values = (trained_range or {}).get(key)
    if not values:
        return None
    v = float(values[len(values) // 2]) if len(values) >= 3 else float(values[0])
    return v if math.isfinite(v) else None


def octave_shift(input_median_hz: float | None, trained_range: dict | None) -> int:
    """Semitones (a multiple of 12) that move ``input_median_hz`` nearest the trained median pitch:
    12 * round(log2(trained / input)). 0 when either is unknown, not positive or not finite.

    >>> octave_shift(130.0, {"pitch_hz": [200.0, 520.0, 1300.0]})
    24
    """
    trained = _median_of(trained_range, "pitch_hz")
    if input_median_hz is None or trained is None:
        return 0
    hz = float(input_median_hz)
    if not (math.isfinite(hz) and hz > 0 and trained > 0):
        return 0
    return 12 * int(np.round(math.log2(trained / hz)))


def loudness_offset(input_median_db: float | None, trained_range: dict | None) -> float:
    """dB (rounded to 1 dB) that move the input's median loudness onto the trained median; 0 when unknown."""
    trained = _median_of(trained_range, "loudness_db")
    if input_median_db is None or trained is None or not math.isfinite(float(input_median_db)):
        return 0.0
    return float(np.round(trained - float(input_median_db)))


def voiced_median_hz(f0: np.ndarray) -> float | None:
    """Median of the positive, finite entries of an f0 contour (Hz; 0 or nan = unvoiced); None when there are none."""
    f = np.asarray(f0, np.float64)
    f = f[np.isfinite(f) & (f > 0)]
    return float(np.median(f)) if f.size else None


def file_pitch_and_loudness(path, seconds: float = 60.0, frame: int = 2048) -> tuple[float | None, float | None]:
    """The median voiced pitch (Hz) and the median loudness of voiced frames (dB, the same RMS scale as the
    trained range's: dBFS) of the first ``seconds`` of an audio file, mono; (None, None) when nothing is voiced."""
    import soundfile as sf

    from core.pitch_track import loudness_db, yin

    with sf.SoundFile(str(path)) as f:
        rate = f.samplerate
        x = f.read(min(f.frames, int(seconds * rate)), dtype="float32", always_2d=True).mean(axis=1)
    f0, level = [], []
    for i in range(0, max(x.size - frame, 0) + 1, frame // 2):
        part = x[i : i + frame]
        hz = yin(part, rate)
        if hz > 0:
            f0.append(hz)
            level.append(loudness_db(part))
    if not f0:
        return None, None
    return voiced_median_hz(np.array(f0)), float(np.median(level))
