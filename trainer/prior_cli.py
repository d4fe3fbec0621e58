"""latentsynth-train prior --bundle B --data DIR [--out RUN] [--resume] [key=value ...]

Encodes DIR with B's own encoder.onnx, trains a causal prior over the latent frames (one torch thread), and
writes it into B as prior.onnx with a manifest ``prior`` section, after an onnxruntime-vs-torch parity check.
--resume continues RUN (and, when its steps are all done, only exports again).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.audiofile import AudioFileError
from core.bundle import BundleError
from core.bundle_io import load_bundle
from core.cli_values import OneLineParser


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(
        prog="latentsynth-train prior",
        description="Train a learned prior (a GRU over the latent frames) for a streaming bundle and write it into "
        "the bundle as prior.onnx (docs/prior.md).",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. steps=3000 hidden=128 max_minutes=60")
    p.add_argument("--bundle", required=True, help="streaming bundle folder; prior.onnx is written into it")
    p.add_argument("--data", required=True, help="folder of audio (the bundle's training corpus), searched recursively")
    p.add_argument(
        "--out", default=None, help="run folder for latents, checkpoints and log (default: BUNDLE-prior-run)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from RUN/prior.pt")
    p.add_argument("--val-percent", type=float, default=10.0, help="held-out share by file hash (the trainer's rule)")
    p.add_argument("--no-install", action="store_true", help="train only; leave the bundle as it is")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_intermixed_args(argv)
    bundle_dir = Path(args.bundle)
    out = Path(args.out) if args.out else bundle_dir.with_name(bundle_dir.name + "-prior-run")
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        from .prior_train import PriorConfig, parse_overrides

        given = parse_overrides(args.overrides)
        cfg = PriorConfig.from_dict(given)
        bundle = load_bundle(bundle_dir)
        if bundle.manifest.streaming is None:
            raise BundleError(f"{bundle_dir}: not a streaming bundle; a prior plays frame by frame (docs/prior.md)")
        if not Path(args.data).is_dir():
            raise AudioFileError(f"{args.data}: not a folder of audio")
        if out.exists() and not out.is_dir():
            raise FileExistsError(f"{out}: is a file, not a run folder; choose another --out")
    except (ValueError, BundleError, AudioFileError, FileExistsError) as exc:
        print(f"latentsynth-train prior: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2

    import torch  # after the argument checks: --help and bad arguments answer at once

    from core.prior_frames import joined_stats
    from export.prior_export import PriorExportError, install_prior

    from .checkpoint import CheckpointError
    from .prior_data import bundle_levels, encode_corpus
    from .prior_train import PriorTrainer

    torch.set_num_threads(1)
    try:
        corpus = encode_corpus(bundle, Path(args.data), out / "latents.npz", args.val_percent, not args.quiet)
        if not corpus.train:
            raise AudioFileError(f"{args.data}: no file long enough to train on")
        levels = bundle_levels(bundle)
        log(f"latents: {corpus.minutes('train'):.1f} min to train on, {corpus.minutes('val'):.1f} min held out")
        mean, std = joined_stats(bundle.manifest, levels)
        trainer = PriorTrainer(corpus, mean, std, out, cfg, resume=args.resume, given=frozenset(given))
        summary = trainer.fit(log)
        if not args.no_install:
            best = out / "prior_best.pt"
            ckpt = best if best.is_file() else out / "prior.pt"
            check = corpus.val[0] if corpus.val else corpus.train[0]
            record = {"data": str(Path(args.data).resolve()), "train_minutes": round(corpus.minutes("train"), 2),
                      "heldout_minutes": round(corpus.minutes("val"), 2), "checkpoint": ckpt.name}  # fmt: skip
            path = install_prior(bundle_dir, ckpt, check, record, log, levels)
            summary["installed"] = str(path)
    except (
        ValueError,
        BundleError,
        AudioFileError,
        FileExistsError,
        CheckpointError,
        PriorExportError,
        OSError,
    ) as exc:
        print(f"latentsynth-train prior: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0
