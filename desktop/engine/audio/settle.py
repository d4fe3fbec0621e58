"""A new device stream settles before the live engine plays it: the frames it takes meanwhile, and its bursts.

A sound server takes a new stream's first callbacks in bursts: one that fills its buffer, then bursts of its habit
(PulseAudio's ALSA plugin: 2-3 device blocks at once every ~23 ms). The engine learned the habit only after
``live.BURST_HITS`` back-to-back callbacks, so the first ~0.1 s of every stream underran 4-10 times (issue 27). Now
a stream whose driver ``settles`` plays silence and takes no input for ``SETTLE_S``, and the output starts ahead by
the second-largest burst of the habit seen meanwhile (one outlier, a scheduling hiccup, does not count). Positions
start after the settling, so the engine's latency bookkeeping is untouched.
"""

from __future__ import annotations

SETTLE_S = 0.2


class StreamSettle:
    """Set by ``start``; the audio callback reports each finished burst (``burst_ended``) and hands its output to
    ``take`` while ``active``; the worker collects the cover once (``pop_cover``) before its first block."""

    def __init__(self):
        self.left = 0  # frames the device takes before the engine plays
        self.cover = 0  # what the bursts ask the output to cover (kept for the readouts)
        self._pending = 0  # the same, until the worker has applied it
        self._seen = self._largest = self._second = 0  # bursts so far, and the two largest after the first

    def start(self, frames: int) -> None:
        self.left, self.cover, self._pending = int(frames), 0, 0
        self._seen = self._largest = self._second = 0

    @property
    def active(self) -> bool:
        return self.left > 0

    def burst_ended(self, frames: int) -> None:
        """(callback) Integers only: nothing is allocated on the audio thread."""
        if self.left <= 0 or frames <= 0:
            return
        self._seen += 1
        if self._seen == 1:  # the first burst is the server filling its buffer
            return
        if frames > self._largest:
            self._largest, self._second = frames, self._largest
        elif frames > self._second:
            self._second = frames

    def take(self, outdata, frames: int) -> bool:
        """(callback) Silence out while settling; True when this callback ended the settling."""
        outdata.fill(0.0)
        self.left -= frames
        if self.left > 0:
            return False
        self.cover = self._pending = self._second  # 0 with fewer than two bursts of the habit
        return True

    def pop_cover(self) -> int:
        """(worker) The cover to apply, once; read it after the input ring's level: it is set before any input."""
        cover, self._pending = self._pending, 0
        return cover
