"""Streaming windowed processing with a normalised crossfade overlap-add.

Every ``hop`` new input samples, the newest ``window`` samples go through a window function (the model) and
the result is added into an accumulator weighted by a crossfade curve; samples no later window can touch
are divided by the summed weights and emitted. With an identity window function the output equals the
input delayed by ``latency`` samples, to float precision (tests/test_overlap_add.py proves it).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

WindowFn = Callable[[np.ndarray], np.ndarray]


def crossfade_weights(window: int) -> np.ndarray:
    """A strictly positive raised-cosine over the window, so the weight sum never vanishes."""
    n = np.arange(window, dtype=np.float64)
    return np.sin(np.pi * (n + 0.5) / window) ** 2


class _HopProcessor:
    """What both modes share: every ``hop`` input samples, the newest ``window`` samples go through ``fn``;
    ``push(x)`` takes any number of samples and returns a multiple of ``hop``. Subclasses turn each window's
    output into ``hop`` emitted samples (``_emit``)."""

    def __init__(self, window: int, hop: int, fn: WindowFn):
        if not 0 < hop <= window:
            raise ValueError(f"hop ({hop}) must be between 1 and the window ({window}) samples")
        self.window = int(window)
        self.hop = int(hop)
        self.fn = fn

    def reset(self) -> None:
        self._history = np.zeros(self.window, np.float32)
        self._pending = np.zeros(0, np.float32)

    def push(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        pending = np.concatenate([self._pending, x]) if self._pending.size else x
        n_hops = pending.shape[0] // self.hop
        out = np.empty(n_hops * self.hop, np.float32)
        for k in range(n_hops):
            out[k * self.hop : (k + 1) * self.hop] = self._step(pending[k * self.hop : (k + 1) * self.hop])
        self._pending = pending[n_hops * self.hop :].copy()
        return out

    def _step(self, new: np.ndarray) -> np.ndarray:
        h = self.hop
        self._history[:-h] = self._history[h:]
        self._history[-h:] = new
        y = np.asarray(self.fn(self._history.copy()), dtype=np.float64)
        if y.shape != (self.window,):
            raise ValueError(f"window function returned shape {y.shape}, expected ({self.window},)")
        return self._emit(y)

    def _emit(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OverlapAdd(_HopProcessor):
    """``push(x)`` takes any number of input samples and returns the output samples that became final
    (a multiple of ``hop``). Output sample j is the processed input sample j - ``latency``.

    Mode ``window`` (the research's method): every window is crossfaded over its whole length;
    ``latency = window - hop``.
    """

    def __init__(self, window: int, hop: int, fn: WindowFn):
        super().__init__(window, hop, fn)
        self.weights = crossfade_weights(self.window)
        self.reset()

    @property
    def latency(self) -> int:
        return self.window - self.hop

    def reset(self) -> None:
        super().reset()
        self._acc = np.zeros(self.window, np.float64)
        self._wsum = np.zeros(self.window, np.float64)

    def _emit(self, y: np.ndarray) -> np.ndarray:
        h = self.hop
        self._acc += self.weights * y
        self._wsum += self.weights
        emitted = self._acc[:h] / self._wsum[:h]
        self._acc[:-h] = self._acc[h:]
        self._acc[-h:] = 0.0
        self._wsum[:-h] = self._wsum[h:]
        self._wsum[-h:] = 0.0
        return emitted.astype(np.float32)


def process_offline(
    x: np.ndarray, window: int, hop: int, fn: WindowFn, progress: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """Run a whole signal float32[T] through the streaming overlap-add and remove its latency, so the
    result is time-aligned with ``x`` and has its length. Same code path as live playing."""
    ola = OverlapAdd(window, hop, fn)
    total = x.shape[0] + ola.latency
    padded = np.concatenate([np.asarray(x, np.float32), np.zeros(ola.latency + hop, np.float32)])
    outs = []
    block = hop * 8
    done = 0
    for start in range(0, padded.shape[0], block):
        outs.append(ola.push(padded[start : start + block]))
        done = min(start + block, padded.shape[0])
        if progress is not None:
            progress(min(done, total), total)
    y = np.concatenate(outs) if outs else np.zeros(0, np.float32)
    y = y[ola.latency : ola.latency + x.shape[0]]
    if y.shape[0] < x.shape[0]:
        y = np.pad(y, (0, x.shape[0] - y.shape[0]))
    return y


MODES = ("window", "low-latency")


class LowLatencyOverlapAdd(_HopProcessor):
    """Mode ``low-latency``: the newest ``window`` samples stay the model's left context, but each step
    emits only the newest ``hop`` of the model's output, crossfaded with the previous step over ``crossfade``
    samples. ``margin`` keeps that many of the newest output samples back (the model's right edge is its
    least reliable part); ``latency = crossfade + margin``, so the whole chain's delay is about one hop
    (waiting for it to fill) plus compute, instead of ``window - hop``.

    Same ``push`` contract as :class:`OverlapAdd`: output sample j is the processed input sample j - ``latency``.
    """

    def __init__(self, window: int, hop: int, fn: WindowFn, crossfade: int | None = None, margin: int = 0):
        super().__init__(window, hop, fn)
        if crossfade is None:
            crossfade = hop // 2
        self.crossfade = int(max(1, min(crossfade, hop)))
        self.margin = int(margin)
        if self.crossfade + self.margin + self.hop > self.window:
            raise ValueError("crossfade + margin + hop must fit in the window")
        t = (np.arange(self.crossfade, dtype=np.float64) + 0.5) / self.crossfade
        self.fade_in = np.sin(0.5 * np.pi * t) ** 2  # fade_in + fade_out == 1 exactly (sin^2 + cos^2)
        self.fade_out = 1.0 - self.fade_in
        self.reset()

    @property
    def latency(self) -> int:
        return self.crossfade + self.margin

    def reset(self) -> None:
        super().reset()
        self._tail = np.zeros(self.crossfade, np.float64)

    def _emit(self, y: np.ndarray) -> np.ndarray:
        h, xf, w = self.hop, self.crossfade, self.window
        end = w - self.margin  # y[end - 1] is the newest sample emitted (after the crossfade tail)
        seg = y[end - h - xf : end - xf].copy()
        seg[:xf] = self.fade_out * self._tail + self.fade_in * seg[:xf]
        self._tail = y[end - xf : end].copy()
        return seg.astype(np.float32)


def make_overlap_add(mode: str, window: int, hop: int, fn: WindowFn, crossfade: int | None = None, margin: int = 0):
    """The streaming processor for ``mode`` (one of ``MODES``)."""
    if mode == "window":
        return OverlapAdd(window, hop, fn)
    if mode == "low-latency":
        return LowLatencyOverlapAdd(window, hop, fn, crossfade=crossfade, margin=margin)
    raise ValueError(f"unknown mode '{mode}' (use {' or '.join(MODES)})")
