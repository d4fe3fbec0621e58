#!/usr/bin/env python3
"""Pitched, monophonic training material with exact f0: solo melodies rendered by fluidsynth from the General MIDI
sound font (Debian's fluid-soundfont-gm, MIT; real instrument samples), added to a corpus built by
../shared/data/build_train_corpus.py.

    python -m scripts.build_pitched_corpus --corpus corpus [--minutes 12] [--seed 0] [--pitch-cache DIR]

Writes CORPUS/train/pitched/*.wav (22.05 kHz mono, normalised to -20 dBFS RMS), appends their rows to
CORPUS/manifest.csv (source 'fluidsynth_gm_melodies', licence MIT, the program and the MIDI notes in 'original'),
and stores each clip's exact f0 track (from the MIDI notes and pitch bends, frame j at sample j * 256) in the hpn
trainer's pitch label cache (trainer/pitch_labels.py: keyed by the audio's content, so training uses these exact
labels instead of the tracker's). It also prints how far the tracker is from the exact f0 on these clips.
Needs: apt-get install fluidsynth fluid-soundfont-gm; mido. Deterministic for a seed. Do not commit the audio.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from trainer.pitch_labels import LABEL_HOP, cache_key, default_cache_dir, track

SR = 22050
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SOURCE = "fluidsynth_gm_melodies"
LICENSE = "MIT (fluid-soundfont-gm: FluidR3_GM.sf2)"
# (General MIDI program, name, lowest and highest MIDI note): monophonic instruments with a clear pitch
INSTRUMENTS = [
    (0, "piano", 40, 84),
    (19, "church_organ", 36, 79),
    (40, "violin", 55, 93),
    (42, "cello", 36, 72),
    (56, "trumpet", 55, 82),
    (65, "alto_sax", 49, 80),
    (71, "clarinet", 50, 86),
    (73, "flute", 60, 96),
    (52, "choir_aahs", 48, 79),
    (53, "voice_oohs", 48, 76),
    (24, "nylon_guitar", 40, 76),
    (33, "finger_bass", 28, 55),
    (68, "oboe", 58, 91),
    (22, "harmonica", 60, 84),
]
BEND_RANGE = 2.0  # semitones at full pitch-bend (the General MIDI default)


def melody(rng: np.random.Generator, low: int, high: int, seconds: float) -> list[tuple[float, float, int, float]]:
    """[(start s, duration s, MIDI note, vibrato depth in cents)]: a random walk on a major or minor scale with
    rests, legato and detached notes; some notes carry vibrato."""
    scale = [0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.5 else [0, 2, 3, 5, 7, 8, 10]
    root = int(rng.integers(low, max(low + 1, high - 12)))
    notes = sorted({root + 12 * o + s for o in range(-2, 4) for s in scale if low <= root + 12 * o + s <= high})
    i = len(notes) // 3
    t, out = 0.2, []
    tempo = float(rng.uniform(0.18, 0.5))
    while t < seconds - 0.5:
        dur = tempo * float(rng.choice([1, 1, 2, 2, 3, 4]))
        i = int(np.clip(i + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), 0, len(notes) - 1))
        vib = float(rng.choice([0.0, 0.0, 20.0, 35.0])) if dur > 0.6 else 0.0
        gap = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.03, 0.3))
        out.append((t, dur * (0.95 if gap == 0 else 0.8), notes[i], vib))
        t += dur + gap
    return out


def write_midi(notes, program: int, path: Path) -> None:
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)  # 120 bpm: 960 ticks per second
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.Message("program_change", program=program, time=0))
    events = []
    for start, dur, note, vib in notes:
        events.append((start, "on", note))
        events.append((start + dur, "off", note))
        if vib:  # vibrato as pitch bend, 5.5 Hz, every 20 ms
            for t in np.arange(start + 0.15, start + dur, 0.02):
                cents = vib * np.sin(2 * np.pi * 5.5 * (t - start - 0.15))
                events.append((float(t), "bend", int(np.clip(cents / (BEND_RANGE * 100) * 8191, -8191, 8191))))
            events.append((start + dur, "bend", 0))
    events.sort(key=lambda e: (e[0], {"off": 0, "bend": 1, "on": 2}[e[1]]))
    now = 0
    for t, kind, v in events:
        tick = int(round(t * 960))
        dt, now = tick - now, tick
        if kind == "on":
            tr.append(mido.Message("note_on", note=v, velocity=90, time=dt))
        elif kind == "off":
            tr.append(mido.Message("note_off", note=v, velocity=0, time=dt))
        else:
            tr.append(mido.Message("pitchwheel", pitch=v, time=dt))
    mid.save(str(path))


def exact_f0(notes, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """f0 Hz (NaN between notes) and voiced (0/1) at frames j * LABEL_HOP, from the notes and the same bends."""
    n = 1 + n_samples // LABEL_HOP
    t = np.arange(n) * LABEL_HOP / SR
    f0 = np.full(n, np.nan, np.float32)
    for start, dur, note, vib in notes:
        on = (t >= start + 0.02) & (t < start + dur - 0.02)  # onset/release edges left unlabelled
        cents = np.zeros(on.sum())
        if vib:
            tt = t[on]
            # the bend is stepped every 20 ms: the f0 follows the last bend sent
            steps = np.floor((tt - start - 0.15) / 0.02) * 0.02
            cents = np.where(tt >= start + 0.15, vib * np.sin(2 * np.pi * 5.5 * steps), 0.0)
            cents = np.round(cents / (BEND_RANGE * 100) * 8191) / 8191 * BEND_RANGE * 100
        f0[on] = 440.0 * 2 ** ((note - 69 + cents / 100) / 12)
    return f0, np.isfinite(f0).astype(np.float32)


def render(midi: Path, wav: Path) -> np.ndarray:
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-g",
            "0.3",
            "-r",
            str(SR),
            "-O",
            "float",
            "-T",
            "wav",
            "-F",
            str(wav),
            SOUNDFONT,
            str(midi),
        ],
        check=True,
        capture_output=True,
    )
    x, sr = sf.read(wav, dtype="float32")
    assert sr == SR
    return x.mean(1) if x.ndim == 2 else x


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, help="a corpus folder from build_train_corpus.py (train/, manifest.csv)")
    p.add_argument("--minutes", type=float, default=12.0)
    p.add_argument("--clip-seconds", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pitch-cache", default=None, help="the trainer's pitch label cache (default: its default)")
    args = p.parse_args()
    if not Path(SOUNDFONT).is_file():
        p.error(f"{SOUNDFONT} is missing: apt-get install fluidsynth fluid-soundfont-gm")
    corpus = Path(args.corpus)
    out = corpus / "train" / "pitched"
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(args.pitch_cache) if args.pitch_cache else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    clips = int(np.ceil(args.minutes * 60 / args.clip_seconds))
    rows, errs, agree = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(clips):
            program, name, low, high = INSTRUMENTS[k % len(INSTRUMENTS)]
            notes = melody(rng, low, high, args.clip_seconds)
            midi, raw = Path(tmp) / f"{k}.mid", Path(tmp) / f"{k}.wav"
            write_midi(notes, program, midi)
            x = render(midi, raw)[: int(args.clip_seconds * SR)]
            rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
            x = (x * (0.1 / max(rms, 1e-9))).astype(np.float32)
            x = np.clip(x, -1.0, 1.0)
            fname = f"{SOURCE}__{k:03d}_{name}.wav"
            sf.write(out / fname, x, SR, subtype="PCM_16")
            x = sf.read(out / fname, dtype="float32")[0]  # the label key is the audio the trainer will read
            f0, voiced = exact_f0(notes, x.shape[0])
            np.savez(cache / (cache_key(x, SR) + ".npz"), f0=f0, voiced=voiced)
            yf0, yv = track(x, SR)
            both = np.isfinite(f0) & np.isfinite(yf0)
            errs.append(np.abs(1200 * np.log2(yf0[both] / f0[both])))
            agree.append(np.mean((yv > 0.5) == (voiced > 0.5)))
            rows.append(
                {
                    "split": "train",
                    "category": "pitched",
                    "source": SOURCE,
                    "debian_package": "fluid-soundfont-gm",
                    "license": LICENSE,
                    "kind": f"fluidsynth render of a generated {name} melody (GM program "
                    f"{program}), exact f0 from the MIDI",
                    "original": f"notes {[n for _, _, n, _ in notes][:8]}...",
                    "original_sr": SR,
                    "duration_s": round(x.shape[0] / SR, 3),
                    "file": f"train/pitched/{fname}",
                    "credit": "FluidR3_GM by Frank Wen (MIT)",
                }
            )
    manifest = corpus / "manifest.csv"
    fields = list(csv.DictReader(open(manifest)).fieldnames) if manifest.is_file() else list(rows[0])
    keep = [r for r in csv.DictReader(open(manifest))] if manifest.is_file() else []
    keep = [r for r in keep if r.get("source") != SOURCE]
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(keep + rows)
    e = np.concatenate(errs)
    print(f"{len(rows)} clips, {sum(r['duration_s'] for r in rows) / 60:.1f} min -> {out}; exact f0 labels in {cache}")
    print(
        f"tracker (trainer/pitch_labels.py YIN) vs exact MIDI f0 on frames both call voiced: median "
        f"{np.median(e):.1f} cents, {np.mean(e < 50):.1%} within 50 cents; voicing agreement "
        f"{np.mean(agree):.1%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
