"""Model configuration and construction by family name."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from torch import nn

from .vae import WaveformVAE


@dataclass
class ModelConfig:
    """Architecture of one autoencoder. ``family`` picks the class; unused fields are ignored by it."""

    family: str = "waveform-vae"
    sample_rate: int = 22050
    latent_dim: int = 16
    enc_channels: int = 16
    strides: list[int] = field(default_factory=lambda: [4, 4, 4, 4])
    enc_max_channels: int = 192
    dec_channels: int = 256
    dec_blocks: int = 4
    n_fft: int = 1024


FAMILIES = {"waveform-vae": WaveformVAE}


def build_model(cfg: ModelConfig) -> nn.Module:
    if cfg.family not in FAMILIES:
        raise ValueError(f"unknown model family '{cfg.family}' (known: {', '.join(FAMILIES)})")
    kwargs = asdict(cfg)
    kwargs.pop("family")
    kwargs.pop("sample_rate")
    kwargs["strides"] = tuple(kwargs["strides"])
    return FAMILIES[cfg.family](**kwargs)
