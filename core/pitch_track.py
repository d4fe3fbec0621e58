"""A tuner: YIN pitch and RMS loudness of the newest samples, note names with cents, and a short history. Cheap
(two FFTs of 4096 points per call) and Qt-free; the GUI timer feeds it the engine's snapshot at 30 Hz, never the
audio thread, and export measures what a latent axis does to pitch with its ``yin``.

``yin`` is the one pitch tracker that runs while the product runs (the tuner, a render's octave choice, export's
axis measurements), with one set of thresholds below. One other has a job of its own, on librosa's public API: the
evaluation's (desktop/evaluation/pitch.py: pYIN's voicing, then a refined period for cents within ~1). The ONNX
graphs carry their own in torch (models/yin.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME = 2048  # newest samples analysed per call
FMIN, FMAX = 60.0, 1000.0  # Hz: a bass voice's low notes to a soprano's high ones
THRESHOLD = 0.15  # YIN's absolute threshold on the normalised difference
VOICED_MAX = 0.35  # above this (no clear period), the frame has no pitch
SILENCE_DB = -55.0  # quieter frames have no pitch
NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def loudness_db(x: np.ndarray) -> float:
    """RMS level in dBFS (a silent frame: -120)."""
    if x.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20.0 * np.log10(max(rms, 1e-6))


def yin(x: np.ndarray, rate: int, fmin: float = FMIN, fmax: float = FMAX) -> float:
    """The fundamental of ``x`` (float32[N], N > rate / fmin) in Hz by YIN (de Cheveigné and Kawahara 2002):
    the cumulative-mean-normalised difference function, its first dip under THRESHOLD, refined by a parabola.
    0.0 when there is no clear period or the frame is silent."""
    x = np.asarray(x, np.float64)
    tau_max = min(int(rate / fmin), x.size // 2)
    tau_min = max(2, int(rate / fmax))
    w = x.size - tau_max
    if w <= tau_min or loudness_db(x) < SILENCE_DB:
        return 0.0
    n = 1 << int(np.ceil(np.log2(x.size + w)))
    # d(tau) = sum (x[j] - x[j + tau])^2 over j < w = energy(x[:w]) + energy(x[tau:tau + w]) - 2 r(tau)
    r = np.fft.irfft(np.conj(np.fft.rfft(x[:w], n)) * np.fft.rfft(x, n), n)[: tau_max + 1]
    sq = np.concatenate([[0.0], np.cumsum(x * x)])
    taus = np.arange(tau_max + 1)
    d = sq[w] + (sq[taus + w] - sq[taus]) - 2.0 * r
    d[0] = 0.0
    d = np.maximum(d, 0.0)
    cmnd = np.ones_like(d)
    cum = np.cumsum(d[1:])
    cmnd[1:] = d[1:] * taus[1:] / np.maximum(cum, 1e-12)
    below = np.nonzero(cmnd[tau_min:] < THRESHOLD)[0]
    if below.size:
        tau = tau_min + int(below[0])
        while tau + 1 <= tau_max and cmnd[tau + 1] < cmnd[tau]:
            tau += 1
    else:
        tau = tau_min + int(np.argmin(cmnd[tau_min:]))
        if cmnd[tau] > VOICED_MAX:
            return 0.0
    if 0 < tau < tau_max:  # parabolic interpolation of the dip
        a, b, c = cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if den > 0 else 0.0
        return rate / (tau + float(np.clip(shift, -1, 1)))
    return rate / tau


def midi_of(f0: float) -> float:
    return 69.0 + 12.0 * np.log2(f0 / 440.0)


def note_name(f0: float) -> tuple[str, float]:
    """('A3', cents off that note) for a frequency in Hz."""
    m = midi_of(f0)
    n = int(round(m))
    return f"{NAMES[n % 12]}{n // 12 - 1}", float(100.0 * (m - n))


@dataclass(frozen=True)
class Reading:
    """One frame: pitch in Hz (0: none), its MIDI note number (nan: none) and the loudness in dBFS."""

    f0: float
    midi: float
    db: float

    @property
    def note(self) -> str:
        """'A3 +2 ct', or '—' with no pitch."""
        if self.f0 <= 0:
            return "—"
        name, cents = note_name(self.f0)
        return f"{name} {cents:+.0f} ct"


def read(x: np.ndarray, rate: int) -> Reading:
    """The newest FRAME samples of ``x`` at ``rate``: pitch and loudness."""
    frame = x[-FRAME:]
    if rate <= 0 or frame.size < FRAME:
        return Reading(0.0, float("nan"), -120.0)
    f0 = yin(frame, rate)
    return Reading(f0, midi_of(f0) if f0 > 0 else float("nan"), loudness_db(frame))


class History:
    """The last ``length`` readings of one signal as arrays (oldest first): MIDI note (nan: no pitch) and dBFS."""

    def __init__(self, length: int):
        self.midi = np.full(length, np.nan, np.float32)
        self.db = np.full(length, -120.0, np.float32)
        self.last = Reading(0.0, float("nan"), -120.0)

    def push(self, r: Reading) -> None:
        self.last = r
        self.midi[:-1] = self.midi[1:]
        self.midi[-1] = r.midi
        self.db[:-1] = self.db[1:]
        self.db[-1] = r.db
