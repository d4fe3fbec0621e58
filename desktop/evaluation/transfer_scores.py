"""The transfer evaluation's scores of one output: pitch against the input's track (cents, raw and chroma accuracy,
outliers), against a corpus's exact f0 labels, loudness contours, and how they pool over files."""

from __future__ import annotations

import numpy as np

from . import pitch

LABEL_FMAX = 2200.0  # Hz: the labelled phrases reach C7 (2093 Hz); the inputs' tracker stops at pitch.FMAX


def pitch_scores(ref: pitch.PitchTrack, out: pitch.PitchTrack, shift: float) -> dict:
    """Output pitch against the input's, moved by ``shift`` semitones, on the input's voiced frames (counts)."""
    n = min(len(ref.f0), len(out.f0))
    rv, ov = ref.voiced[:n], out.voiced[:n]
    err = pitch.cents(out.f0[:n][rv & ov], ref.f0[:n][rv & ov] * 2.0 ** (shift / 12.0))
    chroma = (err + 600.0) % 1200.0 - 600.0
    return {
        "voiced": int(rv.sum()),
        "errors": np.abs(err),
        "within": int((np.abs(err) <= 50).sum()),
        "chroma_within": int((np.abs(chroma) <= 50).sum()),
        "outliers": int((rv & ~ov).sum() + (np.abs(err) > 100).sum()),
        "unvoiced": int((rv & ~ov).sum()),
    }


def pitch_summary(c: dict) -> dict:
    v = max(c["voiced"], 1)
    return {
        "median_cents": float(np.median(c["errors"])) if len(c["errors"]) else None,
        "raw_pitch_accuracy": c["within"] / v if c["voiced"] else None,
        "raw_chroma_accuracy": c["chroma_within"] / v if c["voiced"] else None,
        "outlier_share": c["outliers"] / v if c["voiced"] else None,
        "output_unvoiced_share": c["unvoiced"] / v if c["voiced"] else None,
        "within_50c_where_output_voiced": c["within"] / len(c["errors"]) if len(c["errors"]) else None,
        "input_voiced_frames": c["voiced"],
    }


def pool(counts: list[dict]) -> dict:
    keys = ("voiced", "within", "chroma_within", "outliers", "unvoiced")
    out = {k: sum(c[k] for c in counts) for k in keys}
    out["errors"] = np.concatenate([c["errors"] for c in counts]) if counts else np.zeros(0)
    return out


def weighted(records: list[dict], key: str, weight: str) -> float | None:
    pairs = [(r[key], r[weight]) for r in records if r.get(key) is not None and r[weight]]
    return sum(v * w for v, w in pairs) / sum(w for _, w in pairs) if pairs else None


def dynamics(x_db: np.ndarray, y_db: np.ndarray, voiced: np.ndarray, offset: float) -> dict:
    """RMS-dB contours on the input's voiced frames: correlation and mean |out - (in + offset)| (and its mean)."""
    n = min(len(x_db), len(y_db), len(voiced))
    v = voiced[:n]
    a, b = x_db[:n][v], y_db[:n][v]
    if a.size < 3:
        return {"loudness_correlation": None, "loudness_mad_db": None, "loudness_bias_db": None}
    corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else None
    diff = b - (a + offset)
    return {
        "loudness_correlation": corr,
        "loudness_mad_db": float(np.abs(diff).mean()),
        "loudness_bias_db": float(diff.mean()),
    }


def label_pitch(y: np.ndarray, sr: int, f0_labels: np.ndarray) -> dict:
    """Output pitch (tracked) against the corpus's exact f0 labels (Hz per 256-sample frame at 22.05 kHz, 0 =
    silent), on labelled frames inside the tracker's range: up to LABEL_FMAX, a flute's and a violin's top notes."""
    tr = pitch.track(y, sr, fmax=LABEL_FMAX)
    n = min(len(tr.f0), len(f0_labels))
    lab = np.asarray(f0_labels[:n], np.float64)
    keep = (lab >= pitch.FMIN) & (lab <= LABEL_FMAX)
    both = keep & tr.voiced[:n]
    err = np.abs(pitch.cents(tr.f0[:n][both], lab[both]))
    return {"errors": err, "labelled": int(keep.sum()), "within": int((err <= 50).sum()), "voiced": int(both.sum())}
