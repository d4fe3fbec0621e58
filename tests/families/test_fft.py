"""models/fft.py: the four-step FFT gives torch.fft's numbers (windowed, zero-padded, both directions), frames and
overlap-add match conv1d / conv_transpose1d's layout. The source-filter graphs built on them are exported and
checked against torch, whole-file and block by block, in test_family_pipeline.py."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from models.fft import EvenIRFFT, FrameIRFFT, FrameRFFT, factor_pair, frames_of, overlap_add, rfft_split


@pytest.mark.parametrize("length,n", [(1024, 2048), (768, 1024), (512, 1024), (1024, 1024), (96, 128)])
def test_rfft_of_windowed_zero_padded_frames_is_torch_fft(length, n):
    g = torch.Generator().manual_seed(length + n)
    frames = torch.randn(3, 7, length, generator=g)
    window = torch.hann_window(length, periodic=False, dtype=torch.float64)
    re, im = FrameRFFT(length, n, window)(frames)
    want = torch.fft.rfft(frames.double() * window, n=n)
    scale = want.abs().max().item()
    assert re.shape == (3, 7, n // 2 + 1) and im.shape == re.shape
    assert (re.double() - want.real).abs().max().item() < 1e-5 * scale
    assert (im.double() - want.imag).abs().max().item() < 1e-5 * scale


@pytest.mark.parametrize("n", [1024, 512, 96])
def test_irfft_is_torch_irfft_and_ignores_the_imaginary_dc_and_nyquist(n):
    g = torch.Generator().manual_seed(n)
    spec = torch.randn(2, 5, n // 2 + 1, 2, generator=g, dtype=torch.float64)
    got = FrameIRFFT(n)(spec[..., 0].float(), spec[..., 1].float())
    want = torch.fft.irfft(torch.complex(spec[..., 0], spec[..., 1]), n=n)
    assert got.shape == (2, 5, n)
    assert (got.double() - want).abs().max().item() < 1e-5 * want.abs().max().item()


def test_frames_and_overlap_add_lay_out_samples_as_the_strided_convolutions_do():
    hop, length = 4, 12
    x = torch.randn(2, 53)
    w = torch.randn(5, 1, length)
    conv = F.conv1d(x[:, None], w, stride=hop)  # [B, 5, F]
    assert torch.allclose(torch.einsum("bfl,cl->bcf", frames_of(x, length, hop), w[:, 0]), conv, atol=1e-5)
    spec = torch.randn(2, 5, 9)
    basis = torch.randn(5, 1, length)
    want = F.conv_transpose1d(spec, basis, stride=hop)[:, 0]
    got = overlap_add(torch.einsum("bcf,cl->bfl", spec, basis[:, 0]), hop)
    assert torch.allclose(got, want, atol=1e-5)
    with pytest.raises(ValueError, match="multiple of the hop"):
        frames_of(x, 10, hop)


@pytest.mark.parametrize("n,lags", [(2048, 443), (1024, 512), (128, 37), (128, 128)])
def test_even_irfft_is_the_head_of_torch_irfft(n, lags):
    """YIN's autocorrelation from a power spectrum, the cepstrum from a log magnitude: the first lags of the
    inverse DFT of a real half spectrum (bins 0 and n / 2 counted once, the rest twice)."""
    g = torch.Generator().manual_seed(n + lags)
    power = torch.fft.rfft(torch.randn(3, 5, n // 2, generator=g, dtype=torch.float64), n=n).abs() ** 2
    got = EvenIRFFT(n, lags)(power.float())
    want = torch.fft.irfft(power, n=n)[..., :lags]
    assert got.shape == (3, 5, lags)
    assert (got.double() - want).abs().max().item() < 1e-5 * want.abs().max().item()


def test_sizes_that_do_not_factor_are_refused():
    assert factor_pair(1024) == (32, 32) and factor_pair(2048) == (32, 64) and factor_pair(7) is None
    # a frame half the transform: more rows of a, fewer of the second product's columns (270k multiply-adds
    # against 336k); frames that fill it keep factor_pair's split
    assert rfft_split(2048, 1024) == (64, 32) and rfft_split(2048, 2048) == (32, 64)
    assert rfft_split(1024, 768) == (32, 32) and rfft_split(7, 7) is None
    with pytest.raises(ValueError, match="do not factor"):
        FrameRFFT(5, 7)
    with pytest.raises(ValueError, match="do not fit"):
        EvenIRFFT(128, 129)
