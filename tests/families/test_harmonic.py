"""The shared pitch pieces of the source-filter families: the harmonic oscillator and the noise table
(models/harmonic.py) stream exactly and sound where they should; YIN (models/yin.py) gives the same frames in
training and export, and the sf encoder finds the f0 of steady tones from the first step, no training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from familykit import tiny
from models import build_model
from models.harmonic import HarmonicOscillator, NoiseTable, powers
from models.yin import YinPitch

SR = 22050


@pytest.mark.parametrize("frames_per_block", [1, 2, 4])
def test_oscillator_streams_like_one_call_and_keeps_its_phase_wrapped(frames_per_block):
    """Given the same f0 values bit for bit, a stream equals one call. (The pitch moves between whole octaves so
    that 2^pitch is exact: torch's pow may round the last bit differently for different tensor shapes, and at the
    100th harmonic one bit of phase is 3e-4 of output; the exported graphs are checked on trained latents.)"""
    osc = HarmonicOscillator(SR, 256)
    frames = 64
    pitch = torch.tensor([[-1.0] * 20 + [-2.0] * 5 + [0.0] * 19 + [-1.0] * 20])  # 220, 110, 440 Hz with glides
    gate = (torch.arange(frames) % 16 < 12).float()[None]
    whole = osc(pitch, gate)
    state, parts = [torch.zeros(1, 4, 1)], []
    for i in range(0, frames, frames_per_block):
        y, state = osc.stream(pitch[:, i : i + frames_per_block], gate[:, i : i + frames_per_block], state)
        parts.append(y)
        assert 0.0 <= float(state[0][0, 0, 0]) < 1.0  # the carried phase is wrapped to one cycle
    assert float((torch.cat(parts, -1) - whole).abs().max()) <= 1e-5
    steady = whole[0, 0, 256 * 26 : 256 * 28]  # 440 Hz, gate on
    rms = float(steady.pow(2).mean().sqrt())
    assert abs(rms - 1.0) < 0.1, rms  # the harmonics' amplitudes sum to RMS 1 whatever f0


def test_oscillator_is_band_limited_and_at_its_f0():
    osc = HarmonicOscillator(SR, 256)
    for hz in (110.0, 440.0, 3000.0):
        y = osc(torch.full((1, 40), math.log2(hz / 440)), torch.ones(1, 40))[0, 0, 2048:].numpy()
        spec = np.abs(np.fft.rfft(y * np.hanning(y.shape[0])))
        freqs = np.fft.rfftfreq(y.shape[0], 1 / SR)
        near = (freqs > 0.7 * hz) & (freqs < 1.3 * hz)
        assert abs(freqs[near][np.argmax(spec[near])] - hz) / hz < 0.01  # the fundamental is there...
        assert spec[freqs < 0.7 * hz].max() / spec.max() < 1e-2  # ...and nothing below it
        above = spec[freqs > 0.95 * SR / 2 + 100].max() / spec.max()
        assert above < 1e-3, (hz, above)  # nothing above the band limit: no aliasing


def test_oscillator_sums_its_harmonics_as_cosines_of_each_would():
    """The harmonics come from one sine and cosine a sample (products of powers): against the sum of each
    harmonic's own cosine in float64, at the same phase, within 1e-5 of the sum's peak."""
    osc = HarmonicOscillator(SR, 256, harmonics=64)
    g = torch.Generator().manual_seed(3)
    pitch, gate = torch.randn(1, 60, generator=g) * 0.5 - 1.0, torch.ones(1, 60)
    got = osc(pitch, gate)[0, 0].double()
    cyc, hz, prev_hz, _ = osc.cycles(pitch, torch.zeros(1, 4, 1))
    present = ((osc.max_hz - osc.k * torch.maximum(hz, prev_hz)[..., None]) / 400.0).clamp(0.0, 1.0).double()
    cosines = torch.cos(2 * math.pi * osc.k.double() * cyc.double()[..., None])  # [1, F, hop, H]
    want = (present[:, :, None] * cosines).sum(-1) * torch.sqrt(2.0 / present.sum(-1, keepdim=True).clamp(min=1.0))
    want[:, 0] *= osc.ramp.double()[0]  # the first frame fades in from the zero state's gate
    assert (got - want.reshape(-1)).abs().max().item() < 1e-5 * want.abs().max().item()
    x = torch.tensor([[0.3], [2.9]])
    c, s = powers(torch.cos(x), torch.sin(x), 8)
    j = torch.arange(1, 9, dtype=torch.float64)
    assert torch.allclose(c.double(), torch.cos(j * x.double()), atol=1e-6)
    assert torch.allclose(s.double(), torch.sin(j * x.double()), atol=1e-6)
    c0, _ = powers(torch.cos(x), torch.sin(x), 3, zeroth=True)
    assert torch.allclose(c0.double(), torch.cos(torch.arange(3) * x.double()), atol=1e-6)


def test_noise_table_streams_exactly():
    noise = NoiseTable(length=1000)
    ref = torch.zeros(1, 1, 12)
    whole, _ = noise.stream(ref, 256, [torch.zeros(1, 1, 1)])
    state, parts = [torch.zeros(1, 1, 1)], []
    for _ in range(12):
        y, state = noise.stream(ref[..., :1], 256, state)
        parts.append(y)
    assert torch.equal(torch.cat(parts, -1), whole)
    assert abs(float(whole.pow(2).mean()) - 1.0) < 0.1


def _tone(hz: float, seconds: float = 1.0, saw: bool = False, amp: float = 0.3) -> torch.Tensor:
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    if saw:
        y = sum(torch.sin(2 * math.pi * k * hz * t) / k for k in range(1, int(0.45 * SR / hz) + 1)) * 0.6
    else:
        y = torch.sin(2 * math.pi * hz * t)
    return (amp * y).float()[None, None]


def test_yin_is_the_same_in_training_and_in_export():
    """Training reads the autocorrelation by FFT, eval/export by a strided DFT conv: the same frames."""
    yin = YinPitch(SR, 256, 1024)
    x = torch.randn(2, 1, 1024 + 256 * 20) * 0.1 + _tone(180.0, (1024 + 256 * 20) / SR)
    with torch.no_grad():
        p_eval, a_eval = yin.eval()(x)
        p_train, a_train = yin.train()(x)
    assert float((p_eval - p_train).abs().max()) * 1200 < 0.5
    assert float((a_eval - a_train).abs().max()) < 1e-3


@pytest.fixture(scope="module")
def sf_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(tiny("sf")).eval()


@pytest.mark.parametrize(
    "hz,saw,cents",
    [(110.0, True, 2.0), (220.0, False, 2.0), (440.0, False, 2.0), (880.0, False, 2.0), (150.0, True, 2.0)],
)
def test_sf_encoder_finds_the_f0_of_steady_tones(sf_model, hz, saw, cents):
    """Pitch is signal processing inside the encoder (control channel 0, octaves re A4; channel 1 voicing): right
    from the first step, no training."""
    with torch.no_grad():
        control = sf_model.encode(_tone(hz, saw=saw))["control"][0]
    pitch, voicing = control[0, 8:], control[1, 8:]  # after the first window has filled
    err = (pitch - math.log2(hz / 440)).abs().max() * 1200
    assert float(err) < cents, (hz, float(err))
    assert float(voicing.min()) > 0.9
