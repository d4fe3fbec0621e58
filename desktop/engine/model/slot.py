"""The model slot: a loaded bundle's window function (and streaming model) plus the compute times the live engine
schedules it by, measured once at load."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from core.latent import LatentControls
from core.session import ModelRunner, WindowModel
from core.streaming import StreamingModel

from .generate import PriorGenerator, attach_generator, generate_unavailable


@dataclass
class ModelSlot:
    """A window function plus what the engine needs to schedule it. ``window_model`` is set for real bundles
    (knobs and live latents); tests may pass any float32[W] -> float32[W] function."""

    fn: Callable[[np.ndarray], np.ndarray]
    sample_rate: int
    window: int
    name: str = "custom"
    provider: str = "cpu"
    window_model: WindowModel | None = None
    compute_s: float = 0.0
    info: dict = field(default_factory=dict)
    grid: int = 1  # the window hop is kept a multiple of this (the bundle's coarsest latent hop)
    streaming_model: StreamingModel | None = None  # streaming bundles: the block-by-block path
    block_p99_s: float = 0.0  # streaming: p99 compute time of one block, measured at load
    generator: PriorGenerator | None = None  # Generate mode: the bundle's prior as the streaming model's blend
    generate_problem: str = ""  # why there is no generator (the Generate control's tooltip)

    @classmethod
    def from_runner(cls, runner: ModelRunner, controls: LatentControls | None = None) -> "ModelSlot":
        wm = WindowModel(runner, controls or LatentControls())
        m = runner.manifest
        slot = cls(wm, m.sample_rate, m.window, runner.bundle.name, runner.short_provider, wm, grid=m.pad_multiple)
        slot.measure()
        if runner.streaming is not None:
            slot.streaming_model = StreamingModel(runner, controls_of=lambda: wm.controls)
            slot.generator, slot.generate_problem = attach_generator(runner, slot.streaming_model)
            slot.measure_blocks()
        else:
            slot.generate_problem = generate_unavailable(m) or ""
        wm.last_latents = None
        return slot

    def measure_blocks(self, blocks: int = 200) -> float:
        """Streaming: p99 of the time one block takes (after a warm-up), over ``blocks`` blocks of a tone."""
        sm = self.streaming_model
        n = sm.block
        x = (0.05 * np.sin(np.arange(n * (blocks + 20)) * 0.05)).astype(np.float32)
        times = []
        for k in range(blocks + 20):
            t0 = time.perf_counter()
            sm.process(x[k * n : (k + 1) * n])
            times.append(time.perf_counter() - t0)
        sm.reset()
        self.block_p99_s = float(np.percentile(times[20:], 99))
        return self.block_p99_s

    @classmethod
    def identity(cls, sample_rate: int = 22050, window: int = 22050) -> "ModelSlot":
        return cls(lambda w: w, sample_rate, window, "identity", "cpu")

    def measure(self, runs: int = 3) -> float:
        """Time one window (after a warm-up): the engine sizes its safety margin from it."""
        x = (0.05 * np.sin(np.arange(self.window) * 0.05)).astype(np.float32)
        self.fn(x)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self.fn(x)
            times.append(time.perf_counter() - t0)
        self.compute_s = float(np.median(times))
        return self.compute_s
