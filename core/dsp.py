"""Small real-time DSP pieces for the live worker thread and offline rendering: gains, smoothed parameters, an
output limiter and a DC blocker."""

from __future__ import annotations

import numpy as np


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def ramp(start: float, end: float, n: int) -> np.ndarray:
    """float32[n] moving from ``start`` to ``end`` (so a parameter change never clicks)."""
    if n <= 0:
        return np.zeros(0, np.float32)
    if start == end:
        return np.full(n, end, np.float32)
    return np.linspace(start, end, n + 1, dtype=np.float32)[1:]


class SmoothedValue:
    """A parameter that glides to its target over about ``time_s`` instead of jumping."""

    def __init__(self, value: float, sample_rate: int, time_s: float = 0.03):
        self.value = float(value)
        self.target = float(value)
        self.step = 1.0 / max(1.0, time_s * sample_rate)

    def next(self, n: int) -> np.ndarray:
        if self.value == self.target:
            return np.full(n, self.value, np.float32)
        dist = self.target - self.value
        k = min(n, int(abs(dist) / self.step) + 1)
        out = np.full(n, self.target, np.float32)
        out[:k] = ramp(self.value, self.target, k)
        self.value = self.target
        return out


class Limiter:
    """A peak limiter at ``ceiling`` (linear): per 32-sample block the gain drops instantly to what the block
    needs and recovers with ``release_s``; gains are interpolated between blocks and a final clip catches
    what the block resolution misses."""

    BLOCK = 32

    def __init__(self, sample_rate: int, ceiling_db: float = -1.0, release_s: float = 0.15):
        self.ceiling = db_to_gain(ceiling_db)
        self.release = float(np.exp(-self.BLOCK / (release_s * sample_rate)))
        self.gain = 1.0
        self.reduction_db = 0.0

    def process(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        if n == 0:
            return x
        if self.gain == 1.0 and float(np.abs(x).max()) <= self.ceiling:
            # nothing to limit and fully recovered: what the general path gives (gain 1 everywhere), 20x cheaper
            self.reduction_db = 0.0
            return x.astype(np.float32, copy=False)
        nb = -(-n // self.BLOCK)
        padded = np.zeros(nb * self.BLOCK, np.float32)
        padded[:n] = np.abs(x)
        peaks = padded.reshape(nb, self.BLOCK).max(axis=1)
        need = np.minimum(1.0, self.ceiling / np.maximum(peaks, 1e-9))
        gains = np.empty(nb + 1, np.float64)
        gains[0] = g = self.gain
        for i, nd in enumerate(need.tolist()):
            g = nd if nd < g else min(nd, 1.0 - (1.0 - g) * self.release)
            if g > 1.0 - 1e-6:  # the glide would only approach 1; a 1e-6 step (-120 dB) ends it
                g = 1.0
            gains[i + 1] = g
        self.gain = g
        per_sample = np.interp(np.arange(n) + 1.0, np.arange(nb + 1) * self.BLOCK, gains)
        # the attack is instant at block starts, so take the lower of the block's own need and the glide
        per_sample = np.minimum(per_sample, np.repeat(need, self.BLOCK)[:n])
        y = (x * per_sample).astype(np.float32)
        self.reduction_db = float(-20.0 * np.log10(max(per_sample.min(), 1e-9)))
        return np.clip(y, -self.ceiling, self.ceiling)


class DcBlocker:
    """A one-pole high-pass at ``cutoff_hz`` (10 Hz: -0.3 dB at 40 Hz) that removes an input's DC offset, with its
    state carried across calls: a signal cut into blocks of any sizes gives the output of one call over the whole
    signal (to float rounding). y[n] = g (x[n] - x[n-1]) + R y[n-1], R = exp(-2 pi fc / sr), g = (1 + R) / 2 (gain 1
    at Nyquist). A DC offset at the input decays with a 16 ms time constant; without it, the models passed about
    half of an offset on and raised the floor of quiet passages by 13-31 dB (issue 23).

    The recursion runs as a cumulative sum over chunks of ``CHUNK`` samples (y[n] = R^n (R y[-1] + sum R^-k d[k])):
    numpy, no per-sample Python loop; R^-CHUNK stays far from overflow at any audio rate."""

    CHUNK = 2048

    def __init__(self, sample_rate: int, cutoff_hz: float = 10.0):
        self.r = float(np.exp(-2.0 * np.pi * cutoff_hz / sample_rate))
        self.g = 0.5 * (1.0 + self.r)
        k = np.arange(self.CHUNK + 1, dtype=np.float64)
        self._pow = self.r**k  # R^k
        self._inv = 1.0 / self._pow[: self.CHUNK]  # R^-k
        self.reset()

    def reset(self) -> None:
        """The next sample starts a signal (silence before it)."""
        self._x = 0.0  # the last input sample
        self._y = 0.0  # the last output sample

    def process(self, x: np.ndarray) -> np.ndarray:
        """float32[N] -> float32[N], the state advanced by N samples."""
        x = np.asarray(x, np.float32).reshape(-1)
        out = np.empty(x.shape[0], np.float32)
        for start in range(0, x.shape[0], self.CHUNK):
            xs = x[start : start + self.CHUNK].astype(np.float64)
            n = xs.shape[0]
            d = np.empty(n, np.float64)
            d[0] = xs[0] - self._x
            np.subtract(xs[1:], xs[:-1], out=d[1:])
            d *= self.g * self._inv[:n]
            y = (np.cumsum(d) + self.r * self._y) * self._pow[:n]
            out[start : start + n] = y
            self._x, self._y = float(xs[-1]), float(y[-1])
        return out


GATE_OFF_DB = -90.0  # a gate threshold at or below this is off (the signal passes untouched)


class Gate:
    """A noise gate: the signal passes while its level is at or above ``threshold_db`` (dBFS RMS over 64-sample
    blocks) and is faded out below it, so a room's hiss or hum does not reach the model (an instrument model plays
    a noise floor as breath at its level). It closes 6 dB under the threshold (hysteresis) after 50 ms of hold,
    fading by 80 dB over 100 ms; it opens in the block after a loud one (a 3 ms ramp at 22.05 kHz, no click).

    Each block's gain is decided from the blocks before it, so the gate adds no delay and a signal cut into calls
    of any sizes gives the output of one call. Per-block decisions run in Python, the gains are interpolated per
    sample in numpy: about 0.08 s per minute of audio at 22.05 kHz (the violin renders a minute in 1 s)."""

    BLOCK = 64
    HYSTERESIS_DB = 6.0
    HOLD_S = 0.05
    RELEASE_S = 0.1  # to fall by RANGE_DB
    RANGE_DB = 80.0
    FLOOR = 10 ** (-RANGE_DB / 20)  # a gain below this is 0

    def __init__(self, sample_rate: int):
        self.hold_blocks = int(round(self.HOLD_S * sample_rate / self.BLOCK))
        self.release = float(10 ** (-self.RANGE_DB / 20 * self.BLOCK / (self.RELEASE_S * sample_rate)))
        self.reset(closed=True)

    def reset(self, closed: bool = False) -> None:
        """No history: closed (a signal starts: the first block is silent, the next ramps up if it is loud) or open
        (the gate was off: what passes now fades out if it is quiet, no cut)."""
        self._pos, self._acc = 0, 0.0  # samples into the current block, their sum of squares
        self._open, self._hold = not closed, 0 if closed else self.hold_blocks
        self._idle = False  # True while off (already reset open)
        g = 0.0 if closed else 1.0
        self._gains = [g, g]  # the decisions after the last two complete blocks: this block ramps between them

    def _decide(self, mean_square: float, threshold_db: float) -> float:
        level = 10.0 * np.log10(mean_square + 1e-20)
        if level >= threshold_db:
            self._open, self._hold = True, self.hold_blocks
        elif level < threshold_db - self.HYSTERESIS_DB:
            if self._hold > 0:
                self._hold -= 1
            else:
                self._open = False
        last = self._gains[-1]
        return 1.0 if self._open else (last * self.release if last * self.release >= self.FLOOR else 0.0)

    def process(self, x: np.ndarray, threshold_db: float) -> np.ndarray:
        """float32[N] -> float32[N], the state advanced by N samples; ``threshold_db`` <= GATE_OFF_DB: untouched
        (and the gate is open when it is turned on)."""
        x = np.asarray(x, np.float32).reshape(-1)
        if threshold_db <= GATE_OFF_DB:
            if not self._idle:  # once, not every block while off
                self.reset()
                self._idle = True
            return x
        self._idle = False
        n, b = x.shape[0], self.BLOCK
        sq = np.square(x, dtype=np.float64)
        # block boundaries inside x: the current block ends after b - pos samples, then every b samples
        ends = np.arange(b - self._pos, n + 1, b)
        if ends.size:
            sums = np.add.reduceat(sq[: ends[-1]], np.concatenate([[0], ends[:-1]]))
            sums[0] += self._acc
            for s in sums:
                self._gains.append(self._decide(float(s) / b, threshold_db))
        tail = ends[-1] if ends.size else 0
        self._acc = float(sq[tail:].sum()) + (0.0 if ends.size else self._acc)
        # sample i lies in block j = (pos + i) // b of this call, which ramps from decision j to decision j + 1
        idx = self._pos + np.arange(n)
        j = idx // b
        g = np.asarray(self._gains, np.float64)
        t = (idx % b + 1) / b
        y = x * (g[j] + (g[j + 1] - g[j]) * t).astype(np.float32)
        self._pos = (self._pos + n) % b
        self._gains = self._gains[-2:]
        return y
