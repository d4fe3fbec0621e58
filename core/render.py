"""Offline rendering of an audio file through a bundle: same sample rate, length and alignment as the input."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from .audiofile import Audio, fit_length, resample
from .dsp import GATE_OFF_DB, DcBlocker, Gate
from .overlap_add import process_offline
from .session import WindowModel
from .streaming import StreamingModel, render_stream


def streams(runner) -> bool:
    """True when a render through ``runner`` goes block by block through its bundle's streaming graphs; False: in
    windows (a window bundle, or a decoder's mel inverted by Griffin-Lim, which no streaming graph gives)."""
    return runner.streaming is not None and not getattr(runner, "windows_only", False)


def hop_samples(hop_seconds: float, sample_rate: int, window: int, grid: int = 1) -> int:
    """The window hop in samples: ``hop_seconds`` rounded to a multiple of ``grid`` (a bundle's
    ``manifest.pad_multiple``, its coarsest latent hop), and at most the window.

    On the grid every window sees the same latent frame boundaries, so overlapping windows decode the same
    frames to (nearly) the same waveform and their crossfades add coherently. Off the grid each window's
    frames are shifted by a fraction of a frame and the crossfades mix phases that do not match: on the
    held-out set that cost a mel-VAE 0.33 -> 0.53 mel_distance (hop 5632 vs 5512 samples; docs/factory.md).
    """
    samples = hop_seconds * sample_rate
    if not 0 < samples <= window + 0.5:
        raise ValueError(f"hop {hop_seconds} s must be > 0 and at most the window ({window / sample_rate:.3f} s)")
    grid = int(grid) if 1 <= int(grid) <= window else 1
    return max(grid, min(int(round(samples / grid)) * grid, window - window % grid))


def render_audio(
    audio: Audio,
    model: WindowModel,
    hop_seconds: float = 0.25,
    progress: Callable[[int, int], None] | None = None,
    block: int | None = None,
    dc_block: bool = True,
    gate_db: float = GATE_OFF_DB,
) -> np.ndarray:
    """Resynthesise every channel of ``audio`` (each channel on its own, so stereo stays stereo). The input's DC is
    blocked where the model is fed (``dsp.DcBlocker``; ``dc_block=False`` for an input already blocked); each channel
    goes through its own ``dsp.Gate`` at ``gate_db`` first (the default is off).

    Returns float32[C, T] at ``audio.sample_rate`` with ``audio.frames`` samples, latency removed.

    A streaming bundle is streamed in one pass, block by block through the same graphs and states as live
    (``hop_seconds`` does not apply; ``block``: samples per onnxruntime call, default 256 of the bundle's blocks).
    """
    m = model.runner.manifest
    if gate_db > GATE_OFF_DB:
        audio = replace(audio, samples=np.stack([Gate(audio.sample_rate).process(c, gate_db) for c in audio.samples]))
    if streams(model.runner):
        return _render_streaming(audio, model, progress, block, dc_block)
    hop = hop_samples(hop_seconds, m.sample_rate, m.window, m.pad_multiple)
    out = np.zeros_like(audio.samples)
    channels = audio.channels
    for c in range(channels):
        model.reset()
        # the input's DC is blocked before the windows, as the live chain does (a streaming model blocks its own)
        x = resample(audio.samples[c], audio.sample_rate, m.sample_rate)
        if dc_block:
            x = DcBlocker(m.sample_rate).process(x)
        cb = None
        if progress is not None:
            cb = lambda done, total, c=c: progress(c * total + done, channels * total)  # noqa: E731
        y = process_offline(x, m.window, hop, model, cb)
        out[c] = fit_length(resample(y, m.sample_rate, audio.sample_rate), audio.frames)
    return out


def _render_streaming(audio: Audio, model: WindowModel, progress, block: int | None, dc_block: bool) -> np.ndarray:
    m = model.runner.manifest
    stream = StreamingModel(
        model.runner, controls_of=lambda: model.controls, blend=model.streaming_blend(), dc_block=dc_block
    )
    out = np.empty_like(audio.samples)  # every row is written whole below
    channels = audio.channels
    for c in range(channels):
        x = resample(audio.samples[c], audio.sample_rate, m.sample_rate)
        cb = None
        if progress is not None:
            cb = lambda done, total, c=c: progress(c * total + done, channels * total)  # noqa: E731
        y = render_stream(x, stream, block, cb)
        out[c] = fit_length(resample(y, m.sample_rate, audio.sample_rate), audio.frames)
    return out
