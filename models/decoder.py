"""Decoders: latent frames -> waveform through an inverse-STFT head (Vocos-style), all at the frame rate."""
from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvNeXtBlock
from .istft import InverseSTFT


class ISTFTDecoder(nn.Module):
    """latent float32[B, latent_dim, F] -> audio float32[B, 1, F * hop].

    A ConvNeXt backbone at the latent frame rate predicts log-magnitude and phase of an n_fft STFT frame per
    latent frame; a fixed inverse STFT turns them into audio. No Griffin-Lim, no learned upsampling: cheap
    at inference (all compute runs at sample_rate / hop frames per second).
    """

    def __init__(self, latent_dim: int, channels: int = 256, blocks: int = 6, n_fft: int = 1024, hop: int = 256):
        super().__init__()
        self.bins = n_fft // 2 + 1
        self.inp = nn.Conv1d(latent_dim, channels, 7, padding=3)
        self.backbone = nn.Sequential(*[ConvNeXtBlock(channels) for _ in range(blocks)])
        self.norm = nn.GroupNorm(1, channels)
        self.head = nn.Conv1d(channels, 2 * self.bins, 1)
        self.istft = InverseSTFT(n_fft, hop)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.backbone(self.inp(z)))
        logmag, phase = self.head(h).split(self.bins, dim=1)
        mag = torch.exp(logmag.clamp(max=6.0))
        return self.istft(mag * torch.cos(phase), mag * torch.sin(phase))
