"""A prior's frame made of a bundle's latent levels: the levels it models, side by side, one frame per hop.

A single-level bundle's prior frame is its one level's frame. A bundle whose levels share one frame rate (the
instruments: ``z`` = loudness and ``control`` = pitch, voicing, formant, breath) is modelled as one vector per frame
with the levels concatenated in the prior's order, so one mixture models them jointly (an onset moves loudness and
pitch together). The trainer, exporter, renderer, Generate mode and the benchmark all join and split through here.
The encoder's latents enter a prior as the decoder gets them with no knob turned (``played_frames``): an instrument's
timbre code, held at 0 by its ``timbre`` control's default, is 0 in the prior's frames too.
"""

from __future__ import annotations

import numpy as np

from .audiofile import Audio, resample
from .bundle import Manifest
from .latent import apply_declared
from .session import ModelRunner, pad_to_multiple


def prior_levels(manifest: Manifest) -> tuple[str, ...]:
    """The levels a prior over ``manifest`` models: its own (declared) levels, or every level of the bundle."""
    if manifest.prior is not None:
        return manifest.prior.levels
    return tuple(level.name for level in manifest.levels)


def level_dims(manifest: Manifest, levels: tuple[str, ...]) -> list[int]:
    dims = {level.name: level.dim for level in manifest.levels}
    return [dims[name] for name in levels]


def shared_hop(manifest: Manifest, levels: tuple[str, ...]) -> int | None:
    """The one hop the ``levels`` share, or None when they run at different frame rates."""
    hops = {level.hop for level in manifest.levels if level.name in levels}
    return hops.pop() if len(hops) == 1 else None


def join_levels(latents: dict[str, np.ndarray], levels: tuple[str, ...]) -> np.ndarray:
    """Latents {level: float32[1, D_l, F]} -> the prior's frames float32[F, sum D_l] (a copy)."""
    return np.ascontiguousarray(np.concatenate([latents[name][0] for name in levels], axis=0).T, dtype=np.float32)


def played_frames(latents: dict[str, np.ndarray], manifest: Manifest, levels: tuple[str, ...]) -> np.ndarray:
    """The prior's frames of the encoder's latents as the decoder plays them with no knob turned (the declared
    controls' defaults: a 'scale' control's acts, an instrument's timbre code held at 0). What a prior is trained on
    and primed with, so it never has to model a code no player hears by default."""
    return join_levels(apply_declared(latents, manifest.controls, {}), levels)


def audio_frames(runner: ModelRunner, audio: Audio) -> np.ndarray:
    """The prior's frames float32[F, D] of ``audio`` (mono, at the model rate, as recorded), as played by default
    (``played_frames``): what the trainer reads from each file and what a player primes a generation with."""
    m = runner.manifest
    x = resample(audio.mono(), audio.sample_rate, m.sample_rate).astype(np.float32)
    frames = -(-len(x) // m.levels[0].hop)
    return played_frames(runner.encode(pad_to_multiple(x[None, None], m.pad_multiple)), m, prior_levels(m))[:frames]


def split_levels(frames: np.ndarray, levels: tuple[str, ...], dims: list[int]) -> dict[str, np.ndarray]:
    """The prior's frames float32[F, sum D_l] -> {level: float32[1, D_l, F]} (contiguous copies)."""
    out, at = {}, 0
    for name, d in zip(levels, dims):
        out[name] = np.ascontiguousarray(frames[:, at : at + d].T[None], dtype=np.float32)
        at += d
    return out


def joined_stats(manifest: Manifest, levels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The prior frame's mean and std float64[sum D_l], from the manifest's ``latent_stats`` per level."""
    stats = [manifest.latent_stats[name] for name in levels]
    mean = np.concatenate([np.asarray(s.mean, np.float64) for s in stats])
    std = np.concatenate([np.asarray(s.std, np.float64) for s in stats])
    return mean, std


def prior_style(frames: np.ndarray) -> np.ndarray:
    """A styled prior's conditioning (``prior.style_frames``, docs/prior.md) from frames float32[..., F, D] (F >= 1):
    float32[..., 2 D + 1] = their mean and std per dimension over F, then 1 (a style is given). The trainer takes
    it from each crop's first frames; a player from the prime's last ones (``null_style`` when there is none)."""
    frames = np.asarray(frames, np.float32)
    flag = np.ones((*frames.shape[:-2], 1), np.float32)
    return np.concatenate([frames.mean(-2), frames.std(-2), flag], -1).astype(np.float32)


def null_style(dim: int) -> np.ndarray:
    """The conditioning of a generation with no style to follow: float32[2 dim + 1] of zeros."""
    return np.zeros(2 * dim + 1, np.float32)
