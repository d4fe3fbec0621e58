"""Speed of every shipped bundle: onnxruntime encode+decode of one 1-second window on ONE thread, the full
offline render path (overlapping windows), the engine's own per-window overhead, and optionally torch eager on
the same checkpoint. Prints a table; numbers go into docs/.

    .venv/bin/python -m benchmarks.speed [--bundle DIR ...] [--checkpoint NAME=RUN_DIR ...] [--provider cpu|cuda]

``--checkpoint NAME=RUN`` times torch eager (one thread) on the checkpoint that bundle NAME was exported from,
printed in the bundle's row; the playing side never needs torch. With ``--provider cuda`` (onnxruntime-gpu and a
CUDA device) the window column is the CUDA provider's.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from core.audiofile import Audio
from core.bundle_io import load_bundle
from core.overlap_add import process_offline
from core.render import render_audio
from core.session import ModelRunner, WindowModel
from desktop.engine.model.factory import default_bundle_path

ROOT = Path(__file__).resolve().parent.parent


def timeit(fn, repeats: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def torch_eager(checkpoint: Path, window: np.ndarray, repeats: int) -> float:
    """Seconds for encode + quantize + decode of one window in torch eager on one thread."""
    import torch

    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    torch.set_num_threads(1)
    tm, _ = model_from_checkpoint(load_checkpoint(checkpoint))
    hop = max(h for _, _, h in tm.levels)
    xt = torch.from_numpy(np.pad(window, (0, (-len(window)) % hop)))[None, None]
    with torch.no_grad():
        return timeit(lambda: tm.decode(tm.quantize(tm.encode(xt))), repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", action="append", default=None, help="bundle folder(s); default: every factory bundle")
    p.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="NAME=RUN",
        help="bundle folder name = training run or .pt it was exported from: time torch eager on it (needs torch)",
    )
    p.add_argument("--provider", default="cpu")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    bundles = (
        [Path(b) for b in args.bundle]
        if args.bundle
        else sorted(d for d in default_bundle_path().parent.iterdir() if (d / "manifest.json").is_file())
    )
    checkpoints = dict(c.split("=", 1) for c in args.checkpoint)
    rng = np.random.default_rng(0)
    print(
        f"{'bundle':<16} {'family':<13} {'MB':>5} {'window ms':>9} {'x realtime':>10} {'render x rt':>11} "
        f"{'torch eager ms':>14} {'provider':>8}"
    )
    for bdir in bundles:
        bundle = load_bundle(bdir)
        m = bundle.manifest
        runner = ModelRunner(bundle, args.provider, threads=1)
        model = WindowModel(runner)
        window = (0.1 * rng.standard_normal(m.window)).astype(np.float32)
        t_win = timeit(lambda: model(window), args.repeats)
        seconds = 10.0
        audio = Audio((0.1 * rng.standard_normal((1, int(seconds * m.sample_rate)))).astype(np.float32), m.sample_rate)
        t0 = time.perf_counter()
        render_audio(audio, model, 0.25)
        t_render = time.perf_counter() - t0
        size = sum((bdir / f).stat().st_size for f in m.files) / 1e6
        eager = checkpoints.get(bdir.name)
        t_eager = f"{torch_eager(Path(eager), window, args.repeats) * 1e3:.2f}" if eager else "-"
        print(
            f"{bdir.name[:16]:<16} {m.family[:13]:<13} {size:>5.1f} {t_win * 1e3:>9.2f} {1.0 / t_win:>10.1f} "
            f"{seconds / t_render:>11.1f} {t_eager:>14} {runner.short_provider:>8}",
            flush=True,
        )
    unknown = set(checkpoints) - {b.name for b in bundles}
    if unknown:
        raise SystemExit(f"--checkpoint names no benchmarked bundle: {', '.join(sorted(unknown))}")
    # the engine's own cost per window: overlap-add with an identity model
    x = rng.standard_normal(22050 * 10).astype(np.float32)
    t0 = time.perf_counter()
    process_offline(x, 22050, 5512, lambda w: w)
    t = time.perf_counter() - t0
    n_windows = len(x) / 5512
    print(f"engine overhead (identity model, overlap-add): {t / n_windows * 1e3:.3f} ms per window")


if __name__ == "__main__":
    main()
