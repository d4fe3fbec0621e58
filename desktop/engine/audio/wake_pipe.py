"""A pipe the audio callback writes a byte into so the engine's worker wakes on input without a Python lock."""

from __future__ import annotations

import os
import select
import time


class WakePipe:
    """Non-blocking at both ends: a full pipe (the worker is behind anyway) or a closed one drops the byte."""

    def __init__(self) -> None:
        self._r: int | None = None
        self._w: int | None = None

    def open(self) -> None:
        self.close()
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self._r, self._w = r, w

    def close(self) -> None:
        r, w, self._r, self._w = self._r, self._w, None, None
        for fd in (w, r):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def wake(self) -> None:
        """From the audio callback: a syscall, no Python lock (threading.Event.set would take one)."""
        try:
            os.write(self._w, b"\0")
        except (OSError, TypeError):  # pipe full (the worker is behind anyway) or closed
            pass

    def wait(self, timeout: float) -> None:
        """Sleep until the callback delivers input (it writes into the pipe) or ``timeout`` passes."""
        r = self._r
        if r is None:
            time.sleep(0.002)
            return
        try:
            if select.select([r], [], [], timeout)[0]:
                os.read(r, 4096)
        except (OSError, ValueError):  # closed while stopping
            time.sleep(0.002)
