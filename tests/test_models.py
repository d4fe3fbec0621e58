"""Model shape contracts, as the docstrings state them."""

import pytest
import torch

from models import build_model, model_config
from models.istft import InverseSTFT


def tiny():
    return build_model(model_config(latent_dim=4, enc_channels=4, enc_max_channels=16, dec_channels=16, dec_blocks=1))


@pytest.mark.parametrize("t", [1, 255, 256, 22050, 30001])
def test_forward_any_length(t):
    m = tiny()
    y, aux = m(torch.randn(2, 1, t))
    assert y.shape == (2, 1, t)
    assert aux["loss/kl"].ndim == 0 and aux["stats/kl_per_dim"].shape == (4,)


def test_encode_decode_shapes_and_defaults():
    m = build_model(model_config())
    assert m.hop == 256 and m.levels == (("z", 16, 256),)
    m.eval()
    z = m.encode(torch.randn(1, 1, 256 * 10))["z"]
    assert z.shape == (1, 16, 10)
    assert m.decode({"z": z}).shape == (1, 1, 2560)
    y1, _ = m(torch.randn(1, 1, 512))
    assert y1.shape == (1, 1, 512)


def test_inverse_stft_inverts_a_centred_stft():
    ist = InverseSTFT(1024, 256)
    sig = torch.randn(1, 256 * 40)
    padded = torch.nn.functional.pad(sig, (384, 640))
    spec = torch.stft(padded, 1024, 256, window=torch.hann_window(1024), center=False, return_complex=True)[..., :40]
    y = ist(spec.real, spec.imag)
    assert y.shape == (1, 1, 256 * 40)
    assert (y[0, 0] - sig[0]).abs().max() < 1e-4


def test_unknown_family():
    with pytest.raises(ValueError, match="unknown model family"):
        build_model(model_config(family="nope"))


def _one_bin_decoder(phase: str, k: int, n_fft: int = 256, hop: int = 64):
    from models.decoder import ISTFTDecoder

    dec = ISTFTDecoder(latent_dim=4, channels=8, blocks=1, n_fft=n_fft, hop=hop, phase=phase)
    bins = n_fft // 2 + 1
    with torch.no_grad():
        dec.head.weight.zero_()
        dec.head.bias.zero_()
        dec.head.bias[:bins] = -30.0  # log-magnitude: silent ...
        dec.head.bias[k] = 0.0  # ... except bin k; predicted phase (or phase deviation) 0 everywhere
    return dec


def _sinusoid_residual(y: torch.Tensor, freq: float) -> float:
    """Relative residual of the best least-squares sinusoid at ``freq`` cycles/sample."""
    n = torch.arange(y.shape[-1], dtype=torch.float64)
    basis = torch.stack([torch.cos(2 * torch.pi * freq * n), torch.sin(2 * torch.pi * freq * n)], 1)
    target = y.double().reshape(-1, 1)
    coef = torch.linalg.lstsq(basis, target).solution
    return float((target - basis @ coef).norm() / target.norm())


def test_cumulative_phase_continues_a_partial_across_frames():
    """phase='cumulative' with zero predicted deviation advances bin k by its centre frequency each frame, so one
    active bin decodes to one steady sinusoid; 'direct' with a constant phase restarts it every frame (2.25
    cycles per hop here), which is the frame-rate comb the mode exists to avoid."""
    k, n_fft, hop = 9, 256, 64
    z = torch.zeros(1, 4, 40)
    interior = slice(4 * n_fft, 36 * hop - 4 * n_fft)
    residual = {}
    for phase in ("cumulative", "direct"):
        with torch.no_grad():
            y = _one_bin_decoder(phase, k, n_fft, hop)(z)[0, 0, interior]
        residual[phase] = _sinusoid_residual(y, k / n_fft)
    assert residual["cumulative"] < 1e-3 and residual["direct"] > 0.3, residual


def test_unknown_phase_mode_is_refused():
    with pytest.raises(ValueError, match="phase"):
        build_model(model_config(phase="random"))


def test_each_model_default_has_one_home_its_config():
    """models/configs.py holds every default; a constructor states none (VQ-VAE's said latent_dim 12 and
    fsq_entropy_weight 0 while its config said 16 and 1; timbre's latent_dim 1 and enc_max_channels 0 against 16
    and 192)."""
    import inspect

    from models.registry import FAMILIES

    for family, cls in FAMILIES.items():
        params = inspect.signature(cls.__init__).parameters
        defaults = {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}
        assert not defaults, f"{family}: its constructor states defaults {defaults}; they belong in its config"
