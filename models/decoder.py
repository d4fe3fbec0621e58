"""Decoders: latent frames -> waveform through an inverse-STFT head (Vocos-style), all at the frame rate."""
from __future__ import annotations

import math

import torch
from torch import nn

from .blocks import ConvNeXtBlock
from .istft import InverseSTFT

PHASE_MODES = ("direct", "cumulative")


class ISTFTDecoder(nn.Module):
    """latent float32[B, latent_dim, F] -> audio float32[B, 1, F * hop].

    A ConvNeXt backbone at the latent frame rate predicts log-magnitude and phase of an n_fft STFT frame per
    latent frame (``phase='direct'``) or, with ``phase='cumulative'``, each bin's phase advance over its
    centre frequency, summed along time; a fixed inverse STFT turns them into audio. No Griffin-Lim, no learned upsampling: cheap
    at inference (all compute runs at sample_rate / hop frames per second).
    """

    def __init__(self, latent_dim: int, channels: int = 256, blocks: int = 6, n_fft: int = 1024, hop: int = 256,
                 phase: str = "direct"):
        super().__init__()
        if phase not in PHASE_MODES:
            raise ValueError(f"unknown phase mode '{phase}' (known: {', '.join(PHASE_MODES)})")
        self.bins, self.phase_mode = n_fft // 2 + 1, phase
        # cumulative: bin k advances by 2*pi*k*hop/n_fft per frame (a steady sinusoid at the bin centre) plus a
        # predicted deviation, so an untrained decoder already continues partials coherently across frames
        advance = 2 * math.pi * torch.arange(self.bins, dtype=torch.float64) * hop / n_fft
        self.register_buffer("advance", torch.remainder(advance, 2 * math.pi).float()[None, :, None],
                             persistent=False)
        self.inp = nn.Conv1d(latent_dim, channels, 7, padding=3)
        self.backbone = nn.Sequential(*[ConvNeXtBlock(channels) for _ in range(blocks)])
        self.norm = nn.GroupNorm(1, channels)
        self.head = nn.Conv1d(channels, 2 * self.bins, 1)
        self.istft = InverseSTFT(n_fft, hop)

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """latent float32[B, latent_dim, F] -> backbone features float32[B, channels, F]."""
        return self.norm(self.backbone(self.inp(z)))

    def audio(self, h: torch.Tensor) -> torch.Tensor:
        """features -> audio float32[B, 1, F * hop] through the log-magnitude/phase head and the inverse STFT."""
        logmag, phase = self.head(h).split(self.bins, dim=1)
        if self.phase_mode == "cumulative":
            phase = torch.cumsum(phase + self.advance, dim=-1)
        mag = torch.exp(logmag.clamp(max=6.0))
        return self.istft(mag * torch.cos(phase), mag * torch.sin(phase))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.audio(self.features(z))
