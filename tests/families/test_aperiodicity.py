"""The band aperiodicity (models/aperiodicity.py): the autocorrelation's noise share, and the valley estimate that
reads no noise between a wobbling tone's harmonics but keeps the breath that fills them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.aperiodicity import BandAperiodicity
from models.sourcefilter import SourceFilterAnalysis

SR = 22050


def tone(f0: float, seconds: float, vibrato_cents: float = 0.0, noise_db: float | None = None) -> np.ndarray:
    """Ten equal harmonics of f0 (with a 6 Hz vibrato this deep), plus white noise this many dB under the tone."""
    t = np.arange(int(seconds * SR)) / SR
    hz = f0 * 2.0 ** (vibrato_cents / 1200.0 * np.sin(2 * np.pi * 6.0 * t))
    phase = 2 * np.pi * np.cumsum(hz) / SR
    x = sum(np.sin(h * phase) for h in range(1, 11) if h * f0 < SR / 2) * 0.05
    if noise_db is not None:
        x = x + np.random.default_rng(0).standard_normal(len(x)) * np.sqrt(np.mean(x**2)) * 10 ** (noise_db / 20)
    return x.astype(np.float32)


def band_aperiodicity(x: np.ndarray, estimate: str) -> np.ndarray:
    """Median over the steady frames of each band's aperiodicity (voicing folded in, power 1)."""
    a = SourceFilterAnalysis(SR, 256, ap_power=1.0, ap_estimate=estimate)
    with torch.no_grad():
        ap = a(torch.from_numpy(x)[None, None])[3][0].numpy()
    return np.median(ap[:, 8:], axis=1)


def test_a_wobbling_tone_has_empty_valleys():
    """Vibrato decorrelates the upper harmonics at one period (the autocorrelation reads noise there); there is
    no noise between them, and the valley estimate says so."""
    x = tone(440.0, 1.5, vibrato_cents=200.0)
    acf, valley = band_aperiodicity(x, "acf"), band_aperiodicity(x, "valley")
    assert acf[3] > 0.05, acf  # 3.5-5.5 kHz: harmonics 8-10, 15 % "noise" to the autocorrelation
    assert np.all(valley[1:4] < 0.25 * acf[1:4]), (acf, valley)  # harmonics 3-10
    assert np.all(valley <= acf + 1e-6)


def test_breath_between_the_harmonics_is_kept():
    """A steady tone with white noise 20 dB under it: both estimates read the noise (the valleys are full)."""
    x = tone(440.0, 1.5, noise_db=-20.0)
    acf, valley = band_aperiodicity(x, "acf"), band_aperiodicity(x, "valley")
    assert np.all(valley[:4] > 0.3 * acf[:4]), (acf, valley)
    assert valley[4] > 0.05  # 5.5-8 kHz: no harmonic there, all noise


def test_a_low_voice_without_valleys_keeps_the_autocorrelation():
    """At 80 Hz no bin is 130 Hz from a harmonic: the valley estimate is the autocorrelation's, band for band."""
    x = tone(80.0, 1.5, noise_db=-25.0)
    np.testing.assert_allclose(band_aperiodicity(x, "valley"), band_aperiodicity(x, "acf"), atol=1e-6)


def test_streaming_equals_whole_with_valleys():
    x = tone(330.0, 1.0, vibrato_cents=40.0, noise_db=-30.0)
    a = SourceFilterAnalysis(SR, 256, ap_power=1.0, ap_estimate="valley")
    t = torch.from_numpy(x[: 256 * 80])[None, None]
    with torch.no_grad():
        whole = a(t)[3]
        states = [torch.zeros(1, c, f) for _, c, f in a.state_shapes()]
        parts = []
        for i in range(0, t.shape[-1], 512):
            feats, states = a.stream(t[..., i : i + 512], states)
            parts.append(feats[3])
    np.testing.assert_allclose(torch.cat(parts, dim=-1).numpy(), whole.numpy(), atol=1e-5)


def test_an_unknown_estimate_is_refused():
    with pytest.raises(ValueError, match="aperiodicity estimate 'cepstrum'"):
        BandAperiodicity(SR, torch.ones(512), torch.ones(6, 513), "cepstrum")


def test_narrow_smoothing_under_the_fundamental():
    """An f0-wide smoothing carries a 440 Hz tone's first harmonic down to DC; ``low_width_hz`` keeps the
    envelope under 0.9 f0 nearer the noise floor there (>= 10 dB lower at 190-340 Hz) and leaves it alone above f0."""
    from models.sourcefilter import mel_points

    x = tone(440.0, 1.5, noise_db=-40.0)
    envs = []
    for width in (0.0, 100.0):
        a = SourceFilterAnalysis(SR, 256, low_width_hz=width)
        with torch.no_grad():
            envs.append(np.median(a(torch.from_numpy(x)[None, None])[2][0].numpy()[:, 8:], axis=1))
    hz = mel_points(SR, 80)
    under, above = (hz > 190) & (hz < 340), hz > 600
    assert np.all(envs[0][under] - envs[1][under] > np.log(10.0)), (envs[0] - envs[1])[under]
    np.testing.assert_allclose(envs[1][above], envs[0][above], atol=1e-4)


@pytest.mark.parametrize("hz", [1760.0, 2093.0])
def test_the_tracker_reaches_a_flutes_top_notes_when_asked(hz):
    """The shared tracker stops at 1500 Hz (voices); a flute's A6 or C7 (harmonics falling 10 dB each) then reads
    an octave down. ``pitch_fmax`` 2200 (the instruments' recipe) reads them within 10 cents."""
    t = np.arange(SR) / SR
    x = sum(0.3**h * np.sin(2 * np.pi * (h + 1) * hz * t) for h in range(4) if (h + 1) * hz < SR / 2)
    x = torch.from_numpy(x.astype(np.float32))[None, None]
    for fmax, want in ((1500.0, hz / 2), (2200.0, hz)):
        a = SourceFilterAnalysis(SR, 256, env_window=512, lag=256, pitch_fmax=fmax)
        with torch.no_grad():
            pitch = a(x)[0][0, 0, 8:].numpy()
        cents = 1200 * np.log2(440.0 * 2.0**pitch / want)
        assert np.median(np.abs(cents)) < 10, (fmax, np.median(cents))
