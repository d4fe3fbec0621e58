"""What each latent axis does to the sound (optional manifest field ``axis_effects``, measured at export by
``export/axis_effects.py``): the read/write schema, the knob names it gives ("brighter", "noisier", ...) and the
level compensation that keeps a knob from changing loudness. Qt-free and torch-free.

Each axis records the change it makes at +sigma and at -sigma (sigma = 2 standard deviations along the axis) in:

- ``level_db``: output level (dB, energy over all the measured audio);
- ``brightness_st``: spectral centroid, in semitones (12 log2 of the ratio);
- ``noisiness_db``: spectral flatness (geometric over arithmetic mean of the power spectrum), in dB;
- ``pitch_st``: pitch (YIN, frames voiced before and after), in semitones; absent when too few frames were voiced.

A knob is named by its largest timbre change at +sigma, relative to the ``NOTICEABLE`` step of each descriptor,
when that is at least one step. Its level change is not a name: the player undoes it (``compensation_db``), so
loudness stays with the gain knobs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

LEVEL = "level_db"
# descriptor -> (name when it rises, name when it falls, a change a listener notices, what it measures, unit)
TIMBRE = {
    "brightness_st": ("brighter", "darker", 1.0, "brightness (spectral centroid)", "st"),
    "noisiness_db": ("noisier", "cleaner", 1.0, "noisiness (spectral flatness)", "dB"),
    "pitch_st": ("higher", "lower", 0.25, "pitch", "st"),
}
DESCRIPTORS = (LEVEL, *TIMBRE)
MAX_COMPENSATION_DB = 30.0  # the most a set of knobs is ever corrected by, either way


@dataclass(frozen=True)
class AxisEffect:
    """One axis: the descriptors' changes at +sigma (``plus``) and -sigma (``minus``); ``name`` ('' = none large
    enough) and the descriptor it comes from."""

    axis: int
    plus: dict[str, float]
    minus: dict[str, float]
    name: str = ""
    descriptor: str = ""

    @property
    def score(self) -> float:
        """The named change at +sigma in noticeable steps (0 without a name)."""
        if not self.descriptor:
            return 0.0
        return abs(self.plus[self.descriptor]) / TIMBRE[self.descriptor][2]

    def describe(self, sigma: float) -> str:
        """The measured numbers, one line per side, for a tooltip."""
        lines = []
        for side, values in ((f"+{sigma:g}σ", self.plus), (f"-{sigma:g}σ", self.minus)):
            parts = [f"{TIMBRE[k][3].split(' (')[0]} {values[k]:+.1f} {TIMBRE[k][4]}" for k in TIMBRE if k in values]
            parts.append(f"level {values.get(LEVEL, 0.0):+.1f} dB (compensated)")
            lines.append(f"at {side}: " + ", ".join(parts))
        return "\n".join(lines)


def name_of(plus: dict[str, float]) -> tuple[str, str]:
    """(name, descriptor) of the largest timbre change at +sigma, if at least one noticeable step; else ('', '')."""
    best, score = "", 1.0
    for key, (_, _, step, _, _) in TIMBRE.items():
        if key in plus and abs(plus[key]) / step >= score:
            best, score = key, abs(plus[key]) / step
    if not best:
        return "", ""
    up, down = TIMBRE[best][:2]
    return (up if plus[best] > 0 else down), best


@dataclass(frozen=True)
class AxisEffects:
    """Per latent level, one ``AxisEffect`` per measured axis (axis index order); ``seconds``: audio measured."""

    sigma: float
    levels: dict[str, tuple[AxisEffect, ...]]
    seconds: float = 0.0

    def effect(self, level: str, axis: int) -> AxisEffect | None:
        return next((e for e in self.levels.get(level, ()) if e.axis == axis), None)

    def strongest(self, levels: list[str] | None = None) -> list[tuple[str, AxisEffect]]:
        """Named axes of ``levels`` (default all), largest named change first."""
        named = [(lv, e) for lv, es in self.levels.items() if levels is None or lv in levels for e in es if e.name]
        return sorted(named, key=lambda item: -item[1].score)

    def slopes(self, level: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """float64[D] level change in dB per sigma of offset, for positive and for negative offsets."""
        up, down = np.zeros(dim), np.zeros(dim)
        for e in self.levels.get(level, ()):
            if e.axis < dim:
                up[e.axis] = e.plus.get(LEVEL, 0.0) / self.sigma
                down[e.axis] = -e.minus.get(LEVEL, 0.0) / self.sigma
        return up, down

    def compensation_db(self, level: str, offsets: np.ndarray) -> np.ndarray:
        """The gain (dB) that undoes the level change of ``offsets`` (float[..., D] in sigma) along ``level``'s axes:
        each axis's change interpolated linearly through 0 and its measured -sigma and +sigma values (extrapolated
        beyond), summed over axes, negated and kept within +-MAX_COMPENSATION_DB. float64[...]."""
        offsets = np.asarray(offsets, np.float64)
        up, down = self.slopes(level, offsets.shape[-1])
        change = np.where(offsets >= 0, offsets * up, offsets * down).sum(-1)
        return np.clip(-change, -MAX_COMPENSATION_DB, MAX_COMPENSATION_DB)

    def gain(self, offsets: dict[str, tuple[float, ...]]) -> float:
        """The linear gain undoing the level change of a set of knob offsets (``LatentControls.offsets``)."""
        db = sum(float(self.compensation_db(lv, np.asarray(o, np.float64))) for lv, o in offsets.items() if o)
        return float(10.0 ** (np.clip(db, -MAX_COMPENSATION_DB, MAX_COMPENSATION_DB) / 20.0))

    def to_json(self) -> dict[str, Any]:
        return {
            "sigma": self.sigma,
            "seconds": round(self.seconds, 2),
            "levels": {
                lv: [
                    {
                        "axis": e.axis,
                        **({"name": e.name, "descriptor": e.descriptor} if e.name else {}),
                        "plus": {k: round(v, 3) for k, v in e.plus.items()},
                        "minus": {k: round(v, 3) for k, v in e.minus.items()},
                    }
                    for e in es
                ]
                for lv, es in self.levels.items()
            },
        }

    @classmethod
    def from_json(cls, data: Any, dims: dict[str, int]) -> "AxisEffects":
        """Read and check the manifest field; ValueError saying what is wrong. ``dims``: each level's latent size."""
        if not isinstance(data, dict) or not isinstance(data.get("levels"), dict):
            raise ValueError("'axis_effects' must be an object with 'sigma' and 'levels'")
        sigma = _number(data.get("sigma"), "axis_effects.sigma")
        if sigma <= 0:
            raise ValueError(f"'axis_effects.sigma' must be > 0 (got {sigma})")
        levels = {}
        for lv, items in data["levels"].items():
            if lv not in dims:
                raise ValueError(f"'axis_effects.levels' names level '{lv}', which the latent does not have")
            if not isinstance(items, list):
                raise ValueError(f"'axis_effects.levels.{lv}' must be a list")
            effects = []
            for i, item in enumerate(items):
                where = f"axis_effects.levels.{lv}[{i}]"
                if not isinstance(item, dict):
                    raise ValueError(f"'{where}' must be an object")
                axis = item.get("axis")
                if isinstance(axis, bool) or not isinstance(axis, int) or not 0 <= axis < dims[lv]:
                    raise ValueError(
                        f"'{where}.axis' must be an axis of level '{lv}' (0..{dims[lv] - 1}), got {axis!r}"
                    )
                plus, minus = (_changes(item.get(side), f"{where}.{side}") for side in ("plus", "minus"))
                name, descriptor = str(item.get("name", "")), str(item.get("descriptor", ""))
                if name and (descriptor not in TIMBRE or descriptor not in plus or name not in TIMBRE[descriptor][:2]):
                    raise ValueError(f"'{where}': name '{name}' does not match a measured descriptor")
                effects.append(AxisEffect(axis, plus, minus, name, descriptor if name else ""))
            levels[str(lv)] = tuple(effects)
        return cls(sigma, levels, _number(data.get("seconds", 0.0), "axis_effects.seconds"))


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"'{where}' must be a finite number (got {value!r})")
    return float(value)


def _changes(values: Any, where: str) -> dict[str, float]:
    if not isinstance(values, dict):
        raise ValueError(f"'{where}' must be an object of descriptor changes")
    unknown = set(values) - set(DESCRIPTORS)
    if unknown:
        raise ValueError(f"'{where}' has unknown descriptors {sorted(unknown)} (known: {', '.join(DESCRIPTORS)})")
    return {k: _number(v, f"{where}.{k}") for k, v in values.items()}
