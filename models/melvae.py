"""Mel-spectrogram VAE: log-mel front end -> conv encoder -> Gaussian latent -> decoder with two heads.

The decoder's learned inverse-STFT head gives the audio (the better inversion); a mel head predicts the input's
normalised log-mel so the research's baseline (Griffin-Lim from the mel) can be run and measured on the player.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import ResidualUnit, conv1d
from .bottleneck import GaussianBottleneck
from .decoder import ISTFTDecoder
from .mel import MelFrontEnd


class MelEncoder(nn.Module):
    """normalised log-mel float32[B, n_mels, F] -> params float32[B, out_channels, F] (no time striding)."""

    def __init__(self, n_mels: int, out_channels: int, channels: int = 128, blocks: int = 3):
        super().__init__()
        layers: list[nn.Module] = [conv1d(n_mels, channels, 3)]
        layers += [ResidualUnit(channels, kernel=3, dilation=3 ** i) for i in range(blocks)]
        layers += [nn.LeakyReLU(0.1), conv1d(channels, out_channels, 3)]
        self.net = nn.Sequential(*layers)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.net(mel)


class MelISTFTDecoder(ISTFTDecoder):
    """latent float32[B, D, F] -> (audio float32[B, 1, F*hop], normalised log-mel float32[B, n_mels, F])."""

    def __init__(self, latent_dim: int, n_mels: int, channels: int = 256, blocks: int = 6, n_fft: int = 1024,
                 hop: int = 256, phase: str = "direct"):
        super().__init__(latent_dim, channels, blocks, n_fft, hop, phase)
        self.mel_head = nn.Conv1d(channels, n_mels, 1)

    def both(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(z)
        return self.audio(h), self.mel_head(h)


class MelVAE(nn.Module):
    """audio float32[B, 1, T] -> (reconstruction float32[B, 1, T], aux).

    One latent level 'z' (``latent_dim`` channels, one frame per ``hop`` = prod(strides) samples, i.e. per mel
    frame). aux adds ``loss/mel_head`` (L1 between predicted and input normalised log-mel, times
    ``mel_head_weight``) to the Gaussian bottleneck's ``loss/kl``.
    """

    family = "mel-vae"

    def __init__(self, sample_rate: int = 22050, latent_dim: int = 16, n_mels: int = 128,
                 strides: tuple[int, ...] = (4, 4, 4, 4), enc_max_channels: int = 192, dec_channels: int = 256,
                 dec_blocks: int = 4, n_fft: int = 1024, mel_norm_mean: float = -5.0, mel_norm_std: float = 2.5,
                 mel_head_weight: float = 1.0, free_bits: float = 0.0, mel_log_floor: float = 1e-4,
                 phase: str = "direct"):
        super().__init__()
        hop = 1
        for s in strides:
            hop *= int(s)
        self.hop = hop
        self.front = MelFrontEnd(sample_rate, n_fft, hop, n_mels, mel_norm_mean, mel_norm_std, mel_log_floor)
        self.encoder = MelEncoder(n_mels, 2 * latent_dim, enc_max_channels)
        self.bottleneck = GaussianBottleneck(latent_dim, free_bits)
        self.decoder = MelISTFTDecoder(latent_dim, n_mels, dec_channels, dec_blocks, n_fft, hop, phase)
        self.mel_head_weight = float(mel_head_weight)
        self.levels = (("z", latent_dim, hop),)

    def encode(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Posterior means {'z': float32[B, D, T / hop]}; T a multiple of hop."""
        return {"z": self.bottleneck.deterministic(self.encoder(self.front(audio)))}

    def quantize(self, latents: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return latents

    def decode(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decoder(latents["z"])

    def decode_extra(self, latents: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Extra decoder outputs exported next to 'audio': {'mel': normalised log-mel float32[B, n_mels, F]}."""
        return {"mel": self.decoder.both(latents["z"])[1]}

    def extra_manifest(self) -> dict:
        return {"mel": self.front.manifest_entry()}

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        t = audio.shape[-1]
        x = F.pad(audio, (0, (-t) % self.hop))
        mel = self.front(x)
        z, aux = self.bottleneck(self.encoder(mel))
        y, mel_pred = self.decoder.both(z)
        aux["loss/mel_head"] = self.mel_head_weight * (mel_pred - mel.detach()).abs().mean()
        aux["latent/z"] = z.detach()
        return y[..., :t], aux

    def components(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "bottleneck": self.bottleneck, "decoder": self.decoder}
