"""The live engine's start/stop fade, applied in the audio callback: precomputed ramps, so it only multiplies."""

from __future__ import annotations

import numpy as np


class StartStopFade:
    """Fades the output in over ``n`` samples after a start and out again when ``fade_out`` is called; ``pos`` is
    how far in it is (0: silent, ``n``: full level). Blocks of up to ``max_block`` samples."""

    def __init__(self, n: int, max_block: int):
        self.n = n
        ramp = (np.arange(n, dtype=np.float32) + 1) / n
        self._up = np.concatenate([ramp, np.ones(max_block, np.float32)])
        self._down = np.concatenate([1.0 - ramp, np.zeros(max_block, np.float32)])
        self.pos = 0
        self.target_up = True

    @property
    def done(self) -> bool:
        """Faded fully in."""
        return self.pos >= self.n

    def fade_out(self) -> None:
        self.target_up = False

    def apply(self, buf: np.ndarray) -> None:
        """Scale ``buf`` (the next block of output, in place) and move on by its length."""
        frames = buf.shape[0]
        if self.target_up:
            if self.pos < self.n:
                buf *= self._up[self.pos : self.pos + frames]
                self.pos = min(self.n, self.pos + frames)
        else:
            start = self.n - self.pos
            buf *= self._down[start : start + frames]
            self.pos = max(0, self.pos - frames)
