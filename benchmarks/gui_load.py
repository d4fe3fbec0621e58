"""What the GUI costs the audio: its thread's CPU and how late another Python thread gets to run while it draws.

    xvfb-run -a .venv/bin/python -m benchmarks.gui_load [--seconds 20] [--input-file tests/data/music_rock_mix.wav]
        [--pulse] [--low-latency]

Runs the app itself (``desktop.app.main``, the window drawing at 30 Hz, playing ``--input-file`` through whatever
device the app opens; with none, its NullDriver) in this process for ``--seconds``, beside a probe thread that
sleeps 0.5 ms at a time and records how late each wake-up comes back. The audio callback is Python too and needs
the GIL to run, so the probe's lateness is what the callback would wait for: PySide6 keeps the GIL through every
C++ call it makes, painting included, so a long draw delays the callback by its whole length. At exit it prints
one JSON line: the GUI (main) thread's and the whole process's CPU in % of one core after the first
``--skip-seconds`` (start-up) and before the last 0.5 s (quitting), the probe's lateness percentiles in ms, and how many wake-ups were more than 3 and
6 ms late (a 256-frame device block at 44.1 kHz lasts 5.8 ms), and the app's own summary (xruns, latency).
docs/notes/2026-12-06-desktop-history.md quotes it.

``--pulse`` starts a private PulseAudio with virtual devices (tests/desktop/pulse.py) and runs the measurement in
its environment, so the app plays through real PortAudio streams; ``--low-latency`` runs the app at the
low-latency setting (streaming mode, 256-frame device blocks, ``--device-latency low``) instead of its defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


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
            "probe_late_over_9ms": int((late > 9).sum()),
        }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--skip-seconds", type=float, default=4.0, help="start-up left out of the figures")
    p.add_argument("--input-file", default=str(ROOT / "tests" / "data" / "music_rock_mix.wav"))
    p.add_argument("--pulse", action="store_true", help="play through a private PulseAudio's virtual devices")
    p.add_argument(
        "--low-latency", action="store_true", help="streaming mode, 256-frame device blocks, --device-latency low"
    )
    args = p.parse_args()
    if args.seconds <= args.skip_seconds:
        raise SystemExit(f"--seconds must be more than --skip-seconds ({args.skip_seconds:g})")
    if args.pulse:
        return in_pulse([a for a in sys.argv[1:] if a != "--pulse"])
    from desktop.app import main as app_main

    app_args = ["--input-file", args.input_file, "--quit-after", f"{args.seconds:g}"]
    if args.low_latency:
        app_args += ["--mode", "streaming", "--device-block", "256", "--device-latency", "low"]
    probe = Probe(0.0005, args.skip_seconds, args.seconds - 0.5)
    probe.start()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            app_main(app_args)
    finally:
        probe.stop.set()
        probe.join(1.0)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("{")]
    summary = json.loads(lines[-1]) if lines else {}
    app = {k: summary.get(k) for k in ("xruns", "device_xruns", "underruns", "xrun_times_s", "latency_ms", "mode")}
    print(json.dumps({"load_average": os.getloadavg()[0], **probe.report(), "app": app}))
    return 0


def in_pulse(argv: list[str]) -> int:
    """Run this script (``argv``) under Xvfb inside a private PulseAudio's environment, then stop the daemon."""
    from tests.desktop.pulse import pulse_available, start_pulse, stop_pulse

    if not pulse_available():
        raise SystemExit("--pulse needs pulseaudio and pactl (apt-get install pulseaudio pulseaudio-utils)")
    with tempfile.TemporaryDirectory(prefix="ls-gui-load-") as runtime:
        proc, env = start_pulse(Path(runtime))
        try:
            cmd = [sys.executable, "-m", "benchmarks.gui_load", *argv]
            if not os.environ.get("DISPLAY"):
                cmd = ["xvfb-run", "-a", *cmd]
            return subprocess.run(cmd, env=env, cwd=ROOT).returncode
        finally:
            stop_pulse(proc)


if __name__ == "__main__":
    sys.exit(main())
