"""Scoring one system's output against its input with every metric, and a per-file cache for the peers.

A system's record for one file: the spectral distances (``spectral.all_metrics``), ViSQOL, PESQ-WB and STOI on
speech, and on pitched material the pitch comparison (``pitch.compare``) against the input's own track. Records
are JSON-able; pitch errors travel as a list so categories can pool frames (a median of medians would not do).
Against a silent input the metrics that need something to compare with are None and the record's ``undefined`` maps
each of them to the reason (``spectral.SILENCE``); the report prints them as n/a and lists the files.
The cache keys a record by the input's samples, the system's name and settings, and ``SCORE_VERSION``: a second run
with another bundle reuses every peer's numbers and costs only the bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from . import perceptual, pitch, spectral

SCORE_VERSION = 3  # 3: metrics against a silent input are None (were 0.000 and +81.5 dB)
CATEGORIES = ("speech", "music", "instrument", "drums", "ambience")
PITCHED = ("speech", "music", "instrument")
SPEECH = ("speech",)
PERCEPTUAL = ("visqol", "pesq_wb", "stoi")
PITCH_KEYS = ("pitch_median_cents", "pitch_within_50c", "voicing_agreement")


def category_of(rel: Path) -> str:
    """The first folder of a file's path under the data folder; files in other folders (e.g. ``fixtures``) and at
    the top take the word before the first '_' of their name when it is a known category."""
    parts = rel.parts
    if len(parts) > 1 and parts[0] in CATEGORIES:
        return parts[0]
    prefix = rel.name.split("_", 1)[0].lower()
    if prefix in CATEGORIES:
        return prefix
    return parts[0] if len(parts) > 1 else "other"


def score(
    y: np.ndarray, x: np.ndarray, sr: int, category: str, ref_track: pitch.PitchTrack | None, full: bool = True
) -> dict:
    """Every metric of output ``y`` against input ``x``. ``full=False``: the spectral distances only."""
    y = np.asarray(y, np.float32)[: len(x)]
    y = np.pad(y, (0, len(x) - len(y)))
    rec = dict(spectral.all_metrics(y, x, sr))
    if full:
        rec["visqol"] = perceptual.visqol(x, y, sr)
        if category in SPEECH:
            rec["pesq_wb"] = perceptual.pesq_wb(x, y, sr)
            rec["stoi"] = perceptual.stoi(x, y, sr)
    if spectral.is_silent(x):
        rec["undefined"] = {k: spectral.SILENCE for k, v in rec.items() if v is None}
    if not full:
        return rec
    if category in PITCHED and ref_track is not None:
        counts = pitch.compare(ref_track, pitch.track(y, sr))
        rec.update(counts.summary())
        rec["pitch_counts"] = {
            "frames": counts.frames,
            "input_voiced": counts.input_voiced,
            "both_voiced": counts.both_voiced,
            "within": counts.within,
            "voicing_agree": counts.voicing_agree,
            "errors": [round(float(e), 1) for e in counts.errors],
        }
    return rec


def counts_of(rec: dict) -> pitch.PitchCounts | None:
    c = rec.get("pitch_counts")
    if c is None:
        return None
    return pitch.PitchCounts(
        c["frames"],
        c["input_voiced"],
        c["both_voiced"],
        c["within"],
        c["voicing_agree"],
        np.asarray(c["errors"], float),
    )


def signal_key(x: np.ndarray, sr: int, *settings) -> str:
    h = hashlib.sha1(np.ascontiguousarray(x, np.float32).tobytes())
    h.update(json.dumps([sr, SCORE_VERSION, *settings]).encode())
    return h.hexdigest()


class ScoreCache:
    """One small JSON file per (signal, system, settings) under ``root``; ``root=None`` keeps nothing."""

    def __init__(self, root: Path | None):
        self.root = root
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> dict | None:
        if self.root is None:
            return None
        path = self.root / f"{key}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: dict) -> None:
        if self.root is None:
            return
        path = self.root / f"{key}.json"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "latentsynth" / "eval"


def input_track(x: np.ndarray, sr: int, cache: ScoreCache) -> pitch.PitchTrack:
    key = signal_key(x, sr, "input-pitch")
    hit = cache.get(key)
    if hit is not None:
        return pitch.PitchTrack.from_json(hit)
    tr = pitch.track(x, sr)
    cache.put(key, tr.to_json())
    return tr
