"""Multi-resolution complex-STFT discriminator (EnCodec's MS-STFTD, Vocos's MRD), sized for CPU fine-tuning."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class STFTDiscriminator(nn.Module):
    """audio float32[B, 1, T] -> (logits float32[B, 1, F', T'], feature maps [float32[B, C, F_i, T_i], ...]).

    Input: the complex STFT (real and imaginary parts as two channels, ``n_fft`` Hann window, hop ``n_fft/4``),
    so the discriminator sees phase, not just magnitude: incoherent phase across decoder frames (a comb at the
    frame rate) is what it is for. Each of ``layers`` convs (``kernel`` bins x 3 frames) strides by 2 along
    frequency only, keeping the time resolution; time dilations 1, 2, 4, ... widen the view across frames.
    Feature maps: the ``layers`` strided convs and one unstrided 3x3 conv, after their LeakyReLU.
    """

    def __init__(self, n_fft: int, channels: int = 16, layers: int = 3, kernel: int = 5):
        super().__init__()
        self.n_fft, self.hop = n_fft, n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        convs = [weight_norm(nn.Conv2d(2, channels, (kernel, 3), stride=(2, 1), padding=(kernel // 2, 1)))]
        for i in range(1, layers):
            d = 2**i
            convs.append(
                weight_norm(
                    nn.Conv2d(channels, channels, (kernel, 3), stride=(2, 1), dilation=(1, d), padding=(kernel // 2, d))
                )
            )
        convs.append(weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=1)))
        self.convs = nn.ModuleList(convs)
        self.out = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=1))
        self.act = nn.LeakyReLU(0.2)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(
            audio.squeeze(1).float(),
            self.n_fft,
            self.hop,
            window=self.window,
            center=True,
            normalized=True,
            return_complex=True,
        )
        h = torch.stack([spec.real, spec.imag], dim=1)  # [B, 2, bins, frames]
        feats = []
        for conv in self.convs:
            h = self.act(conv(h))
            feats.append(h)
        return self.out(h), feats


class MultiResolutionDiscriminator(nn.Module):
    """audio float32[B, 1, T] -> list over resolutions of (logits, feature maps); see :class:`STFTDiscriminator`.

    Defaults: n_fft 512/1024/2048, 16 channels, 3 strided layers, 5-bin kernels: 32 k parameters.
    """

    def __init__(
        self, n_ffts: tuple[int, ...] = (512, 1024, 2048), channels: int = 16, layers: int = 3, kernel: int = 5
    ):
        super().__init__()
        self.discs = nn.ModuleList([STFTDiscriminator(n, channels, layers, kernel) for n in n_ffts])

    def forward(self, audio: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        return [d(audio) for d in self.discs]
