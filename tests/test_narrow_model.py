"""scripts/narrow_model.py: the causal default rebuilt from its bundle and narrowed (MLP units, decoder blocks,
encoder channels), each cut equal to silencing what it drops."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import FIXTURES
from core.bundle_io import load_bundle
from desktop.engine.model.factory import default_bundle_path
from models import build_model
from scripts import narrow_model as narrow
from trainer.checkpoint import load_checkpoint, load_components
from trainer.config import RunConfig


def assert_close(actual: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float) -> None:
    """torch.testing.assert_close's check (same shape and dtype, |a - e| <= atol + rtol |e|) through numpy: torch's
    first call imports its distributed tensors to unwrap them, 0.8 s of this file's 1.5."""
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=rtol, atol=atol, strict=True)


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
        assert_close(pruned.decode({"z": z}), full.decode({"z": z}), atol=1e-4, rtol=1e-5)


def calibration() -> torch.Tensor:
    return narrow.calibration_audio(FIXTURES, 22050, files=4, seconds=1.0)


def test_dropping_decoder_blocks_equals_zeroing_their_branch():
    """A decoder without a block computes what the full one computes with that block's layer scale at zero."""
    full, cut = default_model(), default_model()
    n = len(full.decoder.backbone)
    narrow.drop_blocks(cut, [i for i in range(n) if i != 1])
    assert len(cut.decoder.backbone) == n - 1
    full.decoder.backbone[1].scale.data.zero_()
    z = torch.from_numpy(np.random.default_rng(1).standard_normal((1, 16, 40)).astype(np.float32))
    with torch.no_grad():
        assert_close(cut.decode({"z": z}), full.decode({"z": z}), atol=1e-4, rtol=1e-5)


def test_a_narrow_encoder_equals_the_wide_one_with_the_dropped_channels_silenced():
    """The narrow encoder's weights are the wide one's at the kept channels: zeroing the dropped channels' rows (and
    biases) in the wide encoder gives the same latents."""
    wide = default_model()
    audio = calibration()
    state = narrow.narrow_encoder_state(wide, 48, audio)
    config = RunConfig.from_dict(
        json.loads((default_bundle_path() / "manifest.json").read_text())["provenance"]["config"]
    )
    config.model.enc_max_channels = 48
    small = build_model(config.model).eval()
    small.load_state_dict({**small.state_dict(), **state})
    stream, inner = narrow.encoder_activity(wide, audio)
    keep = narrow.top(stream, 48)
    net = wide.encoder.net
    with torch.no_grad():
        for conv, rows in (
            [(net[0], keep)]
            + [(net[i].net[3], keep) for i in (1, 2, 3)]
            + [(net[i].net[1], narrow.top(inner[i - 1], 48)) for i in (1, 2, 3)]
        ):
            mask = torch.zeros(conv.out_channels)
            mask[rows] = 1.0
            conv.parametrizations.weight.original0.data *= mask[:, None, None]  # g = 0: the row is zero
            conv.bias.data *= mask
        x = audio[:1]
        assert_close(small.encode(x)["z"], wide.encode(x)["z"], atol=1e-4, rtol=1e-4)
    assert small.encoder.net[0].out_channels == 48


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


def test_blocks_and_encoder_channels_need_audio_and_give_the_narrow_shapes(tmp_path):
    out = tmp_path / "small.pt"
    with pytest.raises(SystemExit, match="--data"):
        narrow.main(["--bundle", str(default_bundle_path()), "--blocks", "2", "--out", str(out)])
    assert not out.exists()
    samples = str(FIXTURES)
    argv = ["--bundle", str(default_bundle_path()), "--blocks", "2", "--enc-channels", "64", "--hidden", "96"]
    assert narrow.main(argv + ["--data", samples, "--out", str(out)]) == 0
    ckpt = load_checkpoint(out)
    config = RunConfig.from_dict(ckpt["config"])
    assert (config.model.dec_blocks, config.model.enc_max_channels, config.model.dec_hidden) == (2, 64, 96)
    model = build_model(config.model)
    load_components(model, ckpt["model"])
    assert len(model.decoder.backbone) == 2 and model.encoder.net[0].out_channels == 64
