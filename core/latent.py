"""Latent knobs: offsets (in standard deviations) and scales along the PCA axes of each latent level."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .bundle import Control, LatentStats, Manifest


@dataclass(frozen=True)
class LevelAxes:
    """PCA of one latent level as arrays: ``components`` float32[D, D] (rows = axes), ``sigma`` = sqrt(var)."""

    mean: np.ndarray
    components: np.ndarray
    sigma: np.ndarray
    explained_variance_ratio: np.ndarray

    @classmethod
    def from_stats(cls, stats: LatentStats) -> "LevelAxes":
        var = np.asarray(stats.explained_variance, dtype=np.float32)
        return cls(
            mean=np.asarray(stats.mean, dtype=np.float32),
            components=np.asarray(stats.components, dtype=np.float32),
            sigma=np.sqrt(np.maximum(var, 0.0)).astype(np.float32),
            explained_variance_ratio=np.asarray(stats.explained_variance_ratio, dtype=np.float32),
        )

    def project(self, z: np.ndarray) -> np.ndarray:
        """z: float32[B, D, F] -> PCA coordinates in standard deviations, float32[B, D, F]."""
        centred = z - self.mean[None, :, None]
        coords = np.einsum("kd,bdf->bkf", self.components, centred)
        return coords / np.maximum(self.sigma, 1e-8)[None, :, None]


@dataclass(frozen=True)
class LatentControls:
    """Immutable knob state: per level, an offset (std units) and a scale for each PCA axis.

    Missing levels or axes mean offset 0, scale 1. A GUI swaps in a new object instead of mutating one,
    so the inference thread always sees a consistent set.
    """

    offsets: dict[str, tuple[float, ...]] = field(default_factory=dict)
    scales: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # the bundle's declared controls (manifest 'controls') by name, in their units; absent = the default
    values: dict[str, float] = field(default_factory=dict)
    # glide: seconds a declared control (a held note's pitch, transpose) takes to reach a new value on the
    # streaming path; None = the engine's default (streaming.SMOOTH_FRAMES frames)
    glide_s: float | None = None

    def is_neutral(self) -> bool:
        """True when the PCA knobs are at rest (declared controls are judged by :func:`apply_declared`)."""
        return all(v == 0.0 for vs in self.offsets.values() for v in vs) and all(
            v == 1.0 for vs in self.scales.values() for v in vs
        )

    def with_offset(self, level: str, axis: int, value: float, dim: int) -> "LatentControls":
        offs = list(self.offsets.get(level, (0.0,) * dim)) or [0.0] * dim
        offs[axis] = float(value)
        return replace(
            self, offsets={**self.offsets, level: tuple(offs)}, scales=dict(self.scales), values=dict(self.values)
        )

    def with_scale(self, level: str, axis: int, value: float, dim: int) -> "LatentControls":
        scs = list(self.scales.get(level, (1.0,) * dim)) or [1.0] * dim
        scs[axis] = float(value)
        return replace(
            self, offsets=dict(self.offsets), scales={**self.scales, level: tuple(scs)}, values=dict(self.values)
        )

    def without_value(self, name: str) -> "LatentControls":
        """The declared control ``name`` released (a 'set' control stops overriding; others return to default)."""
        return replace(
            self,
            offsets=dict(self.offsets),
            scales=dict(self.scales),
            values={k: v for k, v in self.values.items() if k != name},
        )

    def with_value(self, control: Control, value: float) -> "LatentControls":
        """A declared control set to ``value`` (clipped to its range)."""
        v = min(max(float(value), control.minimum), control.maximum)
        return replace(
            self, offsets=dict(self.offsets), scales=dict(self.scales), values={**self.values, control.name: v}
        )

    def with_glide(self, seconds: float | None) -> "LatentControls":
        """The same knobs with glide ``seconds`` (>= 0; None = the engine's default)."""
        return replace(self, glide_s=None if seconds is None else max(0.0, float(seconds)))

    def apply(self, latents: dict[str, np.ndarray], axes: dict[str, LevelAxes]) -> dict[str, np.ndarray]:
        """Rotate each level into PCA space, scale and offset there, rotate back. float32[B, D, F] each."""
        if self.is_neutral():
            return latents
        out = dict(latents)
        for name, z in latents.items():
            offs = self.offsets.get(name)
            scs = self.scales.get(name)
            if offs is None and scs is None:
                continue
            ax = axes[name]
            d = z.shape[1]
            off = np.zeros(d, np.float32)
            sc = np.ones(d, np.float32)
            if offs:
                off[: len(offs)] = offs[:d]
            if scs:
                sc[: len(scs)] = scs[:d]
            centred = z - ax.mean[None, :, None]
            coords = np.einsum("kd,bdf->bkf", ax.components, centred)
            coords = coords * sc[None, :, None] + (off * ax.sigma)[None, :, None]
            out[name] = (np.einsum("kd,bkf->bdf", ax.components, coords) + ax.mean[None, :, None]).astype(np.float32)
        return out


def level_axes(manifest: Manifest) -> dict[str, LevelAxes]:
    return {level.name: LevelAxes.from_stats(manifest.latent_stats[level.name]) for level in manifest.levels}


def apply_declared(
    latents: dict[str, np.ndarray], declared: tuple[Control, ...], values: dict[str, float] | dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The bundle's declared controls on latents float32[B, D, F]: 'add' moves channel ``channel`` of ``level`` by
    (value - default) * scale; 'set' (applied first) replaces the channel with (value - default) * scale; 'scale'
    multiplies its channels by value * scale, the default's when ``values`` has none. A value may be a number or
    float[F] (one per frame, for smoothed moves)."""
    out = dict(latents)
    for c in sorted(declared, key=lambda c: c.transform != "set"):
        if c.transform == "scale":
            factor = np.asarray(values.get(c.name, c.default), np.float64) * c.scale
            if np.all(factor == 1.0):
                continue
            z = out[c.level].copy()
            span = slice(c.channel, c.channel + c.channels)
            z[:, span, :] = (z[:, span, :] * factor).astype(np.float32)
            out[c.level] = z
            continue
        if c.name not in values:
            continue
        if c.transform == "set":
            z = out[c.level].copy()
            z[:, c.channel, :] = ((np.asarray(values[c.name], np.float64) - c.default) * c.scale).astype(np.float32)
            out[c.level] = z
            continue
        delta = (np.asarray(values[c.name], np.float64) - c.default) * c.scale
        if not np.any(delta):
            continue
        z = out[c.level].copy()
        z[:, c.channel, :] = (z[:, c.channel, :] + delta).astype(np.float32)
        out[c.level] = z
    return out
