"""A lock-free single-producer single-consumer float32 ring buffer for the audio callback.

The writer only moves ``_w`` and the reader only moves ``_r``; both are Python ints, whose assignment is
atomic under the GIL, so neither side ever waits for the other. The reader may run ahead of the writer
(an underrun): it outputs silence and the missing samples are later dropped by the writer, so the stream
position, and therefore the latency, never shifts.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._buf = np.zeros(self.capacity, np.float32)
        self._w = 0  # total samples written (including dropped ones)
        self._r = 0  # total samples read (including silent ones)

    @property
    def written(self) -> int:
        return self._w

    @property
    def read_count(self) -> int:
        return self._r

    def level(self) -> int:
        """Samples queued for the reader; negative while the reader has run ahead (underrun debt)."""
        return self._w - self._r

    def write(self, x: np.ndarray) -> int:
        """Writer side. Returns how many samples overwrote unread data (the reader fell behind: overflow)."""
        n = x.shape[0]
        debt = self._r - self._w
        if debt > 0:  # the reader played silence for these positions already: drop them to keep alignment
            skip = min(debt, n)
            x = x[skip:]
            self._w += skip
            n -= skip
            if n == 0:
                return 0
        overflow = max(0, self._w + n - self._r - self.capacity)
        if n > self.capacity:
            x = x[-self.capacity :]
            self._w += n - self.capacity
            n = self.capacity
        start = self._w % self.capacity
        first = min(n, self.capacity - start)
        self._buf[start : start + first] = x[:first]
        if first < n:
            self._buf[: n - first] = x[first:]
        self._w += n
        return overflow

    def fade_tail(self, n: int) -> int:
        """Writer side: ramp the newest ``n`` queued (unread) samples down to silence, so whatever is written
        next starts from zero instead of jumping. Touches only samples the reader has not reached (the live
        engine keeps hundreds of milliseconds queued, so the reader is far away). Returns how many were faded."""
        n = min(int(n), self.level())
        if n <= 0:
            return 0
        ramp = 1.0 - (np.arange(n, dtype=np.float32) + 1) / n
        idx = (np.arange(self._w - n, self._w)) % self.capacity
        self._buf[idx] *= ramp
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Reader side: fill ``out`` (1-D), zeros where nothing was written. Returns the samples missing."""
        n = out.shape[0]
        avail = max(0, min(n, self._w - self._r))
        if self._w - self._r > self.capacity:  # writer lapped us: skip to the oldest valid sample
            self._r = self._w - self.capacity
        start = self._r % self.capacity
        first = min(avail, self.capacity - start)
        out[:first] = self._buf[start : start + first]
        if first < avail:
            out[first:avail] = self._buf[: avail - first]
        if avail < n:
            out[avail:] = 0.0
        self._r += n
        return n - avail

    def read(self, n: int) -> np.ndarray:
        """Reader side, allocating (for the worker thread, never the audio callback): up to ``n`` queued samples."""
        n = max(0, min(n, self.level()))
        out = np.empty(n, np.float32)
        self.read_into(out)
        return out

    def latest(self, n: int) -> np.ndarray:
        """A copy of the newest ``n`` written samples (for display; may tear while the writer runs)."""
        n = min(n, self.capacity)
        end = self._w % self.capacity
        if n <= end:
            return self._buf[end - n : end].copy()
        return np.concatenate([self._buf[self.capacity - (n - end) :], self._buf[:end]])
