"""Block-by-block playing of a streaming (causal) bundle: encoder step -> knobs per frame -> decoder step.

The states the ONNX parts carry are held here, swapped for the next ones after every block; the sessions are the
runner's, created once. Live playing (:class:`StreamingProcessor`, the engine's ``streaming`` mode) and offline
rendering (:func:`render_stream`) run the same :class:`StreamingModel`, so a render equals what live plays.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol

import numpy as np

from .axis_effects import MAX_COMPENSATION_DB
from .bundle import StateSpec
from .dsp import DcBlocker
from .latent import LatentControls, LevelAxes, apply_declared
from .session import ModelRunner, step_part

SMOOTH_FRAMES = 4  # a knob move ramps over 4 latent frames (46 ms at hop 256): no step in the latent, no click
DRY_CROSSFADE = 64  # samples over which a late block's output turns into the dry signal and back
# a render's onnxruntime calls take this many of the bundle's blocks (3 s at 256 samples, 22.05 kHz): 5 minutes
# rendered in 1.33-1.53 s of model time against 1.69-1.97 s at 64 blocks (docs/streaming.md, round 7)
RENDER_BLOCKS = 256
TIMING_WINDOW = 512  # blocks of compute times kept for the p99 (6 s at 256 samples, 22.05 kHz)


def _params(controls: LatentControls, level: str, dim: int) -> np.ndarray:
    """float64[2, D]: a level's (offsets in std units, scales) as ``LatentControls.apply`` reads them."""
    out = np.zeros((2, dim), np.float64)
    out[1] = 1.0
    offs, scs = controls.offsets.get(level), controls.scales.get(level)
    if offs:
        out[0, : len(offs)] = offs[:dim]
    if scs:
        out[1, : len(scs)] = scs[:dim]
    return out


def apply_per_frame(z: np.ndarray, ax: LevelAxes, params: np.ndarray) -> np.ndarray:
    """z float32[1, D, F], params float64[F, 2, D] (offset, scale per frame) -> float32[1, D, F]: the knobs of
    ``LatentControls.apply``, which are linear in offset and scale, so ramping them ramps the output."""
    centred = z[0] - ax.mean[:, None]
    coords = ax.components @ centred  # [D, F]
    coords = coords * params[:, 1, :].T + (params[:, 0, :] * ax.sigma[None, :]).T
    return (ax.components.T @ coords + ax.mean[:, None]).astype(np.float32)[None]


def bind_output_buffer(binding, name: str, buf: np.ndarray) -> None:
    """Bind output ``name`` to ``buf`` (float32, on the CPU): onnxruntime writes it there, allocating nothing."""
    binding.bind_output(name, "cpu", 0, np.float32, list(buf.shape), buf.ctypes.data)


class BoundSteps:
    """The encoder and decoder steps for blocks of ``n`` samples through onnxruntime IO bindings: the input block,
    the latents, the output and both parts' states live in buffers allocated once. Each call reads the states
    from one buffer of a pair and writes the next states into the other; the pair is then swapped, so a block
    allocates nothing (``ModelRunner.encode_step`` would allocate every output, states included)."""

    def __init__(self, runner: ModelRunner, n: int):
        self.runner = runner
        self.n = n
        frames = n // runner.manifest.latent_hop
        self.x = np.zeros((1, 1, n), np.float32)
        self.y = np.zeros((1, 1, n), np.float32)
        self.z_out = {lv.name: np.zeros((1, lv.dim, frames), np.float32) for lv in runner.manifest.levels}
        self.z_in = {name: np.zeros_like(z) for name, z in self.z_out.items()}
        self.states = {part: (runner.zero_states(part), runner.zero_states(part)) for part in ("encoder", "decoder")}
        self.k = 0  # the pair's buffer holding the current states
        self.bindings = {}
        for k in (0, 1):
            for part, (ins, outs) in (
                ("encoder", ({"audio": self.x}, self.z_out)),
                ("decoder", (self.z_in, {"audio": self.y})),
            ):
                b = runner.sessions[part].io_binding()
                for name, buf in ins.items():
                    b.bind_cpu_input(name, buf)
                for name, buf in outs.items():
                    bind_output_buffer(b, name, buf)
                for spec in runner.state_specs[part]:
                    b.bind_cpu_input(spec.name, self.states[part][k][spec.name])
                    bind_output_buffer(b, spec.output, self.states[part][1 - k][spec.name])
                self.bindings[(part, k)] = b

    def current(self, part: str) -> dict[str, np.ndarray]:
        """The states the next call reads (writable in place)."""
        return self.states[part][self.k]

    def reset(self) -> None:
        for pair in self.states.values():
            for states in pair:
                for buf in states.values():
                    buf.fill(0.0)
        self.k = 0

    def encode(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """float32[n] -> {level: float32[1, D, F]}: views of buffers the next call overwrites."""
        self.x[0, 0] = x
        self.runner.sessions["encoder"].run_with_iobinding(self.bindings[("encoder", self.k)])
        return self.z_out

    def decode(self, latents: dict[str, np.ndarray]) -> np.ndarray:
        """Latents -> float32[n] (a copy); the states of both parts advance."""
        for name, buf in self.z_in.items():
            buf[...] = latents[name]
        self.runner.sessions["decoder"].run_with_iobinding(self.bindings[("decoder", self.k)])
        self.k ^= 1
        return self.y[0, 0].copy()


class LatentBlend(Protocol):
    """Changes each block's latents before the knobs (a morph mixes in another signal's): ``reset`` at the start
    of a signal, then ``blend(latents, n)`` for every block of ``n`` samples, in order."""

    def reset(self) -> None: ...

    def __call__(self, latents: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]: ...


class StreamingModel:
    """One stream through a streaming bundle. ``process(x)``: float32[N] -> float32[N], N a multiple of the latent
    hop; output sample t reproduces input sample t - ``delay``. ``controls`` may be swapped at any time (or
    ``controls_of`` given, read once per block): the knobs move to the new values over ``SMOOTH_FRAMES`` frames.
    The input passes a DC blocker (``dsp.DcBlocker``, its state carried like the model's) before the encoder, unless
    ``dc_block`` is False (an evaluation that blocks its input once for every system it compares)."""

    def __init__(
        self,
        runner: ModelRunner,
        controls: LatentControls | None = None,
        controls_of: Callable[[], LatentControls] | None = None,
        blend: "LatentBlend | None" = None,
        dc_block: bool = True,
    ):
        if runner.streaming is None:
            raise ValueError(f"{runner.bundle.path}: not a streaming bundle (no 'streaming' section in its manifest)")
        self.runner = runner
        self.manifest = runner.manifest
        self.block = runner.streaming.block
        self.delay = runner.streaming.delay
        self.hop = self.manifest.latent_hop
        self.controls = controls or LatentControls()
        self.controls_of = controls_of
        self.blend = blend
        self.last_latents: dict[str, np.ndarray] | None = None
        # blocks of the bundle's size (the live ones) go through preallocated, swapped buffers; others (a render's
        # larger blocks, a last short one) through plain calls that read and write the same current states
        # (on the CPU provider; with CUDA the plain calls, whose copies to and from the device are onnxruntime's)
        self.bound = BoundSteps(runner, self.block)
        self._bind = runner.provider == "CPUExecutionProvider"
        self.dc = DcBlocker(self.manifest.sample_rate) if dc_block else None
        self.reset()

    @property
    def enc_states(self) -> dict[str, np.ndarray]:
        return self.bound.current("encoder")

    @property
    def dec_states(self) -> dict[str, np.ndarray]:
        return self.bound.current("decoder")

    def _advance(self, part: str, states: dict[str, np.ndarray]) -> None:
        """After a plain call: its next states become the current ones (copied into the current buffers)."""
        current = self.bound.current(part)
        for name, value in states.items():
            current[name][...] = value

    def reset(self) -> None:
        """Zero states: the next block is the start of a signal."""
        self.bound.reset()
        if self.dc is not None:
            self.dc.reset()
        if self.blend is not None:
            self.blend.reset()
        self._current: dict[str, np.ndarray] = {}
        self._ramp: dict[str, tuple[np.ndarray, int]] = {}  # level -> (per-frame step, frames left)
        self._target: LatentControls | None = None
        # current value of each ('set' controls: None while they hold no value)
        self._declared = {c.name: None if c.transform == "set" else c.default for c in self.manifest.controls}
        self._declared_goal = dict(self._declared)
        self._declared_step = {c.name: 0.0 for c in self.manifest.controls}

    def glide_frames(self, controls: LatentControls) -> int:
        """Latent frames a declared control takes to reach a new value: ``controls.glide_s`` rounded to whole
        frames (at least 1: the next frame), or ``SMOOTH_FRAMES`` when the controls do not say."""
        if controls.glide_s is None:
            return SMOOTH_FRAMES
        return max(1, int(round(controls.glide_s * self.manifest.sample_rate / self.hop)))

    def _declared_frames(self, controls: LatentControls, frames: int) -> dict[str, np.ndarray]:
        """Per declared control, float64[F] values for this block's frames, moving in a straight line to a new
        value over the glide (``glide_frames``; by default ``SMOOTH_FRAMES``, like the PCA knobs); controls at
        their default all block long are left out."""
        out = {}
        for c in self.manifest.controls:
            if c.transform == "set":  # absent: no override, and the next value starts where it is (no glide in)
                if c.name not in controls.values:
                    self._declared[c.name] = self._declared_goal[c.name] = None
                    continue
                if self._declared[c.name] is None:
                    self._declared[c.name] = self._declared_goal[c.name] = float(controls.values[c.name])
            goal = min(max(float(controls.values.get(c.name, c.default)), c.minimum), c.maximum)
            cur = self._declared[c.name]
            if goal != self._declared_goal[c.name]:
                self._declared_goal[c.name] = goal
                self._declared_step[c.name] = (goal - cur) / self.glide_frames(controls)
            step = self._declared_step[c.name]
            rows = cur + step * np.arange(1, frames + 1)
            rows = np.minimum(rows, goal) if step > 0 else np.maximum(rows, goal) if step < 0 else np.full(frames, cur)
            self._declared[c.name] = float(rows[-1])
            if c.transform == "set" or np.any(rows != c.default):
                out[c.name] = rows
        return out

    def _frame_params(self, controls: LatentControls, frames: int) -> dict[str, np.ndarray] | None:
        """Per level float64[F, 2, D] knob values for this block's frames (None: all neutral, no ramp)."""
        if controls is not self._target:
            for level in self.manifest.levels:
                target = _params(controls, level.name, level.dim)
                cur = self._current.setdefault(level.name, _params(LatentControls(), level.name, level.dim))
                if not np.array_equal(target, cur):
                    self._ramp[level.name] = ((target - cur) / SMOOTH_FRAMES, SMOOTH_FRAMES)
                else:
                    self._ramp.pop(level.name, None)
            self._target = controls
        if not self._ramp and controls.is_neutral():
            return None
        out = {}
        for level in self.manifest.levels:
            cur = self._current.setdefault(level.name, _params(LatentControls(), level.name, level.dim))
            rows = np.repeat(cur[None], frames, 0)
            if level.name in self._ramp:
                step, left = self._ramp[level.name]
                k = np.arange(1, frames + 1)
                rows = cur[None] + step[None] * np.minimum(k, left)[:, None, None]
                left -= min(left, frames)
                self._current[level.name] = rows[-1].copy()
                if left:
                    self._ramp[level.name] = (step, left)
                else:
                    del self._ramp[level.name]
                    self._current[level.name] = _params(self._target, level.name, level.dim)
            out[level.name] = rows
        return out

    def process(self, x: np.ndarray, signal: int | None = None) -> np.ndarray:
        """``signal``: only the first ``signal`` samples of ``x`` are the signal, the rest the zeros a render pads
        it with past its end. They are zeros after the DC blocker: fed through it, they would be a step from the
        signal's offset down to 0, and the model would play that step as a click in the render's last 12 ms."""
        if self.dc is not None:
            if signal is None or signal >= x.shape[0]:
                x = self.dc.process(x)
            else:
                x = np.concatenate(
                    [self.dc.process(x[: max(signal, 0)]), np.zeros(x.shape[0] - max(signal, 0), np.float32)]
                )
        n = x.shape[0]
        bound = self._bind and n == self.bound.n
        if bound:
            lat = self.bound.encode(x)
            self.last_latents = {name: z.copy() for name, z in lat.items()}  # the GUI reads it from its thread
        else:
            lat, states = self.runner.encode_step(np.ascontiguousarray(x, np.float32)[None, None, :], self.enc_states)
            self._advance("encoder", states)
            self.last_latents = lat
        if self.blend is not None:
            lat = self.last_latents = self.blend(lat, n)
        controls = self.controls_of() if self.controls_of is not None else self.controls
        params = self._frame_params(controls, n // self.hop)
        if params is not None:
            lat = {name: apply_per_frame(z, self.runner.axes[name], params[name]) for name, z in lat.items()}
        if self.manifest.controls:
            lat = apply_declared(lat, self.manifest.controls, self._declared_frames(controls, n // self.hop))
        if bound:
            y = self.bound.decode(self.runner.quantize(lat))
        else:
            y, states = self.runner.decode_step(self.runner.quantize(lat), self.dec_states)
            self._advance("decoder", states)
            y = y[0, 0]
        return y if params is None else self._compensate(y, params)

    def _compensate(self, y: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        """The knobs' level change undone frame by frame, following their ramp (manifest ``axis_effects``)."""
        effects = self.manifest.axis_effects
        if effects is None:
            return y
        db = sum(effects.compensation_db(name, rows[:, 0, :]) for name, rows in params.items())
        db = np.clip(db, -MAX_COMPENSATION_DB, MAX_COMPENSATION_DB)
        if not np.any(db):
            return y
        gain = np.repeat(10.0 ** (np.asarray(db) / 20.0), y.shape[0] // db.shape[0]).astype(np.float32)
        return y * gain


class StreamingProcessor:
    """The engine's ``streaming`` mode, with the overlap-add processors' ``push`` contract: ``push(x)`` takes any
    number of samples and returns a multiple of ``block``; output sample j is input sample j - ``latency``.

    ``is_late()`` is asked before each block: a late block is still computed (the states must advance) but its
    output is replaced by the dry input (delayed like the model's output), crossfaded over ``DRY_CROSSFADE``
    samples, and counted in ``late_blocks``. Compute times of the last ``TIMING_WINDOW`` blocks give ``p99_s``."""

    def __init__(self, model: StreamingModel, block: int | None = None, is_late: Callable[[], bool] | None = None):
        self.model = model
        self.block = int(block or model.block)
        if self.block <= 0 or self.block % model.hop:
            raise ValueError(f"block {self.block} must be a positive multiple of the latent hop {model.hop}")
        self.is_late = is_late
        self.latency = model.delay
        self.late_blocks = 0
        self.times = np.zeros(TIMING_WINDOW, np.float64)
        self.count = 0
        self.reset()

    def reset(self) -> None:
        self.model.reset()
        self._pending = np.zeros(0, np.float32)
        self._dry = np.zeros(self.latency, np.float32)
        self._mix = 0.0  # 0 = model output, 1 = dry

    @property
    def p99_s(self) -> float:
        n = min(self.count, TIMING_WINDOW)
        return float(np.percentile(self.times[:n], 99)) if n else 0.0

    def _dry_block(self, x: np.ndarray) -> np.ndarray:
        """The input delayed by ``latency`` (what the output would be with an identity model)."""
        if not self.latency:
            return x
        full = np.concatenate([self._dry, x])
        self._dry = full[full.shape[0] - self.latency :]
        return full[: x.shape[0]]

    def _step(self, x: np.ndarray) -> np.ndarray:
        late = bool(self.is_late()) if self.is_late is not None else False
        t0 = time.perf_counter()
        y = self.model.process(x)
        self.times[self.count % TIMING_WINDOW] = time.perf_counter() - t0
        self.count += 1
        dry = self._dry_block(x)
        target = 1.0 if late else 0.0
        self.late_blocks += int(late)
        if target == self._mix == 0.0:
            return y
        ramp = np.full(y.shape[0], target, np.float32)
        k = min(DRY_CROSSFADE, y.shape[0])
        ramp[:k] = self._mix + (target - self._mix) * (np.arange(1, k + 1, dtype=np.float32) / k)
        self._mix = target
        return (y + ramp * (dry - y)).astype(np.float32)

    def push(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32).reshape(-1)
        pending = np.concatenate([self._pending, x]) if self._pending.size else x
        n = pending.shape[0] // self.block
        out = np.empty(n * self.block, np.float32)
        for k in range(n):
            out[k * self.block : (k + 1) * self.block] = self._step(pending[k * self.block : (k + 1) * self.block])
        self._pending = pending[n * self.block :].copy()
        return out


def run_part(
    session,
    inputs: dict[str, np.ndarray],
    outputs: list[str],
    specs: tuple[StateSpec, ...] | list[StateSpec],
    step: int,
) -> list[np.ndarray]:
    """One part of a streaming bundle over whole inputs (time on the last axis, every input as long), from zero
    states, ``step`` time steps per onnxruntime call (the part's own time: samples for the encoder, latent frames
    for the decoder; a ``step`` past the end runs it in one call, the offline output): its ``outputs``, each
    concatenated along time. No knobs, no DC blocker: the graphs as exported (export's parity checks)."""
    length = next(iter(inputs.values())).shape[-1]
    states = {s.name: np.zeros(s.shape, np.float32) for s in specs}
    pieces = []
    for start in range(0, length, step):
        feeds = {k: np.ascontiguousarray(v[..., start : start + step]) for k, v in inputs.items()}
        outs, states = step_part(session, feeds, outputs, specs, states)
        pieces.append(outs)
    return [np.concatenate([p[i] for p in pieces], axis=-1) for i in range(len(outputs))]


def render_stream(
    x: np.ndarray, model: StreamingModel, block: int | None = None, progress: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """A whole signal float32[T] through the streaming model in one pass, block by block from zero states, with
    the model's delay removed: float32[T], time-aligned with ``x``. ``block`` (default: 256 of the bundle's
    blocks) only changes how many samples each onnxruntime call takes; the output equals the live one to 1e-4."""
    block = int(block or model.block * RENDER_BLOCKS)
    hop = model.hop
    block = max(hop, block - block % hop)
    model.reset()
    x = np.ascontiguousarray(x, np.float32)
    total = x.shape[0] + model.delay
    total += (-total) % hop
    # blocks are read from x itself (a padded copy of a 5-minute signal costs more in page faults than its blocks
    # cost in Python); only the tail past the signal (the delay, the last frame) is zeros
    out = np.empty(total, np.float32)
    for start in range(0, total, block):
        end = min(start + block, total)
        chunk = x[start:end]
        signal = chunk.shape[0]
        if signal < end - start:
            chunk = np.concatenate([chunk, np.zeros(end - start - signal, np.float32)])
        out[start:end] = model.process(chunk, signal)
        if progress is not None:
            progress(end, total)
    return out[model.delay : model.delay + x.shape[0]]
