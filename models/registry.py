"""Model configuration and construction by family name."""
from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field

from torch import nn

from .hpn import HarmonicPlusNoise
from .hvae import HierarchicalVAE
from .melvae import MelVAE
from .vae import WaveformVAE
from .vqvae import VQVAE


@dataclass
class ModelConfig:
    """Architecture of one autoencoder. ``family`` picks the class; fields its constructor does not take are
    ignored. Fields after ``n_fft`` were added with the other families; their defaults keep older configs valid."""

    family: str = "waveform-vae"
    sample_rate: int = 22050
    latent_dim: int = 16
    enc_channels: int = 16
    strides: list[int] = field(default_factory=lambda: [4, 4, 4, 4])
    enc_max_channels: int = 192
    dec_channels: int = 256
    dec_blocks: int = 4
    n_fft: int = 1024
    # mel-vae
    n_mels: int = 128
    mel_norm_mean: float = -5.0
    mel_norm_std: float = 2.5
    mel_head_weight: float = 1.0
    mel_log_floor: float = 1e-4
    # hvae (and free bits for any Gaussian bottleneck that takes it)
    top_dim: int = 8
    top_stride: int = 4
    free_bits: float = 0.0
    kl_balance: bool = False
    # vqvae
    fsq_levels: list[int] = field(default_factory=lambda: [5, 5, 5, 5])
    fsq_entropy_weight: float = 1.0
    # decoder phase: "direct" (predicted per frame) or "cumulative" (predicted advance, summed along time)
    phase: str = "direct"
    # streaming (mel-vae; docs/streaming.md): causal convolutions and STFT, output `lookahead` frames late,
    # training at random levels (dB range) instead of per-window loudness normalisation
    causal: bool = False
    lookahead: int = 0
    random_gain_db: list[float] = field(default_factory=lambda: [0.0, 0.0])
    # hpn (harmonic-plus-noise, docs/families.md): pitch classifier loss weight and width
    pitch_weight: float = 1.0
    pitch_channels: int = 16
    norm_floor_db: float = -80.0  # level normalisation floor (the hpn preset: -60, see models/hpn.py)


FAMILIES = {"waveform-vae": WaveformVAE, "mel-vae": MelVAE, "hvae": HierarchicalVAE, "vqvae": VQVAE,
            "hpn": HarmonicPlusNoise}


def build_model(cfg: ModelConfig) -> nn.Module:
    if cfg.family not in FAMILIES:
        raise ValueError(f"unknown model family '{cfg.family}' (known: {', '.join(FAMILIES)})")
    cls = FAMILIES[cfg.family]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    kwargs = {k: v for k, v in asdict(cfg).items() if k in accepted}
    if (cfg.causal or cfg.lookahead) and "causal" not in accepted:
        raise ValueError(f"model family '{cfg.family}' has no causal (streaming) variant; use mel-vae")
    for key in ("strides", "fsq_levels", "random_gain_db"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    return cls(**kwargs)
