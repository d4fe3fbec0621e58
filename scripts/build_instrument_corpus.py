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
                                   (musescore-general-soundfont, MIT) and an STK physical model (stk, MIT-style)
  DIR/<instrument>/manifest.csv    that instrument's files (paths relative to DIR/<instrument>: what
                                   latentsynth-export finds next to DIR/<instrument>/train)
  DIR/manifest.csv, DIR/SOURCES.md every file, licence per file; DIR/label_check.json (labels against a tracker)
Needs the Debian packages fluidsynth, fluid-soundfont-gm, musescore-general-soundfont and stk (scripts/setup.sh
installs them); installs nothing. Deterministic for a seed. Never commit the audio.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050
RENDER_SR = 44100  # rendered at 44.1 kHz (sample playback and physical models alias less), then resampled
HOP = 256
LOUDNESS_WINDOW = 1024
SILENCE_DB = -100.0
BEND_RANGE = 12  # semitones at full pitch bend (set by RPN 0 in every MIDI file): glides up to a fifth and more
CHANNELS = 8  # notes rotate over these MIDI channels so a release keeps its own bend
CONTROL_STEP = 0.01  # s between bend / expression updates
TICKS_PER_SECOND = 1000  # MIDI: 1000 ticks per beat at 60 bpm, so a tick is 1 ms
TAIL_DB = 30.0  # after a note ends, its f0 is kept while the frame is within this of the level at the note's end
TAIL_MAX_S = 0.4
GENERATOR = "scripts/build_instrument_corpus.py"
HELDOUT_SHARE, SECOND_SHARE = 0.15, 0.25  # of --minutes: held-out phrases; each second source
ROOM_EVERY = 3  # every third train phrase (0, 3, 6, ...) also gets a reverberant copy

FLUID_SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
MUSESCORE_SF = (
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
    "/usr/share/sounds/sf3/MuseScore_General_Full.sf3",
    "/usr/share/sounds/sf2/MuseScore_General.sf2",
)
FIELDS = [
    "split",
    "category",
    "source",
    "debian_package",
    "license",
    "kind",
    "original",
    "original_sr",
    "duration_s",
    "file",
    "credit",
    "instrument",
    "room",
    "f0_file",
    "loudness_file",
    "voiced_s",
    "f0_min_hz",
    "f0_max_hz",
    "loudness_p5_db",
    "loudness_p95_db",
    "generator",
]


@dataclass(frozen=True)
class Instrument:
    program: int  # General MIDI program (0-based)
    low: int  # playable range, MIDI notes
    high: int
    stk: str  # STK instrument of the physical-model second source
    legato_share: float = 0.5


INSTRUMENTS = {
    "violin": Instrument(40, 55, 93, "Bowed"),
    "flute": Instrument(73, 60, 96, "Flute"),
    "clarinet": Instrument(71, 50, 89, "Clarinet"),
    "choir": Instrument(52, 45, 79, "VoicForm", legato_share=0.7),
    "alto_sax": Instrument(65, 49, 80, "Saxofony"),
    "cello": Instrument(42, 36, 76, "Bowed"),
}
DEFAULT_INSTRUMENTS = "violin,flute,clarinet,choir"


@dataclass(frozen=True)
class Source:
    name: str
    debian_package: str
    license: str
    credit: str
    kind: str  # {instrument} and {synth} are filled in


SOURCES = {
    "fluidr3_gm": Source(
        "fluidr3_gm",
        "fluid-soundfont-gm",
        "MIT",
        "Fluid (R3) GM SoundFont, Frank Wen and contributors (MIT)",
        "fluidsynth render of generated {instrument} phrases ({synth}); f0 from the MIDI (note + bend) and each "
        "key's measured tuning (tuning.json)",
    ),
    "musescore_general": Source(
        "musescore_general",
        "musescore-general-soundfont",
        "MIT (parts CC0 / public domain)",
        "MuseScore_General, S. Christian Collins; its violin, flute, clarinet and choir presets use the Fluid (R3) "
        "Mono samples, Michael Cowgill / Frank Wen (MIT)",
        "fluidsynth render of generated {instrument} phrases ({synth}); f0 from the MIDI (note + bend) and each "
        "key's measured tuning (tuning.json); "
        "for violin, flute, clarinet and choir the SAME recordings as fluidr3_gm (mono edit, other programming)",
    ),
    "stk": Source(
        "stk",
        "stk",
        "MIT-style STK licence (Perry R. Cook, Gary P. Scavone)",
        "Synthesis ToolKit (STK) physical model, Perry R. Cook and Gary P. Scavone",
        "stk-demo physical model ({synth}) playing generated {instrument} phrases; f0 from the frequency it is set "
        "to (note + bend) and each key's measured tuning (tuning.json); its pitch also moves with pressure, so "
        "see label_check.json",
    ),
}
ROOMS = {  # synthetic impulse responses: direct sound + exponentially decaying noise, treble decaying twice as fast
    "room": dict(rt60=0.45, predelay=0.008, drr_db=3.0, seed=1),
    "hall": dict(rt60=1.8, predelay=0.025, drr_db=-3.0, seed=2),
}


class CorpusError(Exception):
    """Bad input: printed as one line, exit status 2."""


# ----------------------------------------------------------------------------------------------------- phrases
@dataclass
class Note:
    start: float  # s from the phrase start
    end: float
    key: int  # MIDI note
    velocity: int
    bend: list[tuple[float, float]] = field(default_factory=list)  # (s, cents), stepped: holds until the next
    legato_next: bool = False  # the next note starts when this one ends, without a gap


@dataclass
class Phrase:
    notes: list[Note]
    expression: list[tuple[float, float]]  # (s, 0..1), stepped
    duration: float  # s, the last note's end plus a decay tail
    style: str


def _quantise_cents(cents: float) -> float:
    """Cents after the 14-bit pitch-bend quantisation the MIDI file applies."""
    return _bend_value(cents) / 8192 * BEND_RANGE * 100


def _bend_value(cents: float) -> int:
    return int(np.clip(round(cents / (BEND_RANGE * 100) * 8192), -8192, 8191))


def _ms(t: float) -> float:
    return round(t * 1000) / 1000


def make_phrase(rng: np.random.Generator, inst: Instrument, seconds: float) -> Phrase:
    """One phrase of about ``seconds``: a melody on a major or minor scale around a centre drawn from the whole range,
    in one of five styles, with a dynamic contour (expression) and per-note velocity, vibrato on long notes."""
    style = str(rng.choice(["legato", "held", "staccato", "glide", "mixed"], p=[0.3, 0.15, 0.15, 0.2, 0.2]))
    scale = [0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.5 else [0, 2, 3, 5, 7, 8, 10]
    centre = int(rng.integers(inst.low, inst.high + 1))
    tonic = int(rng.integers(0, 12))
    lo, hi = max(inst.low, centre - 9), min(inst.high, centre + 9)
    keys = [k for k in range(lo, hi + 1) if (k - tonic) % 12 in scale] or [centre]
    level = float(rng.uniform(0.15, 1.0))  # pp .. ff
    beat = float(rng.uniform(0.16, 0.5))
    notes: list[Note] = []
    t, i = 0.05, int(rng.integers(0, len(keys)))
    while t < seconds - 0.3:
        kind = style if style != "mixed" else str(rng.choice(["legato", "staccato", "held", "glide", "detached"]))
        if kind == "held":
            dur = float(rng.uniform(1.2, 4.5))
        elif kind == "staccato":
            dur = beat * float(rng.choice([1, 1, 2]))
        else:
            dur = beat * float(rng.choice([1, 1, 2, 2, 3, 4]))
        dur = min(dur, max(seconds - t, 0.1))
        sounding = float(rng.uniform(0.06, 0.16)) if kind == "staccato" else dur
        if kind == "detached" or (kind in ("legato", "glide", "held") and rng.random() < 0.12):
            sounding = dur * float(rng.uniform(0.6, 0.85))
        vel = int(np.clip(round(25 + 100 * level * rng.uniform(0.8, 1.15)), 15, 127))
        note = Note(_ms(t), _ms(t + max(sounding, 0.05)), keys[i], vel)
        length = note.end - note.start
        j = int(np.clip(i + rng.choice([-3, -2, -1, -1, 0, 1, 1, 2, 3, 4, -4]), 0, len(keys) - 1))
        bend: list[tuple[float, float]] = []
        if kind == "glide" and length > 0.3 and j != i:  # slide from this note to the next pitch, keep sounding
            target = (keys[j] - keys[i]) * 100.0
            g0 = length * float(rng.uniform(0.3, 0.6))
            g = min(float(rng.uniform(0.06, 0.35)), length - g0 - 0.05)
            for s in np.arange(0.0, g + 1e-9, CONTROL_STEP):
                x = s / g if g > 0 else 1.0
                bend.append((_ms(note.start + g0 + s), target * (3 * x * x - 2 * x * x * x)))
            i = j  # the melody goes on from the pitch it glided to
            j = int(np.clip(i + rng.choice([-2, -1, 1, 2]), 0, len(keys) - 1))
        elif length > 0.5 and rng.random() < 0.65:  # vibrato after a delay, depth ramping in
            rate, depth = float(rng.uniform(4.5, 6.5)), float(rng.uniform(8.0, 35.0))
            delay = float(rng.uniform(0.12, 0.45))
            phase = float(rng.uniform(0, 2 * np.pi))
            for s in np.arange(delay, length, CONTROL_STEP):
                ramp = min(1.0, (s - delay) / 0.3)
                bend.append((_ms(note.start + s), depth * ramp * np.sin(2 * np.pi * rate * (s - delay) + phase)))
        note.bend = [(bt, _quantise_cents(c)) for bt, c in bend if bt < note.end]
        notes.append(note)
        i = j
        t += dur
        if kind != "staccato" and rng.random() < 0.12:  # a rest inside the phrase
            t += float(rng.uniform(0.2, 0.8))
        t = _ms(t)
    for a, b in zip(notes, notes[1:]):
        a.legato_next = abs(a.end - b.start) < 1e-6
    end = notes[-1].end
    # dynamics: flat, crescendo, diminuendo, swell or a slow random walk, around the phrase's level
    contour = str(rng.choice(["flat", "cresc", "dim", "swell", "walk"]))
    ts = np.arange(0.0, end + CONTROL_STEP, CONTROL_STEP * 2)
    x = ts / max(end, 1e-3)
    shape = {
        "flat": np.zeros_like(x),
        "cresc": x - 0.5,
        "dim": 0.5 - x,
        "swell": 0.5 - np.abs(x - 0.5) * 2 + 0.0,
        "walk": np.cumsum(rng.normal(0, 0.03, len(x))),
    }[contour]
    expr = np.clip(0.55 + 0.4 * level + 0.9 * (shape - shape.mean()), 0.15, 1.0)
    expression = [(_ms(a), float(round(b * 127) / 127)) for a, b in zip(ts, expr)]
    return Phrase(notes, expression, _ms(end + 1.0), f"{style}/{contour}")


def make_phrases(seed: int, inst: Instrument, seconds: float) -> list[Phrase]:
    """Phrases of 4-12 s until their notes and tails cover ``seconds`` (at least one)."""
    rng = np.random.default_rng(seed)
    out: list[Phrase] = []
    total = 0.0
    while total < seconds or not out:
        length = min(float(rng.uniform(4.0, 12.0)), max(seconds - total - 1.0, 2.5))
        p = make_phrase(rng, inst, length)
        out.append(p)
        total += p.duration
    return out


# ------------------------------------------------------------------------------------------------ f0 timeline
def pitch_at(note: Note, t: np.ndarray, tuning: dict[int, float] | None = None) -> np.ndarray:
    """MIDI pitch (fractional) of ``note`` at times ``t``: its key plus the last bend sent at or before t, plus the
    synthesiser's measured tuning of that key (cents; see ``measure_tuning``)."""
    cents = np.full(len(t), (tuning or {}).get(note.key, 0.0))
    if note.bend:
        bt = np.array([b[0] for b in note.bend])
        bc = np.array([b[1] for b in note.bend])
        k = np.searchsorted(bt, t, side="right") - 1
        cents = cents + np.where(k >= 0, bc[np.clip(k, 0, None)], 0.0)
    return note.key + cents / 100.0


def f0_labels(
    phrase: Phrase, n_samples: int, loudness: np.ndarray, tuning: dict[int, float] | None = None
) -> np.ndarray:
    """f0 in Hz at frames j*HOP: the latest-started note sounding at that time; after a note ends (release, room),
    its last pitch while the frame stays within TAIL_DB of the level at the note's end (up to TAIL_MAX_S); else 0."""
    n = 1 + n_samples // HOP
    t = np.arange(n) * HOP / SR
    midi = np.full(n, np.nan)
    for k, note in enumerate(phrase.notes):
        on = (t >= note.start) & (t < note.end)
        midi[on] = pitch_at(note, t[on], tuning)
        nxt = phrase.notes[k + 1].start if k + 1 < len(phrase.notes) else np.inf
        tail = (t >= note.end) & (t < min(nxt, note.end + TAIL_MAX_S))
        idx = np.flatnonzero(tail)
        if len(idx):
            ref = loudness[max(idx[0] - 1, 0)]
            last = pitch_at(note, np.array([note.end - 1e-4]), tuning)[0]
            for j in idx:
                if loudness[j] < ref - TAIL_DB:
                    break
                midi[j] = last
    f0 = np.where(np.isfinite(midi), 440.0 * 2 ** ((np.nan_to_num(midi) - 69) / 12), 0.0)
    f0[loudness[:n] <= max(-70.0, float(loudness.max()) - 60.0)] = 0.0  # nothing audible
    return f0.astype(np.float32)


def loudness_db(x: np.ndarray) -> np.ndarray:
    """dBFS per frame j*HOP: RMS of LOUDNESS_WINDOW samples centred there (zero-padded at the edges)."""
    n = 1 + len(x) // HOP
    pad = np.pad(x.astype(np.float64), (LOUDNESS_WINDOW // 2, LOUDNESS_WINDOW // 2 + HOP))
    c = np.concatenate([[0.0], np.cumsum(pad**2)])
    starts = np.arange(n) * HOP
    ms = (c[starts + LOUDNESS_WINDOW] - c[starts]) / LOUDNESS_WINDOW
    return np.maximum(10 * np.log10(np.maximum(ms, 1e-20)), SILENCE_DB).astype(np.float32)


TUNING_NOTE_S = 1.4
TUNING_SEARCH_CENTS = 80.0


def tuning_phrases(inst: Instrument) -> list[Phrase]:
    """One held note per key of the range, mezzo-forte, no bend: what ``measure_tuning`` listens to."""
    return [
        Phrase([Note(0.05, 0.05 + TUNING_NOTE_S, key, 80)], [(0.0, 0.7)], 0.05 + TUNING_NOTE_S + 0.5, "tuning")
        for key in range(inst.low, inst.high + 1)
    ]


def measure_tuning(phrases: list[Phrase], audio: list[np.ndarray]) -> dict[int, float]:
    """Cents by which each key actually sounds above its nominal pitch (samples tuned off, a physical model's
    delay-line rounding), from the steady middle of the held note: the minimum of the difference function
    d(tau) searched within TUNING_SEARCH_CENTS of the nominal period, on a 4x oversampled signal, parabolic
    interpolation, median over frames. Keys whose minimum lies at the search edge are left at 0."""
    import soxr

    up = 4
    out: dict[int, float] = {}
    for p, x in zip(phrases, audio):
        key = p.notes[0].key
        seg = x[int(0.45 * SR) : int((0.05 + TUNING_NOTE_S - 0.15) * SR)].astype(np.float64)
        if len(seg) < 4096 or np.sqrt(np.mean(seg**2)) < 1e-4:
            continue
        y = soxr.resample(seg, SR, SR * up)
        period = SR * up / (440.0 * 2 ** ((key - 69) / 12))
        lo = int(np.floor(period * 2 ** (-TUNING_SEARCH_CENTS / 1200))) - 1
        hi = int(np.ceil(period * 2 ** (TUNING_SEARCH_CENTS / 1200))) + 1
        w = 2048 * up // 2
        found = []
        for s0 in range(0, len(y) - w - hi, w // 2):
            a = y[s0 : s0 + w]
            d = np.array([np.sum((a - y[s0 + tau : s0 + tau + w]) ** 2) for tau in range(lo, hi + 1)])
            i = int(np.argmin(d))
            if 0 < i < len(d) - 1:
                den = d[i - 1] - 2 * d[i] + d[i + 1]
                found.append(lo + i + (0.5 * (d[i - 1] - d[i + 1]) / den if den > 0 else 0.0))
        if found:
            out[key] = round(float(1200 * np.log2(period / np.median(found))), 1)
    return out


# ---------------------------------------------------------------------------------------------------- renders
def _chunk_layout(phrases: list[Phrase]) -> list[float]:
    """Start of each phrase inside one render, on a 0.2 s grid (a whole number of samples at both rates)."""
    offsets, t = [], 0.0
    for p in phrases:
        offsets.append(t)
        t = np.ceil((t + p.duration + 0.6) / 0.2) * 0.2
        t = round(t, 1)
    return offsets


def write_midi(phrases: list[Phrase], offsets: list[float], program: int, path: Path) -> None:
    import mido

    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, message); order: off, control, on

    def add(t: float, order: int, msg) -> None:
        events.append((int(round(t * TICKS_PER_SECOND)), order, msg))

    for ch in range(CHANNELS):
        for msg in (
            mido.Message("program_change", program=program, channel=ch),
            *(
                mido.Message("control_change", control=c, value=v, channel=ch)
                for c, v in ((7, 100), (10, 64), (91, 0), (93, 0), (101, 0), (100, 0), (6, BEND_RANGE), (38, 0))
            ),
            mido.Message("control_change", control=101, value=127, channel=ch),
            mido.Message("control_change", control=100, value=127, channel=ch),
            mido.Message("control_change", control=11, value=127, channel=ch),
        ):
            add(0.0, 1, msg)
    n = 0
    for phrase, off in zip(phrases, offsets):
        ex_t = np.array([e[0] for e in phrase.expression])
        ex_v = [int(round(127 * e[1])) for e in phrase.expression]
        for note in phrase.notes:
            ch = n % CHANNELS
            n += 1
            k = max(int(np.searchsorted(ex_t, note.start, side="right")) - 1, 0)
            add(off + note.start, 1, mido.Message("pitchwheel", pitch=0, channel=ch))
            add(off + note.start, 1, mido.Message("control_change", control=11, value=ex_v[k], channel=ch))
            add(off + note.start, 2, mido.Message("note_on", note=note.key, velocity=note.velocity, channel=ch))
            for bt, cents in note.bend:
                add(off + bt, 1, mido.Message("pitchwheel", pitch=_bend_value(cents), channel=ch))
            last = ex_v[k]
            for et, v in zip(ex_t, ex_v):
                if note.start < et < note.end and v != last:
                    add(off + et, 1, mido.Message("control_change", control=11, value=v, channel=ch))
                    last = v
            add(off + note.end, 0, mido.Message("note_off", note=note.key, velocity=64, channel=ch))
    events.sort(key=lambda e: (e[0], e[1]))
    mid = mido.MidiFile(ticks_per_beat=TICKS_PER_SECOND)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=1_000_000, time=0))
    now = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    end = int(round((offsets[-1] + phrases[-1].duration + 0.6) * TICKS_PER_SECOND))
    track.append(mido.MetaMessage("end_of_track", time=max(end - now, 0)))
    mid.save(str(path))


def render_fluidsynth(soundfont: str, midi: Path, wav: Path) -> np.ndarray:
    """Mono float at RENDER_SR; reverb and chorus off; float output (normalised later: int16 would clip)."""
    cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.4", "-r", str(RENDER_SR), "-O", "float"]
    subprocess.run([*cmd, "-T", "wav", "-F", str(wav), soundfont, str(midi)], check=True, capture_output=True)
    x, sr = sf.read(wav, dtype="float32", always_2d=True)
    if sr != RENDER_SR:
        raise RuntimeError(f"fluidsynth wrote {sr} Hz, asked for {RENDER_SR}")
    return x.mean(axis=1)


def write_skini(phrases: list[Phrase], offsets: list[float], path: Path) -> None:
    """SKINI score for stk-demo: one voice; PitchChange takes a fractional MIDI note, so bends are exact; the
    expression drives controller 128 (breath pressure / bow or voice gain in these models)."""
    lines, now = [], 0.0

    def add(t: float, text: str) -> None:
        nonlocal now
        lines.append(text.format(dt=f"{max(t - now, 0.0):.6f}"))
        now = max(now, t)

    for phrase, off in zip(phrases, offsets):
        ex = phrase.expression
        cur = None
        ei = 0
        for note in phrase.notes:
            # expression changes up to this note's start
            while ei < len(ex) and ex[ei][0] <= note.start:
                add(off + ex[ei][0], "ControlChange {dt} 1 128 " + f"{40 + 87 * ex[ei][1]:.1f}")
                ei += 1
            pitch = float(note.key)
            # after a legato note (no NoteOff sent) the one voice is taken over: the model keeps sounding
            add(off + note.start, "NoteOn {dt} 1 " + f"{pitch:.6f} {note.velocity}")
            cur = pitch
            ctl = sorted(
                [(bt, "b", c) for bt, c in note.bend] + [(et, "e", v) for et, v in ex if note.start < et < note.end]
            )
            for t, kind, v in ctl:
                if kind == "b":
                    cur = note.key + v / 100.0
                    add(off + t, "PitchChange {dt} 1 " + f"{cur:.6f}")
                else:
                    add(off + t, "ControlChange {dt} 1 128 " + f"{40 + 87 * v:.1f}")
            while ei < len(ex) and ex[ei][0] < note.end:
                ei += 1
            if not note.legato_next:
                add(off + note.end, "NoteOff {dt} 1 " + f"{cur:.6f} 64")
                cur = None
    end = offsets[-1] + phrases[-1].duration + 0.6
    add(end, "ControlChange {dt} 1 7 0")
    path.write_text("\n".join(lines) + "\n")


def render_stk(model: str, skini: Path, wav: Path) -> np.ndarray:
    cmd = ["stk-demo", model, "-n", "1", "-s", str(RENDER_SR), "-ow", str(wav), "-if", str(skini)]
    subprocess.run(cmd, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    x, sr = sf.read(wav, dtype="float32", always_2d=True)
    if sr != RENDER_SR:
        raise RuntimeError(f"stk-demo wrote {sr} Hz, asked for {RENDER_SR}")
    return x.mean(axis=1)


def resample(x: np.ndarray) -> np.ndarray:
    import soxr

    return soxr.resample(x, RENDER_SR, SR, quality="HQ").astype(np.float32)


def impulse_response(room: str) -> np.ndarray:
    """Direct sound + exponentially decaying Gaussian noise (RT60; treble decays twice as fast), at SR."""
    from scipy.signal import butter, sosfilt

    p = ROOMS[room]
    rng = np.random.default_rng(p["seed"])
    n = int(p["rt60"] * 1.2 * SR)
    t = np.arange(n) / SR
    noise = rng.standard_normal(n)
    sos = butter(2, 2500, "low", fs=SR, output="sos")
    low = sosfilt(sos, noise)
    high = noise - low
    tail = low * np.exp(-6.91 * t / p["rt60"]) + high * np.exp(-6.91 * t / (0.5 * p["rt60"]))
    tail *= np.minimum(t / 0.005, 1.0)  # fade in: no click at the onset of the reverberation
    tail /= np.sqrt(np.sum(tail**2))
    tail *= 10 ** (-p["drr_db"] / 20)
    ir = np.zeros(int(p["predelay"] * SR) + n)
    ir[0] = 1.0
    ir[int(p["predelay"] * SR) :] += tail
    return ir


# ------------------------------------------------------------------------------------------------------ build
@dataclass
class Clip:
    split: str
    source: str
    synth: str  # what made it (soundfont file + program, or STK model)
    phrase: Phrase
    index: int
    audio: np.ndarray
    room: str = "dry"


def render_set(
    source: str, inst_name: str, inst: Instrument, phrases: list[Phrase], tmp: Path, soundfonts: dict
) -> tuple[list[np.ndarray], str]:
    """Render ``phrases`` with one source, a few minutes per call; return each phrase's audio at SR and a label."""
    chunk_s = 240.0
    groups: list[list[int]] = [[]]
    acc = 0.0
    for k, p in enumerate(phrases):
        if acc > chunk_s and source != "musescore_general":  # MuseScore's sf3 takes ~6 s to load: one call
            groups.append([])
            acc = 0.0
        groups[-1].append(k)
        acc += p.duration + 0.8
    out: list[np.ndarray] = [np.zeros(0, np.float32)] * len(phrases)
    for g, idx in enumerate(groups):
        ps = [phrases[k] for k in idx]
        offsets = _chunk_layout(ps)
        stem = tmp / f"{inst_name}_{source}_{g}"
        if source == "stk":
            write_skini(ps, offsets, stem.with_suffix(".ski"))
            y = resample(render_stk(inst.stk, stem.with_suffix(".ski"), stem.with_suffix(".wav")))
        else:
            write_midi(ps, offsets, inst.program, stem.with_suffix(".mid"))
            y = resample(render_fluidsynth(soundfonts[source], stem.with_suffix(".mid"), stem.with_suffix(".wav")))
        for k, p, off in zip(idx, ps, offsets):
            a = int(round(off * SR))
            b = a + int(round(p.duration * SR))
            seg = y[a:b]
            out[k] = np.pad(seg, (0, b - a - len(seg))).astype(np.float32)
    synth = f"STK {inst.stk}" if source == "stk" else f"{Path(soundfonts[source]).name} GM program {inst.program + 1}"
    return out, synth


def build_instrument(
    name: str, inst: Instrument, minutes: float, seed: int, out: Path, tmp: Path, soundfonts: dict, seconds: dict
) -> list[dict]:
    """Render, normalise, add rooms, label and write one instrument; returns its manifest rows (paths relative to
    ``out``)."""
    base = seed * 1000 + list(INSTRUMENTS).index(name) * 10
    plan = {
        ("train", "fluidr3_gm"): make_phrases(base + 1, inst, minutes * 60),
        ("heldout", "fluidr3_gm"): make_phrases(base + 2, inst, minutes * 60 * HELDOUT_SHARE),
    }
    for k, src in enumerate(s for s in ("musescore_general", "stk") if s in seconds):
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
    (out / name).mkdir(parents=True, exist_ok=True)
    (out / name / "tuning.json").write_text(json.dumps(tunings, indent=1) + "\n")
    irs = {room: impulse_response(room) for room in ROOMS}
    wet: list[Clip] = []
    for c in clips:
        if c.split == "train" and c.index % ROOM_EVERY == 0:
            from scipy.signal import oaconvolve

            room = list(ROOMS)[(c.index // ROOM_EVERY) % len(ROOMS)]
            y = oaconvolve(c.audio.astype(np.float64), irs[room])[: len(c.audio) + int(0.5 * ROOMS[room]["rt60"] * SR)]
            y *= min(1.0, 10 ** (-1.0 / 20) / max(float(np.abs(y).max()), 1e-9))
            wet.append(Clip(c.split, c.source, c.synth, c.phrase, c.index, y.astype(np.float32), room))
    rows = []
    for c in clips + wet:
        folder = out / name / c.split
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{c.source}__{name}_{c.index:03d}" + ("" if c.room == "dry" else f"_{c.room}")
        wav = folder / f"{stem}.wav"
        sf.write(wav, c.audio, SR, subtype="FLOAT")
        loud = loudness_db(c.audio)
        f0 = f0_labels(c.phrase, len(c.audio), loud, tunings[c.source])
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
        rows.append(
            dict(
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
        )
    return rows


def check_labels(out: Path, rows: list[dict], seconds_per_source: float) -> dict:
    """The f0 labels against desktop/evaluation/pitch.py's tracker on the first ``seconds_per_source`` of each
    instrument's dry audio per source: median |cents| and the share within 50 cents on frames both call voiced,
    and the share of labelled frames the tracker calls voiced; only frames labelled inside the tracker's range
    (it reads 50-1500 Hz: a flute's top octave is outside)."""
    from desktop.evaluation.pitch import FMAX, FMIN, track

    report: dict = {}
    for name in dict.fromkeys(r["instrument"] for r in rows):
        for src in dict.fromkeys(r["source"] for r in rows if r["instrument"] == name):
            errs, labelled, tracked, used = [], 0, 0, 0.0
            for r in rows:
                if r["instrument"] != name or r["source"] != src or r["room"] != "dry" or used >= seconds_per_source:
                    continue
                x, _ = sf.read(out / r["file"], dtype="float32")
                ref = np.load(out / r["f0_file"])
                p = track(x, SR)
                n = min(len(ref), len(p.f0))
                lab = (ref[:n] > FMIN * 1.1) & (ref[:n] < FMAX * 0.9)
                both = lab & p.voiced[:n]
                errs.append(np.abs(1200 * np.log2(p.f0[:n][both] / ref[:n][both])))
                labelled += int(lab.sum())
                tracked += int(both.sum())
                used += float(r["duration_s"])
            e = np.concatenate(errs) if errs else np.zeros(0)
            report[f"{name}/{src}"] = dict(
                seconds=round(used, 1),
                median_abs_cents=round(float(np.median(e)), 1) if len(e) else None,
                within_50_cents=round(float(np.mean(e <= 50)), 3) if len(e) else None,
                labelled_frames_tracked_voiced=round(tracked / max(labelled, 1), 3),
            )
    return report


# ------------------------------------------------------------------------------------------------ files, CLI
def read_own_manifest(out: Path) -> list[dict] | None:
    """Rows of ``out/manifest.csv`` when this script wrote it, else None."""
    path = out / "manifest.csv"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows or any(r.get("generator") != GENERATOR for r in rows):
        return None
    return rows


def check_out(out: Path) -> list[dict] | None:
    """Refuse a file, or a non-empty folder that holds no corpus of this script; the previous rows when it does."""
    if out.exists() and not out.is_dir():
        raise CorpusError(f"--out {out} is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        return None
    old = read_own_manifest(out)
    if old is None:
        raise CorpusError(
            f"--out {out} is not empty and holds no corpus of this script (no manifest.csv written by it): "
            "refusing to write into it"
        )
    return old


def clean_out(out: Path, instruments: list[str], old: list[dict] | None) -> list[dict]:
    """Remove the files a previous build of these instruments wrote (only those); return the other rows."""
    if not old:
        return []
    for r in old:
        if r["instrument"] in instruments:
            for key in ("file", "f0_file", "loudness_file"):
                (out / r[key]).unlink(missing_ok=True)
    for name in instruments:
        for extra in ("manifest.csv", "tuning.json"):
            (out / name / extra).unlink(missing_ok=True)
        for split in ("train", "heldout", "second_source"):
            d = out / name / split
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
    return [r for r in old if r["instrument"] not in instruments]


def write_manifest(path: Path, rows: list[dict], relative_to: Path, out: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in rows:
            r = dict(r)
            for key in ("file", "f0_file", "loudness_file"):
                r[key] = (out / r[key]).relative_to(relative_to).as_posix()
            w.writerow(r)


def write_sources_md(path: Path, rows: list[dict], check: dict, build_s: float) -> None:
    lines = [
        "# Instrument corpora: sources and licences",
        "",
        f"Built by `{GENERATOR}` in {build_s:.0f} s. All audio is rendered here from generated phrases (no",
        "recording is copied); the synthesisers' samples and code come from Debian 12 packages: see",
        "/usr/share/doc/PACKAGE/copyright. Labels: `<name>.f0.npy` (Hz per 256-sample frame, 0 where silent) and",
        "`<name>.loudness.npy` (dBFS per frame) next to each WAV. Do not commit the audio.",
        "",
        "| instrument | split | source | room | package | licence | files | minutes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keys = dict.fromkeys((r["instrument"], r["split"], r["source"], r["room"]) for r in rows)
    for inst, split, src, room in keys:
        sel = [r for r in rows if (r["instrument"], r["split"], r["source"], r["room"]) == (inst, split, src, room)]
        minutes = sum(float(r["duration_s"]) for r in sel) / 60
        pkg, lic = sel[0]["debian_package"], sel[0]["license"]
        lines.append(f"| {inst} | {split} | {src} | {room} | {pkg} | {lic} | {len(sel)} | {minutes:.1f} |")
    lines += ["", "## Sources", ""]
    for s in SOURCES.values():
        lines.append(f"- `{s.name}` (Debian `{s.debian_package}`, {s.license}): {s.credit}.")
    lines += [
        "",
        "Rooms: `dry` is the synthesiser's output with its reverb and chorus off; "
        + "; ".join(
            f"`{k}` (RT60 {v['rt60']} s, direct-to-reverberant {v['drr_db']:+.0f} dB)" for k, v in ROOMS.items()
        )
        + " are convolutions with synthetic impulse responses (direct sound + exponentially decaying noise).",
    ]
    if check:
        lines += [
            "",
            "## f0 labels against a pitch tracker (desktop/evaluation/pitch.py, pYIN + refinement; labels 55-1350 Hz)",
            "",
            "| instrument/source | seconds | median abs cents | within 50 cents | labelled frames tracked voiced |",
            "|---|---|---|---|---|",
        ]
        for k, v in check.items():
            lines.append(
                f"| {k} | {v['seconds']} | {v['median_abs_cents']} | {v['within_50_cents']} | "
                f"{v['labelled_frames_tracked_voiced']} |"
            )
    path.write_text("\n".join(lines) + "\n")


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
        "--second-sources", default="musescore_general,stk", help="comma-separated, of musescore_general, stk"
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
        bad = [s for s in second if s not in ("musescore_general", "stk")]
        if bad:
            raise CorpusError(f"unknown second source {', '.join(bad)} (known: musescore_general, stk)")
        if not (a.minutes > 0 and np.isfinite(a.minutes)):
            raise CorpusError(f"--minutes {a.minutes} must be a positive number")
        out = Path(a.out)
        old = check_out(out)
        soundfonts = {"fluidr3_gm": a.soundfont, "musescore_general": find_musescore(a.second_soundfont)}
        needed = {"fluidr3_gm": "fluid-soundfont-gm", "musescore_general": "musescore-general-soundfont"}
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
