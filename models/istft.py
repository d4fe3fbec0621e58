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
        self.register_buffer("win_sq", (window ** 2).float()[None, None, :], persistent=False)
        self.trim = (n_fft - hop) // 2

    def forward(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        spec = torch.cat([real, imag], 1)
        y = F.conv_transpose1d(spec, self.basis, stride=self.hop)
        env = F.conv_transpose1d(torch.ones_like(real[:1, :1, :]), self.win_sq, stride=self.hop)
        end = y.shape[-1] - (self.n_fft - self.hop - self.trim)
        y = y[..., self.trim:end]
        env = env[..., self.trim:end]
        return y / env.clamp(min=1e-4)
