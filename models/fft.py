"""Real DFTs of frames as two small matrix products (a four-step FFT) in plain tensor ops: torch.fft's numbers to
float32 rounding, a fifth to a tenth of a dense DFT basis's multiply-adds at 1024-2048 points, and an ONNX export of
a few MatMuls (onnxruntime's own DFT kernel was slower than either, docs/streaming.md "Speed").

With n = n1 * n2, sample i = n2 a + b and bin k = c + n1 d:

    X[c + n1 d] = sum_b exp(-2 pi i b d / n2) * [exp(-2 pi i b c / n) * sum_a x[n2 a + b] exp(-2 pi i a c / n1)]

Frames zero-padded from ``length`` to ``n`` points skip the rows of a that hold only zeros. The inverse is the same
sum over the full Hermitian spectrum (x = Re DFT(conj X) / n), its output only the real part.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def factor_pair(n: int) -> tuple[int, int] | None:
    """n = n1 * n2 with n1 <= n2 as close to sqrt(n) as possible (n1 > 1), else None."""
    for n1 in range(int(np.sqrt(n)), 1, -1):
        if n % n1 == 0:
            return n1, n // n1
    return None


def rfft_split(n: int, length: int) -> tuple[int, int] | None:
    """The (n1, n2) with the fewest multiply-adds for FrameRFFT's two products on frames of ``length`` samples
    zero-padded to n points: 2 n1 ceil(length / n2) n2 for the first, 4 n1 n2 ceil((n / 2 + 1) / n1) for the
    second (a 1024-sample frame padded to 2048: 64 x 32, 270k, where 32 x 64 takes 336k); ties go to
    ``factor_pair``'s."""
    first = factor_pair(n)
    if first is None:
        return None

    def cost(n1: int) -> int:
        n2 = n // n1
        return 2 * n1 * -(-length // n2) * n2 + 4 * n1 * n2 * -(-(n // 2 + 1) // n1)

    best = first[0]
    for n1 in range(2, n // 2 + 1):
        if n % n1 == 0 and cost(n1) < cost(best):
            best = n1
    return best, n // best


def frames_of(x: torch.Tensor, length: int, hop: int) -> torch.Tensor:
    """x float32[B, T] -> float32[B, F, length]: the frames ``conv1d(x, w, stride=hop)`` reads (frame f starts at
    sample f * hop, F = (T - length) // hop + 1), by reshapes; ``length`` must be a multiple of ``hop``."""
    if length % hop:
        raise ValueError(f"frames_of: length {length} is not a multiple of the hop {hop}")
    per = length // hop
    blocks = (x.shape[-1] - length) // hop + per
    r = x[..., : blocks * hop].reshape(x.shape[0], blocks, hop)
    count = blocks - per + 1
    return torch.cat([r[:, j : j + count] for j in range(per)], dim=-1)


def _angles(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """2 pi (a b mod n) / n in float64 (the product reduced exactly before the float)."""
    return 2 * np.pi * np.mod(np.outer(a, b), n) / n


def _f32(v: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))


class FrameRFFT(nn.Module):
    """frames float32[..., length] -> (re, im) float32[..., n // 2 + 1] each: the DFT of ``window`` * frame,
    zero-padded to ``n`` points (``torch.fft.rfft(window * frame, n)``)."""

    def __init__(self, length: int, n: int, window: torch.Tensor | None = None):
        super().__init__()
        sizes = rfft_split(n, length)
        if sizes is None or length > n:
            raise ValueError(f"FrameRFFT: {n} points do not factor, or the frame ({length}) is longer")
        self.n1, self.n2 = sizes
        self.length, self.n, self.bins = int(length), int(n), n // 2 + 1
        self.rows = -(-self.length // self.n2)  # rows of a that hold samples; the rest are zero padding
        self.k2 = -(-self.bins // self.n1)  # the d that reach bin n / 2
        a, c, b, d = np.arange(self.rows), np.arange(self.n1), np.arange(self.n2), np.arange(self.k2)
        inner = _angles(c, a, self.n1)  # [c, a]
        self.register_buffer("inner", _f32(np.concatenate([np.cos(inner), -np.sin(inner)])), persistent=False)
        tw = _angles(c, b, self.n)  # [c, b]
        self.register_buffer("tw_cos", _f32(np.cos(tw)), persistent=False)
        self.register_buffer("tw_sin", _f32(np.sin(tw)), persistent=False)
        outer = _angles(b, d, self.n2)  # [b, d]
        wr, ws = np.cos(outer), np.sin(outer)
        self.register_buffer("outer", _f32(np.block([[wr, -ws], [ws, wr]])), persistent=False)  # [2 b, 2 d]
        w = np.ones(self.length) if window is None else window.detach().double().numpy()
        padded = np.zeros(self.rows * self.n2)
        padded[: self.length] = w
        self.register_buffer("window", _f32(padded), persistent=False)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lead = frames.shape[:-1]
        x = F.pad(frames, (0, self.rows * self.n2 - self.length)) * self.window
        y = torch.matmul(self.inner, x.reshape(*lead, self.rows, self.n2))  # [..., 2 c, b]
        yr, yi = y[..., : self.n1, :], y[..., self.n1 :, :]
        # times exp(-2 pi i b c / n)
        zr = yr * self.tw_cos + yi * self.tw_sin
        zi = yi * self.tw_cos - yr * self.tw_sin
        spec = torch.matmul(torch.cat([zr, zi], dim=-1), self.outer)  # [..., c, (re, im) x d]
        spec = spec.reshape(*lead, self.n1, 2, self.k2).transpose(-1, -3)  # [..., d, 2, c]: bin c + n1 d
        re = spec[..., 0, :].reshape(*lead, self.k2 * self.n1)[..., : self.bins]
        im = spec[..., 1, :].reshape(*lead, self.k2 * self.n1)[..., : self.bins]
        return re, im


class FrameIRFFT(nn.Module):
    """(re, im) float32[..., n // 2 + 1] -> float32[..., n]: ``torch.fft.irfft(re + i im, n)``, as the real part of
    the half spectrum's inverse DFT with bins 1 .. n / 2 - 1 counted twice (the conjugate half they stand for):
    only the rows of a that hold bins 0 .. n / 2 enter the first product, and no mirrored copy of the spectrum is
    built (a reversed slice of it and its joins were 4 % of a decoder's time). With n = n1 n2, bin k = n2 a + b
    and sample c + n1 d. ``lags``: only the first ``lags`` samples, from the rows of d that reach them; ``im``
    None: a real spectrum (of an even sequence), whose products skip the imaginary half (``EvenIRFFT``)."""

    def __init__(self, n: int, lags: int | None = None):
        super().__init__()
        sizes = factor_pair(n)
        lags = n if lags is None else int(lags)
        if sizes is None or n % 2 or not 0 < lags <= n:
            raise ValueError(
                f"{type(self).__name__}: {n} points do not factor into an even pair, or {lags} lags do not fit"
            )
        self.n1, self.n2 = sizes
        self.n, self.bins, self.lags = int(n), n // 2 + 1, lags
        self.rows = -(-self.bins // self.n2)  # rows of a that hold bins 0 .. n / 2
        self.d = -(-self.lags // self.n1)  # rows of d that reach ``lags``
        k = np.arange(self.rows * self.n2)
        self.register_buffer(
            "weight", _f32(np.where((k == 0) | (k == n // 2), 1.0, 2.0) * (k <= n // 2) / n), persistent=False
        )
        inner = _angles(np.arange(self.n1), np.arange(self.rows), self.n1)  # [c, a]: exp(+2 pi i a c / n1)
        co, si = np.cos(inner), np.sin(inner)
        # (xr + i xi)(cos + i sin) over a: [re; im] = [[cos, -sin], [sin, cos]] [xr; xi] (xi = 0: the first half)
        self.register_buffer("inner", _f32(np.block([[co, -si], [si, co]])), persistent=False)  # [2 c, 2 a]
        tw = _angles(np.arange(self.n1), np.arange(self.n2), self.n)  # [c, b]
        self.register_buffer("tw_cos", _f32(np.cos(tw)), persistent=False)
        self.register_buffer("tw_sin", _f32(np.sin(tw)), persistent=False)
        outer = _angles(np.arange(self.n2), np.arange(self.d), self.n2)  # [b, d]
        # Re(Z exp(+i phi)) = Zr cos - Zi sin
        self.register_buffer("outer", _f32(np.concatenate([np.cos(outer), -np.sin(outer)])), persistent=False)

    def forward(self, re: torch.Tensor, im: torch.Tensor | None = None) -> torch.Tensor:
        lead = re.shape[:-1]
        pad = self.rows * self.n2 - self.bins
        xr = (F.pad(re, (0, pad)) * self.weight).reshape(*lead, self.rows, self.n2)
        if im is None:
            y = torch.matmul(self.inner[:, : self.rows], xr)  # [..., 2 c, b]
        else:
            xi = (F.pad(im, (0, pad)) * self.weight).reshape(*lead, self.rows, self.n2)
            y = torch.matmul(self.inner, torch.cat([xr, xi], dim=-2))
        yr, yi = y[..., : self.n1, :], y[..., self.n1 :, :]
        # times exp(+2 pi i b c / n)
        zr = yr * self.tw_cos - yi * self.tw_sin
        zi = yi * self.tw_cos + yr * self.tw_sin
        out = torch.matmul(torch.cat([zr, zi], dim=-1), self.outer)  # [..., c, d]: the real part only
        out = out.transpose(-1, -2).reshape(*lead, self.d * self.n1)  # sample c + n1 d
        return out if self.lags == self.d * self.n1 else out[..., : self.lags]


class EvenIRFFT(FrameIRFFT):
    """real half spectrum float32[..., n // 2 + 1] (of an even sequence: a power spectrum, a log magnitude) -> the
    first ``lags`` samples of its inverse DFT, float32[..., lags] (``torch.fft.irfft(x, n)[..., :lags]``):
    ``FrameIRFFT`` with no imaginary part and only the rows of d reaching ``lags`` (YIN's 443 of 2048 lags in a
    quarter of a dense cosine basis's multiply-adds)."""

    def __init__(self, n: int, lags: int):
        super().__init__(n, lags)

    def forward(self, half: torch.Tensor) -> torch.Tensor:
        return super().forward(half)


def overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """frames float32[B, F, n] (n a multiple of ``hop``), frame f starting at sample f * hop -> float32[B, (F - 1) *
    hop + n]: their sum, by ``n / hop`` shifted reshapes (``conv_transpose1d`` with stride ``hop``'s layout)."""
    b, count, n = frames.shape
    per = n // hop
    parts = frames.reshape(b, count, per, hop)
    total = None
    for j in range(per):
        shifted = F.pad(parts[:, :, j], (0, 0, j, per - 1 - j))  # [B, F + per - 1, hop]
        total = shifted if total is None else total + shifted
    return total.reshape(b, (count + per - 1) * hop)


__all__ = ["EvenIRFFT", "FrameIRFFT", "FrameRFFT", "factor_pair", "frames_of", "overlap_add", "rfft_split"]
