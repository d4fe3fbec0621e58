"""What the GUI costs the audio: its thread's CPU and how late another Python thread gets to run while it draws.

    xvfb-run -a .venv/bin/python benchmarks/gui_load.py [--seconds 20] [--input-file tests/data/music_rock_mix.wav]

Runs the app itself (``desktop.app.main``, the window drawing at 30 Hz, playing ``--input-file`` through whatever
device the app opens; with none, its NullDriver) in this process for ``--seconds``, beside a probe thread that
sleeps 0.5 ms at a time and records how late each wake-up comes back. The audio callback is Python too and needs
the GIL to run, so the probe's lateness is what the callback would wait for: PySide6 keeps the GIL through every
C++ call it makes, painting included, so a long draw delays the callback by its whole length. At exit it prints
one JSON line: the GUI (main) thread's and the whole process's CPU in % of one core after the first
``--skip-seconds`` (start-up) and before the last 0.5 s (quitting), the probe's lateness percentiles in ms, and how many wake-ups were more than 3 and
6 ms late (a 256-frame device block at 44.1 kHz lasts 5.8 ms). docs/desktop.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def thread_cpu_s(tid: int) -> float:
    """User + system CPU seconds of one thread of this process."""
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Probe(threading.Thread):
    """Sleeps ``nap_s`` at a time and keeps each wake-up's lateness, from ``skip_s`` after it starts."""

    def __init__(self, nap_s: float, skip_s: float, until_s: float):
        super().__init__(daemon=True, name="gil-probe")
        self.nap_s, self.skip_s, self.until_s = nap_s, skip_s, until_s
        self.late = np.zeros(1 << 21)
        self.n = 0
        self.stop = threading.Event()
        self.main_tid = threading.get_native_id()
        self.mark: tuple[float, float, float] | None = None  # (wall, main thread CPU, process CPU) at skip_s
        self.end: tuple[float, float, float] | None = None  # the same at until_s

    def run(self) -> None:
        t0 = time.perf_counter()
        while not self.stop.is_set():
            t = time.perf_counter()
            time.sleep(self.nap_s)
            now = time.perf_counter()
            if self.mark is None and now - t0 >= self.skip_s:
                self.mark = (now, thread_cpu_s(self.main_tid), time.process_time())
            if now - t0 >= self.until_s:  # before the app starts to quit
                self.end = (now, thread_cpu_s(self.main_tid), time.process_time())
                return
            if self.mark is not None and self.n < self.late.size:
                self.late[self.n] = now - t - self.nap_s
                self.n += 1

    def report(self) -> dict:
        (wall0, main0, proc0), (wall1, main1, proc1) = self.mark, self.end
        wall = wall1 - wall0
        late = self.late[: self.n] * 1e3
        return {
            "seconds_measured": round(wall, 1),
            "gui_thread_cpu_percent": round(100 * (main1 - main0) / wall, 1),
            "process_cpu_percent": round(100 * (proc1 - proc0) / wall, 1),
            "probe_wakeups": int(self.n),
            "probe_late_ms": {q: round(float(np.percentile(late, float(q))), 2) for q in ("50", "99", "99.9")}
            | {"max": round(float(late.max()), 1)},
            "probe_late_over_3ms": int((late > 3).sum()),
            "probe_late_over_6ms": int((late > 6).sum()),
        }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--skip-seconds", type=float, default=4.0, help="start-up left out of the figures")
    p.add_argument("--input-file", default=str(ROOT / "tests" / "data" / "music_rock_mix.wav"))
    args = p.parse_args()
    if args.seconds <= args.skip_seconds:
        raise SystemExit(f"--seconds must be more than --skip-seconds ({args.skip_seconds:g})")
    from desktop.app import main as app_main

    probe = Probe(0.0005, args.skip_seconds, args.seconds - 0.5)
    probe.start()
    try:
        app_main(["--input-file", args.input_file, "--quit-after", f"{args.seconds:g}"])
    finally:
        probe.stop.set()
        probe.join(1.0)
    print(json.dumps({"load_average": os.getloadavg()[0], **probe.report()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
