"""Synthetic probes with a known answer: pitch, level and vibrato depth every report scores a system against.

Each probe is 2 s at -12 dBFS RMS: sines at 110/220/440/880 Hz, a band-limited 110 Hz sawtooth, a 330 Hz tone with a
30-cent 5 Hz vibrato, a click train and white noise. Scoring skips the first and last 0.25 s (onsets and the edges
of windows), where a streaming or windowed model is allowed to settle.
"""

from __future__ import annotations

import numpy as np

from . import pitch

SECONDS = 2.0
RMS_DBFS = -12.0
EDGE = 0.25
VIBRATO = {"f0": 330.0, "cents": 30.0, "rate": 5.0}


def _at_level(x: np.ndarray) -> np.ndarray:
    return (x * 10 ** (RMS_DBFS / 20) / np.sqrt(np.mean(x**2))).astype(np.float32)


def probe_signals(sr: int) -> dict[str, tuple[np.ndarray, float | None]]:
    """name -> (signal float32[sr*SECONDS], its f0 in Hz or None)."""
    t = np.arange(int(SECONDS * sr)) / sr
    out: dict[str, tuple[np.ndarray, float | None]] = {}
    for f in (110, 220, 440, 880):
        out[f"sine_{f}"] = (_at_level(np.sin(2 * np.pi * f * t)), float(f))
    saw = sum(np.sin(2 * np.pi * 110 * k * t) / k for k in range(1, int(sr / 2 / 110) + 1))
    out["saw_110"] = (_at_level(saw), 110.0)
    v = VIBRATO
    inst = v["f0"] * 2 ** (v["cents"] / 1200 * np.sin(2 * np.pi * v["rate"] * t))
    out["vibrato_330"] = (_at_level(np.sin(2 * np.pi * np.cumsum(inst) / sr)), v["f0"])
    clicks = np.zeros_like(t)
    clicks[:: int(sr / 8)] = 1.0  # 8 clicks per second
    out["click_train"] = (_at_level(clicks), None)
    out["white_noise"] = (_at_level(np.random.default_rng(0).standard_normal(len(t))), None)
    return out


def _core(track: pitch.PitchTrack, sr: int) -> slice:
    edge = int(EDGE * pitch.SR / pitch.HOP)
    return slice(edge, len(track.f0) - edge)


def vibrato_depth_cents(track: pitch.PitchTrack, sr: int) -> float | None:
    """Amplitude of the 5 Hz component of the cents contour (least squares on voiced core frames)."""
    core = _core(track, sr)
    f0 = track.f0[core]
    ok = np.isfinite(f0)
    if ok.sum() < 20:
        return None
    t = (np.arange(len(track.f0))[core] * pitch.HOP / pitch.SR)[ok]
    c = 1200 * np.log2(f0[ok] / VIBRATO["f0"])
    basis = np.stack(
        [np.sin(2 * np.pi * VIBRATO["rate"] * t), np.cos(2 * np.pi * VIBRATO["rate"] * t), np.ones_like(t)], 1
    )
    coef = np.linalg.lstsq(basis, c, rcond=None)[0]
    return float(np.hypot(coef[0], coef[1]))


def score(name: str, x: np.ndarray, y: np.ndarray, f0: float | None, sr: int) -> dict:
    """Level change (dB, core only) and, for pitched probes, the output's median |cents| from the known f0, its
    voiced fraction on the core, and for the vibrato the depth kept (output depth / input depth)."""
    core = slice(int(EDGE * sr), len(x) - int(EDGE * sr))
    rx = np.sqrt(np.mean(np.asarray(x[core], np.float64) ** 2))
    ry = np.sqrt(np.mean(np.asarray(y[core], np.float64) ** 2))
    rec: dict = {"level_change_db": float(20 * np.log10(max(ry, 1e-9) / max(rx, 1e-9)))}
    if f0 is None:
        return rec
    track = pitch.track(y, sr)
    c = _core(track, sr)
    voiced = track.voiced[c]
    rec["voiced_fraction"] = float(voiced.mean()) if len(voiced) else 0.0
    truth = np.full(len(track.f0), f0)
    if name.startswith("vibrato"):  # the known instantaneous pitch at each frame's centre
        t = np.arange(len(track.f0)) * pitch.HOP / pitch.SR
        v = VIBRATO
        truth = v["f0"] * 2 ** (v["cents"] / 1200 * np.sin(2 * np.pi * v["rate"] * t))
    err = np.abs(pitch.cents(track.f0[c][voiced], truth[c][voiced]))
    rec["pitch_error_cents"] = float(np.median(err)) if len(err) else None
    if name.startswith("vibrato"):
        d_in = vibrato_depth_cents(pitch.track(x, sr), sr)
        d_out = vibrato_depth_cents(track, sr)
        rec["vibrato_depth_kept"] = None if not d_in or d_out is None else float(d_out / d_in)
    return rec
