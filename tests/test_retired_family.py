"""A bundle or a checkpoint of a retired family (hpn, retired in favour of sf) is refused in one line that names
the file and says so: the player's loader and render CLI (exit 2), export's CLI (exit 2), and the config that
would rebuild it."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from conftest import FIXTURES, main_in_process
from core.bundle import BundleError
from core.bundle_io import load_bundle
from desktop.engine.model.factory import default_bundle_path
from desktop.render_cli import main as render_main
from export.cli import main as export_main
from models import model_config
from trainer.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointError, load_checkpoint


@pytest.fixture
def retired_bundle(tmp_path):
    """The shipped voice bundle relabelled as family hpn (its files and checksums otherwise intact)."""
    bundle = tmp_path / "old-hpn"
    shutil.copytree(default_bundle_path().parent / "voice", bundle)
    manifest = bundle / "manifest.json"
    data = json.loads(manifest.read_text())
    data["family"] = "hpn"
    manifest.write_text(json.dumps(data))
    return bundle


def test_a_retired_familys_bundle_is_refused_naming_the_file(retired_bundle, tmp_path):
    with pytest.raises(BundleError, match=r"manifest\.json: the model family 'hpn' was retired in favour of 'sf'"):
        load_bundle(retired_bundle)
    src = FIXTURES / "speech_pd_voice.wav"
    proc = main_in_process(render_main, [str(src), "-o", str(tmp_path / "y.wav"), "--bundle", str(retired_bundle)])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(retired_bundle) in lines[0] and "'hpn' was retired" in lines[0], proc.stderr


def test_a_retired_familys_checkpoint_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "last.pt"
    config = {"model": {"family": "hpn", "latent_dim": 24}}
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": config, "model": {}}, path)
    with pytest.raises(CheckpointError, match=r"last\.pt: the model family 'hpn' was retired in favour of 'sf'"):
        load_checkpoint(path)
    proc = main_in_process(export_main, [str(path), "--out", str(tmp_path / "bundle"), "--no-progress"])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "'hpn' was retired" in lines[0], proc.stderr
    with pytest.raises(ValueError, match="'hpn' was retired"):
        model_config("hpn")
