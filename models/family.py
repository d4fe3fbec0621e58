"""The family contract: what every autoencoder family implements, and what the trainer and export call on it.

A family is an ``nn.Module`` subclass of :class:`AudioAutoencoder` plus a config dataclass in ``models/configs.py``,
registered in ``models/registry.py``. The trainer calls ``forward`` (and ``components`` to freeze parts); export
calls ``encode``/``posterior``, ``quantize``, ``decode`` and the ``*_stream`` steps, and writes what the
declarations below say into the bundle's manifest. Capabilities are declared as class attributes, never probed.

Shapes: audio float32[B, 1, T] (T a multiple of the coarsest hop); a latent level float32[B, D, T / hop].
"""

from __future__ import annotations

import abc

import torch
from torch import nn


class AudioAutoencoder(nn.Module, abc.ABC):
    family: str = ""
    # --- declarations (class attributes; export and the trainer read them) ---------------------------------
    gaussian: bool = False  # posterior() exists: encoder.onnx also emits each level's posterior std
    has_quantizer: bool = False  # quantize() is a real step, exported as quantizer.onnx; codes() gives its codes
    integrates_phase: bool = False  # the decoder integrates a latent over time: export checks parity per part
    causal: bool = False  # streams block by block (the *_stream methods); instances may set it from their config
    # --- set by the constructor -----------------------------------------------------------------------------
    levels: tuple[tuple[str, int, int], ...]  # (name, channels, hop in samples), coarsest first
    lookahead: int = 0  # causal: frames of future the output waits for
    delay: int = 0  # causal: output sample t reproduces input sample t - delay

    # --- the autoencoder ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def encode(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Audio -> {level: latent} (the posterior mean for Gaussian families)."""

    def posterior(self, audio: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Gaussian families: audio -> {level: (mean, std)}."""
        raise NotImplementedError(f"{self.family} is not Gaussian")

    def quantize(self, latents: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The latent as the decoder receives it (identity unless ``has_quantizer``)."""
        return latents

    def codes(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        """``has_quantizer``: the integer codes of the quantized latent."""
        raise NotImplementedError(f"{self.family} has no quantizer")

    @abc.abstractmethod
    def decode(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        """{level: latent} -> audio."""

    def decode_extra(self, latents: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Extra decoder outputs the bundle exports after 'audio' (mel-vae: its mel); none by default."""
        return {}

    @abc.abstractmethod
    def forward(self, audio: torch.Tensor, **labels) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training pass: audio -> (reconstruction, aux): aux's ``loss/*`` terms are added to the loss, its
        ``stats/*`` logged (trainer/losses.py, trainer/run_log.py)."""

    @abc.abstractmethod
    def components(self) -> dict[str, nn.Module]:
        """Named parts ('encoder', 'decoder', ...); checkpoints store them separately, ``adv.freeze_encoder``
        trains only 'decoder'."""

    # --- what the bundle declares ---------------------------------------------------------------------------
    def extra_manifest(self) -> dict:
        """Family-specific facts the player needs (mel normalisation, quantizer grid, ...)."""
        return {}

    def controls(self) -> list[dict]:
        """Knobs with a meaning (core/bundle.py's Control fields: name, unit, range, channel, ...)."""
        return []

    def parity_weights(self, latents: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-level weights export's parity checks multiply errors by (e.g. to ignore silent frames)."""
        return {}

    # --- streaming (``causal`` families) ---------------------------------------------------------------------
    def stream_state_shapes(self) -> dict[str, list[tuple[str, int, int]]]:
        """Per part ('encoder', 'decoder'): the states a block step carries."""
        raise NotImplementedError(f"{self.family} does not stream")

    def encode_stream(self, audio: torch.Tensor, states: list[torch.Tensor]):
        """One block: (latents, next states)."""
        raise NotImplementedError(f"{self.family} does not stream")

    def posterior_stream(self, audio: torch.Tensor, states: list[torch.Tensor]):
        """Gaussian causal families: one block -> ({level: (mean, std)}, next states)."""
        raise NotImplementedError(f"{self.family} does not stream")

    def decode_stream(self, latents: dict[str, torch.Tensor], states: list[torch.Tensor]):
        """One block of latents -> (audio, next states)."""
        raise NotImplementedError(f"{self.family} does not stream")
