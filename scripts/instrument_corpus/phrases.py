"""Generated expressive phrases (notes, bends, expression) and their exact labels: f0 per frame from the phrase
timeline, loudness measured on the audio, and each key's tuning measured on held notes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .catalogue import BEND_RANGE, CONTROL_STEP, HOP, LOUDNESS_WINDOW, SILENCE_DB, SR, TAIL_DB, TAIL_MAX_S, Instrument


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
    return bend_value(cents) / 8192 * BEND_RANGE * 100


def bend_value(cents: float) -> int:
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


REGISTER_RATIOS = (2.0, 3.0)  # an overblown flute sounds the octave, a clarinet the twelfth
REGISTER_TOLERANCE_CENTS = 80.0
REGISTER_MIN_FRAMES = 8  # about 90 ms: a jump the model holds, not one frame's tracker error


def follow_register(f0: np.ndarray, audio: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels moved up to the register the audio actually sounds in: runs of at least REGISTER_MIN_FRAMES frames
    where desktop/evaluation/pitch.py's tracker hears the label times 2 or 3 (within REGISTER_TOLERANCE_CENTS) get
    that multiple of the label. Returns the labels and how many frames moved."""
    from desktop.evaluation.pitch import track

    p = track(audio, SR)
    n = min(len(f0), len(p.f0))
    out = f0.copy()
    moved = 0
    for ratio in REGISTER_RATIOS:
        with np.errstate(divide="ignore", invalid="ignore"):
            off = 1200 * np.log2(p.f0[:n] / (ratio * f0[:n]))
        hit = (f0[:n] > 0) & p.voiced[:n] & (np.abs(np.nan_to_num(off, nan=1e9)) <= REGISTER_TOLERANCE_CENTS)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], hit.astype(np.int8), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            if b - a >= REGISTER_MIN_FRAMES:
                out[a:b] = ratio * f0[a:b]
                moved += int(b - a)
    return out, moved


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
