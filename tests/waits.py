"""Waiting in tests: poll a condition until it holds and fail naming what was awaited after a timeout. The one way a
test waits for something to happen (a fixed sleep is kept only where the passing time is itself what is tested)."""

from __future__ import annotations

import time
from typing import Callable


def wait_for(condition: Callable[[], object], what: str, timeout: float = 20.0, every: float = 0.001) -> None:
    """Poll ``condition`` every ``every`` seconds until it is true; fail naming ``what`` after ``timeout`` seconds
    (a stuck engine or process, not a slow one: the timeout is generous and a fast machine never waits for it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)
