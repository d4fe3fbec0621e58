"""Waveform VAE: strided Conv1d encoder -> Gaussian latent -> inverse-STFT decoder."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .bottleneck import GaussianBottleneck
from .decoder import ISTFTDecoder
from .encoder import WaveEncoder
from .family import AudioAutoencoder


class WaveformVAE(AudioAutoencoder):
    """audio float32[B, 1, T] -> (reconstruction float32[B, 1, T], aux).

    Latent: one level 'z' of ``latent_dim`` channels, one frame per ``hop`` samples. ``forward`` pads T up to
    a multiple of ``hop`` and crops back, so any length works; ``encode``/``decode`` (what ONNX exports)
    need T to be a multiple of ``hop``.
    """

    family = "waveform-vae"
    gaussian = True

    def __init__(
        self,
        *,
        latent_dim: int,
        enc_channels: int,
        strides: tuple[int, ...],
        enc_max_channels: int,
        dec_channels: int,
        dec_blocks: int,
        n_fft: int,
        phase: str,
    ):
        super().__init__()
        self.encoder = WaveEncoder(2 * latent_dim, enc_channels, tuple(strides), enc_max_channels)
        self.hop = self.encoder.hop
        self.bottleneck = GaussianBottleneck(latent_dim)
        self.decoder = ISTFTDecoder(latent_dim, dec_channels, dec_blocks, n_fft, self.hop, phase)
        self.levels = (("z", latent_dim, self.hop),)

    def encode(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Deterministic latents (posterior means): {'z': float32[B, D, T / hop]}."""
        return {"z": self.bottleneck.deterministic(self.encoder(audio))}

    def posterior(self, audio: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{'z': (mean, std)}, each float32[B, D, T / hop]: export adds std as the encoder's 'z_scale' output."""
        return {"z": self.bottleneck.split(self.encoder(audio))}

    def quantize(self, latents: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return latents

    def decode(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decoder(latents["z"])

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        t = audio.shape[-1]
        x = F.pad(audio, (0, (-t) % self.hop))
        z, aux = self.bottleneck(self.encoder(x))
        aux["latent/z"] = z.detach()
        return self.decoder(z)[..., :t], aux

    def components(self) -> dict[str, nn.Module]:
        """Named parts whose state dicts are saved and loaded separately."""
        return {"encoder": self.encoder, "bottleneck": self.bottleneck, "decoder": self.decoder}
