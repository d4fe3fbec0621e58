"""latentsynth-render: resynthesise an audio file through a bundle (default: the bundled factory model), morph it
toward a second file (--morph B.wav --amount X), or generate from the latent prior (--generate SECONDS)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from .engine.audiofile import AudioFileError, load_audio, write_audio
from .engine.bundle import BundleError, load_bundle
from .engine.inversion import GriffinLimRunner
from .engine.latent import LatentControls
from .engine.morph import generate, render_morph
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
    p.add_argument("input", nargs="?", help="audio file (wav, flac, ogg, mp3; any rate and channel count); "
                   "not used with --generate")
    p.add_argument("-o", "--output", required=True, help="output audio file (same rate, length and channels)")
    p.add_argument("--bundle", default=None, help="bundle folder (default: the bundled factory model)")
    p.add_argument("--hop", type=float, default=0.25, help="hop between 1-second windows, seconds (default 0.25)")
    p.add_argument("--latent", action="append", default=[], metavar="AXIS=VALUE",
                   help="offset along a PCA axis in standard deviations; repeatable; LEVEL:AXIS=VALUE for others")
    p.add_argument("--morph", default=None, metavar="B.wav",
                   help="morph toward this file's latents (window by window, B loops when shorter)")
    p.add_argument("--amount", type=float, default=0.5, help="with --morph: 0 = input only, 1 = B only (default 0.5)")
    p.add_argument("--generate", type=float, default=None, metavar="SECONDS",
                   help="ignore the input: sample this many seconds from the latent prior (written at the model rate)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="with --generate: scale of the prior samples, in standard deviations (default 1)")
    p.add_argument("--smooth", type=float, default=0.1,
                   help="with --generate: time constant of the latent noise in seconds (0 = white; default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="with --generate: random seed")
    p.add_argument("--inversion", default="learned", choices=["learned", "griffin-lim"],
                   help="mel-VAE bundles: 'learned' = the decoder's inverse-STFT head (default); 'griffin-lim' = the "
                   "decoder's mel + 32 Griffin-Lim iterations (the research's baseline; slow)")
    p.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)

    if args.generate is None and args.input is None:
        p.error("an input file is required (or --generate SECONDS)")
    if not 0.0 <= args.amount <= 1.0:
        p.error("--amount must be between 0 and 1")
    bundle_dir = Path(args.bundle) if args.bundle else default_bundle_path()
    try:
        bundle = load_bundle(bundle_dir)
        runner = ModelRunner(bundle, provider=args.provider, threads=args.threads)
        if args.inversion == "griffin-lim":
            runner = GriffinLimRunner(runner)
        if args.generate is not None:
            if args.generate <= 0:
                raise ValueError("--generate needs a positive number of seconds")
            t0 = time.perf_counter()
            y = generate(runner, args.generate, args.temperature, args.smooth, args.seed,
                         parse_latent(args.latent, runner))
            write_audio(args.output, y, bundle.manifest.sample_rate)
            if not args.quiet:
                print(f"{args.output}: generated {args.generate:.2f} s at {bundle.manifest.sample_rate} Hz, temperature "
                      f"{args.temperature}, in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
            return 0
        audio = load_audio(args.input)
        target = load_audio(args.morph) if args.morph else None
    except (BundleError, AudioFileError, RuntimeError, ValueError) as exc:
        print(f"latentsynth-render: error: {exc}", file=sys.stderr)
        return 2
    controls = parse_latent(args.latent, runner)
    model = WindowModel(runner, controls)
    bar = tqdm(total=100, unit="%", disable=args.quiet, desc="render", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.n = int(100 * done / max(total, 1))
        bar.refresh()

    t0 = time.perf_counter()
    try:
        if target is not None:
            y = render_morph(audio, target, runner, args.amount, controls, args.hop, progress)
        else:
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
