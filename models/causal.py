"""Causal building blocks for streaming: left-only padding, a per-frame channel norm, state threading.

A stateful module has ``state_shapes() -> [(name, channels, frames)]`` and ``stream(x, states) -> (y, states)``.
Running ``stream`` block after block from zero states gives exactly ``forward`` on the whole signal: the zero
states ARE the left padding. States are plain tensors in and out (no module buffers), so an ONNX export keeps them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

StateShape = tuple[str, int, int]  # (name, channels, frames) of one state tensor float32[B, channels, frames]


class CausalConv1d(nn.Conv1d):
    """A stride-1 Conv1d padded on the left only: output frame f sees input frames f - (k-1)*d .. f.

    A subclass (not a wrapper) so its state dict keys equal a plain Conv1d's: a non-causal model's weights load.
    State: the last (k-1)*d input frames.
    """

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int = 1, groups: int = 1, bias: bool = True):
        super().__init__(cin, cout, kernel, dilation=dilation, groups=groups, bias=bias)
        self.context = (kernel - 1) * dilation
        self.state_name = ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.context, 0)))

    def state_shapes(self) -> list[StateShape]:
        return [(self.state_name, self.in_channels, self.context)] if self.context else []

    def stream(self, x: torch.Tensor, states: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if not self.context:
            return super().forward(x), []
        full = torch.cat([states[0], x], dim=-1)
        return super().forward(full), [full[..., full.shape[-1] - self.context :]]


class ChannelNorm(nn.Module):
    """Normalisation over channels, per frame (LayerNorm on dim 1): float32[B, C, F] -> same.

    Replaces ``GroupNorm(1, C)``, whose statistics span every frame of the window (i.e. the future). Parameter
    names and shapes equal GroupNorm's, so its weights load as a starting point.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dim=1, keepdim=True)
        return centred / torch.sqrt(var + self.eps) * self.weight[None, :, None] + self.bias[None, :, None]


def state_shapes_of(modules) -> list[StateShape]:
    """The states of ``modules`` in the order :func:`stream_modules` consumes them."""
    shapes: list[StateShape] = []
    for m in modules:
        if hasattr(m, "state_shapes"):
            shapes += m.state_shapes()
    return shapes


def stream_modules(modules, x: torch.Tensor, states: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Apply ``modules`` in order; each stateful one takes its states from the front of ``states``."""
    out: list[torch.Tensor] = []
    i = 0
    for m in modules:
        if hasattr(m, "stream"):
            n = len(m.state_shapes())
            x, new = m.stream(x, states[i : i + n])
            out += new
            i += n
        else:
            x = m(x)
    return x, out


def name_states(model: nn.Module) -> None:
    """Give every stateful leaf its module path as state name (the names exported into the ONNX graphs)."""
    for name, module in model.named_modules():
        if hasattr(module, "state_name"):
            module.state_name = name


def random_gain(x: torch.Tensor, gain_db: tuple[float, float], training: bool) -> torch.Tensor:
    """float32[B, 1, 1]: a random gain per item, uniform in dB over ``gain_db`` while training (ones otherwise).
    Causal models learn every level this way instead of normalising each window, which needs the future."""
    low, high = gain_db
    if not training or low == high == 0.0:
        return torch.ones(x.shape[0], 1, 1, dtype=x.dtype, device=x.device)
    db = low + (high - low) * torch.rand(x.shape[0], 1, 1, dtype=x.dtype, device=x.device)
    return torch.pow(10.0, db / 20.0)
