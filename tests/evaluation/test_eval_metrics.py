"""Each evaluation metric on signals with a known answer: identity, a pitch shift, a gain, a delay, a known KL."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from core.audiofile import resample
from desktop.evaluation import peers, perceptual, pitch, probes, rate, spectral, systems

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time

SR = 22050


def harmonic(f0: float, seconds: float = 2.0, sr: int = SR, vibrato_cents: float = 0.0) -> np.ndarray:
    """A band-limited tone with 1/k harmonics whose pitch glides slowly (so the tracker has something to follow)."""
    t = np.arange(int(seconds * sr)) / sr
    cents = 100 * np.sin(2 * np.pi * 0.5 * t) + vibrato_cents
    inst = f0 * 2 ** (cents / 1200)
    phase = 2 * np.pi * np.cumsum(inst) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    return (0.1 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


@pytest.fixture(scope="module")
def speech(fixtures_dir) -> np.ndarray:
    x, sr = sf.read(fixtures_dir / "speech_arctic_a0007.wav", dtype="float32")
    return resample(x if x.ndim == 1 else x.mean(1), sr, SR)


def test_visqol_identical_is_top_and_noise_lowers_it(speech):
    same = perceptual.visqol(speech, speech, SR)
    noisy = perceptual.visqol(speech, speech + 0.03 * np.random.default_rng(0).standard_normal(len(speech)), SR)
    assert 4.6 < same < 4.8
    assert noisy < same - 0.5
    assert perceptual.visqol(np.zeros(SR), np.zeros(SR), SR) is None  # undefined on silence, not made up


def test_pesq_and_stoi_identical_and_degraded(speech):
    assert perceptual.pesq_wb(speech, speech, SR) > 4.5
    assert perceptual.stoi(speech, speech, SR) > 0.99
    noise = 0.05 * np.random.default_rng(1).standard_normal(len(speech)).astype(np.float32)
    assert perceptual.pesq_wb(speech, speech + noise, SR) < 3.0
    assert perceptual.stoi(speech, speech + noise, SR) < 0.95


@pytest.mark.parametrize("f0", [110.0, 220.0, 440.0, 880.0])
def test_pitch_tracker_reads_a_pure_tone_within_a_cent(f0):
    x = np.sin(2 * np.pi * f0 * np.arange(SR * 2) / SR).astype(np.float32)
    tr = pitch.track(x, SR)
    core = tr.f0[8:-8]
    assert tr.voiced[8:-8].all()
    assert np.abs(pitch.cents(core, f0)).max() < 1.0


@pytest.mark.parametrize("shift", [100.0, -100.0, 700.0])
def test_pitch_shift_is_reported_in_cents(shift):
    ref = pitch.track(harmonic(200.0), SR)
    out = pitch.track(harmonic(200.0 * 2 ** (shift / 1200)), SR)
    s = pitch.compare(ref, out).summary()
    assert abs(s["pitch_median_cents"] - abs(shift)) < 3.0
    assert s["pitch_within_50c"] == 0.0 and s["voicing_agreement"] > 0.95
    same = pitch.compare(ref, ref).summary()
    assert same["pitch_median_cents"] == 0.0 and same["pitch_within_50c"] == 1.0


def test_pitch_counts_pool_over_files():
    a = pitch.compare(pitch.track(harmonic(200.0), SR), pitch.track(harmonic(200.0), SR))
    b = pitch.compare(pitch.track(harmonic(300.0), SR), pitch.track(harmonic(300.0 * 2 ** (1 / 12)), SR))
    pooled = (a + b).summary()
    assert pooled["voiced_frames"] == a.input_voiced + b.input_voiced
    assert 0.4 < pooled["pitch_within_50c"] < 0.6  # one file right, one a semitone off


def test_level_change_reads_a_gain(speech):
    assert spectral.level_change_db(2 * speech, speech) == pytest.approx(6.02, abs=0.01)
    assert spectral.level_change_db(speech, speech) == pytest.approx(0.0, abs=1e-9)
    assert spectral.all_metrics(0.5 * speech, speech, SR)["level_change_db"] == pytest.approx(-6.02, abs=0.01)


def test_align_removes_a_known_delay(speech):
    late = np.concatenate([np.zeros(123, np.float32), speech])
    aligned, lag = peers.align(late, speech)
    assert lag == 123 and len(aligned) == len(speech)
    assert np.abs(aligned - speech).max() < 1e-6
    early = speech[40:]
    aligned, lag = peers.align(early, speech)
    assert lag == -40 and np.abs(aligned[40:] - speech[40:]).max() < 1e-6


def test_opus_peer_is_aligned_and_reports_its_bitrate(speech):
    y, bps = peers.opus(speech, SR, 12)
    assert len(y) == len(speech)
    assert peers.align(y, speech)[1] == 0  # no delay left
    assert 9_000 < bps < 16_000
    assert np.corrcoef(y, speech)[0, 1] > 0.9


def test_world_and_griffin_lim_peers_keep_length_and_level(speech):
    for name in ("world", "griffin_lim", "griffin_lim_equal"):
        y, bps = peers.run_peer(name, speech, SR, equal_mels=16)
        assert len(y) == len(speech) and bps > 0
        assert abs(spectral.level_change_db(y, speech)) < 4.5, name
    assert peers.equal_size_mels(16 * SR / 256, SR) == 16


def test_kl_bits_closed_form():
    mean = np.full((4, 10), 0.5)
    scale = np.full((4, 10), 0.5)
    per_dim = 0.5 * (0.25 + 0.25 - np.log(0.25) - 1) / np.log(2)
    assert np.allclose(rate.kl_bits(mean, scale), 4 * per_dim)
    assert np.allclose(rate.kl_bits(np.zeros((3, 5)), np.ones((3, 5))), 0.0)


def test_probes_score_known_answers():
    sig = probes.probe_signals(SR)
    assert set(sig) == {
        "sine_110",
        "sine_220",
        "sine_440",
        "sine_880",
        "saw_110",
        "vibrato_330",
        "click_train",
        "white_noise",
    }
    for name, (x, f0) in sig.items():
        assert len(x) == 2 * SR and 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2))) == pytest.approx(
            -12, abs=0.01
        )
        s = probes.score(name, x, x, f0, SR)
        assert s["level_change_db"] == pytest.approx(0.0, abs=1e-6)
        if f0 is not None:
            assert s["voiced_fraction"] == 1.0 and s["pitch_error_cents"] < (10.0 if name.startswith("vib") else 1.0)
    x, f0 = sig["sine_220"]
    up = np.sin(2 * np.pi * 220 * 2 ** (50 / 1200) * np.arange(len(x)) / SR).astype(np.float32) * 0.5
    s = probes.score("sine_220", x, up, f0, SR)
    assert s["pitch_error_cents"] == pytest.approx(50.0, abs=1.0)
    assert s["level_change_db"] == pytest.approx(20 * np.log10(0.5 / (np.sqrt(2) * 10 ** (-12 / 20))), abs=0.05)
    vx, vf0 = sig["vibrato_330"]
    flat = np.sin(2 * np.pi * 330 * np.arange(len(vx)) / SR).astype(np.float32)
    assert probes.score("vibrato_330", vx, flat, vf0, SR)["vibrato_depth_kept"] < 0.2
    assert probes.score("vibrato_330", vx, vx, vf0, SR)["vibrato_depth_kept"] == pytest.approx(1.0, abs=0.01)


def test_category_of_reads_folders_and_fixture_names():
    from pathlib import Path

    assert systems.category_of(Path("speech/a.wav")) == "speech"
    assert systems.category_of(Path("fixtures/music_rock_mix.wav")) == "music"
    assert systems.category_of(Path("drums_loop.wav")) == "drums"
    assert systems.category_of(Path("misc/x.wav")) == "misc"
