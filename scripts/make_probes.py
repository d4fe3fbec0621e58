"""Write synthetic probe signals unlike the training corpus (no recorded audio), to hear and measure how a model
behaves off its training distribution:

    python -m scripts.make_probes --out PROBES && latentsynth-eval --bundle B --data PROBES --out REPORT

sine_sweep (50 Hz -> 10 kHz, exponential), tone_440 (steady sine), square_110 (band-limited square: a dense
harmonic series), chord (three detuned saws), white_noise, click_train (8 clicks per second). 4 s each, 22.05 kHz
mono, peak -6 dBFS.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050
SECONDS = 4.0


def _harmonics(f0: float, t: np.ndarray, amp=lambda k: 1.0 / k) -> np.ndarray:
    y = np.zeros_like(t)
    k = 1
    while k * f0 < SR / 2 - 500:
        y += amp(k) * np.sin(2 * np.pi * k * f0 * t)
        k += 1
    return y


def probes() -> dict[str, np.ndarray]:
    t = np.arange(int(SR * SECONDS)) / SR
    f0, f1 = 50.0, 10000.0
    k = np.log(f1 / f0) / SECONDS
    clicks = np.zeros_like(t)
    clicks[:: SR // 8] = 1.0
    rng = np.random.default_rng(0)
    return {
        "sine_sweep": np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k),
        "tone_440": np.sin(2 * np.pi * 440 * t),
        "square_110": _harmonics(110.0, t, lambda k: (k % 2) / k),
        "chord": sum(_harmonics(f, t) for f in (220.0, 277.2, 329.6)),
        "white_noise": rng.standard_normal(len(t)),
        "click_train": clicks,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    folder = a.out / "probes"
    folder.mkdir(parents=True, exist_ok=True)
    for name, y in probes().items():
        y = 0.5 * y / np.max(np.abs(y))
        fade = np.minimum(1.0, np.minimum(np.arange(len(y)), np.arange(len(y))[::-1]) / (0.01 * SR))
        sf.write(folder / f"{name}.wav", (y * fade).astype(np.float32), SR, subtype="FLOAT")
    print(json.dumps({"out": str(folder), "files": sorted(probes())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
