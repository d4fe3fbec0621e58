"""Inverse STFT as a ConvTranspose1d with a fixed inverse-DFT basis (exports to ONNX; torch.istft may not)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class InverseSTFT(nn.Module):
    """real, imag float32[B, n_fft/2+1, F] -> audio float32[B, 1, F * hop].

    Frame f is centred on sample f*hop + hop/2 of the output, so F latent frames give exactly F*hop samples.
    Overlap-add is normalised by the summed squared window actually present (edges included).
    """

    def __init__(self, n_fft: int = 1024, hop: int = 256):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        bins = n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(bins, dtype=torch.float64)
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        scale = torch.full((bins,), 2.0, dtype=torch.float64)
        scale[0] = 1.0
        scale[-1] = 1.0
        angle = 2 * math.pi * k[:, None] * n[None, :] / n_fft
        cos_b = torch.cos(angle) * scale[:, None] / n_fft * window[None, :]
        sin_b = -torch.sin(angle) * scale[:, None] / n_fft * window[None, :]
        basis = torch.cat([cos_b, sin_b], 0)[:, None, :]  # [2*bins, 1, n_fft]
        self.register_buffer("basis", basis.float(), persistent=False)
        self.register_buffer("win_sq", (window**2).float()[None, None, :], persistent=False)
        self.trim = (n_fft - hop) // 2

    def forward(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        spec = torch.cat([real, imag], 1)
        y = F.conv_transpose1d(spec, self.basis, stride=self.hop)
        env = F.conv_transpose1d(torch.ones_like(real[:1, :1, :]), self.win_sq, stride=self.hop)
        end = y.shape[-1] - (self.n_fft - self.hop - self.trim)
        y = y[..., self.trim : end]
        env = env[..., self.trim : end]
        return y / env.clamp(min=1e-4)


def causal_synthesis_window(n_fft: int, hop: int) -> torch.Tensor:
    """float64[2*hop]: weights for the central 2*hop samples of each inverse-DFT frame.

    s(n) = h(n) w(o + n) / E(n), h a periodic Hann of 2*hop samples, w the n_fft Hann window, o = (n_fft - 2*hop)/2
    and E(n) = sum over the two frames overlapping there of h w^2: for a consistent spectrogram (frames = w * x)
    the weighted overlap-add gives x back exactly, so a decoder trained with the centred inverse STFT starts close.
    """
    support = 2 * hop
    offset = (n_fft - support) // 2
    h = torch.hann_window(support, periodic=True, dtype=torch.float64)
    w = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)[offset : offset + support]
    hw2 = h * w * w
    env = hw2 + torch.roll(hw2, hop)
    return h * w / env


class CausalInverseSTFT(nn.Module):
    """real, imag float32[B, n_fft/2+1, F] -> audio float32[B, 1, F * hop], causal.

    Frame f contributes the central 2*hop samples of its inverse DFT (weighted by :func:`causal_synthesis_window`)
    to output blocks f and f+1: block f is final once frame f exists, and the half that frame f adds to block
    f+1 is the state (``hop`` samples) carried to the next call. No frame reaches back before its own block.
    """

    def __init__(self, n_fft: int = 1024, hop: int = 256):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.offset = (n_fft - 2 * hop) // 2
        bins = n_fft // 2 + 1
        n = torch.arange(self.offset, self.offset + 2 * hop, dtype=torch.float64)
        k = torch.arange(bins, dtype=torch.float64)
        scale = torch.full((bins,), 2.0, dtype=torch.float64)
        scale[0] = 1.0
        scale[-1] = 1.0
        self.window = causal_synthesis_window(n_fft, hop)  # float64, for the exporter's basis generator
        angle = 2 * math.pi * torch.remainder(k[:, None] * n[None, :], n_fft) / n_fft
        cos_b = torch.cos(angle) * scale[:, None] / n_fft * self.window[None, :]
        sin_b = -torch.sin(angle) * scale[:, None] / n_fft * self.window[None, :]
        self.register_buffer("basis", torch.cat([cos_b, sin_b], 0)[:, None, :].float(), persistent=False)
        self.state_name = ""

    def _frames(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """float32[B, 1, (F + 1) * hop]: every frame's contribution, the last hop being the next block's part."""
        return F.conv_transpose1d(torch.cat([real, imag], 1), self.basis, stride=self.hop)

    def forward(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        y = self._frames(real, imag)
        return y[..., : y.shape[-1] - self.hop]

    def state_shapes(self) -> list[tuple[str, int, int]]:
        return [(self.state_name, 1, self.hop)]

    def stream(self, real: torch.Tensor, imag: torch.Tensor, states: list[torch.Tensor]):
        y = self._frames(real, imag)
        end = y.shape[-1] - self.hop
        head = y[..., : self.hop] + states[0]
        return torch.cat([head, y[..., self.hop : end]], dim=-1), [y[..., end:]]
