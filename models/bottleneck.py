"""Bottlenecks behind one interface: ``bottleneck(params) -> (z, aux)``, aux holding named losses/statistics."""
from __future__ import annotations

import torch
from torch import nn


class GaussianBottleneck(nn.Module):
    """params float32[B, 2*D, F] (mean, pre-softplus scale) -> z float32[B, D, F].

    Training samples z ~ N(mean, std); eval returns the mean. aux: ``loss/kl`` (mean over batch and frames,
    summed over dims), ``stats/kl_per_dim`` [D].
    """

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, scale = params.split(self.dim, dim=1)
        std = nn.functional.softplus(scale) + 1e-4
        return mean, std

    def deterministic(self, params: torch.Tensor) -> torch.Tensor:
        """The latent the exported encoder emits: the posterior mean."""
        return self.split(params)[0]

    def forward(self, params: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mean, std = self.split(params)
        var = std * std
        kl_per = 0.5 * (mean * mean + var - torch.log(var) - 1.0)  # [B, D, F]
        kl_per_dim = kl_per.mean(dim=(0, 2))
        z = mean + std * torch.randn_like(mean) if self.training else mean
        return z, {"loss/kl": kl_per_dim.sum(), "stats/kl_per_dim": kl_per_dim.detach()}
