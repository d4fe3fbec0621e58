"""Perceptual metrics from the libraries made for them, all offline: ViSQOL v3 (audio mode, 48 kHz), PESQ wide-band
(16 kHz) and STOI. PESQ and STOI are speech metrics: the evaluation runs them on speech only.

Each returns None where the metric is undefined for the signal (any of them against a silent reference, PESQ on a
clip with no utterance), so a mean skips it instead of averaging a made-up value (STOI scored silence 0.000).
"""

from __future__ import annotations

import functools

import numpy as np

from .spectral import is_silent

VISQOL_SR = 48000
PESQ_SR = 16000


def _resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    import soxr

    x = np.asarray(x, np.float64)
    return x if sr == target else soxr.resample(x, sr, target)


@functools.lru_cache(maxsize=1)
def _visqol_api():
    from visqol import VisqolApi

    api = VisqolApi()
    api.create(mode="audio")  # the SVR model ships inside the package
    return api


def visqol(ref: np.ndarray, deg: np.ndarray, sr: int) -> float | None:
    """ViSQOL v3 audio-mode MOS-LQO (1..~4.73; identical signals ~4.73)."""
    n = min(len(ref), len(deg))
    if is_silent(ref[:n]):
        return None
    r, d = _resample(ref[:n], sr, VISQOL_SR), _resample(deg[:n], sr, VISQOL_SR)
    try:
        return float(_visqol_api().measure_from_arrays(r, d, VISQOL_SR).moslqo)
    except (ValueError, RuntimeError, ZeroDivisionError, IndexError):
        return None


def pesq_wb(ref: np.ndarray, deg: np.ndarray, sr: int) -> float | None:
    """PESQ wide-band MOS-LQO (ITU-T P.862.2), 16 kHz."""
    from pesq import PesqError, pesq

    n = min(len(ref), len(deg))
    if is_silent(ref[:n]):
        return None
    try:
        return float(pesq(PESQ_SR, _resample(ref[:n], sr, PESQ_SR), _resample(deg[:n], sr, PESQ_SR), "wb"))
    except (PesqError, ValueError):
        return None


def stoi(ref: np.ndarray, deg: np.ndarray, sr: int) -> float | None:
    """Short-time objective intelligibility (0..1)."""
    from pystoi import stoi as _stoi

    n = min(len(ref), len(deg))
    if is_silent(ref[:n]):
        return None
    value = float(_stoi(np.asarray(ref[:n], np.float64), np.asarray(deg[:n], np.float64), sr, extended=False))
    return value if np.isfinite(value) else None
