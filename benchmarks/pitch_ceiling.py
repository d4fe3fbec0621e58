"""How far the transfer score's pitch metric can go on a set of inputs: each input's own reference pitch track
(``desktop.evaluation.pitch.track``, the one the transfer mode scores with) played back as a harmonic tone, f0
moving linearly between the track's frames (every 256 samples, as the models' frames), and tracked again. The share
of input-voiced frames within 50 cents is then what a synthesiser driven by a perfect copy of the reference's pitch,
one value a frame, would score; a model's raw pitch accuracy (``latentsynth-eval --transfer``) is judged against it.

    .venv/bin/python -m benchmarks.pitch_ceiling "DIR/*.wav" [--files 20] [--seconds 10] [--shift 12]

Prints per file and overall: the share within 50 c, the share the re-tracked tone calls unvoiced, and the shares
50-100 c and more than 100 c off.
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np

from core.audiofile import load_audio, resample
from desktop.evaluation import pitch

HARMONICS = 8


def tone(track: pitch.PitchTrack, length: int, shift_semitones: float) -> np.ndarray:
    """A harmonic tone (1/k amplitudes) at the track's f0 times 2^(shift/12), sounding on its voiced frames."""
    t = np.arange(length)
    centres = np.arange(len(track.f0)) * pitch.HOP
    voiced = np.flatnonzero(track.voiced)
    if voiced.size == 0:
        return np.zeros(length, np.float32)
    f0 = np.interp(t, centres[voiced], track.f0[voiced]) * 2.0 ** (shift_semitones / 12.0)
    gate = np.interp(t, centres, track.voiced.astype(float))
    phase = 2.0 * np.pi * np.cumsum(f0) / pitch.SR
    y = sum(np.sin(k * phase) / k * (k * f0 < 0.45 * pitch.SR) for k in range(1, HARMONICS + 1))
    return (0.2 * gate * y).astype(np.float32)


def score(ref: pitch.PitchTrack, out: pitch.PitchTrack, shift_semitones: float) -> np.ndarray:
    """[input-voiced frames, within 50 c, re-tracked unvoiced, 50-100 c, over 100 c]."""
    n = min(len(ref.f0), len(out.f0))
    v, ov = ref.voiced[:n], out.voiced[:n]
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.abs(1200.0 * np.log2(out.f0[:n] / (ref.f0[:n] * 2.0 ** (shift_semitones / 12.0))))
    c = np.where(ov & np.isfinite(c), c, np.inf)
    return np.array(
        [
            v.sum(),
            (v & (c <= 50)).sum(),
            (v & ~ov).sum(),
            (v & ov & (c > 50) & (c <= 100)).sum(),
            (v & ov & (c > 100)).sum(),
        ],
        float,
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pattern", help="a glob of audio files, quoted")
    p.add_argument("--files", type=int, default=20, help="the first N files in sorted order")
    p.add_argument("--seconds", type=float, default=10.0, help="the first S seconds of each")
    p.add_argument("--shift", type=float, default=0.0, help="play the tone this many semitones up (as an octave map)")
    args = p.parse_args()
    files = sorted(glob.glob(args.pattern))[: args.files]
    if not files:
        p.error(f"{args.pattern}: no files match")
    total = np.zeros(5)
    print(
        "| file | voiced frames | within 50 c | re-tracked unvoiced | 50-100 c | > 100 c |\n|---|---|---|---|---|---|"
    )
    for f in files:
        a = load_audio(Path(f))
        x = resample(a.mono(), a.sample_rate, pitch.SR)[: int(args.seconds * pitch.SR)]
        ref = pitch.track(x, pitch.SR)
        s = score(ref, pitch.track(tone(ref, len(x), args.shift), pitch.SR), args.shift)
        total += s
        print(f"| {Path(f).name} | {int(s[0])} | " + " | ".join(f"{v / max(s[0], 1):.3f}" for v in s[1:]) + " |")
    print(
        f"| **all {len(files)}** | {int(total[0])} | " + " | ".join(f"**{v / total[0]:.3f}**" for v in total[1:]) + " |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
