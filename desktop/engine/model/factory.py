"""Where the bundles that ship inside the package live: the factory default and its siblings."""

from __future__ import annotations

from pathlib import Path


def default_bundle_path() -> Path:
    """The factory default bundle shipped inside the package: the streaming (causal) mel VAE, 23 ms."""
    return Path(__file__).resolve().parents[2] / "factory" / "default"
