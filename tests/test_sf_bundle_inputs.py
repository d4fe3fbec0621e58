"""Hostile input through the source-filter bundle's graphs (the renderer, onnxruntime, streaming): finite, bounded,
silent when the input is, and a pitch that follows a voice from 50 to 1500 Hz without sticking."""

import numpy as np
import pytest
import soundfile as sf

from conftest import render_with
from core.bundle_io import load_bundle
from core.session import ModelRunner
from desktop.evaluation import pitch as P
from desktop.evaluation.peers import DSP_BUNDLE

SR = 22050
T = np.arange(2 * SR) / SR
RNG = np.random.default_rng(0)


def _glide(f_from: float, f_to: float) -> np.ndarray:
    f = f_from * (f_to / f_from) ** (T / T[-1])
    phase = np.cumsum(f) / SR
    return sum(0.1 * np.sin(2 * np.pi * k * phase) / k for k in range(1, 12))


INPUTS = {
    "silence": np.zeros_like(T),
    "white_noise": 0.3 * RNG.standard_normal(len(T)),
    "clipped_voice": np.clip(4 * _glide(120, 180), -1, 1),
    "dc_offset": 0.5 + 0.05 * np.sin(2 * np.pi * 200 * T),
    "hum_50hz": 0.3 * np.sin(2 * np.pi * 50 * T),
    "whistle": 0.3 * np.sin(2 * np.pi * (1200 + 200 * np.sin(2 * np.pi * 3 * T)) * T),
    "full_scale_square": np.sign(np.sin(2 * np.pi * 110 * T)),
    "clicks": (np.arange(len(T)) % 4410 == 0).astype(float),
}


@pytest.fixture(scope="module")
def dsp():
    return ModelRunner(load_bundle(DSP_BUNDLE), "cpu", 1)


def _render(tmp_path, dsp, x: np.ndarray) -> np.ndarray:
    """``x`` through the renderer as ``latentsynth-render --bundle DSP_BUNDLE --subtype FLOAT`` runs it."""
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x.astype(np.float32), SR, subtype="FLOAT")
    render_with(dsp, src, out)
    return sf.read(out, dtype="float32")[0]


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_hostile_input_stays_finite_and_bounded(tmp_path, dsp, name):
    x = INPUTS[name][:SR]  # a second: many analysis frames past the filters' and the pitch hold's start
    y = _render(tmp_path, dsp, x)
    assert y.shape == x.shape and np.isfinite(y).all()
    # no filter blows up: the output peak stays within 12 dB of the input's (and silence stays silent)
    assert np.abs(y).max() <= 4 * max(np.abs(x).max(), 1e-4), (name, float(np.abs(y).max()))
    if name == "silence":
        assert np.abs(y).max() < 1e-6


@pytest.mark.parametrize("f_from,f_to", [(50.0, 200.0), (200.0, 1500.0), (1500.0, 300.0)])
def test_pitch_follows_a_glide_and_never_sticks(tmp_path, dsp, f_from, f_to):
    x = _glide(f_from, f_to)
    y = _render(tmp_path, dsp, x)
    a, b = P.track(x.astype(np.float32), SR), P.track(y, SR)
    n = min(len(a.f0), len(b.f0))
    both = a.voiced[:n] & b.voiced[:n]
    assert both.mean() > 0.6, both.mean()
    err = np.abs(P.cents(b.f0[:n][both], a.f0[:n][both]))
    assert np.median(err) < 30 and np.mean(err < 50) > 0.8, (np.median(err), np.mean(err < 50))
