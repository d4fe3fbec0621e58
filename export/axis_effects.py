"""Measure what each latent axis of an exported bundle does to the sound, through the player's own engine
(onnxruntime, numpy; no torch): render audio with the axis at -2 and +2 sigma against the knobs at rest and compare
level, brightness (spectral centroid), noisiness (spectral flatness) and pitch (YIN). The result is the manifest's
``axis_effects`` (schema, names and level compensation: core/axis_effects.py).

Export measures every new bundle on its training audio. For an existing bundle (the manifest is not checksummed, so
it can be rewritten without touching the ONNX parts):

  python -m export.axis_effects BUNDLE --data DIR            # measure on DIR's training split, write the manifest
  python -m export.axis_effects BUNDLE --data DIR --check    # the named axes at +2 sigma on DIR's held-out split
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from core.audiofile import Audio, AudioFileError, find_audio_files, load_audio, resample
from core.axis_effects import LEVEL, AxisEffect, AxisEffects, name_of
from core.bundle import Bundle, BundleError
from core.bundle_io import load_bundle, write_manifest
from core.latent import LatentControls
from core.pitch_track import yin
from core.render import render_audio
from core.session import ModelRunner, WindowModel

SIGMA = 2.0
MAX_AXES = 32  # a level with more axes is left unmeasured (its knobs keep their PCA names)
SECONDS = 120.0  # audio measured per bundle, in CLIP_SECONDS excerpts spread over the files
CLIP_SECONDS = 2.0
N_FFT, HOP = 2048, 512  # spectral frames
PITCH_FRAME, PITCH_HOP = 2048, 1024
GATE_DB = -60.0  # frames quieter than this (dBFS), or RANGE_DB under the loudest, are not compared
RANGE_DB = 40.0
MIN_PITCH_FRAMES = 20  # fewer frames voiced before and after: no pitch change recorded


def spectral_frames(y: np.ndarray, rate: int) -> dict[str, np.ndarray]:
    """Per frame (N_FFT, hop HOP, Hann): level (dBFS), spectral centroid (Hz) and flatness (power ratio)."""
    y = np.asarray(y, np.float64)
    if y.size < N_FFT:
        y = np.pad(y, (0, N_FFT - y.size))
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP]
    win = np.hanning(N_FFT)
    power = np.abs(np.fft.rfft(frames * win, axis=1)) ** 2 + 1e-20
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / rate)
    mean = power.mean(1)
    return {
        "db": 10.0 * np.log10(np.mean(frames**2, 1) + 1e-20),
        "centroid": (power * freqs).sum(1) / power.sum(1),
        "flatness": np.exp(np.log(power).mean(1)) / mean,
    }


def pitch_frames(y: np.ndarray, rate: int) -> np.ndarray:
    """YIN's pitch (Hz, 0 = none) every PITCH_HOP samples."""
    starts = range(0, max(0, y.size - PITCH_FRAME) + 1, PITCH_HOP)
    return np.array([yin(y[s : s + PITCH_FRAME], rate) for s in starts])


def changes(base: list[np.ndarray], moved: list[np.ndarray], rate: int) -> dict[str, float]:
    """How ``moved`` differs from ``base`` (pairs of equally long signals): level in dB (the mean over pairs, each
    sound counting once whatever its level), mean
    centroid change in semitones and flatness change in dB over the frames ``base`` is loud in, median pitch change
    in semitones over frames voiced in both (absent below MIN_PITCH_FRAMES)."""
    out = {LEVEL: float(np.mean([_db(m) - _db(b) for b, m in zip(base, moved)]))}
    bright, noisy, pitch = [], [], []
    for b, m in zip(base, moved):
        fb, fm = spectral_frames(b, rate), spectral_frames(m, rate)
        gate = (fb["db"] > max(GATE_DB, fb["db"].max() - RANGE_DB)) & (fm["db"] > GATE_DB - RANGE_DB)
        bright.append(12.0 * np.log2(fm["centroid"][gate] / fb["centroid"][gate]))
        noisy.append(10.0 * np.log10(fm["flatness"][gate] / fb["flatness"][gate]))
        pb, pm = pitch_frames(b, rate), pitch_frames(m, rate)
        voiced = (pb > 0) & (pm > 0)
        pitch.append(12.0 * np.log2(pm[voiced] / pb[voiced]))
    bright, noisy, pitch = (np.concatenate(v) if v else np.zeros(0) for v in (bright, noisy, pitch))
    if bright.size:
        out["brightness_st"] = float(bright.mean())
        out["noisiness_db"] = float(noisy.mean())
    if pitch.size >= MIN_PITCH_FRAMES:
        out["pitch_st"] = float(np.median(pitch))
    return {k: float(v) for k, v in out.items()}


def _db(x: np.ndarray) -> float:
    return 10.0 * float(np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def render(runner: ModelRunner, clips: list[np.ndarray], controls: LatentControls) -> list[np.ndarray]:
    """Each clip (float32 at the model rate) through the engine's offline render with ``controls``. A window bundle
    renders with windows that do not overlap (a quarter of the default render's work; each window is decoded with
    the same knobs either way, so the change the knobs make is measured alike)."""
    model = WindowModel(runner, controls)
    m = runner.manifest
    hop = m.window / m.sample_rate
    return [render_audio(Audio(c[None, :], m.sample_rate), model, hop_seconds=hop)[0] for c in clips]


def uncompensated_runner(bundle: Bundle) -> ModelRunner:
    """A runner for ``bundle`` that ignores any recorded effects (the raw axes are what is measured)."""
    plain = Bundle(bundle.path, dataclasses.replace(bundle.manifest, axis_effects=None))
    return ModelRunner(plain, provider="cpu", threads=1)


def measure(
    bundle: Bundle, clips: list[np.ndarray], sigma: float = SIGMA, progress: Callable[[str], None] | None = None
) -> AxisEffects:
    """Every axis of every level (of at most MAX_AXES) moved by -sigma and +sigma on ``clips`` (float32 at the
    model rate)."""
    runner = uncompensated_runner(bundle)
    rate = bundle.manifest.sample_rate
    base = render(runner, clips, LatentControls())
    levels = {}
    for level in bundle.manifest.levels:
        if level.dim > MAX_AXES:  # not knobs a player turns one by one (the dsp preset's 86 raw features)
            continue
        effects = []
        for axis in range(level.dim):
            sides = {}
            for side, s in (("plus", sigma), ("minus", -sigma)):
                controls = LatentControls().with_offset(level.name, axis, s, level.dim)
                sides[side] = changes(base, render(runner, clips, controls), rate)
            name, descriptor = name_of(sides["plus"])
            effects.append(AxisEffect(axis, sides["plus"], sides["minus"], name, descriptor))
            if progress is not None:
                progress(f"{level.name} axis {axis + 1}/{level.dim}: {name or '-'} ({_line(sides['plus'])})")
        levels[level.name] = tuple(effects)
    return AxisEffects(sigma, levels, sum(c.size for c in clips) / rate)


def excerpts(signals: list[np.ndarray], rate: int, seconds: float = SECONDS) -> list[np.ndarray]:
    """About ``seconds`` of audio from files spread evenly over ``signals``: CLIP_SECONDS from each when there are
    enough files, longer stretches when there are few; each the loudest stretch of its file (a quiet tail says
    little about an axis)."""
    picks = np.unique(np.linspace(0, len(signals) - 1, min(len(signals), int(seconds / CLIP_SECONDS))).astype(int))
    length = int(max(CLIP_SECONDS, seconds / max(1, len(picks))) * rate)
    step = max(1, rate // 100)
    out = []
    for i in picks:
        x = np.asarray(signals[i], np.float32)
        if x.size > length:
            energy = np.convolve(np.square(x[::step]), np.ones(length // step), "valid")
            start = int(np.argmax(energy)) * step
            x = x[start : start + length].copy()
        if x.size >= N_FFT:
            out.append(x)
    return out


def held_out_check(bundle: Bundle, clips: list[np.ndarray]) -> list[dict]:
    """Each named axis at +sigma through the engine as it plays (level compensated) against the knobs at rest:
    the named descriptor's change and the level's, on ``clips`` (audio the effects were not measured on)."""
    effects = bundle.manifest.axis_effects
    runner = ModelRunner(bundle, provider="cpu", threads=1)
    rate = bundle.manifest.sample_rate
    base = render(runner, clips, LatentControls())
    rows = []
    dims = {level.name: level.dim for level in bundle.manifest.levels}
    for level, e in effects.strongest():
        controls = LatentControls().with_offset(level, e.axis, effects.sigma, dims[level])
        got = changes(base, render(runner, clips, controls), rate)
        rows.append(
            {
                "level": level,
                "axis": e.axis,
                "name": e.name,
                "descriptor": e.descriptor,
                "measured": round(e.plus[e.descriptor], 3),
                "held_out": round(got.get(e.descriptor, float("nan")), 3),
                "level_db": round(got[LEVEL], 3),
            }
        )
    return rows


def _line(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:+.2f}" for k, v in values.items())


def folder_clips(folder: Path, rate: int, val_percent: float, held_out: bool, seconds: float) -> list[np.ndarray]:
    """Excerpts of the training (or held-out) split of ``folder``, as export's training split divides it."""
    from trainer.data import AudioFolder  # the split rule lives with the trainer (hash of each relative path)

    files = find_audio_files(folder)
    train, val = AudioFolder(folder, rate, files=files).split(val_percent)
    chosen = [files[i] for i in (val if held_out else train)]
    picks = np.unique(np.linspace(0, len(chosen) - 1, min(len(chosen), int(seconds / CLIP_SECONDS))).astype(int))
    signals = []
    for i in picks:
        audio = load_audio(chosen[i])
        signals.append(resample(audio.mono(), audio.sample_rate, rate))
    return excerpts(signals, rate, seconds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.axis_effects", description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--data", type=Path, required=True, help="audio folder (the bundle's training data)")
    p.add_argument("--seconds", type=float, default=SECONDS, help="audio to measure on")
    p.add_argument("--check", action="store_true", help="check the recorded effects on the held-out split instead")
    args = p.parse_args(argv)
    try:
        bundle = load_bundle(args.bundle)
        m = bundle.manifest
        val_percent = float(m.provenance.get("config", {}).get("data", {}).get("val_percent", 10.0))
        clips = folder_clips(args.data, m.sample_rate, val_percent, args.check, args.seconds)
        if not clips:
            raise AudioFileError(f"{args.data}: no audio long enough to measure on")
        if args.check:
            if m.axis_effects is None:
                raise BundleError(f"{args.bundle}: no axis_effects to check (measure them first)")
            for row in held_out_check(bundle, clips):
                print(json.dumps(row))
            return 0
        effects = measure(bundle, clips, progress=lambda s: print(f"[axis effects] {s}", file=sys.stderr))
        with tempfile.TemporaryDirectory(dir=bundle.path.parent) as tmp:  # the new manifest checked, then swapped in
            new = write_manifest(Path(tmp), dataclasses.replace(m, axis_effects=effects))
            new.replace(bundle.path / new.name)
        load_bundle(bundle.path)
    except (BundleError, AudioFileError, OSError) as exc:
        print(f"export.axis_effects: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    named = effects.strongest()
    print(f"{args.bundle}: {len(named)} named axes of {sum(len(v) for v in effects.levels.values())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
