"""What a source-filter bundle's controls do, measured through the renderer: transpose (f0 moved by exactly N
semitones?), formant (envelope moved, f0 kept?), breath (harmonic-to-noise ratio down as breath goes up?).

    python -m benchmarks.sf_controls [--bundle B] FILE.wav [FILE.wav ...]

Pitch is pYIN's (desktop/evaluation/pitch.py), compared frame by frame on frames voiced in both; the envelope shift is
the log-frequency shift that best aligns the long-term spectral envelopes (150 Hz - 5 kHz); HNR is Boersma's, from
the normalised autocorrelation peak in 60-500 Hz of each voiced 40-ms frame, median over frames.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from desktop.evaluation import pitch as P
from desktop.evaluation.peers import DSP_BUNDLE
from desktop.render_cli import main as render


def _render(src: Path, bundle: Path, out: Path, *extra: str) -> np.ndarray:
    if render([str(src), "-o", str(out), "--bundle", str(bundle), "--subtype", "FLOAT", "--quiet", *extra]) != 0:
        raise SystemExit(f"render failed: {src} {extra}")
    return sf.read(out, dtype="float32")[0]


def _voiced_cents(x: np.ndarray, y: np.ndarray, sr: int) -> np.ndarray:
    a, b = P.track(x, sr), P.track(y, sr)
    n = min(len(a.f0), len(b.f0))
    both = a.voiced[:n] & b.voiced[:n]
    return P.cents(b.f0[:n][both], a.f0[:n][both])


def _frames(x: np.ndarray, sr: int, length: float = 0.04):
    n = int(length * sr)
    return np.lib.stride_tricks.sliding_window_view(x, n)[:: n // 2]


def _envelope_shift(x: np.ndarray, y: np.ndarray, sr: int) -> float:
    """Semitones by which y's long-term spectral envelope sits above x's: the mean log power spectrum of the louder
    half of the frames, smoothed over a third of an octave on a log-frequency axis (150 Hz - 5 kHz), shifted
    against the other's for the best correlation."""

    def env(s):
        f = _frames(s, sr) * np.hanning(int(0.04 * sr))
        p = np.abs(np.fft.rfft(f, 4096)) ** 2
        p = p[p.sum(1) > np.percentile(p.sum(1), 50)].mean(0)
        freqs = np.fft.rfftfreq(4096, 1 / sr)
        grid = 150.0 * 2 ** (np.arange(0, np.log2(5000 / 150) * 48) / 48)  # quarter-semitone steps
        logp = np.log(np.interp(grid, freqs, p) + 1e-12)
        k = np.hanning(17)  # a third of an octave
        return np.convolve(logp, k / k.sum(), "same")

    a, b = env(x), env(y)
    shifts = np.arange(-48, 49)
    core = slice(60, len(a) - 60)

    def corr(k):
        return np.corrcoef(a[core], np.roll(b, -k)[core])[0, 1]

    return float(shifts[np.argmax([corr(k) for k in shifts])] / 4.0)


def _hnr_db(x: np.ndarray, sr: int) -> float:
    out = []
    for fr in _frames(x, sr):
        if np.sqrt(np.mean(fr**2)) < 1e-3:
            continue
        w = fr * np.hanning(len(fr))
        r = np.correlate(w, w, "full")[len(w) - 1 :]
        rw = np.correlate(np.hanning(len(fr)), np.hanning(len(fr)), "full")[len(fr) - 1 :]
        r = r / (r[0] * rw / rw[0] + 1e-12)
        lo, hi = int(sr / 500), int(sr / 60)
        peak = float(np.clip(r[lo:hi].max(), 1e-4, 1 - 1e-4))
        if peak > 0.3:
            out.append(10 * np.log10(peak / (1 - peak)))
    return float(np.median(out)) if out else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+")
    p.add_argument("--bundle", default=str(DSP_BUNDLE))
    args = p.parse_args()
    bundle = Path(args.bundle)
    report: dict = {"bundle": str(bundle), "transpose": {}, "formant": {}, "breath": {}}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for src in map(Path, args.files):
            x, sr = sf.read(src, dtype="float32")
            base = _render(src, bundle, t / "base.wav")
            for n in (-12, -5, 7, 12):
                y = _render(src, bundle, t / "tr.wav", "--transpose", str(n))
                report["transpose"].setdefault(n, []).append(float(np.median(_voiced_cents(base, y, sr)) - 100 * n))
            for n in (-6, -3, 3, 6):
                y = _render(src, bundle, t / "fo.wav", "--control", f"formant={n}")
                report["formant"].setdefault(n, []).append(
                    {
                        "f0_cents": float(np.median(_voiced_cents(base, y, sr))),
                        "envelope_semitones": _envelope_shift(base, y, sr),
                    }
                )
            for db in (-10, -5, 0, 5, 10):
                y = _render(src, bundle, t / "br.wav", "--control", f"breath={db}")
                report["breath"].setdefault(db, []).append(_hnr_db(y, sr))
    summary = {
        "transpose_error_cents": {n: round(float(np.median(v)), 2) for n, v in report["transpose"].items()},
        "formant": {
            n: {
                "f0_cents": round(float(np.median([e["f0_cents"] for e in v])), 2),
                "envelope_semitones": round(float(np.median([e["envelope_semitones"] for e in v])), 2),
            }
            for n, v in report["formant"].items()
        },
        "breath_hnr_db": {db: round(float(np.nanmedian(v)), 2) for db, v in report["breath"].items()},
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
