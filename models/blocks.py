"""Small convolutional building blocks (``causal=True``: left-only padding, per-frame norms, streamable)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from .causal import CausalConv1d, ChannelNorm, state_shapes_of, stream_modules


def conv1d(cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1, causal: bool = False) -> nn.Conv1d:
    """A weight-normalised Conv1d with 'same' padding for odd kernels at stride 1 (``causal``: left padding
    only, stride 1)."""
    if causal:
        if stride != 1:
            raise ValueError("causal convolutions are stride 1 here")
        return weight_norm(CausalConv1d(cin, cout, kernel, dilation=dilation))
    pad = (kernel - 1) * dilation // 2 if stride == 1 else (kernel - stride + 1) // 2
    return weight_norm(nn.Conv1d(cin, cout, kernel, stride=stride, padding=pad, dilation=dilation))


class ResidualUnit(nn.Module):
    """x + conv1x1(act(conv_k,dilated(act(x)))). float32[B, C, T] -> same shape."""

    def __init__(self, channels: int, kernel: int = 7, dilation: int = 1, causal: bool = False):
        super().__init__()
        self.net = nn.Sequential(
            nn.LeakyReLU(0.1),
            conv1d(channels, channels, kernel, dilation=dilation, causal=causal),
            nn.LeakyReLU(0.1),
            conv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)

    def state_shapes(self):
        return state_shapes_of(self.net)

    def stream(self, x: torch.Tensor, states: list[torch.Tensor]):
        h, states = stream_modules(self.net, x, states)
        return x + h, states


class ConvNeXtBlock(nn.Module):
    """Depthwise conv + pointwise MLP with a layer-scale residual (Vocos backbone). float32[B, C, F] -> same.

    ``causal``: the depthwise conv sees only past frames and the norm is per frame (:class:`ChannelNorm`).
    ``hidden``: the MLP's width (0: ``mult`` x channels); a narrower MLP is most of a cheaper decoder."""

    def __init__(self, channels: int, mult: int = 3, kernel: int = 7, causal: bool = False, hidden: int = 0):
        super().__init__()
        if causal:
            self.dw = CausalConv1d(channels, channels, kernel, groups=channels)
            self.norm = ChannelNorm(channels)
        else:
            self.dw = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)
            self.norm = nn.GroupNorm(1, channels)
        width = int(hidden) or channels * mult
        self.pw1 = nn.Conv1d(channels, width, 1)
        self.act = nn.GELU()
        self.pw2 = nn.Conv1d(width, channels, 1)
        self.scale = nn.Parameter(torch.full((1, channels, 1), 0.1))

    def _rest(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.pw2(self.act(self.pw1(self.norm(h))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._rest(x, self.dw(x))

    def state_shapes(self):
        return self.dw.state_shapes()

    def stream(self, x: torch.Tensor, states: list[torch.Tensor]):
        h, states = self.dw.stream(x, states)
        return self._rest(x, h), states
