"""Spectral distances between an output and its input: the trainer's losses in numpy, plus SI-SDR and the level.

mel_distance       multi-scale log10-mel L1, n_fft 512/1024/2048 with 64/80/128 mels, hop n_fft/4
stft_distance      multi-resolution STFT: spectral convergence + L1 of ln-magnitudes, n_fft 256..2048, hop n_fft/4
si_sdr             scale-invariant SDR in dB (higher is better)
mse, cosine_similarity   on the waveforms, the research's own two
level_change_db    20 log10(RMS out / RMS in): 0 is right, +6 twice as loud

Against a silent input (``is_silent``) every metric but ``mse`` is undefined: a level relative to nothing, a
log-spectral distance between two noise floors, a correlation with zeros. They are None there (``SILENCE`` says why),
never a number that reads as perfect (0.000) or absurd (+81.5 dB).
"""

from __future__ import annotations

import numpy as np

from ..engine.model.spectral import mel_filters, stft_magnitude

METRICS = ("mel_distance", "stft_distance", "si_sdr", "mse", "cosine_similarity", "level_change_db")
LOWER_IS_BETTER = {
    "mel_distance": True,
    "stft_distance": True,
    "si_sdr": False,
    "mse": True,
    "cosine_similarity": False,
    "level_change_db": None,
}
SILENT_RMS = 1e-5  # -100 dBFS: below the last bit of a 16-bit file; digital silence is 0
SILENCE = "undefined: the input is silent (RMS below -100 dBFS), so there is nothing to compare the output with"
MEL_SCALES = ((512, 64), (1024, 80), (2048, 128))
STFT_SCALES = (256, 512, 1024, 2048)


# ---- metrics (numpy versions of trainer/losses.py) ---------------------------------------------------------------


def _mag(x: np.ndarray, n_fft: int) -> np.ndarray:
    # torch.stft(center=True) pads by reflection
    return np.maximum(stft_magnitude(x, n_fft, n_fft // 4, center=True, pad_mode="reflect"), 1e-7)


def mel_distance(y: np.ndarray, x: np.ndarray, sr: int) -> float:
    total = 0.0
    for n_fft, n_mels in MEL_SCALES:
        fb = mel_filters(sr, n_fft, n_mels)
        my = np.log10(np.maximum(fb @ _mag(y, n_fft), 1e-5))
        mx = np.log10(np.maximum(fb @ _mag(x, n_fft), 1e-5))
        total += float(np.abs(my - mx).mean())
    return total / len(MEL_SCALES)


def stft_distance(y: np.ndarray, x: np.ndarray) -> float:
    total = 0.0
    for n_fft in STFT_SCALES:
        sy, sx = _mag(y, n_fft), _mag(x, n_fft)
        conv = np.linalg.norm(sy - sx) / max(np.linalg.norm(sx), 1e-3)
        total += float(conv + np.abs(np.log(sy) - np.log(sx)).mean())
    return total / len(STFT_SCALES)


def si_sdr(y: np.ndarray, x: np.ndarray) -> float:
    x = x.astype(np.float64) - x.mean()
    y = y.astype(np.float64) - y.mean()
    alpha = np.dot(y, x) / max(np.dot(x, x), 1e-12)
    target = alpha * x
    noise = y - target
    return float(10 * np.log10(max(np.dot(target, target), 1e-12) / max(np.dot(noise, noise), 1e-12)))


def is_silent(x: np.ndarray) -> bool:
    return float(np.sqrt(np.mean(np.square(np.asarray(x, np.float64))))) < SILENT_RMS if len(x) else True


def all_metrics(y: np.ndarray, x: np.ndarray, sr: int) -> dict[str, float | None]:
    """Every metric of output ``y`` against input ``x``; on a silent ``x`` all but ``mse`` are None."""
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    if is_silent(x):
        return {k: float(np.mean((y64 - x64) ** 2)) if k == "mse" else None for k in METRICS}
    cos = float(np.dot(y64, x64) / max(np.linalg.norm(y64) * np.linalg.norm(x64), 1e-12))
    return {
        "mel_distance": mel_distance(y, x, sr),
        "stft_distance": stft_distance(y, x),
        "si_sdr": si_sdr(y, x),
        "mse": float(np.mean((y64 - x64) ** 2)),
        "cosine_similarity": cos,
        "level_change_db": level_change_db(y, x),
    }


def level_change_db(y: np.ndarray, x: np.ndarray) -> float | None:
    """Output level against input level in dB (RMS over the whole signal); None when the input is silent."""
    if is_silent(x):
        return None
    ry = np.sqrt(np.mean(np.asarray(y, np.float64) ** 2))
    rx = np.sqrt(np.mean(np.asarray(x, np.float64) ** 2))
    return float(20 * np.log10(max(ry, 1e-9) / max(rx, 1e-9)))
