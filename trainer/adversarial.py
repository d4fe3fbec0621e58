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
            total = total + ((1 - lr) ** 2).mean() + (lf**2).mean()
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


class AdversarialStep:
    """The discriminator, its optimizer and the per-step update of adversarial fine-tuning (``cfg.adv``):
    ``__call__(x, y, step)`` takes the discriminator's optimizer step (from ``start_step - disc_warmup_steps``),
    then returns the generator's adversarial + feature-matching loss (from ``start_step``; zero before) for the
    caller to add, and the logged terms."""

    def __init__(self, adv_cfg, train_cfg, device: torch.device, wrap=None):
        from models.discriminator import MultiResolutionDiscriminator

        self.cfg, self.train_cfg, self.device = adv_cfg, train_cfg, device
        self.disc = MultiResolutionDiscriminator(tuple(adv_cfg.disc_n_ffts), adv_cfg.disc_channels).to(device)
        self.opt = torch.optim.AdamW(self.disc.parameters(), lr=adv_cfg.disc_lr, betas=(0.8, 0.99))
        self.net = wrap(self.disc) if wrap is not None else self.disc  # DDP-wrapped for the discriminator's step

    def state(self) -> dict:
        return {
            "disc": {k: v.detach().cpu().clone() for k, v in self.disc.state_dict().items()},
            "disc_optimizer": self.opt.state_dict(),
        }

    def load(self, ckpt: dict) -> None:
        self.disc.load_state_dict(ckpt["disc"])
        self.opt.load_state_dict(ckpt["disc_optimizer"])

    def __call__(self, x: torch.Tensor, y: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from .schedule import lr_factor

        ac = self.cfg
        zero = torch.zeros((), device=self.device)
        terms = {"loss/adv_gen": zero, "loss/feature": zero, "loss/disc": zero, "stats/disc_grad_norm": zero}
        if step < ac.start_step - ac.disc_warmup_steps:
            return zero, terms
        real, fake = aligned_crops(x.float(), y.float(), ac.disc_crop)
        for group in self.opt.param_groups:
            group["lr"] = ac.disc_lr * lr_factor(step, self.train_cfg)
        self.disc.requires_grad_(True)
        self.disc.train()
        out = self.net(torch.cat([real, fake.detach()]))
        n = real.shape[0]
        d_loss = disc_loss([(lg[:n], []) for lg, _ in out], [(lg[n:], []) for lg, _ in out], ac.loss_type)
        self.opt.zero_grad(set_to_none=True)
        d_loss.backward()
        terms["stats/disc_grad_norm"] = torch.nn.utils.clip_grad_norm_(
            self.disc.parameters(), ac.disc_grad_clip
        ).detach()
        self.opt.step()
        terms["loss/disc"] = d_loss.detach()
        if step < ac.start_step:
            return zero, terms
        # The generator's pass uses the bare module with frozen parameters: gradients reach the audio only
        # (and no DDP reducer waits for discriminator gradients that never come).
        self.disc.requires_grad_(False)
        with torch.no_grad():
            target = self.disc(real)
        judged = self.disc(fake)
        g_adv, g_feat = gen_loss(judged, ac.loss_type), feature_loss(target, judged)
        terms["loss/adv_gen"], terms["loss/feature"] = g_adv.detach(), g_feat.detach()
        return ac.gen_weight * g_adv + ac.feature_weight * g_feat, terms
