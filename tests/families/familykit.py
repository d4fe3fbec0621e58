"""Shared by the family tests (imported, not a conftest: tests/conftest.py owns that module name): tiny runs and
bundles of every family, trained and exported from the CLI once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, export_cli, train_cli
from models import model_config
from models.configs import config_fields

TINY = dict(latent_dim=4, enc_channels=4, enc_max_channels=16, dec_channels=16, dec_blocks=1, top_dim=2)


def tiny(family: str, **values):
    """The family's config at tiny width, in torch (the TINY settings it has, and ``values``)."""
    return model_config(family, **{k: v for k, v in {**TINY, **values}.items() if k in config_fields(family)})


FAMILY_PRESETS = ("mel-vae-128", "mel-vae-256", "hvae", "vqvae")
# presets' own sizes made tiny; TINY_OVERRIDES' latent_dim 4 is one FSQ group of 4
EXTRA = {"hvae": ["model.top_dim=2"], "mel-vae-128": [], "mel-vae-256": [], "vqvae": []}

_cache: dict[str, Path] = {}


def tiny_family_bundle(preset: str, tmp_root: Path) -> tuple[Path, Path]:
    """(run_dir, bundle_dir) for ``preset``, trained 2 steps and exported (cached per session)."""
    if preset not in _cache:
        run_dir, bundle = tmp_root / preset / "run", tmp_root / preset / "bundle"
        train_cli(preset, run_dir, 2, *EXTRA[preset])
        _cache[preset] = export_cli(run_dir, bundle, stat_chunks=8)
    return _cache[preset].parent / "run", _cache[preset]


@pytest.fixture(scope="session")
def family_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("families")


@pytest.fixture(scope="session")
def eval_data(tmp_path_factory) -> Path:
    """Two short fixture clips in two category subfolders."""
    root = tmp_path_factory.mktemp("evaldata")
    for name in ("speech_pd_voice.wav", "drums_kit_hits.wav"):
        (root / name.split("_")[0]).mkdir()
        shutil.copy(FIXTURES / name, root / name.split("_")[0] / name)
    return root
