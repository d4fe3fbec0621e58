"""Network definitions shared by the trainer and the exporter (torch only; no I/O, no CLI)."""
from .registry import build_model, ModelConfig

__all__ = ["build_model", "ModelConfig"]
