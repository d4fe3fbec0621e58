"""A driver for the live engine whose device callbacks the test makes itself, one block per ``step()``: the same
``open``/``close``/``active`` contract as ``devices.NullDriver``, no audio hardware and no clock of its own. A test
that waits for the engine's output before each step hears no underrun however busy the machine is, and one that
steps while the worker is held back gets exactly the underruns it makes.

Callbacks are at least ``MIN_GAP_S`` apart: closer ones are what the engine takes for a sound server's bursts (see
``live.BURST_GAP_S``), which a busy machine can only spread further apart, never bring closer."""

from __future__ import annotations

import time

import numpy as np

from desktop.engine.audio.live import BURST_GAP_S

MIN_GAP_S = 2 * BURST_GAP_S


class SteppedDriver:
    def __init__(self, sample_rate: int, blocksize: int, source: np.ndarray):
        self.sample_rate = int(sample_rate)
        self.blocksize = int(blocksize)
        self.source = np.asarray(source, np.float32).reshape(-1)
        self.latency_s = 0.0
        self.error = ""
        self.blocks_done = 0
        self._callback = None
        self._input_needed = True
        self._last = 0.0
        self._blocks: list[np.ndarray] = []

    def open(self, callback, input_needed: bool) -> None:
        self._callback, self._input_needed = callback, input_needed

    @property
    def active(self) -> bool:
        return self._callback is not None

    @property
    def done(self) -> bool:
        return self.blocks_done * self.blocksize >= self.source.size

    def step(self, back_to_back: bool = False) -> None:
        """One device callback: the next block of the source in (silence past its end), the engine's block out.
        ``back_to_back``: right after the previous one, as a sound server's burst comes (see ``burst``)."""
        n, pos = self.blocksize, self.blocks_done * self.blocksize
        indata = np.zeros((n, 1), np.float32)
        seg = self.source[pos : pos + n]
        indata[: seg.size, 0] = seg
        outdata = np.zeros((n, 2), np.float32)
        wait = self._last + MIN_GAP_S - time.monotonic()
        if wait > 0 and not back_to_back:
            time.sleep(wait)
        self._last = time.monotonic()
        self._callback(indata if self._input_needed else None, outdata, n, False)
        self._blocks.append(outdata[:, 0].copy())
        self.blocks_done += 1

    def burst(self, blocks: int) -> None:
        """``blocks`` callbacks back to back (the first after the usual gap): the device taking them at once."""
        for k in range(blocks):
            self.step(back_to_back=k > 0)

    def captured(self) -> np.ndarray:
        return np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.float32)

    def close(self) -> None:
        self._callback = None
