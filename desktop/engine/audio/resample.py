"""Streaming sample-rate conversion between the device rate and the model rate.

A polyphase windowed-sinc resampler (Kaiser window, 16 zero crossings, cutoff 0.95 of the lower Nyquist)
with exact rational positions: output sample m is input position m * in_rate / out_rate, for ever, with no
drift. It needs only ``half`` input samples of look-ahead (under 1 ms), where soxr's ResampleStream holds back
about 40 ms per direction in small chunks; in a live chain that difference is latency. ``hold`` is the most
output samples the stream can owe at any moment (the engine's buffering covers it).
"""

from __future__ import annotations

import math

import numpy as np


def _kaiser(x: np.ndarray, beta: float) -> np.ndarray:
    inside = np.clip(1.0 - x * x, 0.0, None)
    return np.i0(beta * np.sqrt(inside)) / np.i0(beta)


class StreamResampler:
    ZERO_CROSSINGS = 16
    CUTOFF = 0.95
    BETA = 8.6
    SMALL_UP = 4  # up to this many phases (44.1 <-> 22.05 kHz: 1 or 2), one np.correlate per phase: 3x cheaper

    def __init__(self, in_rate: int, out_rate: int):
        self.in_rate = int(in_rate)
        self.out_rate = int(out_rate)
        self.identity = self.in_rate == self.out_rate
        g = math.gcd(self.in_rate, self.out_rate)
        self.up, self.down = self.out_rate // g, self.in_rate // g  # t_m = m * down / up input samples
        fc = self.CUTOFF * min(1.0, self.out_rate / self.in_rate)  # in units of the input Nyquist
        self.half = int(math.ceil(self.ZERO_CROSSINGS / fc))
        offsets = np.arange(-self.half + 1, self.half + 1, dtype=np.float64)  # tap k sits at floor(t) + k
        frac = np.arange(self.up, dtype=np.float64)[:, None] / self.up
        t = offsets[None, :] - frac  # distance from the output position to each tap
        table = fc * np.sinc(fc * t) * _kaiser(t / (self.half + 1), self.BETA)
        self.table = (table / table.sum(axis=1, keepdims=True)).astype(np.float32)
        self.offsets = offsets.astype(np.int64)
        self.hold = 0 if self.identity else int(math.ceil((self.half + 1) * self.out_rate / self.in_rate)) + 1
        self.reset()

    def reset(self) -> None:
        # the history starts with `half` zeros before input 0, so early outputs see silence, not garbage
        self._buf = np.zeros(self.half, np.float32)
        self._base = -self.half  # absolute input index of _buf[0]
        self._next = 0  # next output index m

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed input samples, get every output sample whose taps are now all known."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        if self.identity:
            return x
        self._buf = np.concatenate([self._buf, x])
        last = self._base + self._buf.shape[0] - 1  # newest input index held
        # output m needs input up to floor(m * down / up) + half
        m_end = ((last - self.half + 1) * self.up + self.down - 1) // self.down  # first m that needs more
        m = np.arange(self._next, max(self._next, m_end), dtype=np.int64)
        if m.size == 0:
            return np.zeros(0, np.float32)
        if self.up <= self.SMALL_UP:
            y = self._correlate(int(m[0]), int(m[-1]) + 1)
        else:
            num = m * self.down
            i0, phase = num // self.up, num % self.up
            idx = i0[:, None] + self.offsets[None, :] - self._base
            y = np.einsum("mt,mt->m", self._buf[idx], self.table[phase])
        self._next = int(m[-1]) + 1
        keep_from = (self._next * self.down) // self.up - self.half + 1 - self._base
        if keep_from > 0:
            self._buf = self._buf[keep_from:]
            self._base += keep_from
        return y.astype(np.float32)

    def _correlate(self, m0: int, m1: int) -> np.ndarray:
        """Outputs m0..m1-1, the same sums as the gather path: the outputs m0 + r, m0 + r + up, ... share one phase
        and step ``down`` input samples apart, so each such run is one strided ``np.correlate`` with that phase's
        taps."""
        y = np.empty(m1 - m0, np.float32)
        taps = self.offsets.shape[0]
        for r in range(min(self.up, m1 - m0)):
            num = (m0 + r) * self.down
            start = num // self.up + int(self.offsets[0]) - self._base
            count = (m1 - m0 - r + self.up - 1) // self.up
            seg = self._buf[start : start + (count - 1) * self.down + taps]
            y[r :: self.up] = np.correlate(seg, self.table[num % self.up], mode="valid")[:: self.down]
        return y
