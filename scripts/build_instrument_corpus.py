#!/usr/bin/env python3
"""One corpus per instrument (violin, flute, clarinet, choir; alto_sax and cello on request) for the instrument
models of issue 25: monophonic, expressive phrases generated here with mido, rendered by installed synthesisers,
with the exact f0 of every frame (from the phrase timeline: note + pitch bend) and a measured loudness contour.

    python -m scripts.build_instrument_corpus --out DIR [--minutes 20] [--instruments violin,flute,clarinet,choir]

Writes, per instrument, 22.05 kHz mono float WAVs, each with <name>.f0.npy (Hz per 256-sample frame, frame j at
sample j*256, 0 where nothing sounds) and <name>.loudness.npy (dBFS per frame, RMS of 1024 samples centred there):
  DIR/<instrument>/train/          main source: FluidR3_GM (fluid-soundfont-gm, MIT); MINUTES of dry phrases, and
                                   reverberant copies (synthetic rooms) of every third phrase
  DIR/<instrument>/heldout/        more phrases of the main source, never in train/
  DIR/<instrument>/second_source/  the same kind of phrases from other synthesisers: MuseScore_General
                                   (musescore-general-soundfont, MIT), TimGM6mb (timgm6mb-soundfont, GPL-2: other
                                   recordings) and an STK physical model (stk, MIT-style)
  DIR/<instrument>/manifest.csv    that instrument's files (paths relative to DIR/<instrument>: what
                                   latentsynth-export finds next to DIR/<instrument>/train)
  DIR/manifest.csv, DIR/SOURCES.md every file, licence per file; DIR/label_check.json (labels against a tracker)
Needs the Debian packages fluidsynth, fluid-soundfont-gm, musescore-general-soundfont, timgm6mb-soundfont and stk
(scripts/setup.sh installs them); installs nothing. Deterministic for a seed. Never commit the audio.
The parts live in scripts/instrument_corpus/: catalogue (instruments, sources, rooms), phrases (and their
labels), render (the synthesisers), folder (manifests, SOURCES.md, the label check).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .instrument_corpus.catalogue import (
    DEFAULT_INSTRUMENTS,
    FLUID_SF2,
    GENERATOR,
    HELDOUT_SHARE,
    HOP,
    INSTRUMENTS,
    MUSESCORE_SF,
    RENDER_SR,
    ROOM_EVERY,
    ROOMS,
    SECOND_SHARE,
    SECOND_SOURCES,
    SOURCES,
    SR,
    TIMGM_SF2,
    CorpusError,
    Instrument,
)
from .instrument_corpus.folder import check_labels, check_out, clean_out, write_manifest, write_sources_md
from .instrument_corpus.phrases import (
    Phrase,
    f0_labels,
    follow_register,
    loudness_db,
    make_phrases,
    measure_tuning,
    tuning_phrases,
)
from .instrument_corpus.render import impulse_response, render_set


@dataclass
class Clip:
    split: str
    source: str
    synth: str  # what made it (soundfont file + program, or STK model)
    phrase: Phrase
    index: int
    audio: np.ndarray
    room: str = "dry"


def build_instrument(
    name: str, inst: Instrument, minutes: float, seed: int, out: Path, tmp: Path, soundfonts: dict, seconds: dict
) -> list[dict]:
    """Render, normalise, add rooms, label and write one instrument; returns its manifest rows (paths relative to
    ``out``)."""
    clips, tunings = render_clips(name, inst, minutes, seed, tmp, soundfonts, seconds)
    (out / name).mkdir(parents=True, exist_ok=True)
    (out / name / "tuning.json").write_text(json.dumps(tunings, indent=1) + "\n")
    return [write_clip(c, name, out, tunings[c.source]) for c in clips + room_copies(clips)]


def render_clips(
    name: str, inst: Instrument, minutes: float, seed: int, tmp: Path, soundfonts: dict, seconds: dict
) -> tuple[list[Clip], dict[str, dict[int, float]]]:
    """Every split's phrases of one instrument rendered by each source, one gain per source, and each source's
    measured key tuning; ``seconds`` adds up the render time per source."""
    base = seed * 1000 + list(INSTRUMENTS).index(name) * 10
    plan = {
        ("train", "fluidr3_gm"): make_phrases(base + 1, inst, minutes * 60),
        ("heldout", "fluidr3_gm"): make_phrases(base + 2, inst, minutes * 60 * HELDOUT_SHARE),
    }
    for k, src in enumerate(s for s in SECOND_SOURCES if s in seconds):
        plan[("second_source", src)] = make_phrases(base + 3 + k, inst, minutes * 60 * SECOND_SHARE)
    clips: list[Clip] = []
    tunings: dict[str, dict[int, float]] = {}
    for src in dict.fromkeys(s for _, s in plan):
        t0 = time.perf_counter()
        keys = [k for k in plan if k[1] == src]
        tune = tuning_phrases(inst)
        phrases = [p for k in keys for p in plan[k]]
        audio, synth = render_set(src, name, inst, tune + phrases, tmp, soundfonts)
        tunings[src] = measure_tuning(tune, audio[: len(tune)])
        audio = audio[len(tune) :]
        peak = max(float(np.abs(a).max()) for a in audio)
        gain = 10 ** (-1.0 / 20) / max(peak, 1e-9)  # one gain per source: the corpus keeps its dynamics
        i = 0
        for split, _ in keys:
            for n, p in enumerate(plan[(split, src)]):
                clips.append(Clip(split, src, synth, p, n, (audio[i] * gain).astype(np.float32)))
                i += 1
        seconds[src] = seconds.get(src, 0.0) + time.perf_counter() - t0
    return clips, tunings


def room_copies(clips: list[Clip]) -> list[Clip]:
    """Reverberant copies of every ``ROOM_EVERY``-th training clip, the rooms taking turns."""
    irs = {room: impulse_response(room) for room in ROOMS}
    wet: list[Clip] = []
    for c in clips:
        if c.split == "train" and c.index % ROOM_EVERY == 0:
            from scipy.signal import oaconvolve

            room = list(ROOMS)[(c.index // ROOM_EVERY) % len(ROOMS)]
            y = oaconvolve(c.audio.astype(np.float64), irs[room])[: len(c.audio) + int(0.5 * ROOMS[room]["rt60"] * SR)]
            y *= min(1.0, 10 ** (-1.0 / 20) / max(float(np.abs(y).max()), 1e-9))
            wet.append(Clip(c.split, c.source, c.synth, c.phrase, c.index, y.astype(np.float32), room))
    return wet


def write_clip(c: Clip, name: str, out: Path, tuning: dict[int, float]) -> dict:
    """One clip's WAV, f0 and loudness labels under ``out/name/split``; its manifest row."""
    folder = out / name / c.split
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{c.source}__{name}_{c.index:03d}" + ("" if c.room == "dry" else f"_{c.room}")
    wav = folder / f"{stem}.wav"
    sf.write(wav, c.audio, SR, subtype="FLOAT")
    loud = loudness_db(c.audio)
    f0 = f0_labels(c.phrase, len(c.audio), loud, tuning)
    if SOURCES[c.source].follows_register:
        f0, _ = follow_register(f0, c.audio)
    np.save(folder / f"{stem}.f0.npy", f0)
    np.save(folder / f"{stem}.loudness.npy", loud)
    src = SOURCES[c.source]
    voiced = f0 > 0
    kind = src.kind.format(instrument=name, synth=c.synth)
    if c.room != "dry":
        r = ROOMS[c.room]
        kind += (
            f"; room '{c.room}': convolved with a synthetic impulse response (direct sound + exponentially "
            f"decaying noise, RT60 {r['rt60']} s, direct-to-reverberant {r['drr_db']:+.0f} dB)"
        )
    rel = wav.relative_to(out).as_posix()
    return dict(
        split=c.split,
        category=name,
        source=c.source,
        debian_package=src.debian_package,
        license=src.license,
        kind=kind,
        original=f"{c.synth}; generated phrase {c.index} ({c.phrase.style}, {len(c.phrase.notes)} notes)",
        original_sr=RENDER_SR,
        duration_s=round(len(c.audio) / SR, 3),
        file=rel,
        credit=src.credit,
        instrument=name,
        room=c.room,
        f0_file=rel[: -len(".wav")] + ".f0.npy",
        loudness_file=rel[: -len(".wav")] + ".loudness.npy",
        voiced_s=round(float(voiced.sum()) * HOP / SR, 2),
        f0_min_hz=round(float(f0[voiced].min()), 2) if voiced.any() else "",
        f0_max_hz=round(float(f0[voiced].max()), 2) if voiced.any() else "",
        loudness_p5_db=round(float(np.percentile(loud[voiced], 5)), 1) if voiced.any() else "",
        loudness_p95_db=round(float(np.percentile(loud[voiced], 95)), 1) if voiced.any() else "",
        generator=GENERATOR,
    )


def find_musescore(explicit: str | None) -> str:
    if explicit:
        return explicit
    for p in MUSESCORE_SF:
        if Path(p).is_file():
            return p
    return MUSESCORE_SF[0]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="corpus folder (created; a previous corpus of this script is updated)")
    p.add_argument("--minutes", type=float, default=20.0, help="minutes of dry training phrases per instrument")
    p.add_argument("--instruments", default=DEFAULT_INSTRUMENTS, help=f"comma-separated, of {', '.join(INSTRUMENTS)}")
    p.add_argument(
        "--second-sources", default=",".join(SECOND_SOURCES), help=f"comma-separated, of {', '.join(SECOND_SOURCES)}"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--soundfont", default=FLUID_SF2, help="the main source's soundfont (FluidR3_GM.sf2)")
    p.add_argument("--second-soundfont", default=None, help="MuseScore_General (.sf3 or .sf2)")
    p.add_argument(
        "--check-seconds", type=float, default=30.0, help="seconds per instrument and source to check labels (0: off)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    try:
        names = [s.strip() for s in a.instruments.split(",") if s.strip()]
        unknown = [n for n in names if n not in INSTRUMENTS]
        if unknown or not names:
            raise CorpusError(f"unknown instrument {', '.join(unknown) or '(none)'} (known: {', '.join(INSTRUMENTS)})")
        second = [s.strip() for s in a.second_sources.split(",") if s.strip()]
        bad = [s for s in second if s not in SECOND_SOURCES]
        if bad:
            raise CorpusError(f"unknown second source {', '.join(bad)} (known: {', '.join(SECOND_SOURCES)})")
        if not (a.minutes > 0 and np.isfinite(a.minutes)):
            raise CorpusError(f"--minutes {a.minutes} must be a positive number")
        out = Path(a.out)
        old = check_out(out)
        soundfonts = {
            "fluidr3_gm": a.soundfont,
            "musescore_general": find_musescore(a.second_soundfont),
            "timgm6mb": TIMGM_SF2,
        }
        needed = {src: SOURCES[src].debian_package for src in soundfonts}
        for src, pkg in needed.items():
            if (src == "fluidr3_gm" or src in second) and not Path(soundfonts[src]).is_file():
                raise CorpusError(f"soundfont {soundfonts[src]} is missing (Debian package {pkg})")
        if shutil.which("fluidsynth") is None:
            raise CorpusError("fluidsynth is not installed (Debian package fluidsynth)")
        if "stk" in second and shutil.which("stk-demo") is None:
            raise CorpusError("stk-demo is not installed (Debian package stk), or leave stk out of --second-sources")
        keep = clean_out(out, names, old)
    except CorpusError as exc:
        print(f"build_instrument_corpus: error: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows: list[dict] = []
    render_s: dict[str, float] = {s: 0.0 for s in ["fluidr3_gm", *second]}
    with tempfile.TemporaryDirectory(prefix="instrument_corpus_") as tmp:
        for name in names:
            t1 = time.perf_counter()
            new = build_instrument(name, INSTRUMENTS[name], a.minutes, a.seed, out, Path(tmp), soundfonts, render_s)
            rows += new
            write_manifest(out / name / "manifest.csv", new, out / name, out)
            summary = ", ".join(
                f"{split} {sum(float(r['duration_s']) for r in new if r['split'] == split) / 60:.1f} min"
                for split in ("train", "heldout", "second_source")
            )
            print(f"{name}: {summary} ({time.perf_counter() - t1:.0f} s)", flush=True)
    check = check_labels(out, rows, a.check_seconds) if a.check_seconds > 0 else {}
    for k, v in check.items():
        print(f"  f0 labels vs tracker, {k}: {v}")
    old_check = {}
    if (out / "label_check.json").is_file():
        try:
            old_check = json.loads((out / "label_check.json").read_text())
        except (OSError, json.JSONDecodeError):
            old_check = {}
    check = {**{k: v for k, v in old_check.items() if k.split("/")[0] not in names}, **check}
    all_rows = keep + rows
    write_manifest(out / "manifest.csv", all_rows, out, out)
    (out / "label_check.json").write_text(json.dumps(check, indent=1) + "\n")
    build_s = time.perf_counter() - t0
    write_sources_md(out / "SOURCES.md", all_rows, check, build_s)
    total = sum(float(r["duration_s"]) for r in rows) / 60
    print(f"{len(rows)} files, {total:.1f} min of audio in {out} ({build_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
