"""Offline rendering of an audio file through a bundle: same sample rate, length and alignment as the input."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .audiofile import Audio, fit_length, resample
from .overlap_add import process_offline
from .session import WindowModel


def hop_samples(hop_seconds: float, sample_rate: int, window: int) -> int:
    hop = int(round(hop_seconds * sample_rate))
    if not 0 < hop <= window:
        raise ValueError(f"hop {hop_seconds} s must be > 0 and at most the window ({window / sample_rate:.3f} s)")
    return hop


def render_audio(audio: Audio, model: WindowModel, hop_seconds: float = 0.25,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Resynthesise every channel of ``audio`` (each channel on its own, so stereo stays stereo).

    Returns float32[C, T] at ``audio.sample_rate`` with ``audio.frames`` samples, latency removed.
    """
    m = model.runner.manifest
    hop = hop_samples(hop_seconds, m.sample_rate, m.window)
    out = np.zeros_like(audio.samples)
    channels = audio.channels
    for c in range(channels):
        model.reset()
        x = resample(audio.samples[c], audio.sample_rate, m.sample_rate)
        cb = None
        if progress is not None:
            cb = lambda done, total, c=c: progress(c * total + done, channels * total)  # noqa: E731
        y = process_offline(x, m.window, hop, model, cb)
        out[c] = fit_length(resample(y, m.sample_rate, audio.sample_rate), audio.frames)
    return out


def default_bundle_path() -> Path:
    """The factory default bundle shipped inside the package."""
    return Path(__file__).resolve().parent.parent / "factory" / "default"
