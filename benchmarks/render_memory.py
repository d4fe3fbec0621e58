"""Peak memory and speed of latentsynth-render on a long file: writes MINUTES of audio (the test fixtures, resampled
to RATE and looped, 16-bit) into a temporary folder, renders it with the CLI in a child process and prints the
child's peak resident memory, its wall time and the render's own "times faster than real time" line.

    .venv/bin/python -m benchmarks.render_memory --minutes 30 [--rate 44100] [--channels 1] [--bundle DIR]
        [--repeat N] [--keep DIR] [--morph B.wav] [--inversion griffin-lim]

Every render goes disk to disk in blocks (a streaming bundle such as the default, a window bundle, a morph, a
Griffin-Lim render), so the peak should not grow with the length (issue 23's target: under 400 MB for any length
with the default). A morph holds its target B, mono at the model rate (5.3 MB a minute at 22.05 kHz).
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "data"


def write_long_wav(path: Path, minutes: float, rate: int, channels: int) -> None:
    """The fixtures, resampled to ``rate``, looped to ``minutes`` and written block by block (16-bit PCM)."""
    import soxr

    parts = []
    for p in sorted(FIXTURES.glob("*.wav")):
        x, sr = sf.read(p, dtype="float32", always_2d=True)
        parts.append(soxr.resample(x.mean(axis=1), sr, rate).astype(np.float32))
    loop = np.concatenate(parts)
    frames = np.stack([loop * (1.0 - 0.25 * c) for c in range(channels)], axis=1)  # channels differ in level
    total = int(minutes * 60 * rate)
    with sf.SoundFile(path, "w", rate, channels, "PCM_16") as f:
        done = 0
        while done < total:
            n = min(frames.shape[0], total - done)
            f.write(frames[:n])
            done += n


def render_once(src: Path, out: Path, bundle: str | None, extra: list[str] = ()) -> tuple[float, float, str]:
    """(peak RSS in MB of the child, wall seconds, the render's summary line)."""
    cmd = [sys.executable, "-m", "desktop.render_cli", str(src), "-o", str(out), *extra]
    if bundle:
        cmd += ["--bundle", bundle]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"render_memory: the render failed: {proc.stderr.strip().splitlines()[-1:]}")
    line = next((ln for ln in reversed(proc.stderr.splitlines()) if "times faster" in ln), "")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far: ours
    return peak_kb / 1024.0, wall, line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="render_memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="length of the input (default 30)")
    p.add_argument("--rate", type=int, default=44100, help="the input's sample rate (default 44100)")
    p.add_argument("--channels", type=int, default=1, help="the input's channels (default 1)")
    p.add_argument("--bundle", default=None, help="bundle folder (default: the factory default)")
    p.add_argument("--repeat", type=int, default=1, help="renders in a row (peak is over all of them)")
    p.add_argument("--keep", default=None, help="write the input and output here instead of a temporary folder")
    p.add_argument("--morph", default=None, metavar="B.wav", help="render with --morph B.wav (amount 0.5)")
    p.add_argument("--inversion", default=None, choices=["learned", "griffin-lim"], help="render --inversion")
    args = p.parse_args(argv)
    extra = (["--morph", str(Path(args.morph).resolve())] if args.morph else []) + (
        ["--inversion", args.inversion] if args.inversion else []
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        src, out = folder / "long_in.wav", folder / "long_out.wav"
        write_long_wav(src, args.minutes, args.rate, args.channels)
        size_mb = src.stat().st_size / 2**20
        print(f"input: {args.minutes:g} min, {args.rate} Hz, {args.channels} ch, 16-bit ({size_mb:.0f} MB)")
        for k in range(args.repeat):
            peak, wall, line = render_once(src, out, args.bundle, extra)
            speed = re.search(r"rendered in ([\d.]+) s \(([\d.]+) times", line)
            said = f"; the render says {speed.group(2)}x real time in {speed.group(1)} s" if speed else ""
            print(
                f"render {k + 1}: peak RSS {peak:.0f} MB, wall {wall:.1f} s "
                f"({args.minutes * 60 / wall:.1f}x real time, start-up included){said}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
