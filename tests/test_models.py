"""Model shape contracts, as the docstrings state them."""
import pytest
import torch

from models import ModelConfig, build_model
from models.istft import InverseSTFT


def tiny():
    return build_model(ModelConfig(latent_dim=4, enc_channels=4, enc_max_channels=16, dec_channels=16, dec_blocks=1))


@pytest.mark.parametrize("t", [1, 255, 256, 22050, 30001])
def test_forward_any_length(t):
    m = tiny()
    y, aux = m(torch.randn(2, 1, t))
    assert y.shape == (2, 1, t)
    assert aux["loss/kl"].ndim == 0 and aux["stats/kl_per_dim"].shape == (4,)


def test_encode_decode_shapes_and_defaults():
    m = build_model(ModelConfig())
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
        build_model(ModelConfig(family="nope"))
