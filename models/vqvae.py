"""VQ-VAE with finite scalar quantization: strided Conv1d encoder -> FSQ -> inverse-STFT decoder."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .decoder import ISTFTDecoder
from .encoder import WaveEncoder
from .family import AudioAutoencoder
from .fsq import FSQBottleneck


class VQVAE(AudioAutoencoder):
    """audio float32[B, 1, T] -> (reconstruction float32[B, 1, T], aux).

    One level 'z': the CONTINUOUS pre-quantization latent (``latent_dim`` channels, one frame per hop). That is
    what the encoder exports and what the knobs move; ``quantize`` (exported as quantizer.onnx) snaps it to the
    FSQ grid, ``codes`` gives the integer codes int64[B, groups, F]. aux: ``vq/perplexity``, ``vq/usage``.
    The encoder ends in a BatchNorm without affine, so the continuous latent has unit variance per channel;
    ``fsq_entropy_weight`` > 0 adds FSQ's code-entropy penalty ``loss/fsq_entropy``.
    """

    family = "vqvae"
    has_quantizer = True

    def __init__(
        self,
        *,
        latent_dim: int,
        fsq_levels: tuple[int, ...],
        enc_channels: int,
        strides: tuple[int, ...],
        enc_max_channels: int,
        dec_channels: int,
        dec_blocks: int,
        n_fft: int,
        fsq_entropy_weight: float,
        phase: str,
    ):
        super().__init__()
        # BatchNorm without affine: per channel mean 0 / std 1 over the data (running statistics at inference, a
        # fixed per-channel affine map in encoder.onnx), so FSQ's grid is covered by construction. Without it,
        # brief corpus runs sat in one cell (default init, latent std 0.03) or saturated tanh (|z| ~ 2.5) and used
        # 3-6 codes per group.
        self.encoder = nn.Sequential(
            WaveEncoder(latent_dim, enc_channels, tuple(strides), enc_max_channels),
            nn.BatchNorm1d(latent_dim, affine=False, momentum=0.01),
        )
        self.hop = self.encoder[0].hop
        self.quantizer = FSQBottleneck(latent_dim, tuple(fsq_levels), fsq_entropy_weight)
        self.decoder = ISTFTDecoder(latent_dim, dec_channels, dec_blocks, n_fft, self.hop, phase)
        self.levels = (("z", latent_dim, self.hop),)

    def encode(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"z": self.encoder(audio)}

    def quantize(self, latents: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"z": self.quantizer.quantize(latents["z"])}

    def codes(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.quantizer.codes(latents["z"])

    def decode(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decoder(latents["z"])

    def extra_manifest(self) -> dict:
        q = self.quantizer
        return {
            "quantizer": {"type": "fsq", "levels": list(q.levels), "groups": q.groups, "codebook_size": q.codebook_size}
        }

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        t = audio.shape[-1]
        x = F.pad(audio, (0, (-t) % self.hop))
        z = self.encoder(x)
        zq, aux = self.quantizer(z)
        aux["latent/z"] = zq.detach()
        return self.decoder(zq)[..., :t], aux

    def components(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "quantizer": self.quantizer, "decoder": self.decoder}
