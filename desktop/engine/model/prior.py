"""Playing a bundle's learned prior (prior.onnx, docs/prior.md) with onnxruntime: sampling, priming, generating.

The prior predicts the next latent frame as a mixture of diagonal Gaussians. ``temperature`` T reshapes it:
T = 0 takes the most likely component's mean (deterministic), T = 1 samples the mixture as trained, T > 1
flattens the component weights (logits / T) and widens each component (std x T).

A styled prior (``spec.style_frames`` > 0) also takes a style for the whole generation: that of the last frames of
its prime (``core.prior_frames.prior_style``), or none when it is not primed; ``PriorState`` carries it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.audiofile import Audio
from core.bundle import Bundle, BundleError
from core.latent import LatentControls
from core.prior_frames import (
    audio_frames,
    joined_stats,
    level_dims,
    null_style,
    prior_levels,
    prior_style,
    split_levels,
)
from core.session import ModelRunner, open_session

BURN_IN_SECONDS = 0.5  # unprimed: frames generated from the zero state and the mean frame, then dropped
SETTLE_SECONDS = 1.0  # an unstyled prior's continuation's first second is drawn at SETTLE_TEMPERATURE x T ...
SETTLE_TEMPERATURE = 0.7  # ... so it starts as the prime's sound before it wanders (docs/prior.md)


def settle_frames(prior: "PriorRunner") -> int:
    """How many frames of a continuation are drawn at the settling temperature: none for a styled prior, whose
    style already holds it near its prime (cooling its first second made continued speech fade, docs/prior.md)."""
    return 0 if prior.spec.style_frames > 0 else int(round(SETTLE_SECONDS * prior.frame_rate))


@dataclass
class PriorState:
    """Where a generation stands: the recurrent state after the last frame fed, and that step's prediction."""

    h: np.ndarray
    logits: np.ndarray  # [K]
    mean: np.ndarray  # [K, D]
    scale: np.ndarray  # [K, D]
    style: np.ndarray | None = None  # a styled prior's conditioning float32[1, 2D + 1], held for the generation


def sample_frame(state: PriorState, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """One frame float32[D] from the prediction in ``state`` at ``temperature`` (>= 0).

    The component is chosen in plain Python over the K weights (K is 8): numpy's per-call cost on arrays this
    small made the sampling 15 us of a 120-us Generate step; this is 6.5 us, with the same random draws."""
    logits = state.logits.tolist()
    if temperature <= 0:
        return state.mean[logits.index(max(logits))].astype(np.float32)
    top = max(logits)
    weights = [math.exp((v - top) / temperature) for v in logits]
    u = rng.random() * sum(weights)
    k = 0
    for k, w in enumerate(weights):
        u -= w
        if u < 0:
            break
    out = rng.standard_normal(state.mean.shape[1], dtype=np.float32)
    out *= state.scale[k]
    out *= np.float32(temperature)
    out += state.mean[k]
    return out


class PriorRunner:
    """One onnxruntime session on a bundle's prior.onnx."""

    def __init__(self, bundle: Bundle, threads: int = 1):
        spec = bundle.manifest.prior
        if spec is None:
            raise BundleError(f"{bundle.path}: the bundle has no prior (train one: latentsynth-train prior)")
        self.spec = spec
        self.path = bundle.path / spec.file
        self.session = open_session(self.path, threads=max(1, int(threads)))
        names = {i.name for i in self.session.get_inputs()}, {o.name for o in self.session.get_outputs()}
        if names != (set(spec.inputs), {"logits", "mean", "scale", "state.h.next"}):
            raise BundleError(f"{self.path}: inputs/outputs {sorted(names[0])} -> {sorted(names[1])} are not a prior's")
        self.frame_rate = bundle.manifest.sample_rate / bundle.manifest.latent_hop
        self._no_style = null_style(spec.dim)[None] if spec.style_frames > 0 else None  # fed when none is given

    def style_of(self, frames: np.ndarray | None) -> np.ndarray | None:
        """The style a generation primed with ``frames`` float32[F, D] holds: float32[1, 2D + 1], the null style
        when ``frames`` is None or empty (not primed); None for an unstyled prior."""
        if self.spec.style_frames <= 0:
            return None
        if frames is None or len(frames) == 0:
            return self._no_style.copy()
        return prior_style(frames[-self.spec.style_frames :])[None]

    def start(self, first: np.ndarray, style: np.ndarray | None = None) -> PriorState:
        """The state after feeding ``first`` float32[D] to the zero state (under ``style``: ``style_of``)."""
        return self.step(np.zeros(self.spec.state_shape, np.float32), first, style)

    def step(self, h: np.ndarray, z: np.ndarray, style: np.ndarray | None = None) -> PriorState:
        feed = {"z": np.asarray(z, np.float32).reshape(1, -1), "state.h": h}
        if self.spec.style_frames > 0:
            feed["style"] = self._no_style if style is None else style
        logits, mean, scale, h = self.session.run(None, feed)
        return PriorState(h, logits[0], mean[0], scale[0], feed.get("style"))

    def prime(self, frames: np.ndarray) -> PriorState:
        """Feed ``frames`` float32[F, D] (F >= 1) from the zero state, frame by frame, under their style."""
        style = self.style_of(frames)
        state = self.start(frames[0], style)
        for z in frames[1:]:
            state = self.step(state.h, z, style)
        return state

    def continue_from(
        self, state: PriorState, frames: int, temperature: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, PriorState]:
        """``frames`` new frames float32[frames, D] after ``state``, and the state after the last of them."""
        out = np.empty((frames, self.spec.dim), np.float32)
        for f in range(frames):
            out[f] = sample_frame(state, temperature, rng)
            state = self.step(state.h, out[f], state.style)
        return out, state

    def unprimed(self, mean: np.ndarray, temperature: float, rng: np.random.Generator) -> PriorState:
        """A state to generate from without a prime: the mean frame, then ``BURN_IN_SECONDS`` generated and
        dropped (the zero state and the mean frame are not where the corpus ever is)."""
        state = self.start(mean)
        _, state = self.continue_from(state, int(round(BURN_IN_SECONDS * self.frame_rate)), temperature, rng)
        return state


def generate_with_prior(
    runner: ModelRunner,
    prior: PriorRunner,
    seconds: float,
    temperature: float = 1.0,
    seed: int = 0,
    controls: LatentControls = LatentControls(),
    prime: Audio | None = None,
) -> np.ndarray:
    """``seconds`` of audio float32[T] at the model rate sampled from the prior; with ``prime``, its continuation
    (the prime's frames are decoded first so the decoder's state is warm, then cut off: the output starts where
    the prime ends; its first ``SETTLE_SECONDS`` are drawn at ``SETTLE_TEMPERATURE`` x ``temperature``). The
    latent knobs act on the generated frames, not on what the prior is fed."""
    m = runner.manifest
    levels = prior_levels(m)
    if len(levels) != len(m.levels):
        raise BundleError(f"{runner.bundle.path}: the prior models {list(levels)}, not every level of the bundle")
    level = next(lv for lv in m.levels if lv.name == levels[0])
    rng = np.random.default_rng(seed)
    n = int(round(seconds * m.sample_rate))
    frames = -(-n // level.hop)
    frames += (-frames) % (m.pad_multiple // level.hop)
    if prime is not None:
        primed = audio_frames(runner, prime)
        if len(primed) == 0:
            raise ValueError(f"{prime.path}: the prime is empty")
        state = prior.prime(primed)
    else:
        primed = np.zeros((0, prior.spec.dim), np.float32)
        state = prior.unprimed(joined_stats(m, levels)[0].astype(np.float32), temperature, rng)
    settle = settle_frames(prior) if prime is not None else 0
    first, state = prior.continue_from(state, min(settle, frames), SETTLE_TEMPERATURE * temperature, rng)
    rest, _ = prior.continue_from(state, frames - len(first), temperature, rng)
    new = np.concatenate([first, rest])
    skip = len(primed) + (-len(primed)) % (m.pad_multiple // level.hop)  # the decoder's input is on the pad grid
    pad = np.repeat(primed[:1], skip - len(primed), 0) if skip > len(primed) else primed[:0]
    z = np.concatenate([pad, primed, new])  # the prime starts late by the pad, ends on the grid
    latents = controls.apply(split_levels(z, levels, level_dims(m, levels)), runner.axes)
    audio = runner.decode(runner.quantize(latents))[0, 0]
    start = skip * level.hop
    return audio[start : start + n].astype(np.float32)
