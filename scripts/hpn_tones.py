#!/usr/bin/env python3
"""Synthetic tones for training the hpn family: sines, sawtooths, triangles and squares (band-limited), steady,
with vibrato or gliding, at random levels, with silences between notes. Real recordings hold no pure sine; without
some the decoder learns none (round 1 returned sines 15-53 dB quiet, docs/families.md). Writes WAVs into a corpus
folder (generated here, no licence attached) and their exact f0 into the hpn pitch label cache.

    python scripts/hpn_tones.py --out CORPUS/train/tones --minutes 3 [--pitch-cache DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trainer.pitch_labels import LABEL_HOP, _key, default_cache_dir  # noqa: E402

SR = 22050


def tone(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """(audio float32[T], f0 Hz float32[T] with NaN in silences)."""
    n = int(seconds * SR)
    y = np.zeros(n, np.float32)
    f0 = np.full(n, np.nan, np.float32)
    t = 0
    while t < n:
        gap = int(rng.uniform(0.05, 0.5) * SR)
        t += gap
        length = min(int(rng.uniform(0.3, 1.5) * SR), n - t)
        if length < SR // 10:
            break
        base = float(np.exp(rng.uniform(np.log(55.0), np.log(1200.0))))
        i = np.arange(length) / SR
        kind = rng.choice(["steady", "vibrato", "glide"], p=[0.5, 0.3, 0.2])
        cents = np.zeros(length)
        if kind == "vibrato":
            cents = rng.uniform(10, 100) * np.sin(2 * np.pi * rng.uniform(4, 7) * i)
        elif kind == "glide":
            cents = rng.uniform(-700, 700) * i / i[-1]
        hz = base * 2 ** (cents / 1200)
        phase = 2 * np.pi * np.cumsum(hz) / SR + rng.uniform(0, 2 * np.pi)
        wave = rng.choice(["sine", "saw", "triangle", "square"], p=[0.5, 0.25, 0.1, 0.15])
        top = int(0.95 * SR / 2 / hz.max())
        if wave == "sine" or top < 2:
            s = np.sin(phase)
        elif wave == "saw":
            s = sum(np.sin(k * phase) / k for k in range(1, top + 1)) * 2 / np.pi
        elif wave == "triangle":
            s = sum((-1) ** ((k - 1) // 2) * np.sin(k * phase) / k**2 for k in range(1, top + 1, 2)) * 8 / np.pi**2
        else:
            s = sum(np.sin(k * phase) / k for k in range(1, top + 1, 2)) * 4 / np.pi
        fade = min(int(rng.uniform(0.002, 0.05) * SR), length // 2)
        env = np.ones(length)
        env[:fade] = np.linspace(0, 1, fade)
        env[length - fade :] = np.linspace(1, 0, fade)
        level = 10 ** (rng.uniform(-36, -6) / 20) * np.sqrt(2)
        y[t : t + length] = (s / max(np.sqrt(np.mean(s**2)), 1e-6) / np.sqrt(2) * level * env).astype(np.float32)
        f0[t : t + length] = hz
        t += length
    return y, f0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--clip-seconds", type=float, default=6.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pitch-cache", default="")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(a.pitch_cache) if a.pitch_cache else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    clips = int(np.ceil(a.minutes * 60 / a.clip_seconds))
    for c in range(clips):
        y, f0 = tone(rng, a.clip_seconds)
        sf.write(out / f"tones_{c:03d}.wav", y, SR, subtype="FLOAT")
        y = sf.read(out / f"tones_{c:03d}.wav", dtype="float32")[0]
        j = np.arange(1 + y.shape[0] // LABEL_HOP) * LABEL_HOP
        lab = f0[np.clip(j, 0, len(f0) - 1)]
        np.savez(cache / (_key(y, SR) + ".npz"), f0=lab, voiced=np.isfinite(lab).astype(np.float32))
    print(f"{clips} tone clips ({clips * a.clip_seconds / 60:.1f} min) in {out}; exact f0 in {cache}")


if __name__ == "__main__":
    main()
