"""What makes a manifest usable: every rule a player relies on, each broken one a BundleError that names the file.

bundle_io.py runs these on every manifest it reads (and write_manifest on every one it writes).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .bundle import (
    CONTROL_TRANSFORMS,
    PART_NAMES,
    REQUIRED_PARTS,
    STREAMING_FORMAT_VERSION,
    BundleError,
    Manifest,
    Streaming,
)

# What a bundle says about how it was made: shown, never computed with (a training loss there may well be NaN).
_RECORD_ONLY = ("provenance",)


def check_finite(data: Any, where: Path) -> None:
    """Every number a player reads from the parsed JSON (json reads NaN and Infinity) must be finite."""
    bad = _non_finite(data)
    if bad is not None:
        raise BundleError(
            f"{where}: '{bad[0]}' is {bad[1]}; every number a player reads must be finite (re-export the bundle)"
        )


def _non_finite(data: Any, path: str = "") -> tuple[str, str] | None:
    """The first number in a parsed manifest that is NaN or infinite, as (field path, 'NaN' / 'inf' / '-inf');
    None when all are finite. ``provenance`` is a record and not checked."""
    if isinstance(data, float) and not math.isfinite(data):
        return path, "NaN" if math.isnan(data) else ("inf" if data > 0 else "-inf")
    if isinstance(data, dict):
        for key, value in data.items():
            if not path and key in _RECORD_ONLY:
                continue
            found = _non_finite(value, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(data, list):
        if _all_finite_numbers(data):  # the latent statistics: 65k numbers, walked one by one took 0.2 s
            return None
        for i, value in enumerate(data):
            found = _non_finite(value, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _all_finite_numbers(data: list) -> bool:
    """True when ``data`` is a (nested, rectangular) list of finite numbers only; False when it holds anything else
    or a NaN or infinity, and the walk looks item by item."""
    try:
        values = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return False
    return bool(np.isfinite(values).all())


def check_manifest(m: Manifest, where: Path) -> None:
    """Raise BundleError (naming ``where``) at the first rule ``m`` breaks."""
    for part in REQUIRED_PARTS:
        if part not in m.parts:
            raise BundleError(f"{where}: 'parts' has no '{part}'")
    for part, fname in m.parts.items():
        if part not in PART_NAMES:
            raise BundleError(f"{where}: unknown part '{part}' (known: {', '.join(PART_NAMES)})")
        if fname not in m.files:
            raise BundleError(f"{where}: part '{part}' file '{fname}' has no sha256 in 'files'")
        if "/" in fname or "\\" in fname or fname.startswith("."):
            raise BundleError(f"{where}: part file name '{fname}' must be a plain file name")
    if m.information_rate is not None:
        bps = m.information_rate.get("bits_per_second")
        if isinstance(bps, bool) or not isinstance(bps, (int, float)) or not math.isfinite(bps) or bps < 0:
            raise BundleError(f"{where}: 'information_rate.bits_per_second' must be a number >= 0 (got {bps!r})")
    if m.streaming is not None:
        if m.format_version < STREAMING_FORMAT_VERSION:
            raise BundleError(f"{where}: a 'streaming' section needs format_version {STREAMING_FORMAT_VERSION}")
        _check_streaming(m.streaming, where, m.latent_hop, m.parts)
    if m.prior is not None:
        problem = m.prior.problem({l.name: l.dim for l in m.levels}, m.files, {l.name: l.hop for l in m.levels})
        if problem is not None:
            raise BundleError(f"{where}: {problem}")
    if m.normalization.type not in ("rms", "none"):
        raise BundleError(f"{where}: unknown normalization type '{m.normalization.type}'")
    if m.sample_rate <= 0 or m.window <= 0 or m.hop <= 0:
        raise BundleError(f"{where}: sample_rate, window and hop must be positive")
    _check_controls(m, where)
    _check_latent_stats(m, where)


def _check_streaming(s: Streaming, where: Path, latent_hop: int, parts: dict[str, str]) -> None:
    if s.block <= 0 or s.block % latent_hop:
        raise BundleError(
            f"{where}: 'streaming.block' {s.block} must be a positive multiple of the latent hop {latent_hop}"
        )
    if s.lookahead < 0 or s.delay < 0:
        raise BundleError(f"{where}: 'streaming.lookahead' and 'delay_samples' must be >= 0")
    names = set()
    for state in s.states:
        if state.part not in parts:
            raise BundleError(
                f"{where}: streaming state '{state.name}' belongs to part '{state.part}', "
                "which the bundle does not have"
            )
        if state.dtype != "float32" or not state.shape or any(d < 0 for d in state.shape) or state.shape[0] != 1:
            raise BundleError(
                f"{where}: streaming state '{state.name}' must be float32 with shape [1, ...] "
                f"(got {state.dtype} {list(state.shape)})"
            )
        if (state.part, state.name) in names:
            raise BundleError(f"{where}: streaming state '{state.name}' is listed twice")
        names.add((state.part, state.name))


def _check_controls(m: Manifest, where: Path) -> None:
    dims = {level.name: level.dim for level in m.levels}
    names = set()
    for c in m.controls:
        if c.name in names:
            raise BundleError(f"{where}: control '{c.name}' is declared twice")
        names.add(c.name)
        if c.level not in dims or not 0 <= c.channel < dims[c.level]:
            raise BundleError(
                f"{where}: control '{c.name}' acts on channel {c.channel} of level '{c.level}', "
                "which the latent does not have"
            )
        if c.channels < 1 or c.channel + c.channels > dims[c.level] or (c.channels > 1 and c.transform != "scale"):
            raise BundleError(
                f"{where}: control '{c.name}' acts on {c.channels} channels from {c.channel} of level '{c.level}' "
                f"(it has {dims[c.level]}; only a 'scale' control acts on more than one)"
            )
        if c.transform not in CONTROL_TRANSFORMS:
            raise BundleError(
                f"{where}: control '{c.name}' has unknown transform '{c.transform}' "
                f"(known: {', '.join(CONTROL_TRANSFORMS)})"
            )
        values = (c.minimum, c.maximum, c.default, c.scale)
        if not all(math.isfinite(v) for v in values) or not c.minimum <= c.default <= c.maximum:
            raise BundleError(f"{where}: control '{c.name}' needs finite minimum <= default <= maximum")


def _check_latent_stats(m: Manifest, where: Path) -> None:
    for level in m.levels:
        stats = m.latent_stats.get(level.name)
        if stats is None:
            raise BundleError(f"{where}: no latent_stats for level '{level.name}'")
        d = level.dim
        if not (len(stats.mean) == len(stats.std) == len(stats.explained_variance) == len(stats.components) == d):
            raise BundleError(f"{where}: latent_stats for level '{level.name}' do not have {d} entries")
        if any(len(row) != d for row in stats.components):
            raise BundleError(f"{where}: pca_components for level '{level.name}' are not {d}x{d}")
        if not all(math.isfinite(v) for v in stats.mean + stats.std + stats.explained_variance):
            raise BundleError(f"{where}: latent_stats for level '{level.name}' contain NaN or inf")
