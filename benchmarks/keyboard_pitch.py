"""A held MIDI note on a pitch-aware bundle: does the output sing the note? Real voiced recordings stream through
the bundle (the engine's StreamingModel, block by block) while MidiMap, following the keyboard, holds a note; the
output's f0 (the evaluation's pYIN + refined period tracker) is compared with the note on voiced frames.

    .venv/bin/python benchmarks/keyboard_pitch.py --bundle BUNDLE --data HELD_OUT_DIR [--files 8] [--notes 52 60 67]

Prints one JSON line: per note and overall, the median |error| in cents and the share of voiced output frames within
15 and 50 cents of the note.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import mido
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desktop.control.midi import MidiMap  # noqa: E402
from desktop.engine.audiofile import load_audio, resample  # noqa: E402
from desktop.engine.bundle import load_bundle  # noqa: E402
from desktop.engine.params import ParamRegistry, StaticTarget  # noqa: E402
from desktop.engine.session import ModelRunner  # noqa: E402
from desktop.engine.streaming import StreamingModel  # noqa: E402
from desktop.engine.values import LIVE_MODES, EngineParams, StreamConfig  # noqa: E402
from desktop.evaluation.pitch import track  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--data", required=True, help="folder of voiced recordings (searched recursively for *speech*)")
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--notes", type=int, nargs="+", default=[52, 60, 67])
    p.add_argument("--max-seconds", type=float, default=6.0)
    args = p.parse_args(argv)
    runner = ModelRunner(load_bundle(args.bundle), "cpu", threads=1)
    m = runner.manifest
    files = sorted(f for f in Path(args.data).rglob("*.wav") if "speech" in str(f))[: args.files]
    per_note: dict[int, list[float]] = {n: [] for n in args.notes}
    for f in files:
        audio = load_audio(f)
        x = audio.samples.mean(axis=0)  # float32[C, T] -> mono
        x = resample(np.asarray(x, np.float32), audio.sample_rate, m.sample_rate)[
            : int(args.max_seconds * m.sample_rate)
        ]
        for note in args.notes:
            registry = ParamRegistry(StaticTarget(EngineParams(), StreamConfig()), m, LIVE_MODES)
            midi = MidiMap(registry, follow="keyboard")
            midi.handle(mido.Message("note_on", note=note, velocity=90))
            model = StreamingModel(runner, controls_of=lambda r=registry: r.target.controls)
            block = model.block
            n = (x.size // block) * block
            y = np.concatenate([model.process(x[i : i + block]) for i in range(0, n, block)])
            t = track(y, m.sample_rate)
            want = 440.0 * 2 ** ((note - 69) / 12)
            f0 = t.f0[t.voiced]
            per_note[note] += list(1200.0 * np.log2(f0 / want))
    out = {"bundle": args.bundle, "files": len(files), "notes": {}}
    allc = np.abs(np.concatenate([np.asarray(v) for v in per_note.values()])) if per_note else np.zeros(0)
    for note, c in per_note.items():
        c = np.abs(np.asarray(c))
        out["notes"][note] = {
            "frames": int(c.size),
            "median_cents": round(float(np.median(c)), 2) if c.size else None,
            "within_15c": round(float(np.mean(c <= 15)), 3) if c.size else None,
            "within_50c": round(float(np.mean(c <= 50)), 3) if c.size else None,
        }
    out["overall"] = {
        "frames": int(allc.size),
        "median_cents": round(float(np.median(allc)), 2),
        "within_15c": round(float(np.mean(allc <= 15)), 3),
        "within_50c": round(float(np.mean(allc <= 50)), 3),
    }
    print(json.dumps(out))
    return 0 if math.isfinite(out["overall"]["median_cents"]) else 1


if __name__ == "__main__":
    sys.exit(main())
