"""Per-part CPU time of streaming bundles' step graphs, A/B: docs/streaming.md ("Speed") quotes its output.

    .venv/bin/python benchmarks/streaming_parts.py BUNDLE [BUNDLE ...] [--calls 300]

For each part (encoder, decoder) and each bundle, one onnxruntime thread, random inputs at the block's size:
- cold, 1 frame (a live 256-sample block): the caches flushed (48 MB written) before every call, as between live
  blocks on a busy machine;
- warm, 1 frame and 64 frames (a render call): calls back to back.
Times are the calling thread's CPU time (time.thread_time), so being preempted by other processes does not count;
the bundles' calls alternate, so a change of machine load hits them alike. Prints mean and 10th percentile, ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desktop.engine.bundle import load_bundle  # noqa: E402
from export.fast_graph import probe_inputs  # noqa: E402


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundles", nargs="+", type=Path)
    p.add_argument("--calls", type=int, default=300)
    args = p.parse_args()
    bundles = [load_bundle(b) for b in args.bundles]
    hop = bundles[0].manifest.latent_hop
    junk = np.ones(12 << 20, np.float32)  # 48 MB: more than the last-level cache
    print(f"load average {os.getloadavg()[0]:.2f}")
    for part in ("encoder", "decoder"):
        sessions = [session(b.part_path(part)) for b in bundles]
        for label, frames, cold, calls in (
            ("cold, 1 frame", 1, True, args.calls),
            ("warm, 1 frame", 1, False, args.calls),
            ("warm, 64 frames", 64, False, max(20, args.calls // 10)),
        ):
            feeds = probe_inputs(sessions[0], hop, frames, seed=frames)
            times = np.zeros((len(sessions), calls))
            for i in range(calls + 10):
                for k, sess in enumerate(sessions):
                    if cold:
                        junk += 1.0
                    t0 = time.thread_time()
                    sess.run(None, feeds)
                    if i >= 10:
                        times[k, i - 10] = time.thread_time() - t0
            cells = [
                f"{b.path.name}: {1e3 * t.mean():.3f} (p10 {1e3 * np.percentile(t, 10):.3f})"
                for b, t in zip(bundles, times)
            ]
            print(f"{part:8s} {label:16s} " + "   ".join(cells))
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
