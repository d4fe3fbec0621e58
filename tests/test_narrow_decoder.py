"""scripts/narrow_decoder.py: the causal default rebuilt from its bundle, its decoder MLPs pruned to fewer units."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from conftest import ROOT
from desktop.engine.bundle import load_bundle
from desktop.engine.render import default_bundle_path
from models import build_model
from trainer.checkpoint import load_checkpoint, load_components
from trainer.config import RunConfig

spec = importlib.util.spec_from_file_location("narrow_decoder", ROOT / "scripts" / "narrow_decoder.py")
narrow = importlib.util.module_from_spec(spec)
spec.loader.exec_module(narrow)


def default_model() -> torch.nn.Module:
    src = default_bundle_path()
    config = RunConfig.from_dict(json.loads((src / "manifest.json").read_text())["provenance"]["config"])
    model = build_model(config.model).eval()
    narrow.load_from_streaming_bundle(model, src, load_bundle(src).manifest.parts)
    return model


def test_pruning_equals_silencing_the_dropped_units():
    """A pruned MLP computes what the full one computes with the dropped units' outputs zeroed."""
    full, pruned = default_model(), default_model()
    narrow.prune_mlps(pruned, 96)
    for a, b in zip(full.decoder.backbone, pruned.decoder.backbone):
        assert b.pw1.out_channels == b.pw2.in_channels == 96
        kept = [int(np.flatnonzero((a.pw1.weight[:, :, 0] == row).all(1))[0]) for row in b.pw1.weight[:, :, 0]]
        mask = torch.zeros(a.pw2.in_channels)
        mask[kept] = 1.0
        a.pw2.weight.data *= mask[None, :, None]
    z = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 16, 40)).astype(np.float32))
    with torch.no_grad():
        torch.testing.assert_close(pruned.decode({"z": z}), full.decode({"z": z}), atol=1e-4, rtol=1e-5)


def test_the_script_writes_a_checkpoint_of_the_narrow_config_and_never_overwrites(tmp_path):
    out = tmp_path / "narrow.pt"
    assert narrow.main(["--bundle", str(default_bundle_path()), "--hidden", "128", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out)
    config = RunConfig.from_dict(ckpt["config"])
    assert config.model.dec_hidden == 128
    model = build_model(config.model)
    load_components(model, ckpt["model"])  # every shape matches the narrow config
    assert all(b.pw1.out_channels == 128 for b in model.decoder.backbone)
    before = out.read_bytes()
    with pytest.raises(SystemExit, match="exists"):
        narrow.main(["--bundle", str(default_bundle_path()), "--hidden", "64", "--out", str(out)])
    assert out.read_bytes() == before
