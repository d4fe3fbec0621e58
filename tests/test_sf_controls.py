"""The source-filter bundle's declared controls do exactly what they say, measured on its output through the
renderer (the dsp bundle shipped with the eval; a trained sf bundle declares the same controls)."""

import numpy as np
import pytest
import scipy.signal as ss
import soundfile as sf

from conftest import render_with
from core.bundle_io import load_bundle
from core.session import ModelRunner
from desktop.evaluation.peers import DSP_BUNDLE

SR = 22050


def _saw(f0: float, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, int(SR / 2 / (1.1 * f0))))
    return (0.1 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def _vowel(f0: float = 130.0, formant_hz: float = 1000.0) -> np.ndarray:
    r = np.exp(-np.pi * 100 / SR)
    a = np.real(np.poly([r * np.exp(2j * np.pi * formant_hz / SR), r * np.exp(-2j * np.pi * formant_hz / SR)]))
    x = ss.lfilter([1.0], a, _saw(f0))
    return (0.1 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


@pytest.fixture(scope="module")
def dsp():
    return ModelRunner(load_bundle(DSP_BUNDLE), "cpu", 1)


def _render(tmp_path, dsp, x: np.ndarray, *controls: str) -> np.ndarray:
    """``x`` through the renderer as ``latentsynth-render --bundle DSP_BUNDLE --subtype FLOAT --control ...`` runs
    it (``--transpose N`` is ``--control transpose=N``: test_keyboard_follow holds the CLI to that)."""
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x, SR, subtype="FLOAT")
    render_with(dsp, src, out, *controls)
    y = sf.read(out, dtype="float32")[0]
    return y[len(y) // 4 : -len(y) // 4]  # the steady middle


def _f0(y: np.ndarray, near: float) -> float:
    """The strongest spectral peak within a semitone of ``near`` Hz, parabolic between bins (0.17 Hz bins)."""
    n = 1 << 17
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), n))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    band = np.flatnonzero((freqs > near * 2 ** (-1 / 12)) & (freqs < near * 2 ** (1 / 12)))
    i = band[np.argmax(spec[band])]
    a, b, c = np.log(spec[i - 1 : i + 2])
    return float(freqs[i] + 0.5 * (a - c) / (a - 2 * b + c) * (freqs[1] - freqs[0]))


@pytest.mark.parametrize("semitones", [-12, -5, 7, 12])
def test_transpose_moves_f0_by_exactly_n_semitones(tmp_path, dsp, semitones):
    f0 = 150.0
    y = _render(tmp_path, dsp, _saw(f0), f"transpose={semitones}")
    target = f0 * 2 ** (semitones / 12)
    assert abs(1200 * np.log2(_f0(y, target) / target)) < 5.0


def _peak_hz(y: np.ndarray) -> float:
    """The frequency of the smoothed spectrum's maximum between 400 Hz and 3 kHz."""
    f, p = ss.welch(y, SR, nperseg=4096)
    p = np.convolve(p, np.hanning(41) / np.hanning(41).sum(), "same")  # smooth over ~200 Hz: the envelope
    band = (f > 400) & (f < 3000)
    return float(f[band][np.argmax(p[band])])


@pytest.mark.parametrize("semitones", [-4, 4])
def test_formant_shift_moves_the_envelope_not_the_pitch(tmp_path, dsp, semitones):
    x = _vowel()
    base = _render(tmp_path, dsp, x)
    y = _render(tmp_path, dsp, x, f"formant={semitones}")
    moved = 12 * np.log2(_peak_hz(y) / _peak_hz(base))
    assert abs(moved - semitones) < 1.5, moved
    assert abs(1200 * np.log2(_f0(y, 130.0) / _f0(base, 130.0))) < 5.0


def _harmonic_share(y: np.ndarray, f0: float) -> float:
    """Power within 20 Hz of the harmonics of f0 below 5 kHz, as a share of all power below 5 kHz (dB)."""
    f, p = ss.welch(y, SR, nperseg=8192)
    low = f < 5000
    near = np.abs(f - f0 * np.round(f / f0)) < 20
    return float(10 * np.log10(p[low & near].sum() / p[low].sum()))


def test_breath_lowers_the_harmonic_share_monotonically(tmp_path, dsp):
    x = _vowel()
    shares = [_harmonic_share(_render(tmp_path, dsp, x, f"breath={db}"), 130.0) for db in (-10, 0, 10, 20)]
    assert all(a > b for a, b in zip(shares, shares[1:])), shares
