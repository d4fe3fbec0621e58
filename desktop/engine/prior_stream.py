"""Generate mode's engine: a bundle's learned prior played block by block through the streaming decoder.

``PriorStream.next_block()`` steps the prior over one streaming block's frames and decodes them with the
decoder's carried states: the same frames and, to the bundle's streaming parity, the same audio as the offline
``generate_with_prior`` with the same seed. Temperature and the latent knobs may change between blocks;
``continue_from(audio)`` primes the prior with the latents of audio just played ("continue from what I just
played") and generation carries on from there without resetting the decoder.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from core.audiofile import Audio
from core.bundle import BundleError
from core.latent import LatentControls
from core.session import ModelRunner

from .prior import PriorRunner, encode_prime


class PriorStream:
    def __init__(
        self,
        runner: ModelRunner,
        prior: PriorRunner,
        temperature: float = 1.0,
        seed: int = 0,
        controls_of: Callable[[], LatentControls] = LatentControls,
    ):
        m = runner.manifest
        if m.streaming is None:
            raise BundleError(f"{runner.bundle.path}: generate mode needs a streaming bundle")
        self.runner, self.prior, self.controls_of = runner, prior, controls_of
        self.level = m.levels[0]
        self.block = m.streaming.block
        self.frames_per_block = self.block // self.level.hop
        self.temperature = float(temperature)
        self.rng = np.random.default_rng(seed)
        self.state = prior.unprimed(runner.axes[self.level.name].mean, self.temperature, self.rng)
        self.decoder_states = runner.zero_states("decoder")

    def set_temperature(self, temperature: float) -> None:
        if not temperature >= 0:
            raise ValueError(f"temperature {temperature} must be >= 0")
        self.temperature = float(temperature)

    def next_block(self) -> np.ndarray:
        """float32[block] at the model rate."""
        frames, self.state = self.prior.continue_from(self.state, self.frames_per_block, self.temperature, self.rng)
        latents = self.controls_of().apply({self.level.name: np.ascontiguousarray(frames.T[None])}, self.runner.axes)
        audio, self.decoder_states = self.runner.decode_step(latents, self.decoder_states)
        return audio[0, 0]

    def continue_from(self, audio: np.ndarray, sample_rate: int) -> int:
        """Prime with mono ``audio`` (what was just played); returns the frames primed. The next block continues
        it; the decoder keeps its states, so the sound does not restart."""
        frames = encode_prime(self.runner, Audio(np.asarray(audio, np.float32).reshape(1, -1), sample_rate))
        if len(frames) == 0:
            raise ValueError("nothing to continue from: the audio is empty")
        self.state = self.prior.prime(frames)
        return len(frames)
