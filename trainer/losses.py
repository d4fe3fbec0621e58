"""Reconstruction losses: multi-scale log-mel L1 and multi-resolution STFT (log-magnitude + convergence)."""

from __future__ import annotations

import librosa
import torch
from torch import nn

from .config import LossConfig


def _stft_mag(x: torch.Tensor, n_fft: int, window: torch.Tensor) -> torch.Tensor:
    """x float32[B, 1, T] -> magnitude float32[B, n_fft/2+1, frames]."""
    spec = torch.stft(x.squeeze(1), n_fft, n_fft // 4, window=window, center=True, return_complex=True)
    return spec.abs().clamp(min=1e-7)


class MultiScaleMelLoss(nn.Module):
    """Mean over scales of L1(log10 mel(x), log10 mel(y))."""

    def __init__(self, sample_rate: int, n_ffts: list[int], bands: list[int]):
        super().__init__()
        self.n_ffts = list(n_ffts)
        for i, (n_fft, n_mels) in enumerate(zip(n_ffts, bands)):
            fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
            self.register_buffer(f"fb{i}", torch.from_numpy(fb).float(), persistent=False)
            self.register_buffer(f"win{i}", torch.hann_window(n_fft), persistent=False)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for i, n_fft in enumerate(self.n_ffts):
            fb, win = getattr(self, f"fb{i}"), getattr(self, f"win{i}")
            my = torch.log10(torch.matmul(fb, _stft_mag(y, n_fft, win)).clamp(min=1e-5))
            mx = torch.log10(torch.matmul(fb, _stft_mag(x, n_fft, win)).clamp(min=1e-5))
            total = total + (my - mx).abs().mean()
        return total / len(self.n_ffts)


class MultiResolutionSTFTLoss(nn.Module):
    """Mean over resolutions of spectral convergence + L1 of log magnitudes."""

    def __init__(self, n_ffts: list[int]):
        super().__init__()
        self.n_ffts = list(n_ffts)
        for i, n_fft in enumerate(n_ffts):
            self.register_buffer(f"win{i}", torch.hann_window(n_fft), persistent=False)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for i, n_fft in enumerate(self.n_ffts):
            win = getattr(self, f"win{i}")
            sy, sx = _stft_mag(y, n_fft, win), _stft_mag(x, n_fft, win)
            # convergence over the whole batch: per-item ratios explode on near-silent chunks
            conv = torch.linalg.norm(sy - sx) / torch.linalg.norm(sx).clamp(min=1e-3)
            total = total + conv + (torch.log(sy) - torch.log(sx)).abs().mean()
        return total / len(self.n_ffts)


class ReconstructionLoss(nn.Module):
    """Returns (total, terms) with namespaced terms: loss/mel, loss/stft, loss/mse, loss/kl, stats/beta."""

    def __init__(self, cfg: LossConfig, sample_rate: int):
        super().__init__()
        self.cfg = cfg
        self.mel = MultiScaleMelLoss(sample_rate, cfg.mel_n_ffts, cfg.mel_bands)
        self.stft = MultiResolutionSTFTLoss(cfg.stft_n_ffts)

    def beta(self, step: int) -> float:
        c = self.cfg
        if step < c.kl_warmup_start:
            return 0.0
        ramp = min(1.0, (step - c.kl_warmup_start) / max(1, c.kl_warmup_steps))
        return c.kl_beta * ramp

    def forward(
        self, y: torch.Tensor, x: torch.Tensor, aux: dict[str, torch.Tensor], step: int, frozen_latents: bool = False
    ):
        """``frozen_latents``: the encoder gets no updates (adversarial fine-tuning), so aux losses without a
        gradient (its KL, a quantizer's losses) are constants: logged, not added to the total."""
        y, x = y.float(), x.float()
        terms = {"loss/mel": self.mel(y, x), "loss/stft": self.stft(y, x), "loss/mse": ((y - x) ** 2).mean()}
        beta = self.beta(step)
        total = self.cfg.mel_weight * terms["loss/mel"] + self.cfg.stft_weight * terms["loss/stft"]
        total = total + self.cfg.mse_weight * terms["loss/mse"]
        for key, value in aux.items():
            if key.startswith("loss/"):
                terms[key] = value
                if frozen_latents and not value.requires_grad:
                    continue
                total = total + (beta * value if key.startswith("loss/kl") else value)
        terms["stats/beta"] = torch.tensor(beta)
        return total, terms
