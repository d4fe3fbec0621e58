"""The tuner's analysis (core.pitch_track): YIN finds a sine's note within a few cents at the device rates, a
voice-like harmonic tone by its fundamental, nothing in noise or silence; notes are named with their octave."""

from __future__ import annotations

import numpy as np
import pytest

from core import pitch_track


def tone(f0: float, rate: int, harmonics=(1.0,), n: int = 4096) -> np.ndarray:
    t = np.arange(n) / rate
    return sum(a * 0.3 * np.sin(2 * np.pi * f0 * (k + 1) * t) for k, a in enumerate(harmonics)).astype(np.float32)


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
@pytest.mark.parametrize("f0", [82.41, 110.0, 220.0, 261.63, 440.0, 659.26])
def test_a_sine_reads_as_its_note_within_5_cents(f0, rate):
    r = pitch_track.read(tone(f0, rate), rate)
    expected, _ = pitch_track.note_name(f0)
    name, cents = pitch_track.note_name(r.f0)
    assert name == expected and abs(1200 * np.log2(r.f0 / f0)) < 5


def test_220_hz_is_a3_and_a_harmonic_tone_reads_by_its_fundamental():
    assert pitch_track.note_name(220.0) == ("A3", 0.0) and pitch_track.note_name(261.63)[0] == "C4"
    assert pitch_track.read(tone(220.0, 44100), 44100).note == "A3 +0 ct"
    r = pitch_track.read(tone(220.0, 44100, harmonics=(0.3, 1.0, 0.8, 0.5)), 44100)  # a weak fundamental
    assert pitch_track.note_name(r.f0)[0] == "A3"


def test_noise_and_silence_have_no_pitch():
    noise = np.random.default_rng(0).standard_normal(4096).astype(np.float32) * 0.1
    assert pitch_track.read(noise, 44100).f0 == 0.0
    quiet = pitch_track.read(np.zeros(4096, np.float32), 44100)
    assert quiet.f0 == 0.0 and quiet.note == "—" and quiet.db == -120.0
    assert pitch_track.read(tone(220.0, 44100)[:100], 44100).f0 == 0.0  # fewer samples than a frame


def test_history_keeps_the_newest_readings_last():
    h = pitch_track.History(4)
    for f in (110.0, 0.0, 220.0):
        h.push(pitch_track.Reading(f, pitch_track.midi_of(f) if f else float("nan"), -20.0))
    assert np.isnan(h.midi[0]) and np.isnan(h.midi[2]) and h.midi[-1] == pytest.approx(57.0)
    assert h.last.f0 == 220.0 and list(h.db) == [-120.0, -20.0, -20.0, -20.0]
