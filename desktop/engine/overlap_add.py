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


class OverlapAdd:
    """``push(x)`` takes any number of input samples and returns the output samples that became final
    (a multiple of ``hop``). Output sample j is the processed input sample j - ``latency``.

    Mode ``window`` (the research's method): every window is crossfaded over its whole length;
    ``latency = window - hop``.
    """

    def __init__(self, window: int, hop: int, fn: WindowFn):
        if not 0 < hop <= window:
            raise ValueError(f"hop ({hop}) must be between 1 and the window ({window}) samples")
        self.window = int(window)
        self.hop = int(hop)
        self.fn = fn
        self.weights = crossfade_weights(self.window)
        self.reset()

    @property
    def latency(self) -> int:
        return self.window - self.hop

    def reset(self) -> None:
        self._history = np.zeros(self.window, np.float32)
        self._acc = np.zeros(self.window, np.float64)
        self._wsum = np.zeros(self.window, np.float64)
        self._pending = np.zeros(0, np.float32)

    def push(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        pending = np.concatenate([self._pending, x]) if self._pending.size else x
        n_hops = pending.shape[0] // self.hop
        out = np.empty(n_hops * self.hop, np.float32)
        for k in range(n_hops):
            out[k * self.hop:(k + 1) * self.hop] = self._step(pending[k * self.hop:(k + 1) * self.hop])
        self._pending = pending[n_hops * self.hop:].copy()
        return out

    def _step(self, new: np.ndarray) -> np.ndarray:
        h = self.hop
        self._history[:-h] = self._history[h:]
        self._history[-h:] = new
        y = np.asarray(self.fn(self._history.copy()), dtype=np.float64)
        if y.shape != (self.window,):
            raise ValueError(f"window function returned shape {y.shape}, expected ({self.window},)")
        self._acc += self.weights * y
        self._wsum += self.weights
        emitted = self._acc[:h] / self._wsum[:h]
        self._acc[:-h] = self._acc[h:]
        self._acc[-h:] = 0.0
        self._wsum[:-h] = self._wsum[h:]
        self._wsum[-h:] = 0.0
        return emitted.astype(np.float32)


def process_offline(x: np.ndarray, window: int, hop: int, fn: WindowFn,
                    progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Run a whole signal float32[T] through the streaming overlap-add and remove its latency, so the
    result is time-aligned with ``x`` and has its length. Same code path as live playing."""
    ola = OverlapAdd(window, hop, fn)
    total = x.shape[0] + ola.latency
    padded = np.concatenate([np.asarray(x, np.float32), np.zeros(ola.latency + hop, np.float32)])
    outs = []
    block = hop * 8
    done = 0
    for start in range(0, padded.shape[0], block):
        outs.append(ola.push(padded[start:start + block]))
        done = min(start + block, padded.shape[0])
        if progress is not None:
            progress(min(done, total), total)
    y = np.concatenate(outs) if outs else np.zeros(0, np.float32)
    y = y[ola.latency:ola.latency + x.shape[0]]
    if y.shape[0] < x.shape[0]:
        y = np.pad(y, (0, x.shape[0] - y.shape[0]))
    return y
