"""Bottlenecks behind one interface: ``bottleneck(params) -> (z, aux)``, aux holding named losses/statistics."""

from __future__ import annotations

import torch
from torch import nn


def free_bits_kl(kl_per_dim: torch.Tensor, free_bits: float) -> torch.Tensor:
    """Sum over dims of max(KL_d, free_bits): a dim below ``free_bits`` nats (mean over batch and frames) costs a
    constant, so nothing pushes it further towards the prior (Kingma et al. 2016's defence against collapse)."""
    if free_bits <= 0:
        return kl_per_dim.sum()
    return torch.clamp(kl_per_dim, min=free_bits).sum()


class GaussianBottleneck(nn.Module):
    """params float32[B, 2*D, F] (mean, pre-softplus scale) -> z float32[B, D, F].

    Training samples z ~ N(mean, std); eval returns the mean. aux: ``loss/kl`` (mean over batch and frames,
    summed over dims; with ``free_bits`` > 0 each dim counts at least that many nats), ``stats/kl_per_dim`` [D].
    ``name`` namespaces the keys for multi-level models: name 'top' gives ``loss/kl_top``, ``stats/kl_per_dim_top``.
    """

    def __init__(self, dim: int, free_bits: float = 0.0, name: str = ""):
        super().__init__()
        self.dim = dim
        self.free_bits = float(free_bits)
        self.suffix = f"_{name}" if name else ""

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
        s = self.suffix
        aux = {f"loss/kl{s}": free_bits_kl(kl_per_dim, self.free_bits), f"stats/kl_per_dim{s}": kl_per_dim.detach()}
        if self.free_bits > 0:
            aux[f"stats/kl{s}"] = kl_per_dim.sum().detach()
        return z, aux
