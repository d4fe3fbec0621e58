"""Every family at tiny width in torch: shapes, the documented defaults, one optimizer step, bottleneck contracts."""

import pytest
import torch

from familykit import tiny
from models import build_model
from models.fsq import FSQBottleneck
from trainer.config import LossConfig, load_config
from trainer.losses import ReconstructionLoss


@pytest.mark.parametrize(
    "family,levels",
    [
        ("waveform-vae", [("z", 4, 256)]),
        ("mel-vae", [("z", 4, 256)]),
        ("hvae", [("top", 2, 1024), ("bottom", 4, 256)]),
        ("vqvae", [("z", 4, 256)]),
    ],
)
@pytest.mark.slow
def test_forward_shapes_and_one_step(family, levels):
    torch.manual_seed(0)
    model = build_model(tiny(family))
    assert [tuple(l) for l in model.levels] == [tuple(l) for l in levels]
    x = torch.randn(2, 1, 5000) * 0.1  # not a multiple of any hop: forward pads and crops
    y, aux = model(x)
    assert y.shape == x.shape
    model.eval()
    lat = model.encode(torch.randn(2, 1, 1024 * 5) * 0.1)
    assert {k: tuple(v.shape) for k, v in lat.items()} == {n: (2, d, 1024 * 5 // h) for n, d, h in levels}
    assert model.decode(model.quantize(lat)).shape == (2, 1, 1024 * 5)
    model.train()
    loss_fn = ReconstructionLoss(LossConfig(), 22050)
    before = [p.detach().clone() for p in model.parameters()]
    loss, terms = loss_fn(y, x, {k: v for k, v in aux.items() if not k.startswith("latent/")}, step=10000)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert sum(float((a.detach() - b).abs().sum()) for a, b in zip(model.parameters(), before)) > 0


@pytest.mark.parametrize("preset", ["waveform-vae", "mel-vae-128", "mel-vae-256", "hvae", "vqvae"])
@pytest.mark.slow
def test_presets_build_with_documented_levels(preset):
    cfg = load_config(preset)
    model = build_model(cfg.model)
    expected = {"hvae": [("top", 8, 1024), ("bottom", 16, 256)], "vqvae": [("z", 12, 256)]}.get(
        preset, [("z", 16, 256)]
    )
    assert [tuple(l) for l in model.levels] == expected
    if preset.startswith("mel-vae"):
        assert model.front.n_mels == int(preset.split("-")[-1])


def test_old_waveform_config_still_builds_the_same_model(tiny_run):
    """A checkpoint written before a config field existed (phase) loads unchanged: the field takes its default."""
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    ckpt = load_checkpoint(tiny_run)
    old = {
        k: v
        for k, v in ckpt["config"]["model"].items()
        if k
        in (
            "family",
            "sample_rate",
            "latent_dim",
            "enc_channels",
            "strides",
            "enc_max_channels",
            "dec_channels",
            "dec_blocks",
            "n_fft",
        )
    }
    ckpt["config"]["model"] = old
    model, cfg = model_from_checkpoint(ckpt)
    assert type(model).__name__ == "WaveformVAE" and cfg.model.phase == "direct"


def test_hvae_reports_kl_per_level_with_free_bits():
    model = build_model(tiny("hvae", free_bits=5.0, kl_balance=False))
    _, aux = model(torch.randn(2, 1, 4096) * 0.1)
    assert {"loss/kl_top", "loss/kl_bottom", "stats/kl_top", "stats/kl_bottom"} <= set(aux)
    # free bits: each dim counts at least 5 nats, so the loss is at least dims * 5 and has no gradient below it
    assert float(aux["loss/kl_top"]) >= 2 * 5.0 - 1e-5 and float(aux["loss/kl_bottom"]) >= 4 * 5.0 - 1e-5
    assert float(aux["stats/kl_top"]) < float(aux["loss/kl_top"])


def test_fsq_grid_codes_and_straight_through_gradient():
    q = FSQBottleneck(8, (5, 5, 5, 5))
    assert q.groups == 2 and q.codebook_size == 625
    z = (torch.randn(3, 8, 50) * 3).requires_grad_()
    zq, aux = q(z)
    codes = q.codes(z)
    assert codes.dtype == torch.int64 and codes.shape == (3, 2, 50)
    assert int(codes.min()) >= 0 and int(codes.max()) < 625
    assert torch.allclose(zq * 2, torch.round(zq * 2))  # levels 5 -> values in {-1, -.5, 0, .5, 1}
    assert float(zq.abs().max()) <= 1.0
    zq.sum().backward()
    assert z.grad is not None and float(z.grad.abs().sum()) > 0
    assert 0 < float(aux["vq/usage"]) <= 1 and float(aux["vq/perplexity"]) >= 1
    # even level counts use the offset grid
    q8 = FSQBottleneck(3, (8, 6, 5))
    c8 = q8.codes(torch.randn(1, 3, 400) * 4)
    assert int(c8.max()) < 240 and len(torch.unique(c8)) > 60


def test_fsq_entropy_penalty_prefers_spread_codes():
    q = FSQBottleneck(4, (5, 5, 5, 5), entropy_weight=1.0).train()
    torch.manual_seed(0)
    spread = torch.randn(8, 4, 87)
    together = torch.randn(8, 1, 87).repeat(1, 4, 1)  # all channels move together: few codes
    assert float(q(spread)[1]["loss/fsq_entropy"]) < float(q(together)[1]["loss/fsq_entropy"])
    z = spread.clone().requires_grad_()
    q(z)[1]["loss/fsq_entropy"].backward()
    assert float(z.grad.abs().sum()) > 0
    assert "loss/fsq_entropy" not in q.eval()(spread)[1]  # training only


def test_every_shipped_bundles_run_config_still_resolves():
    """The run configs shipped bundles record (read by ``--init-from`` a bundle) hold other families' fields at the
    flat config's defaults (models/configs.py FLAT_DEFAULTS): each still resolves to its own family's config."""
    import json

    from desktop.engine.model.factory import default_bundle_path
    from models.configs import config_fields
    from trainer.config import RunConfig

    flat = 0
    for manifest in sorted(default_bundle_path().parent.glob("*/manifest.json")):
        recorded = json.loads(manifest.read_text())["provenance"]["config"]
        cfg = RunConfig.from_dict(recorded)
        assert cfg.model.family == recorded["model"]["family"], manifest
        flat += bool(set(recorded["model"]) - config_fields(cfg.model.family))
    assert flat >= 4  # waveform-vae, mel-vae, mel-vae-256, hvae, vqvae: the flat path is exercised
