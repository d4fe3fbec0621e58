"""How late this machine wakes a thread that nothing in Python can hold back: the floor under any audio callback.

    .venv/bin/python -m benchmarks.machine_jitter [--seconds 60] [--nap-ms 1] [--priority normal]

A lone process (no GIL shared with anything, no audio, no model) sleeps ``--nap-ms`` at a time and records how late
each wake-up comes, at realtime priority (SCHED_FIFO 50) when the user may have it (root, or an rtprio limit: see
docs/notes/2026-12-06-desktop-history.md), else at normal priority (it says which). What is left at realtime priority is the kernel and, on a
virtual machine, the hypervisor taking the virtual CPU away (the "steal" time it also prints, from /proc/stat). A
256-frame device block at 44.1 kHz lasts 5.8 ms: wake-ups later than that are dropouts waiting to happen for any
callback at that block size, written in Python or not. Prints one JSON line; docs/desktop.md quotes it.

``--priority normal`` measures at the priority of the app's own threads instead: what other busy processes add on
top (the audio tests run it beside the engine, so that a dropout the machine caused is told from one the engine
did). SIGTERM ends the measurement early and still prints the line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

import numpy as np


def cpu_times() -> list[int]:
    """The first line of /proc/stat: user, nice, system, idle, iowait, irq, softirq, steal, ... (clock ticks)."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def realtime(priority: int) -> bool:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (AttributeError, OSError):
        return False
    return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--nap-ms", type=float, default=1.0)
    p.add_argument("--priority", choices=("realtime", "normal"), default="realtime", help="realtime when permitted")
    args = p.parse_args()
    if args.seconds <= 0 or args.nap_ms <= 0:
        print("machine_jitter: --seconds and --nap-ms must be positive", file=sys.stderr)
        return 2
    nap = args.nap_ms / 1000.0
    rt = realtime(50) if args.priority == "realtime" else False
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    late = np.zeros(int(args.seconds / nap) + 1)
    before = cpu_times()
    t0 = time.perf_counter()
    n = 0
    while n < late.size and time.perf_counter() - t0 < args.seconds and not stop:
        t = time.perf_counter()
        time.sleep(nap)
        late[n] = time.perf_counter() - t - nap
        n += 1
    after = cpu_times()
    priority_label = (
        "SCHED_FIFO 50" if rt else "normal" if args.priority == "normal" else "normal (realtime not permitted)"
    )
    ms = late[: max(n, 1)] * 1e3  # (a SIGTERM before the first nap: one zero)
    delta = [b - a for a, b in zip(before, after)]
    steal = 100.0 * delta[7] / max(1, sum(delta)) if len(delta) > 7 else float("nan")
    print(
        json.dumps(
            {
                "priority": priority_label,
                "seconds": round(time.perf_counter() - t0, 1),
                "wakeups": n,
                "late_ms": {q: round(float(np.percentile(ms, float(q))), 2) for q in ("50", "99", "99.9")}
                | {"max": round(float(ms.max()), 2)},
                "late_over_ms": {str(k): int((ms > k).sum()) for k in (2, 4, 5.8, 10)},
                "steal_percent": round(steal, 2),
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
