"""Finite scalar quantization (Mentzer et al. 2023): a fixed grid instead of a learned codebook, so nothing can collapse."""

from __future__ import annotations

import math

import torch
from torch import nn


class FSQBottleneck(nn.Module):
    """z float32[B, G*len(levels), F] (continuous) -> (z_q float32[B, G*len(levels), F], aux).

    The latent is split into G groups of ``len(levels)`` channels; channel i of a group is squashed with tanh onto
    ``levels[i]`` evenly spaced values in [-1, 1] and rounded (straight-through gradient). Each group is one code
    out of ``prod(levels)``. No codebook, no commitment loss, no EMA: there is nothing to collapse or to
    destabilise the loss; usage only depends on the encoder spreading its outputs. aux: ``vq/perplexity`` and
    ``vq/usage`` (fraction of codes used in the batch), means over groups (statistics, not losses).
    Feed it a latent with unit variance per channel (see :class:`models.vqvae.VQVAE`): then each channel's levels
    are used about equally often (5 levels: 17-26 % each). Channels of a group can still move together (a brief
    corpus run used ~5 codes per batch of 696 frames); with ``entropy_weight`` > 0, aux also has
    ``loss/fsq_entropy`` = weight * (mean per-frame code entropy - entropy of the batch's mean code distribution),
    normalised by ln(codebook size), on soft assignments (softmax of -squared distance to each level /
    ``entropy_temperature``, channels independent): MAGVIT-v2's entropy penalty, which spreads the batch over
    the codebook while keeping each frame's assignment sharp.
    """

    def __init__(
        self,
        dim: int,
        levels: tuple[int, ...] = (5, 5, 5, 5),
        entropy_weight: float = 0.0,
        entropy_temperature: float = 0.25,
    ):
        super().__init__()
        levels = tuple(int(l) for l in levels)
        if dim % len(levels):
            raise ValueError(f"FSQ: latent_dim {dim} is not a multiple of len(fsq_levels) = {len(levels)}")
        if min(levels) < 2:
            raise ValueError("FSQ: every level count must be at least 2")
        self.dim, self.levels, self.groups = dim, levels, dim // len(levels)
        self.codebook_size = math.prod(levels)
        self.entropy_weight, self.entropy_temperature = float(entropy_weight), float(entropy_temperature)
        lv = torch.tensor(levels, dtype=torch.float32)
        half_l = (lv - 1) * (1 - 1e-3) / 2
        offset = torch.where(torch.remainder(lv, 2) == 0, 0.5, 0.0)
        basis = torch.cumprod(torch.tensor((1,) + levels[:-1], dtype=torch.int64), 0)
        self.register_buffer("half_l", half_l[None, None, :, None], persistent=False)
        self.register_buffer("offset", offset[None, None, :, None], persistent=False)
        self.register_buffer("shift", torch.atanh(offset / half_l)[None, None, :, None], persistent=False)
        self.register_buffer("half_width", (lv // 2)[None, None, :, None], persistent=False)
        self.register_buffer("basis", basis[None, None, :, None], persistent=False)

    def _grouped(self, z: torch.Tensor) -> torch.Tensor:
        return z.reshape(z.shape[0], self.groups, len(self.levels), z.shape[-1])

    def _rounded(self, z: torch.Tensor) -> torch.Tensor:
        """Integer grid coordinates float32[B, G, n, F] in [-half_width, half_width]."""
        bounded = torch.tanh(self._grouped(z) + self.shift) * self.half_l - self.offset
        return bounded + (torch.round(bounded) - bounded).detach()

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        q = self._rounded(z) / self.half_width
        return q.reshape(z.shape)

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """int64[B, G, F]: one code in [0, prod(levels)) per group and frame."""
        q = self._rounded(z).detach() + self.half_width
        return (q.round().to(torch.int64) * self.basis).sum(dim=2)

    def entropy_loss(self, z: torch.Tensor) -> torch.Tensor:
        bounded = torch.tanh(self._grouped(z) + self.shift) * self.half_l - self.offset  # [B, G, n, F]
        b = bounded.permute(0, 3, 1, 2).reshape(-1, self.groups, len(self.levels))  # [N, G, n]
        total = 0.0
        probs = []
        for i, level in enumerate(self.levels):
            grid = torch.arange(level, device=z.device, dtype=z.dtype) - (level // 2)
            logits = -((b[..., i : i + 1] - grid) ** 2) / self.entropy_temperature  # [N, G, L_i]
            p = torch.softmax(logits, -1)
            total = total - (p * torch.log(p.clamp(min=1e-9))).sum(-1).mean()  # per-frame entropy, channel i
            probs.append(p)
        joint = probs[0]
        for p in probs[1:]:
            joint = (joint[..., :, None] * p[..., None, :]).flatten(-2)  # [N, G, prod so far]
        mean_p = joint.mean(0)  # [G, K]
        batch_entropy = -(mean_p * torch.log(mean_p.clamp(min=1e-9))).sum(-1).mean()
        return (total / 1.0 - batch_entropy) / math.log(self.codebook_size)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        zq = self.quantize(z)
        with torch.no_grad():
            codes = self.codes(z)
            perp, usage = [], []
            for g in range(self.groups):
                counts = torch.bincount(codes[:, g].reshape(-1), minlength=self.codebook_size).float()
                p = counts / counts.sum()
                perp.append(torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum()))
                usage.append((counts > 0).float().mean())
        aux = {"vq/perplexity": torch.stack(perp).mean(), "vq/usage": torch.stack(usage).mean()}
        if self.entropy_weight > 0 and self.training:
            aux["loss/fsq_entropy"] = self.entropy_weight * self.entropy_loss(z)
        return zq, aux
