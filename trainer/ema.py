"""An exponential moving average of the model's weights (what export ships when a run keeps one)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightEMA:
    """A frozen copy of ``model`` whose weights follow the model's: ``update(step)`` after every optimizer step.
    The decay warms up (as in timm / torch-ema), so early averages do not drag in the random initial weights."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = float(decay)
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, source: nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for pe, p in zip(self.model.parameters(), source.parameters()):
            pe.lerp_(p.detach(), 1 - decay)
        for be, b in zip(self.model.buffers(), source.buffers()):
            be.copy_(b)
