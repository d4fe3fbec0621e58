"""The live Generate mode: a bundle's learned prior (docs/prior.md) played in place of the encoder's latents, block by
block on the engine's worker thread, with its explicit state carried from block to block.

``PriorGenerator`` is the streaming model's ``LatentBlend`` (``StreamingModel(blend=...)``): each block it is
handed the frames the encoder made of the input and returns the frames the decoder plays. Off, it returns the
input's; on, it returns frames sampled from the prior. Either way they then pass the same knobs (ramps, declared
controls, level compensation) on the same path, so the latent knobs act on generated frames exactly as on encoded
ones, and never on what the prior is fed back. It also keeps the input's last ``PRIME_S`` seconds of frames, so
"continue from what I just played" (``ask_continue``) primes the prior with them (a styled prior under the style of
the input heard when it was asked); an unstyled prior's continuation's first second is drawn cooler, as the
renderer's is (``prior.settle_frames``).

Starting (from the seed: the burn-in of ``prior.unprimed``) and priming take many prior steps; they are spread
over the blocks, at most ``STEPS_PER_BLOCK`` extra steps each, so no block costs much more than another. While
they run, what played before goes on (the input's frames, or the previous generation); the new state takes over
at the next block boundary, and the decoder keeps its states across the change (no restart, no click). A prime
feeds the input's frames up to the block it takes over at: generation continues the input as it was last heard.

Threads: the GUI swaps in a frozen ``GenerateSettings`` and counts continue requests; everything else (the prior
session, its state, the random generator) belongs to the worker thread, inside the streaming model's
``process``. Never the audio callback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.bundle import BundleError, Manifest
from core.cli_values import in_range
from core.prior_frames import joined_stats, level_dims, played_frames, prior_levels, split_levels
from core.session import ModelRunner
from core.streaming import bind_output_buffer

from .prior import BURN_IN_SECONDS, SETTLE_TEMPERATURE, PriorRunner, PriorState, sample_frame, settle_frames

PRIME_S = 3.0  # "continue" primes with this much of the input (the prior's training crops are 3 s)
STEPS_PER_BLOCK = 16  # prior steps a block may spend on starting or priming, besides the one it plays
TEMPERATURE_RANGE = (0.0, 5.0)  # as latentsynth-render --temperature
TEMPERATURE_KNOB = (0.0, 2.0)  # the panel's knob and the remote address (past 2 the prior is noise)
SEED_MAX = 999_999  # the panel's seed box and the remote address
NO_PRIOR = (
    "This model has no learned prior, so there is nothing to generate from: sampling N(0, I) latents is not a "
    "prior of its corpus (train one: latentsynth-train prior --bundle B --data DIR, docs/prior.md)"
)


def generate_unavailable(manifest: Manifest) -> str | None:
    """Why a bundle cannot play Generate mode, or None when it can."""
    if manifest.prior is None:
        return NO_PRIOR
    if manifest.streaming is None:
        return "Generate plays a prior block by block through a streaming bundle; this one cannot stream"
    if set(manifest.prior.levels) != {level.name for level in manifest.levels}:
        return "Generate plays a prior over all of a bundle's latent levels; this one's prior models only some"
    return None


@dataclass(frozen=True)
class GenerateSettings:
    """What the GUI sets, swapped whole. ``on``: play the prior instead of the input's frames; ``temperature``:
    0 = the most likely frame, 1 = as trained, more = wilder (``prior.sample_frame``); ``seed``: a new seed (or
    switching on) starts a new generation, the same one every time for the same seed and temperature."""

    on: bool = False
    temperature: float = 1.0
    seed: int = 0

    def validated(self) -> "GenerateSettings":
        lo, hi = TEMPERATURE_RANGE
        if not in_range(self.temperature, lo, hi):
            raise ValueError(f"temperature {self.temperature} is outside {lo}..{hi}")
        if int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed {self.seed} must be a whole number >= 0")
        return self


class _Start:
    """Building a state over several blocks: the burn-in from the mean frame (``frames`` None), or a prime that
    feeds the input's recorded frames from ``next`` until it has caught up with the newest."""

    def __init__(self, seed: int, next_frame: int | None = None, style: np.ndarray | None = None):
        self.rng = np.random.default_rng(seed)
        self.state: PriorState | None = None
        self.next = next_frame  # the history index to feed next (a prime), None for a burn-in
        self.style = style  # a styled prior's: the input's when priming, none for a burn-in (``PriorRunner.style_of``)
        self.left = 0  # burn-in frames still to generate
        self.done = False


class BoundPrior:
    """The playing generation's prior steps through onnxruntime IO bindings: the frame, the prediction and a pair of
    state buffers allocated once and swapped every step, as ``streaming.BoundSteps`` does for the decoder (a plain
    ``PriorRunner.step`` allocates its outputs: about a quarter of a step's time). The same numbers as the plain
    step, so the same seed plays the same frames."""

    def __init__(self, prior: PriorRunner):
        spec = prior.spec
        self.z = np.zeros((1, spec.dim), np.float32)
        self.h = (np.zeros(spec.state_shape, np.float32), np.zeros(spec.state_shape, np.float32))
        self.logits = np.zeros((1, spec.mixtures), np.float32)
        self.mean = np.zeros((1, spec.mixtures, spec.dim), np.float32)
        self.scale = np.zeros((1, spec.mixtures, spec.dim), np.float32)
        self.k = 0  # which of ``h`` holds the current state
        self.style = prior.style_of(None)  # a styled prior's conditioning (None: not styled)
        self.bindings = []
        for k in (0, 1):
            b = prior.session.io_binding()
            b.bind_cpu_input("z", self.z)
            b.bind_cpu_input("state.h", self.h[k])
            if self.style is not None:
                b.bind_cpu_input("style", self.style)
            for name, buf in (("logits", self.logits), ("mean", self.mean), ("scale", self.scale)):
                bind_output_buffer(b, name, buf)
            bind_output_buffer(b, "state.h.next", self.h[1 - k])
            self.bindings.append(b)
        self.session = prior.session

    def load(self, state: PriorState) -> None:
        """Continue from ``state`` (a plain step's)."""
        self.h[self.k][...] = state.h
        self.logits[0], self.mean[0], self.scale[0] = state.logits, state.mean, state.scale
        if self.style is not None:
            self.style[...] = 0.0 if state.style is None else state.style

    @property
    def state(self) -> PriorState:
        """The current state: views of the buffers the next step overwrites."""
        return PriorState(self.h[self.k], self.logits[0], self.mean[0], self.scale[0], self.style)

    def generate(self, frames: int, temperature: float, rng: np.random.Generator) -> np.ndarray:
        """``frames`` sampled frames float32[frames, D], each fed back (``PriorRunner.continue_from``'s loop)."""
        out = np.empty((frames, self.z.shape[1]), np.float32)
        for f in range(frames):
            out[f] = self.z[0] = sample_frame(self.state, temperature, rng)
            self.session.run_with_iobinding(self.bindings[self.k])
            self.k ^= 1
        return out


class PriorGenerator:
    """A ``streaming.LatentBlend`` playing ``prior`` on ``runner``'s latent levels (see the module's text; several
    levels are one frame side by side, ``core/prior_frames.py``).
    ``playing``: generated frames are what the decoder gets now; ``starting``: a start or prime is under way."""

    def __init__(self, runner: ModelRunner, prior: PriorRunner, steps_per_block: int = STEPS_PER_BLOCK):
        m = runner.manifest
        problem = generate_unavailable(m)
        if problem is not None:
            raise BundleError(f"{runner.bundle.path}: {problem}")
        self.prior, self.levels, self.manifest = prior, prior_levels(m), m
        self.dims = level_dims(m, self.levels)
        self.mean = joined_stats(m, self.levels)[0].astype(np.float32)
        self.frame_rate = m.sample_rate / m.latent_hop
        self.burn_in = int(round(BURN_IN_SECONDS * self.frame_rate))
        self.prime_frames = max(1, int(round(PRIME_S * self.frame_rate)))
        self.steps_per_block = max(1, int(steps_per_block))
        self._history = np.zeros((2 * self.prime_frames, sum(self.dims)), np.float32)
        self._bound = BoundPrior(prior)
        self.settings = GenerateSettings()
        self.continue_asked = 0  # written by the GUI thread only
        self._answered = 0  # the worker's copy
        self.reset()

    # ---- the GUI's side -------------------------------------------------------------------------------------
    def set_settings(self, settings: GenerateSettings) -> None:
        self.settings = settings.validated()

    def ask_continue(self) -> bool:
        """Switch on and continue from the input's last ``PRIME_S`` seconds (from the next block the worker plays);
        False when the engine has encoded no input yet (audio off, or just started)."""
        if self.heard == 0:
            return False
        if not self.settings.on:
            self.settings = GenerateSettings(True, self.settings.temperature, self.settings.seed)
        self.continue_asked += 1
        return True

    @property
    def heard_s(self) -> float:
        """Seconds of the input recorded for a continue (at most ``PRIME_S``)."""
        return min(self.heard, self.prime_frames) / self.frame_rate

    # ---- the worker's side ----------------------------------------------------------------------------------
    def reset(self) -> None:
        """The start of a signal (the streaming model's reset): no history, nothing generated yet."""
        self.heard = 0  # input frames recorded since the reset
        self._live = False  # a generation is playing (its state in ``_bound``)
        self._settle = 0  # frames of a continuation still to draw at the settling temperature
        self._rng = np.random.default_rng(0)
        self._job: _Start | None = None
        self._seed: int | None = None
        self._answered = self.continue_asked  # a request from before the reset is dropped
        self.playing = False
        self.starting = False

    def _record(self, frames: np.ndarray) -> None:
        cap = self._history.shape[0]
        for f in frames[-cap:]:
            self._history[self.heard % cap] = f
            self.heard += 1

    def _heard_frames(self) -> np.ndarray:
        """The input's last recorded frames, oldest first (at most ``PRIME_S`` seconds)."""
        n = min(self.heard, self.prime_frames)
        return self._history[np.arange(self.heard - n, self.heard) % self._history.shape[0]]

    def _caught_up(self, job: _Start) -> bool:
        if job.state is None:
            return False
        return job.left == 0 if job.next is None else job.next >= self.heard

    def _advance(self, job: _Start, temperature: float) -> None:
        """Up to ``steps_per_block`` prior steps of ``job``; ``job.done`` once its state is ready to play from."""
        prior = self.prior
        for _ in range(self.steps_per_block):
            if self._caught_up(job):
                break
            if job.next is None:  # burn-in: the mean frame, then frames generated and dropped
                if job.state is None:
                    job.state, job.left = prior.start(self.mean, job.style), self.burn_in
                else:
                    job.state = prior.step(job.state.h, sample_frame(job.state, temperature, job.rng), job.style)
                    job.left -= 1
            else:  # prime: the input's frames, up to the newest
                z = self._history[job.next % self._history.shape[0]]
                job.state = prior.start(z, job.style) if job.state is None else prior.step(job.state.h, z, job.style)
                job.next += 1
        job.done = self._caught_up(job)

    def _play(self, frames: int, temperature: float) -> np.ndarray:
        """The playing generation's next ``frames``; a continuation's first frames at the settling temperature
        (``prior.generate_with_prior`` draws the same)."""
        cool = min(self._settle, frames)
        self._settle -= cool
        parts = [self._bound.generate(cool, SETTLE_TEMPERATURE * temperature, self._rng)] if cool else []
        if frames > cool or not parts:
            parts.append(self._bound.generate(frames - cool, temperature, self._rng))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def __call__(self, latents: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        z = latents[self.levels[0]]  # float32[1, D, F]: the encoder's (a view of a buffer the next block overwrites)
        self._record(z[0].T if len(self.levels) == 1 else played_frames(latents, self.manifest, self.levels))
        asked = self.continue_asked  # before the settings: ask_continue switches on first, then counts
        s = self.settings
        if not s.on:
            self._live, self._job = False, None
            self._seed = None
            self.playing = self.starting = False
            self._answered = asked
            return {name: v.copy() for name, v in latents.items()}
        if self._answered != asked:
            self._answered = asked
            self._job = _Start(
                s.seed, max(0, self.heard - self.prime_frames), self.prior.style_of(self._heard_frames())
            )
        elif s.seed != self._seed or (not self._live and self._job is None):
            self._job = _Start(s.seed)
        self._seed = s.seed
        job = self._job
        out = None
        if self._live:  # what played goes on while a new start is built (and in this block after it)
            out = self._play(z.shape[2], s.temperature)
        if job is not None:
            self._advance(job, s.temperature)
            if job.done:
                self._bound.load(job.state)
                self._live, self._rng, self._job = True, job.rng, None
                self._settle = 0 if job.next is None else settle_frames(self.prior)  # a continue settles first
        self.playing, self.starting = out is not None, self._job is not None
        if out is None:
            return {name: v.copy() for name, v in latents.items()}
        if len(self.levels) == 1:
            return {self.levels[0]: np.ascontiguousarray(out.T[None])}
        return split_levels(out, self.levels, self.dims)


def attach_generator(runner: ModelRunner, streaming_model) -> tuple[PriorGenerator | None, str]:
    """A generator on ``runner``'s prior, made the blend of ``streaming_model``; (None, why) for a bundle that
    cannot generate (no prior, not streaming, a prior over only some of its levels, or a prior onnxruntime cannot load)."""
    problem = generate_unavailable(runner.manifest)
    if problem is not None:
        return None, problem
    try:
        generator = PriorGenerator(runner, PriorRunner(runner.bundle, threads=1))
    except BundleError as exc:
        return None, f"The prior cannot be played: {exc}"
    streaming_model.blend = generator
    return generator, ""
