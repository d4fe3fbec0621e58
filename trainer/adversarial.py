"""Adversarial fine-tuning losses: hinge / least-squares GAN terms, feature matching, aligned random crops."""
from __future__ import annotations

import torch

DiscOutput = list[tuple[torch.Tensor, list[torch.Tensor]]]  # per resolution: (logits, feature maps)


def disc_loss(real: DiscOutput, fake: DiscOutput, kind: str) -> torch.Tensor:
    """Discriminator loss, mean over resolutions.
    hinge: relu(1 - D(x)) + relu(1 + D(y)); lsgan: (1 - D(x))^2 + D(y)^2."""
    total = 0.0
    for (lr, _), (lf, _) in zip(real, fake):
        if kind == "hinge":
            total = total + torch.relu(1 - lr).mean() + torch.relu(1 + lf).mean()
        else:
            total = total + ((1 - lr) ** 2).mean() + (lf ** 2).mean()
    return total / len(real)


def gen_loss(fake: DiscOutput, kind: str) -> torch.Tensor:
    """Generator's adversarial loss, mean over resolutions. hinge: relu(1 - D(y)) (Vocos); lsgan: (1 - D(y))^2."""
    total = 0.0
    for lf, _ in fake:
        total = total + (torch.relu(1 - lf).mean() if kind == "hinge" else ((1 - lf) ** 2).mean())
    return total / len(fake)


def feature_loss(real: DiscOutput, fake: DiscOutput) -> torch.Tensor:
    """Relative feature matching (EnCodec): mean over resolutions and layers of mean|f(y) - f(x)| / mean|f(x)|;
    ``real`` features are targets (computed without gradient)."""
    total, n = 0.0, 0
    for (_, fr), (_, ff) in zip(real, fake):
        for a, b in zip(fr, ff):
            total = total + (b - a).abs().mean() / a.abs().mean().clamp(min=1e-5)
            n += 1
    return total / max(1, n)


def aligned_crops(x: torch.Tensor, y: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random ``length``-sample window of each item of x and y (float32[B, 1, T]); 0 or >= T: all of it.
    Offsets come from the global torch RNG (checkpointed with the run, so resume stays exact)."""
    t = x.shape[-1]
    if length <= 0 or length >= t:
        return x, y
    starts = torch.randint(0, t - length + 1, (x.shape[0],))
    idx = (starts[:, None] + torch.arange(length)[None]).to(x.device)[:, None, :]
    return x.gather(-1, idx), y.gather(-1, idx)
