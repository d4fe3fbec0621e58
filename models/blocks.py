"""Small convolutional building blocks."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def conv1d(cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1) -> nn.Conv1d:
    """A weight-normalised Conv1d with 'same' padding for odd kernels at stride 1."""
    pad = (kernel - 1) * dilation // 2 if stride == 1 else (kernel - stride + 1) // 2
    return weight_norm(nn.Conv1d(cin, cout, kernel, stride=stride, padding=pad, dilation=dilation))


class ResidualUnit(nn.Module):
    """x + conv1x1(act(conv_k,dilated(act(x)))). float32[B, C, T] -> same shape."""

    def __init__(self, channels: int, kernel: int = 7, dilation: int = 1):
        super().__init__()
        self.net = nn.Sequential(
            nn.LeakyReLU(0.1), conv1d(channels, channels, kernel, dilation=dilation),
            nn.LeakyReLU(0.1), conv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv + pointwise MLP with a layer-scale residual (Vocos backbone). float32[B, C, F] -> same."""

    def __init__(self, channels: int, mult: int = 3, kernel: int = 7):
        super().__init__()
        self.dw = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)
        self.norm = nn.GroupNorm(1, channels)
        self.pw1 = nn.Conv1d(channels, channels * mult, 1)
        self.act = nn.GELU()
        self.pw2 = nn.Conv1d(channels * mult, channels, 1)
        self.scale = nn.Parameter(torch.full((1, channels, 1), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.pw2(self.act(self.pw1(self.norm(self.dw(x)))))
