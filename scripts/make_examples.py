"""Listening examples: one permissively licensed input rendered through factory bundles, as a user would
(``latentsynth-render --octave auto``), written as small Ogg Vorbis files with one spectrogram picture and a page
that links them (docs/examples/README.md).

    .venv/bin/python -m scripts.make_examples [--input tests/data/speech_arctic_a0007.wav] [--out docs/examples]
        [--bundles voice-live,violin,flute,clarinet,choir]

Each output is the render as it comes (no level change) unless it peaks above full scale: then it is scaled to
-1 dBFS peak and the page says so. Bundles without a trained pitch range play at the input's octave.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from core.audiofile import load_audio, resample
from core.bundle import BundleError
from core.bundle_io import read_manifest
from desktop.evaluation.report import spectrogram_png

ROOT = Path(__file__).resolve().parent.parent
FACTORY = ROOT / "desktop" / "factory"
PEAK = 10 ** (-1 / 20)  # -1 dBFS
QUALITY = 0.4  # Vorbis quality 0..1: about 40 kbit/s at 22.05 kHz mono


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make_examples", description=__doc__.split("\n\n")[0])
    p.add_argument("--input", default=str(ROOT / "tests" / "data" / "speech_arctic_a0007.wav"))
    p.add_argument("--out", default=str(ROOT / "docs" / "examples"))
    p.add_argument("--bundles", default="voice-live,violin,flute,clarinet,choir")
    p.add_argument("--seconds", type=float, default=4.0, help="the input's first N seconds")
    return p.parse_args(argv)


def _render(src: Path, bundle: Path, dst: Path) -> str:
    """``latentsynth-render`` as a user runs it; returns the transpose it applied, as the CLI printed it."""
    try:
        manifest = read_manifest(bundle)
    except BundleError as exc:
        raise SystemExit(f"make_examples: {exc}") from None
    octave = ["--octave", "auto"] if (manifest.extra or {}).get("trained_range") else []
    cmd = [sys.executable, "-m", "desktop.render_cli", str(src), "-o", str(dst), "--bundle", str(bundle)]
    done = subprocess.run(cmd + octave + ["--subtype", "FLOAT"], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"make_examples: {bundle.name}: {done.stderr.strip().splitlines()[-1]}")
    said = [line for line in done.stderr.splitlines() if line.startswith("octave ")]
    return said[0].split(" (")[0] if said else "octave +0"


def _write_ogg(path: Path, y: np.ndarray, sr: int) -> float:
    """Writes ``y`` as Ogg Vorbis; returns the gain applied (1 unless it peaked above full scale)."""
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    gain = PEAK / peak if peak > 1.0 else 1.0
    sf.write(path, (y * gain).astype(np.float32), sr, format="OGG", subtype="VORBIS", compression_level=1 - QUALITY)
    return gain


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    audio = load_audio(args.input)
    sr = 22050
    x = resample(audio.mono(), audio.sample_rate, sr)[: int(args.seconds * sr)].astype(np.float32)
    stem = Path(args.input).stem
    rows, signals, labels = [], [x], ["input"]
    _write_ogg(out / f"{stem}.ogg", x, sr)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{stem}.wav"
        sf.write(src, x, sr, subtype="FLOAT")
        for name in [b for b in args.bundles.split(",") if b]:
            bundle = FACTORY / name if (FACTORY / name).is_dir() else Path(name)
            rendered = Path(tmp) / f"{bundle.name}.wav"
            octave = _render(src, bundle, rendered)
            y, ysr = sf.read(rendered, dtype="float32")
            gain = _write_ogg(out / f"{stem}-{bundle.name}.ogg", y, ysr)
            signals.append(y if ysr == sr else resample(y, ysr, sr))
            labels.append(f"{bundle.name} ({octave})")
            note = f"{octave}" + (f"; scaled {20 * np.log10(gain):+.1f} dB to -1 dBFS peak" if gain != 1.0 else "")
            rows.append(f"| `{bundle.name}` | [{stem}-{bundle.name}.ogg]({stem}-{bundle.name}.ogg) | {note} |")
    png = spectrogram_png(out / f"{stem}.png", signals, sr, labels)
    from PIL import Image  # matplotlib's own dependency

    Image.open(png).convert("RGB").quantize(colors=64).save(png, optimize=True)  # a third of the bytes
    page = [
        "# Listening examples",
        "",
        f"One input, `{Path(args.input).name}` (first {args.seconds:g} s; its licence: tests/data/LICENSES.md), "
        "through factory bundles as `latentsynth-render` plays them: instruments with `--octave auto`, which moves "
        "the input into the range the instrument was trained on. Levels as rendered.",
        "",
        f"Input: [{stem}.ogg]({stem}.ogg)",
        "",
        "| bundle | output | octave |",
        "|---|---|---|",
        *rows,
        "",
        f"![input and every output, spectrograms]({stem}.png)",
        "",
        "Made by `.venv/bin/python -m scripts.make_examples` (Ogg Vorbis, about 40 kbit/s).",
        "",
    ]
    (out / "README.md").write_text("\n".join(page))
    print(f"make_examples: wrote {len(rows) + 1} Ogg files, {stem}.png and README.md in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
