"""latentsynth-render: resynthesise an audio file through a bundle (default: the bundled factory model)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from .engine.audiofile import AudioFileError, load_audio, write_audio
from .engine.bundle import BundleError, load_bundle
from .engine.latent import LatentControls
from .engine.render import default_bundle_path, render_audio
from .engine.session import ModelRunner, WindowModel


def parse_latent(specs: list[str], runner: ModelRunner) -> LatentControls:
    """'AXIS=VALUE' (first level) or 'LEVEL:AXIS=VALUE'; AXIS counts PCA axes from 0; VALUE in std units."""
    controls = LatentControls()
    levels = {l.name: l for l in runner.manifest.levels}
    first = runner.manifest.levels[0].name
    for spec in specs:
        try:
            key, value = spec.split("=", 1)
            level, _, axis = key.rpartition(":")
            level = level or first
            axis_i, value_f = int(axis), float(value)
        except ValueError:
            raise SystemExit(f"latentsynth-render: --latent '{spec}' is not AXIS=VALUE (e.g. 0=1.5)")
        if level not in levels:
            raise SystemExit(f"latentsynth-render: --latent '{spec}': no latent level '{level}' "
                             f"(levels: {', '.join(levels)})")
        if not 0 <= axis_i < levels[level].dim:
            raise SystemExit(f"latentsynth-render: --latent '{spec}': axis must be 0..{levels[level].dim - 1}")
        controls = controls.with_offset(level, axis_i, value_f, levels[level].dim)
    return controls


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="latentsynth-render", description=__doc__)
    p.add_argument("input", help="audio file (wav, flac, ogg, mp3; any rate and channel count)")
    p.add_argument("-o", "--output", required=True, help="output audio file (same rate, length and channels)")
    p.add_argument("--bundle", default=None, help="bundle folder (default: the bundled factory model)")
    p.add_argument("--hop", type=float, default=0.25, help="hop between 1-second windows, seconds (default 0.25)")
    p.add_argument("--latent", action="append", default=[], metavar="AXIS=VALUE",
                   help="offset along a PCA axis in standard deviations; repeatable; LEVEL:AXIS=VALUE for others")
    p.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)

    bundle_dir = Path(args.bundle) if args.bundle else default_bundle_path()
    try:
        bundle = load_bundle(bundle_dir)
        runner = ModelRunner(bundle, provider=args.provider, threads=args.threads)
        audio = load_audio(args.input)
    except (BundleError, AudioFileError, RuntimeError, ValueError) as exc:
        print(f"latentsynth-render: error: {exc}", file=sys.stderr)
        return 2
    model = WindowModel(runner, parse_latent(args.latent, runner))
    bar = tqdm(total=100, unit="%", disable=args.quiet, desc="render", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.n = int(100 * done / max(total, 1))
        bar.refresh()

    t0 = time.perf_counter()
    try:
        y = render_audio(audio, model, args.hop, progress)
    except ValueError as exc:
        bar.close()
        print(f"latentsynth-render: error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    elapsed = time.perf_counter() - t0
    write_audio(args.output, y, audio.sample_rate)
    if not args.quiet:
        print(f"{args.output}: {audio.seconds:.2f} s, {audio.channels} ch, {audio.sample_rate} Hz; "
              f"rendered in {elapsed:.2f} s ({audio.seconds / max(elapsed, 1e-9):.1f}x real time, "
              f"{runner.short_provider}, hop {args.hop} s, latency compensated {bundle.manifest.window}"
              f"-hop samples)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
