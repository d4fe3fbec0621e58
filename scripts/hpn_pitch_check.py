#!/usr/bin/env python3
"""Measure an hpn bundle's pitch: its encoder's pitch channel against the tracker labels, and transpose accuracy.

    python scripts/hpn_pitch_check.py --bundle B --data HELDOUT [--max-seconds 10]

1. Encoder pitch (YIN since round 2) vs labels: for every file of the pitched categories (speech, music, instrument, pitched) under
   DATA, the encoder's pitch channel (streamed from zero states, the way the player runs it) against the trainer's
   YIN labels (trainer/pitch_labels.py) at the same frames, on frames both call voiced: median |error| in cents
   and the share within 50 cents, per category.
2. Transpose: each voiced file rendered by the engine's streaming path at 0 and at +12 / -12 / +7 semitones
   (the manifest's declared 'transpose' control); per file, the median over frames voiced in both of
   1200 log2(f0_transposed / f0_plain) by pYIN (what latentsynth-eval measures pitch with); the share of files
   within 15 cents of the target and the median deviation.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desktop.engine.audiofile import find_audio_files, load_audio, resample  # noqa: E402
from desktop.engine.bundle import load_bundle  # noqa: E402
from desktop.engine.latent import LatentControls  # noqa: E402
from desktop.engine.session import ModelRunner  # noqa: E402
from desktop.engine.streaming import StreamingModel, render_stream  # noqa: E402
from trainer.pitch_labels import chunk_labels, track  # noqa: E402

PITCHED = ("speech", "music", "instrument", "pitched")


def pyin(x: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    f0, flag, _ = librosa.pyin(x, fmin=50, fmax=1500, sr=sr, frame_length=2048, hop_length=256)
    return np.where(flag, f0, np.nan)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--max-seconds", type=float, default=10.0)
    p.add_argument("--transpose-files", type=int, default=12, help="voiced files rendered for the transpose check")
    args = p.parse_args()
    runner = ModelRunner(load_bundle(args.bundle), "cpu", threads=1)
    m = runner.manifest
    sr, hop = m.sample_rate, m.latent_hop
    files = [
        f
        for f in find_audio_files(Path(args.data))
        if any(c in str(f.relative_to(args.data)).split("/")[0] or c in f.name.split("_")[0] for c in PITCHED)
    ]
    errs: dict[str, list[np.ndarray]] = {}
    voiced_files = []
    for f in files:
        a = load_audio(f)
        x = resample(a.mono(), a.sample_rate, sr)[: int(args.max_seconds * sr)].astype(np.float32)
        x = x[: x.shape[0] - x.shape[0] % hop]
        if x.shape[0] < 4 * hop:
            continue
        lat, _ = runner.encode_step(x[None, None], runner.zero_states("encoder"))
        pitch = lat["control"][0, 0]
        lab = chunk_labels(track(x, sr), 0, pitch.shape[0], hop)
        ok = np.isfinite(lab[0]) & (lab[1] > 0.5) & (lat["control"][0, 1] > 0.5)
        cat = str(f.relative_to(args.data)).split("/")[0]
        if cat not in PITCHED:
            cat = f.name.split("_")[0]
        e = np.abs(pitch[ok] - lab[0][ok]) * 1200
        errs.setdefault(cat, []).append(e)
        if ok.mean() > 0.3:
            voiced_files.append((f, x))
    out = {"bundle": str(args.bundle), "pitch_vs_labels": {}}
    for cat, es in sorted(errs.items()):
        e = np.concatenate(es)
        out["pitch_vs_labels"][cat] = {
            "files": len(es),
            "frames": int(e.size),
            "median_cents": round(float(np.median(e)), 1) if e.size else None,
            "within_50c": round(float(np.mean(e < 50)), 3) if e.size else None,
        }
    control = m.control("transpose")
    if control is not None:
        step = max(1, len(voiced_files) // args.transpose_files)
        chosen = voiced_files[::step][: args.transpose_files]
        model = StreamingModel(runner)
        res: dict[int, list[float]] = {12: [], -12: [], 7: []}
        for f, x in chosen:
            model.controls = LatentControls()
            base = pyin(render_stream(x, model), sr)
            for s in res:
                model.controls = LatentControls().with_value(control, s)
                moved = pyin(render_stream(x, model), sr)
                both = np.isfinite(base) & np.isfinite(moved)
                if both.sum() >= 10:
                    res[s].append(float(np.median(1200 * np.log2(moved[both] / base[both]))))
        out["transpose"] = {
            f"{s:+d}": {
                "files": len(v),
                "median_cents": round(float(np.median(v)), 1) if v else None,
                "files_within_15c": round(float(np.mean(np.abs(np.array(v) - 100 * s) <= 15)), 3) if v else None,
            }
            for s, v in res.items()
        }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
