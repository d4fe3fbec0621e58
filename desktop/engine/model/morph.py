"""Morphing toward a second sound's latents, and generation from a Gaussian prior fitted to the latents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from core.audiofile import Audio, resample
from core.dsp import DcBlocker
from core.latent import LatentControls, apply_declared
from core.render import hop_samples, render_audio, streams
from core.session import ModelRunner, WindowModel


def target_samples(target: np.ndarray, idx: np.ndarray, loop: bool) -> np.ndarray:
    """B's samples at positions ``idx`` (int[N]): looped when ``loop``, else silence after its end; silence before
    its start and when it is empty."""
    if not len(target):
        return np.zeros(len(idx), np.float32)
    out = target[np.mod(idx, len(target))]
    inside = (idx >= 0) & (loop | (idx < len(target)))
    return np.where(inside, out, 0.0).astype(np.float32)


def mix_latents(za: dict[str, np.ndarray], zb: dict[str, np.ndarray], amount: float) -> dict[str, np.ndarray]:
    """Per level: (1 - amount) z_A + amount z_B."""
    a = float(amount)
    return {k: ((1 - a) * z + a * zb[k]).astype(np.float32) for k, z in za.items()}


@dataclass
class MorphWindowModel(WindowModel):
    """Window function for ``process_offline``: each window of A is encoded with the window of ``target`` (B) at the
    same position (B loops when ``loop``, else silence after its end), latents are mixed per level, z = (1 - amount) z_A + amount z_B, then
    knobs, quantizer and decoder as usual. The loudness gain is mixed the same way in the log domain, so amount 1
    sounds like B resynthesised. ``render_audio`` calls ``reset`` before each channel."""

    target: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # B at the model rate, float32[T_B]
    amount: float = 0.5
    hop: int = 5512
    loop: bool = True
    _calls: int = field(default=0, init=False)

    def reset(self) -> None:
        self._calls = 0

    def _b_window(self, n: int) -> np.ndarray:
        # process_offline's k-th window ends at input sample (k + 1) * hop; history before 0 is silence
        end = (self._calls + 1) * self.hop
        return target_samples(self.target, np.arange(end - n, end), self.loop)

    def streaming_blend(self) -> "StreamingMorph":
        return StreamingMorph(self.runner, self.target, self.amount, self.loop)

    def __call__(self, window: np.ndarray) -> np.ndarray:
        n = window.shape[-1]
        za, ga = self.encode_window(window)
        zb, gb = self.encode_window(self._b_window(n))
        self._calls += 1
        z = mix_latents(za, zb, self.amount)
        self.last_latents = z
        a = float(self.amount)
        gain = float(np.exp((1 - a) * np.log(ga) + a * np.log(gb)))
        return self.decode_window(z, gain, n)


class StreamingMorph:
    """The morph of a streaming bundle (a ``streaming.LatentBlend``): B is encoded block by block through the
    bundle's own streaming encoder, with states of its own, in step with A (B loops when ``loop``, else silence
    after its end); each frame's latents are mixed, z = (1 - amount) z_A + amount z_B, before the knobs. A streaming
    bundle has no loudness normalisation, so nothing else is mixed: amount 1 renders B itself (B passes a DC blocker
    of its own, as A does in ``StreamingModel.process``)."""

    def __init__(self, runner: ModelRunner, target: np.ndarray, amount: float, loop: bool):
        self.runner, self.target, self.amount, self.loop = runner, np.asarray(target, np.float32), amount, loop
        self.dc = DcBlocker(runner.manifest.sample_rate)
        self.reset()

    def reset(self) -> None:
        self.pos = 0
        self.states = self.runner.zero_states("encoder")
        self.dc.reset()

    def __call__(self, latents: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        b = target_samples(self.target, np.arange(self.pos, self.pos + n), self.loop)
        # past B's end (not looped): silence after the blocker, as a render pads A (``StreamingModel.process``)
        k = n if self.loop else min(max(len(self.target) - self.pos, 0), n)
        b = np.concatenate([self.dc.process(b[:k]), np.zeros(n - k, np.float32)])
        self.pos += n
        zb, self.states = self.runner.encode_step(b[None, None, :], self.states)
        return mix_latents(latents, zb, self.amount)


def render_morph(
    audio: Audio,
    target: Audio,
    runner: ModelRunner,
    amount: float = 0.5,
    controls: LatentControls = LatentControls(),
    hop_seconds: float = 0.25,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Morph every channel of ``audio`` toward ``target`` (mixed to mono; looped when shorter than the input).
    float32[C, T] at audio's rate and length, time-aligned like :func:`core.render.render_audio`.
    A streaming bundle morphs block by block (``StreamingMorph``; ``hop_seconds`` does not apply)."""
    b = resample(target.mono(), target.sample_rate, runner.manifest.sample_rate)
    model = morph_model(runner, b, audio.frames, audio.sample_rate, amount, controls, hop_seconds)
    return render_audio(audio, model, hop_seconds, progress)


def morph_model(
    runner: ModelRunner,
    target: np.ndarray,
    frames: int,
    sample_rate: int,
    amount: float = 0.5,
    controls: LatentControls = LatentControls(),
    hop_seconds: float = 0.25,
) -> MorphWindowModel:
    """The model that morphs an input of ``frames`` samples at ``sample_rate`` toward ``target`` (B, mono at the
    model rate; looped when shorter than the input), for ``render_audio`` or ``file_render.render_file``."""
    m = runner.manifest
    hop = hop_samples(hop_seconds, m.sample_rate, m.window, m.pad_multiple)
    b = np.asarray(target, np.float32)
    if not streams(runner):  # B's DC blocked like A's in render_audio (a streaming morph blocks it block by block)
        b = DcBlocker(m.sample_rate).process(b)
    n_in = int(round(frames * m.sample_rate / sample_rate))
    return MorphWindowModel(runner, controls, target=b, amount=amount, hop=hop, loop=len(b) < n_in)


def _smooth_noise(rng: np.random.Generator, dims: int, frames: int, smooth_frames: float) -> np.ndarray:
    """Unit-variance Gaussian noise float32[dims, frames], low-passed along time by a one-pole filter whose time
    constant is ``smooth_frames`` (0 = white). Scaled so each frame's marginal stays N(0, 1)."""
    noise = rng.standard_normal((dims, frames))
    if smooth_frames <= 0:
        return noise.astype(np.float32)
    a = float(np.exp(-1.0 / smooth_frames))
    out = np.empty_like(noise)
    out[:, 0] = noise[:, 0]
    k = np.sqrt(1 - a * a)
    for f in range(1, frames):
        out[:, f] = a * out[:, f - 1] + k * noise[:, f]
    return out.astype(np.float32)


def generate(
    runner: ModelRunner,
    seconds: float,
    temperature: float = 1.0,
    smooth_seconds: float = 0.1,
    seed: int = 0,
    controls: LatentControls = LatentControls(),
) -> np.ndarray:
    """Sample latents from the Gaussian fitted to the encoder's latents at export (the manifest's PCA: mean +
    sum_k temperature * sigma_k * n_k * axis_k, per level, noise smoothed over ``smooth_seconds``), then knobs,
    quantizer (if any) and decoder. Returns float32[T] at the model rate (at the training loudness, -20 dBFS)."""
    m = runner.manifest
    n = int(round(seconds * m.sample_rate))
    total = n + (-n) % m.pad_multiple
    rng = np.random.default_rng(seed)
    latents = {}
    for level in m.levels:
        ax = runner.axes[level.name]
        frames = total // level.hop
        coords = temperature * _smooth_noise(rng, level.dim, frames, smooth_seconds * m.sample_rate / level.hop)
        z = np.einsum("kd,kf->df", ax.components, coords * ax.sigma[:, None]) + ax.mean[:, None]
        latents[level.name] = z[None].astype(np.float32)
    latents = apply_declared(controls.apply(latents, runner.axes), m.controls, controls.values)
    y = runner.decode(runner.quantize(latents))[0, 0, :n]
    if m.axis_effects is not None:  # the knobs' level change undone, as the player does
        y = y * m.axis_effects.gain(controls.offsets)
    return y.astype(np.float32)
