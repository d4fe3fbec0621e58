"""Start-up in parallel: the slow, independent parts (the model, the audio backend) load in their own threads
while Qt builds the window, and a clock records when each was ready, counted from the process's launch.

Measured before this existed (docs/notes/2026-12-06-desktop-history.md): the first audio callback came 2.6-3.5 s after launch, most of it
importing librosa (~1.5 s, numba) to resample the input file, then the model and the device list one after
another on the GUI thread.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

from .latency import DEFAULT_LATENCY


def _seconds_since_launch() -> float:
    """How long this process has existed (from /proc; 0 where that is unavailable)."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of stat; the split drops pid and comm
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


class StartupClock:
    """Named moments in seconds since the process was launched (``marks``), set from any thread."""

    def __init__(self):
        self.t0 = time.monotonic() - _seconds_since_launch()
        self.marks: dict[str, float] = {}

    def mark(self, name: str, at: float | None = None) -> float:
        """Record ``name`` now (or at the ``time.monotonic()`` value ``at``); the first record wins."""
        t = round((time.monotonic() if at is None else at) - self.t0, 3)
        self.marks.setdefault(name, t)
        return t

    def since(self, name: str) -> float | None:
        return self.marks.get(name)


def in_thread(name: str, fn: Callable[[], Any], clock: StartupClock | None = None) -> Future:
    """Run ``fn`` in a daemon thread; the future holds its result or its exception; ``name`` is marked on the
    clock when it finishes."""
    fut: Future = Future()

    def run():
        try:
            fut.set_result(fn())
        except BaseException as exc:  # handed to whoever waits, never lost in the thread
            fut.set_exception(exc)
        if clock is not None:
            clock.mark(name)

    threading.Thread(target=run, name=f"latentsynth-{name}", daemon=True).start()
    return fut


class Preloader:
    """Futures for what the window will ask for first, keyed by what it will ask with."""

    def __init__(self, clock: StartupClock | None = None):
        self.clock = clock or StartupClock()
        self._models: dict[tuple[str, str], Future] = {}
        self.backend: Future | None = None
        self.wake = None

    def start_model(self, bundle_path: str | Path, provider: str) -> None:
        from core.bundle_io import load_bundle
        from core.session import ModelRunner

        from ..model.slot import ModelSlot

        def load():
            bundle = load_bundle(bundle_path)
            runner = ModelRunner(bundle, provider=provider, threads=1)
            return bundle, runner, ModelSlot.from_runner(runner)

        self._models[(str(Path(bundle_path)), provider)] = in_thread("model_ready", load, self.clock)

    def take_model(self, bundle_path: str | Path, provider: str):
        """(bundle, runner, slot) if that model was preloaded (waits for it; re-raises its error), else None."""
        fut = self._models.pop((str(Path(bundle_path)), provider), None)
        return None if fut is None else fut.result()

    def start_backend(
        self,
        input_device=None,
        output_device=None,
        duplex: bool = False,
        blocksize: int = 512,
        latency: str | float | tuple = DEFAULT_LATENCY,
        wake: bool = True,
    ) -> None:
        """Import sounddevice (PortAudio reads the device list and connects to the sound server), open the
        stream the app will play on as a silent ``WakeStream`` (``wake``), and list the devices, so the window's
        device menus and the engine find them ready."""
        from .devices import WakeStream, list_devices

        def work():
            if wake:
                self.wake = WakeStream(input_device, output_device, duplex, blocksize, latency)
                self.clock.mark("wake_stream_open")
            return list_devices()

        self.backend = in_thread("devices_ready", work, self.clock)

    def close_wake(self) -> bool:
        """Close the wake stream if the engine did not take it over (its settings differed, or to free a device
        that takes one stream); True if one was open."""
        if self.backend is not None:
            try:
                self.backend.result(timeout=10)
            except Exception:
                pass
        wake, self.wake = self.wake, None
        if wake is not None and wake.active:
            wake.close()
            return True
        return False
