"""Decoders: latent frames -> waveform through an inverse-STFT head (Vocos-style), all at the frame rate."""

from __future__ import annotations

import math

import torch
from torch import nn

from .blocks import ConvNeXtBlock
from .causal import CausalConv1d, ChannelNorm, state_shapes_of, stream_modules
from .istft import CausalInverseSTFT, InverseSTFT

PHASE_MODES = ("direct", "cumulative")


class ISTFTDecoder(nn.Module):
    """latent float32[B, latent_dim, F] -> audio float32[B, 1, F * hop].

    A ConvNeXt backbone at the latent frame rate predicts log-magnitude and phase of an n_fft STFT frame per
    latent frame (``phase='direct'``) or, with ``phase='cumulative'``, each bin's phase advance over its
    centre frequency, summed along time; a fixed inverse STFT turns them into audio. No Griffin-Lim, no learned upsampling: cheap
    at inference (all compute runs at sample_rate / hop frames per second).

    ``causal``: left-padded convolutions, per-frame norms and :class:`CausalInverseSTFT`; ``stream`` runs it
    block by block with explicit states (``phase='direct'`` only: a cumulative phase would be one more state).
    """

    def __init__(
        self,
        latent_dim: int,
        channels: int = 256,
        blocks: int = 6,
        n_fft: int = 1024,
        hop: int = 256,
        phase: str = "direct",
        causal: bool = False,
        hidden: int = 0,
    ):
        super().__init__()
        if phase not in PHASE_MODES:
            raise ValueError(f"unknown phase mode '{phase}' (known: {', '.join(PHASE_MODES)})")
        if causal and phase != "direct":
            raise ValueError("a causal decoder supports phase 'direct' only")
        self.causal = bool(causal)
        self.bins, self.phase_mode = n_fft // 2 + 1, phase
        # cumulative: bin k advances by 2*pi*k*hop/n_fft per frame (a steady sinusoid at the bin centre) plus a
        # predicted deviation, so an untrained decoder already continues partials coherently across frames
        advance = 2 * math.pi * torch.arange(self.bins, dtype=torch.float64) * hop / n_fft
        self.register_buffer("advance", torch.remainder(advance, 2 * math.pi).float()[None, :, None], persistent=False)
        self.inp = CausalConv1d(latent_dim, channels, 7) if causal else nn.Conv1d(latent_dim, channels, 7, padding=3)
        self.backbone = nn.Sequential(*[ConvNeXtBlock(channels, causal=causal, hidden=hidden) for _ in range(blocks)])
        self.norm = ChannelNorm(channels) if causal else nn.GroupNorm(1, channels)
        self.head = nn.Conv1d(channels, 2 * self.bins, 1)
        self.istft = CausalInverseSTFT(n_fft, hop) if causal else InverseSTFT(n_fft, hop)

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """latent float32[B, latent_dim, F] -> backbone features float32[B, channels, F]."""
        return self.norm(self.backbone(self.inp(z)))

    def _spectrum(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logmag, phase = self.head(h).split(self.bins, dim=1)
        if self.phase_mode == "cumulative":
            phase = torch.cumsum(phase + self.advance, dim=-1)
        mag = torch.exp(logmag.clamp(max=6.0))
        return mag * torch.cos(phase), mag * torch.sin(phase)

    def audio(self, h: torch.Tensor) -> torch.Tensor:
        """features -> audio float32[B, 1, F * hop] through the log-magnitude/phase head and the inverse STFT."""
        return self.istft(*self._spectrum(h))

    def state_shapes(self):
        """causal only: [(name, channels, frames)] in the order ``stream`` takes and returns them."""
        return self.inp.state_shapes() + state_shapes_of(self.backbone) + self.istft.state_shapes()

    def stream_features(self, z: torch.Tensor, states: list[torch.Tensor]):
        """causal only: latent block -> (features after the norm, the backbone's next states)."""
        h, out = self.inp.stream(z, states[: len(self.inp.state_shapes())])
        h, more = stream_modules(self.backbone, h, states[len(out) :])
        return self.norm(h), out + more

    def stream(self, z: torch.Tensor, states: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """causal only: latent float32[B, D, F] + states -> (audio float32[B, 1, F * hop], next states)."""
        h, out = self.stream_features(z, states[:-1])
        y, tail = self.istft.stream(*self._spectrum(h), states[-1:])
        return y, out + tail

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.audio(self.features(z))
