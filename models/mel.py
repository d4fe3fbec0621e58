"""Log-mel front end as fixed convolutions (exports to ONNX inside encoder.onnx; the player never re-implements it)."""

from __future__ import annotations

import math

import librosa
import torch
from torch import nn
from torch.nn import functional as F


def mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """float32[n_mels, n_fft/2+1], librosa's Slaney-normalised filters (the same ones the player and eval use)."""
    return torch.from_numpy(librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)).float()


class MelFrontEnd(nn.Module):
    """audio float32[B, 1, T] (T a multiple of hop) -> normalised log-mel float32[B, n_mels, T / hop].

    Frame f is a Hann-windowed n_fft STFT frame centred on sample f*hop + hop/2 (zero padded at the edges), the
    same alignment as :class:`models.istft.InverseSTFT`. Value: (ln(mel magnitude + log_floor) - norm_mean) / norm_std,
    where mel magnitude = filters @ |STFT|. The normalisation constants go into the bundle's manifest. The floor
    (1e-4, ~37 dB below the mel of -20 dBFS audio) bounds how much float32 rounding in silent frames is amplified
    by the log: with 1e-5 onnxruntime and torch differed by 7e-3 in the latent on silent windows.
    """

    def __init__(
        self,
        sample_rate: int,
        n_fft: int = 1024,
        hop: int = 256,
        n_mels: int = 128,
        norm_mean: float = -5.0,
        norm_std: float = 2.5,
        log_floor: float = 1e-4,
        causal: bool = False,
    ):
        super().__init__()
        self.causal = bool(causal)
        self.n_fft, self.hop, self.n_mels = n_fft, hop, n_mels
        self.norm_mean, self.norm_std, self.log_floor = float(norm_mean), float(norm_std), float(log_floor)
        bins = n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(bins, dtype=torch.float64)
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        angle = 2 * math.pi * k[:, None] * n[None, :] / n_fft
        basis = torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window], 0)[:, None, :]
        self.register_buffer("basis", basis.float(), persistent=False)
        self.register_buffer("filters", mel_filters(sample_rate, n_fft, n_mels)[None], persistent=False)
        # causal: frame f ENDS at sample (f+1)*hop (left padding only); else it is centred on f*hop + hop/2
        self.pad_left = n_fft - hop if causal else (n_fft - hop) // 2
        self.pad_right = n_fft - hop - self.pad_left
        self.state_name = ""
        self.bins = bins

    def _spectrum(self, padded: torch.Tensor) -> torch.Tensor:
        spec = F.conv1d(padded, self.basis, stride=self.hop)
        re, im = spec.split(self.bins, dim=1)
        return torch.sqrt(re * re + im * im + 1e-12)

    def magnitude(self, audio: torch.Tensor) -> torch.Tensor:
        """|STFT| float32[B, n_fft/2+1, T / hop]."""
        return self._spectrum(F.pad(audio, (self.pad_left, self.pad_right)))

    def _log_mel(self, mag: torch.Tensor) -> torch.Tensor:
        mel = torch.matmul(self.filters, mag)
        return (torch.log(mel + self.log_floor) - self.norm_mean) / self.norm_std

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self._log_mel(self.magnitude(audio))

    def state_shapes(self) -> list[tuple[str, int, int]]:
        """causal only: the last n_fft - hop input samples."""
        return [(self.state_name, 1, self.pad_left)]

    def stream(self, audio: torch.Tensor, states: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """causal only: audio float32[B, 1, N] (N a multiple of hop) + state -> (log-mel [B, n_mels, N / hop], state)."""
        full = torch.cat([states[0], audio], dim=-1)
        return self._log_mel(self._spectrum(full)), [full[..., full.shape[-1] - self.pad_left :]]

    def manifest_entry(self) -> dict:
        """What the player needs to undo the normalisation and invert a predicted mel (Griffin-Lim)."""
        offset = self.hop - self.n_fft // 2 if self.causal else self.hop // 2  # frame centre - f * hop
        return {
            "n_mels": self.n_mels,
            "n_fft": self.n_fft,
            "hop": self.hop,
            "frame_offset": offset,
            "magnitude": "librosa.filters.mel(sr, n_fft, n_mels) @ |STFT| (power 1, hann window)",
            "log": "ln(mel + log_floor)",
            "log_floor": self.log_floor,
            "norm_mean": self.norm_mean,
            "norm_std": self.norm_std,
        }
