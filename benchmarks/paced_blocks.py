"""What one streaming block costs at the live pace, against back to back; docs/streaming.md ("Round 6") quotes it.

    .venv/bin/python benchmarks/paced_blocks.py [--bundle desktop/factory/default] [--blocks 300]

Live, a block comes every 11.6 ms and the thread waits in between. For gaps of 0 (back to back) to 20 ms of busy
waiting before each call it prints the mean wall time of: one block through ``StreamingModel.process`` (encoder
step, knobs, decoder step, the engine's own code), and numpy's sum over 4 KB and 1 MB arrays (what coming back to
the same data costs on this machine, with no model at all). Busy waiting keeps the thread on its core, so a rise
with the gap is the caches losing the data to other work on the machine, not sleep or scheduling.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desktop.engine.bundle import load_bundle  # noqa: E402
from desktop.engine.render import default_bundle_path  # noqa: E402
from desktop.engine.session import ModelRunner  # noqa: E402
from desktop.engine.streaming import StreamingModel  # noqa: E402

GAPS_MS = (0.0, 1.0, 2.0, 4.0, 8.0, 11.6, 20.0)


def mean_after_gap(fn, gap_s: float, calls: int) -> float:
    """Mean wall seconds of ``fn()`` when each call follows ``gap_s`` of busy waiting."""
    total = 0.0
    for _ in range(calls):
        t = time.perf_counter()
        while time.perf_counter() - t < gap_s:
            pass
        t0 = time.perf_counter()
        fn()
        total += time.perf_counter() - t0
    return total / calls


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", type=Path, default=default_bundle_path())
    p.add_argument("--blocks", type=int, default=300, help="calls per gap")
    args = p.parse_args()
    model = StreamingModel(ModelRunner(load_bundle(args.bundle), "cpu", threads=1))
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(model.block)).astype(np.float32)
    small, large = np.ones(1024, np.float32), np.ones(1 << 18, np.float32)
    for _ in range(20):
        model.process(x)
    print(f"load average {os.getloadavg()[0]:.2f}; bundle {args.bundle}, block {model.block} samples")
    print(f"{'gap ms':>7s} {'block ms':>9s} {'sum 4 KB us':>12s} {'sum 1 MB us':>12s}")
    for gap in GAPS_MS:
        block = mean_after_gap(lambda: model.process(x), gap / 1e3, args.blocks)
        s4 = mean_after_gap(small.sum, gap / 1e3, args.blocks)
        s1 = mean_after_gap(large.sum, gap / 1e3, args.blocks)
        print(f"{gap:7.1f} {1e3 * block:9.3f} {1e6 * s4:12.1f} {1e6 * s1:12.1f}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
