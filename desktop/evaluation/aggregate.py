"""Means over files per system, overall and per category; pitch frames pooled, not medians of medians."""

from __future__ import annotations

import numpy as np

from . import pitch
from .spectral import METRICS
from .systems import PERCEPTUAL, PITCHED, counts_of

SCALARS = METRICS + PERCEPTUAL


def summarise(records: list[dict], systems: list[str], pitched_only: bool = True) -> dict[str, dict]:
    """records: per-file {'category', 'seconds', 'metrics': {system: rec}} -> {system: {metric: mean, ...}}.

    A metric's mean skips files where it is None or absent (PESQ off speech); ``files`` counts the files scored;
    ``undefined`` (when any) counts per metric the files where it has no meaning (``systems.score``'s ``undefined``).
    Pitch: counts and errors pooled over the files of pitched categories (all files when ``pitched_only`` is False).
    """
    out: dict[str, dict] = {}
    for system in systems:
        recs = [r["metrics"][system] for r in records if system in r["metrics"]]
        if not recs:
            continue
        row: dict = {"files": len(recs)}
        for k in SCALARS:
            vals = [v[k] for v in recs if v.get(k) is not None]
            row[k] = float(np.mean(vals)) if vals else None
        undefined = {k: sum(k in v.get("undefined", {}) for v in recs) for k in SCALARS}
        if any(undefined.values()):  # files where the metric has no meaning (a silent input), not just missing
            row["undefined"] = {k: n for k, n in undefined.items() if n}
        pooled = pitch.PitchCounts()
        for r in records:
            rec = r["metrics"].get(system)
            if rec is None or (pitched_only and r["category"] not in PITCHED):
                continue
            c = counts_of(rec)
            if c is not None:
                pooled = pooled + c
        row.update(pooled.summary())
        out[system] = row
    return out


def by_category(records: list[dict], systems: list[str]) -> dict[str, dict]:
    cats = sorted({r["category"] for r in records})
    return {
        c: {
            "files": sum(r["category"] == c for r in records),
            "seconds": round(sum(r["seconds"] for r in records if r["category"] == c), 1),
            "systems": summarise([r for r in records if r["category"] == c], systems, pitched_only=False),
        }
        for c in cats
    }
