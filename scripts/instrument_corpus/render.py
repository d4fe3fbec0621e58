"""Rendering phrases with the installed synthesisers: MIDI for fluidsynth, SKINI for STK's physical models,
resampled to the corpus rate; and the synthetic rooms' impulse responses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from .catalogue import BEND_RANGE, CHANNELS, RENDER_SR, ROOMS, SR, TICKS_PER_SECOND, Instrument
from .phrases import Phrase, bend_value


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
                add(off + bt, 1, mido.Message("pitchwheel", pitch=bend_value(cents), channel=ch))
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
