"""Model construction by family name: each family's class and its config dataclass (models/configs.py)."""

from __future__ import annotations

import dataclasses
import inspect

from .configs import CONFIGS, FamilyConfig
from .family import AudioAutoencoder
from .hvae import HierarchicalVAE
from .melvae import MelVAE
from .sftimbre import SourceFilterTimbre
from .sfvae import SourceFilterVAE
from .vae import WaveformVAE
from .vqvae import VQVAE

FAMILIES: dict[str, type[AudioAutoencoder]] = {
    "waveform-vae": WaveformVAE,
    "mel-vae": MelVAE,
    "hvae": HierarchicalVAE,
    "vqvae": VQVAE,
    "sf": SourceFilterVAE,
    "timbre": SourceFilterTimbre,
}
assert set(FAMILIES) == set(CONFIGS), "every family needs a class and a config"


def build_model(cfg: FamilyConfig) -> AudioAutoencoder:
    """The family's network with the config's settings (``sample_rate`` only where the constructor takes it)."""
    if cfg.family not in FAMILIES:
        raise ValueError(f"unknown model family '{cfg.family}' (known: {', '.join(FAMILIES)})")
    cls = FAMILIES[cfg.family]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    kwargs = {}
    for f in dataclasses.fields(cfg):
        if f.name == "family" or (f.name == "sample_rate" and f.name not in accepted):
            continue
        value = getattr(cfg, f.name)
        kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)
