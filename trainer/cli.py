"""latentsynth-train CONFIG --data DIR --out RUN_DIR [--steps N] [--resume | --auto-resume] [--init-from CKPT]
[key=value ...]
latentsynth-train prior --bundle B --data DIR [--out RUN] [--resume]: a learned prior for a bundle (docs/prior.md)

Data-parallel: ``torchrun --nproc_per_node=N -m trainer CONFIG ...`` (see docs/training.md).
"""

from __future__ import annotations

import json
import sys

from core.audiofile import AudioFileError
from core.cli_values import OneLineParser, bounded

from .checkpoint import CheckpointError
from .config import load_config, preset_names


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, OSError) and getattr(exc, "filename", None) and str(exc.filename) not in text:
        text = f"{exc.filename}: {text}"
    return text


def build_parser() -> OneLineParser:
    p = OneLineParser(
        prog="latentsynth-train",
        description="Train an audio autoencoder on a folder of audio. Works under torchrun for data-parallel "
        "training (global batch = train.batch_size x number of processes). SIGINT/SIGTERM stop "
        "after the current step and save a checkpoint; --resume continues from it.",
    )
    p.add_argument("config", help=f"preset name ({', '.join(preset_names())}) or a YAML file")
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.batch_size=16 or lr=1e-4"
    )
    p.add_argument("--data", required=True, help="folder of audio, searched recursively")
    p.add_argument("--out", required=True, help="run folder (config, checkpoints, logs)")
    p.add_argument(
        "--steps", type=bounded("steps", integer=True), default=None, help="train until this many total steps (>= 1)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from checkpoints/last.pt with its stored config (only logging, "
        "checkpoint cadence, threads, workers and amp may be overridden)",
    )
    p.add_argument(
        "--auto-resume",
        action="store_true",
        help="--resume when --out holds a checkpoint, a new run otherwise (for torchrun --max-restarts "
        "and jobs that are requeued with the same command)",
    )
    p.add_argument(
        "--init-from",
        metavar="CKPT",
        default=None,
        help="start a new run in --out from the model weights of this checkpoint or run folder (its EMA "
        "when it has one), e.g. for adversarial fine-tuning: pass that run's config.yaml as CONFIG "
        "(the model config must match), then overrides such as adv.enabled=true. The step counter, "
        "optimizer and LR schedule start afresh. With --resume/--auto-resume, a checkpoint in "
        "--out wins (a restarted fine-tuning continues)",
    )
    p.add_argument(
        "--logger",
        default="tensorboard",
        choices=["tensorboard", "none"],
        help="tensorboard: event files in RUN/tensorboard; none: only RUN/train_log.jsonl",
    )
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["prior"]:  # latentsynth-train prior --bundle B --data DIR: the learned prior (docs/prior.md)
        from .prior_cli import main as prior_main

        return prior_main(argv[1:])
    args = build_parser().parse_intermixed_args(argv)

    from pathlib import Path

    if Path(args.out).exists() and not Path(args.out).is_dir():
        print(
            f"latentsynth-train: error: {args.out}: is a file, not a run folder; choose another --out", file=sys.stderr
        )
        return 2
    from . import distributed  # torch imports after argument errors, so --help is quick
    from .loop import Trainer

    try:
        cfg = load_config(args.config, args.overrides)
        resume = True if args.resume else ("auto" if args.auto_resume else False)
        trainer = Trainer(
            cfg,
            args.data,
            args.out,
            resume=resume,
            logger=args.logger,
            show_progress=not args.no_progress,
            resume_overrides=args.overrides,
            init_from=args.init_from,
            config_source=args.config,
        )
    except (ValueError, AudioFileError, CheckpointError, FileExistsError, OSError) as exc:
        print(f"latentsynth-train: error: {_one_line(exc)}", file=sys.stderr)
        distributed.shutdown()
        return 2
    try:
        summary = trainer.fit(args.steps)
    except (CheckpointError, OSError) as exc:  # e.g. the disk filled up during a save: the previous checkpoint survives
        print(f"latentsynth-train: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        distributed.shutdown()  # no-op after a normal fit; after an exception torchrun stops the other ranks
    if trainer.dist.is_main:
        print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in summary.items()}))
    return 0
