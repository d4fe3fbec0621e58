"""Stopping on a signal: SIGINT/SIGTERM ask the training loop to stop at the next step and save a checkpoint."""

from __future__ import annotations

import signal
import sys
import time


class StopFlag:
    """SIGINT/SIGTERM set a flag so the loop stops at the next step on every rank and saves a checkpoint;
    a second signal gives up waiting (KeyboardInterrupt, no save; the previous checkpoint stays valid).
    A repeat within ``grace_s`` counts as the same request: Ctrl-C under torchrun reaches a worker twice, from
    the terminal and forwarded by torchrun."""

    def __init__(self, grace_s: float = 2.0):
        self.stop = False
        self.grace_s = grace_s
        self._first = 0.0
        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass

    def _handle(self, signum, frame):
        now = time.monotonic()
        if self.stop:
            if now - self._first < self.grace_s:
                return
            self.restore()
            raise KeyboardInterrupt
        self.stop, self._first = True, now
        print(
            f"\nsignal {signum}: stopping after this step and saving a checkpoint (again to quit now)", file=sys.stderr
        )

    def restore(self):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}
