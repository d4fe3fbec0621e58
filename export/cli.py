"""latentsynth-export RUN_DIR_OR_CHECKPOINT --out BUNDLE_DIR [--data DIR] [--provenance MANIFEST_CSV]

``--preset dsp`` instead of a checkpoint exports a preset with nothing to train (its weights are its config)."""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import sys
import tempfile
from pathlib import Path

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
    p.add_argument(
        "--keep-prior-of",
        default=None,
        metavar="BUNDLE",
        help="copy this bundle's learned prior (Generate mode) into the new one, after checking that both encoders "
        "give the same latents (a run whose decoder alone was retrained); it may be the --out bundle itself",
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
    from .prior_export import PriorExportError

    keep = tempfile.TemporaryDirectory() if args.keep_prior_of else contextlib.nullcontext()
    try:
        with keep as kept:
            finish = None
            if kept is not None:  # a copy first: --out may be that very bundle, and it is replaced at the end
                kept = _copy_for_prior(Path(args.keep_prior_of), Path(kept))
                finish = functools.partial(_keep_prior, kept, data=args.data, shown=args.keep_prior_of, final=args.out)
            source = preset_checkpoint(args.preset) if args.preset else args.checkpoint
            _, report = export_bundle(
                with_synthesis(source, args.synthesis) if args.synthesis else source,
                args.out,
                args.data,
                args.stat_chunks,
                args.name,
                show_progress=not args.no_progress,
                provenance_csv=args.provenance,
                finish=finish,
            )
            if kept is not None:
                report["prior_kept_from"] = args.keep_prior_of
    except (ExportError, CheckpointError, AudioFileError, BundleError, PriorExportError, OSError) as exc:
        text = " ".join(str(exc).split())
        if isinstance(exc, OSError) and getattr(exc, "filename", None) and str(exc.filename) not in text:
            text = f"{exc.filename}: {text}"
        print(f"latentsynth-export: error: {text}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0


def _copy_for_prior(bundle: Path, tmp: Path) -> Path:
    """A checked copy of ``bundle`` (one with a prior) in ``tmp``: what --keep-prior-of reads after the export."""
    from core.bundle_io import load_bundle

    from .prior_export import PriorExportError

    if load_bundle(bundle).manifest.prior is None:
        raise PriorExportError(f"{bundle}: the bundle has no prior to keep")
    shutil.copytree(bundle, tmp / "bundle")
    return tmp / "bundle"


def _keep_prior(kept: Path, out: Path, data: str | None, shown: str, final: str) -> None:
    """Carry the copy's prior into the new bundle ``out`` (before it replaces --out: a refused prior leaves --out
    as it was), checked on three files of the audio the bundle was exported with."""
    from core.audiofile import find_audio_files
    from core.bundle_io import load_bundle

    from .prior_export import PriorExportError, carry_prior

    root = data or getattr(load_bundle(out).manifest.training_data, "root", None)
    files = find_audio_files(root)[:3] if root else []
    if not files:
        raise AudioFileError(f"{root}: no audio to check the kept prior's latents on (give --data DIR)")
    try:
        carry_prior(kept, out, files, log=lambda text: print(f"[export] {text}", file=sys.stderr), shown=shown)
    except PriorExportError as exc:  # named as the user named it, not as the folder it is being built in
        raise PriorExportError(str(exc).replace(str(out), final)) from None
