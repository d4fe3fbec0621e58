"""Network definitions shared by the trainer and the exporter (torch only; no I/O, no CLI).

Every family implements :class:`models.family.AudioAutoencoder` (the written contract) and has one config
dataclass in :mod:`models.configs`; :func:`build_model` makes one from its config.
"""

from .configs import FamilyConfig, model_config
from .family import AudioAutoencoder
from .registry import FAMILIES, build_model

__all__ = ["AudioAutoencoder", "FAMILIES", "FamilyConfig", "build_model", "model_config"]
