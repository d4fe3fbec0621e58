"""Spectral helpers shared by the views, Griffin-Lim and the evaluation: mel filters (one cache), STFT
magnitudes, dB columns, and the one colour map every spectrogram picture uses.

numpy only (no librosa on the playing side). The mel filters are librosa's defaults (Slaney mel scale and area
normalisation, 0 Hz to Nyquist) and the STFT is librosa's (periodic Hann window, centred frames), so numbers
measured with either agree; tests/test_spectral.py compares them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_F_SP = 200.0 / 3  # Slaney: linear below 1 kHz (66.7 Hz per mel), logarithmic above
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asanyarray(hz, np.float64)
    mel = hz / _F_SP
    log = hz >= _MIN_LOG_HZ
    return np.where(log, _MIN_LOG_MEL + np.log(np.maximum(hz, 1e-12) / _MIN_LOG_HZ) / _LOGSTEP, mel)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asanyarray(mel, np.float64)
    return np.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), _F_SP * mel)


@lru_cache(maxsize=16)
def mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """float32[n_mels, 1 + n_fft // 2]: triangular filters on the Slaney mel scale, each of unit area per Hz
    (read-only: shared by every caller)."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    weights = np.zeros((n_mels, fft_hz.size), np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0.0, np.minimum(-ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]))
    weights *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[:, None].astype(np.float32)
    weights.flags.writeable = False
    return weights


@lru_cache(maxsize=16)
def mel_filters_pinv(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """The filters' pseudo-inverse (mel -> linear magnitude, Griffin-Lim's first step)."""
    inv = np.linalg.pinv(mel_filters(sample_rate, n_fft, n_mels))
    inv.flags.writeable = False
    return inv


@lru_cache(maxsize=16)
def hann(n: int) -> np.ndarray:
    """The periodic Hann window (an STFT's, as scipy's ``get_window('hann', n)``)."""
    w = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)
    w.flags.writeable = False
    return w


def stft_magnitude(x: np.ndarray, n_fft: int, hop: int, center: bool = True, pad_mode: str = "constant") -> np.ndarray:
    """float[T] -> float32[1 + n_fft // 2, frames]: |STFT| with a periodic Hann window; ``center`` pads n_fft // 2
    on each side (``pad_mode`` 'constant' = zeros, or 'reflect'), so frame f is centred on sample f * hop."""
    x = np.asarray(x, np.float32).reshape(-1)
    if center:
        x = np.pad(x, n_fft // 2, mode=pad_mode)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    frames = 1 + (x.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.fft.rfft(x[idx] * hann(n_fft), axis=1)
    return np.abs(spec).T.astype(np.float32)


def mel_magnitude(
    audio: np.ndarray, sample_rate: int, n_fft: int = 1024, hop: int = 256, n_mels: int = 256
) -> np.ndarray:
    """float32[T] -> mel magnitude float32[n_mels, 1 + T // hop] (power 1, Hann, centred frames)."""
    return (mel_filters(sample_rate, n_fft, n_mels) @ stft_magnitude(audio, n_fft, hop)).astype(np.float32)


def db_column(frame: np.ndarray) -> np.ndarray:
    """One spectrogram column in dBFS: the newest frame (its length is the FFT size) under a Hann window,
    scaled so a full-scale sine reads 0 dB."""
    n = frame.shape[0]
    spec = np.abs(np.fft.rfft(frame * hann(n)))
    return (20.0 * np.log10(spec * (2.0 / n) + 1e-9)).astype(np.float32)


# the one colour map: near-black, blue, teal, pale yellow (the app's views and the evaluation's pictures)
COLOUR_STOPS = (0.0, 0.35, 0.7, 1.0)
COLOURS = ((16, 18, 22), (30, 70, 110), (55, 198, 176), (240, 230, 160))


def colour_lut(n: int = 256) -> np.ndarray:
    """uint8[n, 3]: the colour map sampled at n levels, low to high."""
    x = np.linspace(0.0, 1.0, n)
    c = np.asarray(COLOURS, np.float64)
    return np.stack([np.interp(x, COLOUR_STOPS, c[:, i]) for i in range(3)], axis=1).astype(np.uint8)
