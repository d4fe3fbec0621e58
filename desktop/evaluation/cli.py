"""latentsynth-eval: resynthesise every audio file under a folder through a bundle and score it as a listener would,
beside peer codecs on the same files.

    latentsynth-eval --bundle B --data DIR --out REPORT [--peers] [--max-seconds 10]

Writes REPORT/metrics.json and REPORT/report.md with pictures (desktop/evaluation/evaluate.py). The metrics: spectral
distances, SI-SDR and level change; ViSQOL v3; PESQ-WB and STOI on speech; pitch fidelity on pitched material;
the information rate of every system; synthetic probes with a known pitch and level. ``--peers`` adds Opus 6 and
12 kbit/s, Griffin-Lim from the true and from an equal-size mel, and the WORLD vocoder, cached per file. With
``--transfer`` it evaluates an instrument bundle instead (desktop/evaluation/transfer.py). Torch-free; the metric
packages come with the ``eval`` extra.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.audiofile import AudioFileError
from core.bundle import BundleError

from . import systems
from .evaluate import EvalError, evaluate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="latentsynth-eval",
        description="Resynthesise every audio file under --data "
        "through a bundle; write metrics.json and report.md (perceptual, pitch, rate).",
    )
    p.add_argument("--bundle", help="bundle folder")
    p.add_argument("--data", help="folder of audio files (first subfolder = category)")
    p.add_argument("--out", help="report folder to write")
    t = p.add_argument_group("transfer (instrument bundles; desktop/evaluation/transfer.py)")
    t.add_argument("--transfer", metavar="BUNDLE", help="evaluate an instrument bundle on --inputs (not --bundle)")
    t.add_argument("--inputs", help="folder of inputs that are not the instrument (speech, singing, ...)")
    t.add_argument("--second-source", help="the instrument from another source (default: beside its corpus)")
    t.add_argument("--heldout", help="the instrument's held-out phrases (default: beside its corpus)")
    t.add_argument("--voices", help="non-instrument audio for the timbre classifier (default: the inputs)")
    t.add_argument("--default-bundle", help="the peer on the held-out phrases (default: the factory default)")
    t.add_argument("--max-heldout", type=int, default=8, help="held-out phrases to score (default 8)")
    t.add_argument("--sources", help="second-source files from these sources only (name prefix, e.g. stk)")
    p.add_argument(
        "--peers",
        action="store_true",
        help="also run Opus 6k/12k, Griffin-Lim (true and equal-size mel) and WORLD on every file (cached per file)",
    )
    p.add_argument("--cache", default=None, help="peer cache folder (default ~/.cache/latentsynth/eval)")
    p.add_argument("--no-cache", action="store_true", help="recompute the peers")
    p.add_argument("--no-probes", action="store_true", help="skip the synthetic probes")
    p.add_argument("--hop", type=float, default=0.25, help="window hop in seconds, as latentsynth-render (0.25)")
    p.add_argument("--max-seconds", type=float, default=None, help="evaluate at most this much of each file")
    p.add_argument("--images", type=int, default=6, help="spectrogram pictures to write (default 6)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.transfer is not None:
        from . import transfer

        return transfer.run_cli(args)
    if args.bundle is None or args.data is None or args.out is None:
        p.error("the following arguments are required: --bundle, --data, --out (or --transfer BUNDLE --inputs DIR)")
    if args.max_seconds is not None and not args.max_seconds > 0:
        print(f"latentsynth-eval: error: --max-seconds must be > 0 (got {args.max_seconds})", file=sys.stderr)
        return 2
    cache = None if args.no_cache else Path(args.cache) if args.cache else systems.default_cache_dir()
    try:
        r = evaluate(
            Path(args.bundle),
            Path(args.data),
            Path(args.out),
            args.hop,
            args.max_seconds,
            args.images,
            args.threads,
            not args.no_progress,
            args.peers,
            cache,
            not args.no_probes,
        )
    except (BundleError, AudioFileError, EvalError, ValueError, OSError) as exc:
        print(f"latentsynth-eval: error: {exc}", file=sys.stderr)
        return 2
    summary = {
        "files": r["files"],
        "seconds": r["seconds"],
        "runtime_seconds": r["runtime_seconds"],
        "rate_bps": r["rates_bps"],
        "overall": r["overall"],
    }
    print(json.dumps(summary))
    print(f"wrote {Path(args.out) / 'report.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
