"""Two-level hierarchical VAE: a slow 'top' latent conditions a fast 'bottom' latent (top-down, as in NVAE/VDVAE)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import ResidualUnit, conv1d
from .bottleneck import free_bits_kl
from .decoder import ISTFTDecoder
from .encoder import WaveEncoder
from .family import AudioAutoencoder


def gaussian_params(params: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    mean, scale = params.split(dim, dim=1)
    return mean, F.softplus(scale) + 1e-4


def kl_normal(mq: torch.Tensor, sq: torch.Tensor, mp: torch.Tensor | None = None, sp: torch.Tensor | None = None):
    """KL(N(mq, sq) || N(mp, sp)) per element; N(0, 1) when mp/sp are None."""
    if mp is None:
        return 0.5 * (mq * mq + sq * sq - 2 * torch.log(sq) - 1.0)
    return torch.log(sp / sq) + (sq * sq + (mq - mp) ** 2) / (2 * sp * sp) - 0.5


class HierarchicalVAE(AudioAutoencoder):
    """audio float32[B, 1, T] -> (reconstruction float32[B, 1, T], aux).

    Levels: 'top' (``top_dim`` channels, hop = prod(strides) * top_stride) and 'bottom' (``latent_dim`` channels,
    hop = prod(strides)). Posteriors q(top | x) and q(bottom | x, top); priors N(0, I) and a learned
    p(bottom | top). The decoder sees both levels (top through a learned upsampler), so the top level's knobs
    act directly. Against posterior collapse: free bits per level and dim (``free_bits`` nats), KL warm-up (the
    trainer's beta on every ``loss/kl*`` key) and, with ``kl_balance``, NVAE-style balancing that scales each
    level's KL term by its share of KL per dim (a level that carries little information is penalised less).
    aux: ``loss/kl_top``, ``loss/kl_bottom``, ``stats/kl_top``, ``stats/kl_bottom`` (raw, nats per frame),
    ``stats/kl_per_dim_top``/``_bottom``.
    """

    family = "hvae"
    gaussian = True

    def __init__(
        self,
        *,
        latent_dim: int,
        top_dim: int,
        top_stride: int,
        enc_channels: int,
        strides: tuple[int, ...],
        enc_max_channels: int,
        dec_channels: int,
        dec_blocks: int,
        n_fft: int,
        free_bits: float,
        kl_balance: bool,
        phase: str,
    ):
        super().__init__()
        c = enc_max_channels
        self.latent_dim, self.top_dim, self.top_stride = latent_dim, top_dim, top_stride
        self.encoder = WaveEncoder(c, enc_channels, tuple(strides), enc_max_channels)
        self.hop = self.encoder.hop
        self.top_encoder = nn.Sequential(
            nn.LeakyReLU(0.1),
            conv1d(c, c, 2 * top_stride, stride=top_stride),
            ResidualUnit(c, kernel=3),
            nn.LeakyReLU(0.1),
            conv1d(c, 2 * top_dim, 3),
        )
        self.top_up = nn.ConvTranspose1d(top_dim, c, top_stride, stride=top_stride)
        self.bottom_encoder = nn.Sequential(
            ResidualUnit(2 * c, kernel=3), nn.LeakyReLU(0.1), conv1d(2 * c, 2 * latent_dim, 3)
        )
        self.bottom_prior = nn.Sequential(
            nn.LeakyReLU(0.1), conv1d(c, c, 3), nn.LeakyReLU(0.1), conv1d(c, 2 * latent_dim, 3)
        )
        self.decoder = ISTFTDecoder(latent_dim + c, dec_channels, dec_blocks, n_fft, self.hop, phase)
        self.free_bits, self.kl_balance = float(free_bits), bool(kl_balance)
        self.levels = (("top", top_dim, self.hop * top_stride), ("bottom", latent_dim, self.hop))

    def _posteriors(self, x: torch.Tensor, sample: bool):
        h = self.encoder(x)
        mt, st = gaussian_params(self.top_encoder(h), self.top_dim)
        top = mt + st * torch.randn_like(mt) if sample else mt
        up = self.top_up(top)
        mb, sb = gaussian_params(self.bottom_encoder(torch.cat([h, up], 1)), self.latent_dim)
        bottom = mb + sb * torch.randn_like(mb) if sample else mb
        return (mt, st, top), (mb, sb, bottom), up

    def encode(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Posterior means {'top': float32[B, top_dim, T / top_hop], 'bottom': float32[B, D, T / hop]};
        T a multiple of the top hop; the bottom mean is taken given the top mean."""
        (mt, _, _), (mb, _, _), _ = self._posteriors(audio, sample=False)
        return {"top": mt, "bottom": mb}

    def posterior(self, audio: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{'top': (mean, std), 'bottom': (mean, std)} (bottom given the top mean); export adds the stds as the
        encoder's '<level>_scale' outputs. The bottom's prior is learned: a KL against N(0, I) overstates its rate."""
        (mt, st, _), (mb, sb, _), _ = self._posteriors(audio, sample=False)
        return {"top": (mt, st), "bottom": (mb, sb)}

    def quantize(self, latents: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return latents

    def decode(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decoder(torch.cat([latents["bottom"], self.top_up(latents["top"])], 1))

    def prior_bottom(self, top: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(bottom | top): (mean, std) float32[B, D, F]."""
        return gaussian_params(self.bottom_prior(self.top_up(top)), self.latent_dim)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        t = audio.shape[-1]
        pad = self.hop * self.top_stride
        x = F.pad(audio, (0, (-t) % pad))
        (mt, st, top), (mb, sb, bottom), up = self._posteriors(x, sample=self.training)
        mp, sp = gaussian_params(self.bottom_prior(up), self.latent_dim)
        kl_top = kl_normal(mt, st).mean(dim=(0, 2))
        kl_bottom = kl_normal(mb, sb, mp, sp).mean(dim=(0, 2))
        terms = {"top": free_bits_kl(kl_top, self.free_bits), "bottom": free_bits_kl(kl_bottom, self.free_bits)}
        if self.kl_balance:
            # NVAE's balancing: weight each level by its KL per dim relative to the others (detached), mean 1.
            per_dim = torch.stack([kl_top.sum() / self.top_dim, kl_bottom.sum() / self.latent_dim]).detach()
            w = 2 * per_dim / per_dim.sum().clamp(min=1e-8)
            terms = {"top": w[0] * terms["top"], "bottom": w[1] * terms["bottom"]}
        y = self.decoder(torch.cat([bottom, up], 1))
        aux = {
            "loss/kl_top": terms["top"],
            "loss/kl_bottom": terms["bottom"],
            "stats/kl_top": kl_top.sum().detach(),
            "stats/kl_bottom": kl_bottom.sum().detach(),
            "stats/kl_per_dim_top": kl_top.detach(),
            "stats/kl_per_dim_bottom": kl_bottom.detach(),
            "latent/top": top.detach(),
            "latent/bottom": bottom.detach(),
        }
        return y[..., :t], aux

    def components(self) -> dict[str, nn.Module]:
        return {
            "encoder": self.encoder,
            "top_encoder": self.top_encoder,
            "top_up": self.top_up,
            "bottom_encoder": self.bottom_encoder,
            "bottom_prior": self.bottom_prior,
            "decoder": self.decoder,
        }
