"""Where the live engine's CPU goes: each part's CPU time (``time.thread_time``, so waits and other threads do not
count) while the streaming engine plays, in % of one core; docs/streaming.md quotes it.

    .venv/bin/python -m benchmarks.live_breakdown [--bundle desktop/factory/default] [--seconds 20]
        [--device-block 256]

It runs ``benchmarks.streaming``'s live measurement (the engine on its NullDriver at 44.1 kHz, a looped fixture,
real-time pace) with the engine's own methods wrapped to add up their thread CPU time from the moment the engine
starts (loading and the slot's timing blocks are left out). Nested parts are indented under the part that calls
them; "driver thread" is the NullDriver's pacing loop with the audio callback inside it (PortAudio's thread plays
that role on a real device). Prints one line per part and the whole process's figure, which also holds the main
thread and the interpreter's own work.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks import streaming as bench
from core import dsp, streaming
from core.bundle_io import load_bundle
from core.session import ModelRunner
from desktop.engine.audio import chain, devices, live, resample
from desktop.engine.model.factory import default_bundle_path

ROOT = Path(__file__).resolve().parent.parent


PARTS = (  # (class, method, label): the label's indent says which part calls it
    (devices.NullDriver, "_run", "driver thread (pacing + callback)"),
    (live.LiveEngine, "_callback", "  audio callback"),
    (live.LiveEngine, "_work", "worker thread"),
    (live.LiveEngine, "_process", "  _process (one wake)"),
    (chain.ProcessingChain, "process", "    chain.process"),
    (resample.StreamResampler, "process", "      resamplers (in + out)"),
    (streaming.StreamingProcessor, "push", "      streaming push"),
    (streaming.StreamingModel, "process", "        model block"),
    (streaming.BoundSteps, "encode", "          encoder step"),
    (streaming.BoundSteps, "decode", "          decoder step"),
    (dsp.Limiter, "process", "      limiter"),
)


class Meter:
    """Adds up the thread CPU time and calls of wrapped methods while ``on``."""

    def __init__(self):
        self.on = False
        self.totals: dict[str, list] = {label: [0.0, 0] for _, _, label in PARTS}

    def wrap(self, cls, name: str, label: str) -> None:
        fn = getattr(cls, name)
        meter = self

        def timed(*args, **kwargs):
            if not meter.on:
                return fn(*args, **kwargs)
            t = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                entry = meter.totals[label]
                entry[0] += time.thread_time() - t
                entry[1] += 1

        setattr(cls, name, timed)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", type=Path, default=None, help="a streaming bundle (default: the factory default)")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--device-block", type=int, default=256)
    args = p.parse_args()
    meter = Meter()
    for cls, name, label in PARTS:
        meter.wrap(cls, name, label)
    start = live.LiveEngine.start

    def start_metered(self, driver):
        meter.on = True
        return start(self, driver)

    live.LiveEngine.start = start_metered
    runner = ModelRunner(load_bundle(args.bundle or default_bundle_path()), "cpu", threads=1)
    r = bench.live(runner, args.seconds, device_block=args.device_block)
    wall = r["seconds"]
    print(f"whole process: {r['cpu_percent_of_one_core']:.1f} % of one core, {r['xruns']} xruns, {wall:.1f} s")
    for label, (cpu, calls) in meter.totals.items():
        # the two thread loops are entered once each: a per-call figure means something only for the others
        per_call = f"{1e6 * cpu / calls:8.1f} us/call, {calls / wall:5.0f} calls/s" if calls > 2 else ""
        print(f"{label:38s} {100 * cpu / wall:5.2f} %  {per_call}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
