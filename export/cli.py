"""latentsynth-export RUN_DIR_OR_CHECKPOINT --out BUNDLE_DIR [--data DIR] [--provenance MANIFEST_CSV]

``--preset dsp`` instead of a checkpoint exports a preset with nothing to train (its weights are its config)."""

from __future__ import annotations

import json
import sys

from core.audiofile import AudioFileError
from core.bundle import BundleError
from core.cli_values import OneLineParser, bounded
from core.output_path import OutputPathError, check_output_folder


def _parser() -> OneLineParser:
    p = OneLineParser(
        prog="latentsynth-export",
        description="Turn a training checkpoint into a model "
        "bundle (encoder.onnx, decoder.onnx, [quantizer.onnx], manifest.json).",
    )
    p.add_argument("checkpoint", nargs="?", help="a run folder (uses checkpoints/last.pt) or a .pt checkpoint")
    p.add_argument(
        "--preset",
        default=None,
        help="instead of a checkpoint: a preset with nothing to train (dsp: the source-filter analysis and "
        "synthesis alone); needs --data",
    )
    p.add_argument(
        "--out",
        required=True,
        help="bundle folder to write (a bundle there is replaced atomically; a folder holding anything else is refused)",
    )
    p.add_argument(
        "--data",
        default=None,
        help="audio for latent statistics and the parity check "
        "(default: the training data folder recorded in the checkpoint)",
    )
    p.add_argument(
        "--provenance",
        default=None,
        metavar="PATH",
        help="the corpus manifest.csv listing the "
        "training audio's sources and licences (default: manifest.csv in the training data folder "
        "or its parent; without one the bundle records folders and minutes only)",
    )
    p.add_argument(
        "--stat-chunks",
        type=bounded("stat_chunks", integer=True),
        default=256,
        help="1-second chunks used for latent statistics",
    )
    p.add_argument("--name", default=None, help="display name stored in the manifest")
    p.add_argument(
        "--synthesis",
        default=None,
        help="a source-filter run (sf, timbre) played through another synthesis: stft, additive or stft-live "
        "(its nets learn envelope and aperiodicity only, so no training is needed)",
    )
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    if (args.checkpoint is None) == (args.preset is None):
        p.error("give either a checkpoint (a run folder or .pt file) or --preset NAME, not both")
    if args.preset is not None and args.data is None:
        p.error("--preset needs --data DIR: audio for the latent statistics and the parity check")

    try:  # before any work (loading torch and exporting take a while): where the bundle goes
        check_output_folder(args.out, inputs=[a for a in (args.checkpoint, args.data, args.provenance) if a])
    except OutputPathError as exc:
        print(f"latentsynth-export: error: {exc}", file=sys.stderr)
        return 2

    from trainer.checkpoint import CheckpointError

    from .bundle_writer import ExportError, export_bundle, preset_checkpoint, with_synthesis

    try:
        source = preset_checkpoint(args.preset) if args.preset else args.checkpoint
        _, report = export_bundle(
            with_synthesis(source, args.synthesis) if args.synthesis else source,
            args.out,
            args.data,
            args.stat_chunks,
            args.name,
            show_progress=not args.no_progress,
            provenance_csv=args.provenance,
        )
    except (ExportError, CheckpointError, AudioFileError, BundleError, OSError) as exc:
        text = " ".join(str(exc).split())
        if isinstance(exc, OSError) and getattr(exc, "filename", None) and str(exc.filename) not in text:
            text = f"{exc.filename}: {text}"
        print(f"latentsynth-export: error: {text}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0
