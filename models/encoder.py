"""Strided Conv1d waveform encoder."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ResidualUnit, conv1d


class WaveEncoder(nn.Module):
    """audio float32[B, 1, T] -> features float32[B, out_channels, T / prod(strides)].

    T must be a multiple of ``hop = prod(strides)``; each stage is residual units then a strided conv that
    doubles the channels (capped at ``max_channels``).
    """

    def __init__(
        self, out_channels: int, channels: int = 24, strides: tuple[int, ...] = (4, 4, 4, 4), max_channels: int = 256
    ):
        super().__init__()
        layers: list[nn.Module] = [conv1d(1, channels, 7)]
        c = channels
        for s in strides:
            c_next = min(c * 2, max_channels)
            layers += [
                ResidualUnit(c, dilation=1),
                ResidualUnit(c, dilation=3),
                nn.LeakyReLU(0.1),
                conv1d(c, c_next, 2 * s, stride=s),
            ]
            c = c_next
        layers += [nn.LeakyReLU(0.1), conv1d(c, out_channels, 3)]
        self.net = nn.Sequential(*layers)
        self.hop = 1
        for s in strides:
            self.hop *= s

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.net(audio)
