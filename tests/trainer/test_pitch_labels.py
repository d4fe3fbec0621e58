"""The hpn family's pitch labeller (trainer/pitch_labels.py), written on librosa's public API: its YIN is
librosa.yin's, frame for frame, and it labels a voice-like tone and leaves silence unvoiced."""

from __future__ import annotations

import numpy as np

from trainer import pitch_labels as P

RATE = 22050


def _vibrato(seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 180.0 * 2 ** (0.5 / 12 * np.sin(2 * np.pi * 5 * t))  # a half-semitone vibrato at 5 Hz
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 6))).astype(np.float32)


def test_the_labeller_is_librosa_yin_where_voiced():
    import librosa

    x = _vibrato()
    f0, voiced = P.track(x, RATE)
    ref = librosa.yin(
        x, fmin=P.FMIN, fmax=P.FMAX, sr=RATE, frame_length=P.FRAME, hop_length=P.LABEL_HOP, trough_threshold=P.TROUGH
    )
    n = min(f0.size, ref.size)
    on = voiced[:n] > 0
    assert on.mean() > 0.9  # a clean tone: voiced almost everywhere
    assert np.allclose(f0[:n][on], ref[:n][on].astype(np.float32), rtol=1e-6)


def test_the_difference_function_is_yins_equation_8():
    rng = np.random.default_rng(0)
    frames = (0.1 * rng.standard_normal((256, 3))).astype(np.float32)
    lo, hi = 4, 100
    got = P._normalised_difference(frames, lo, hi)
    x = frames.astype(np.float64)
    w = x.shape[0]
    # the difference over the whole frame, from its autocorrelation r: d(k) = 2 (r(0) - r(k)) - sum_{m<k} x_m^2, in
    # float64 by direct sums (the labeller's float32 FFT autocorrelation rounds to ~2e-4 of it)
    r = np.array([[np.dot(x[: w - k, j], x[k:, j]) for j in range(3)] for k in range(hi + 1)])
    e = np.concatenate([np.zeros((1, 3)), np.cumsum(x**2, 0)])
    d = np.array([2 * (r[0] - r[k]) - e[k] if k else np.zeros(3) for k in range(hi + 1)])
    cmnd = d[1:] / (np.cumsum(d[1:], 0) / np.arange(1, hi + 1)[:, None])
    assert np.allclose(got, cmnd[lo - 1 :], rtol=1e-3, atol=1e-5)


def test_silence_is_unvoiced():
    f0, voiced = P.track(np.zeros(RATE // 2, np.float32), RATE)
    assert np.all(voiced == 0) and np.all(np.isnan(f0))
