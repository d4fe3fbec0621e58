"""Adversarial fine-tuning: --init-from a run, encoder frozen, discriminator checkpointed, exact resume, export."""

import json

import pytest
import torch

from conftest import FIXTURES, export_cli, train_cli
from trainer.adversarial import aligned_crops, disc_loss, feature_loss, gen_loss
from trainer.checkpoint import load_checkpoint
from trainer.config import RunConfig, load_config
from trainer.loop import Trainer

ADV = ["adv.enabled=true", "adv.disc_crop=4096", "train.ckpt_every=1000", "train.val_every=1000"]


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def adv_run(tiny_run, tmp_path_factory):
    """The tiny run fine-tuned 3 steps from the CLI (discriminator warm-up at step 0, generator terms from 1)."""
    out = tmp_path_factory.mktemp("adv") / "run"
    overrides = ["--init-from", str(tiny_run), *ADV, "adv.start_step=1", "adv.disc_warmup_steps=1"]
    proc = train_cli(tiny_run / "config.yaml", out, 3, *overrides, tiny=False)
    assert "weights from" in proc.stderr and "encoder frozen" in proc.stderr
    return out


def _tiny_cfg(tiny_run, *extra):
    return load_config(str(tiny_run / "config.yaml"), [*ADV, *extra])


def test_finetune_keeps_the_encoder_and_trains_decoder_and_discriminator(tiny_run, adv_run):
    src, ft = load_checkpoint(tiny_run), load_checkpoint(adv_run)
    assert ft["step"] == 3 and ft["init_from"]["step"] == src["step"]
    for part in ("encoder", "bottleneck"):
        for k, v in src["model"][part].items():
            assert torch.equal(v, ft["model"][part][k]), (part, k)  # bit-identical
    assert any(not torch.equal(v, ft["model"]["decoder"][k]) for k, v in src["model"]["decoder"].items())
    assert ft["disc"] and all(torch.isfinite(v).all() for v in ft["disc"].values())
    assert ft["disc_optimizer"]["state"]  # Adam moments of the discriminator, for resume
    rows = [json.loads(line) for line in (adv_run / "train_log.jsonl").read_text().splitlines()]
    steps = {r["step"]: r for r in rows if "loss/mel" in r}
    assert steps[1]["loss/disc"] > 0 and steps[1]["loss/adv_gen"] == 0  # step 0 logged as 1: warm-up only
    assert steps[3]["loss/adv_gen"] > 0 and steps[3]["loss/feature"] > 0 and steps[3]["loss/disc"] > 0


def test_finetuned_run_exports_without_the_discriminator(adv_run, tmp_path):
    out = export_cli(adv_run, tmp_path / "bundle")
    assert sorted(p.name for p in out.iterdir()) == ["decoder.onnx", "encoder.onnx", "manifest.json"]


def test_adversarial_resume_is_exact(tiny_run, tmp_path):
    cfg = _tiny_cfg(tiny_run)
    Trainer(cfg, FIXTURES, tmp_path / "a", init_from=tiny_run, logger="none", show_progress=False).fit(4)
    Trainer(cfg, FIXTURES, tmp_path / "b", init_from=tiny_run, logger="none", show_progress=False).fit(2)
    # --init-from is ignored on resume: the run's own checkpoint holds the fine-tuned weights
    t = Trainer(cfg, FIXTURES, tmp_path / "b", resume=True, init_from=tiny_run, logger="none", show_progress=False)
    assert t.step == 2
    t.fit(4)
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    for part in a["model"]:
        for k in a["model"][part]:
            assert torch.equal(a["model"][part][k], b["model"][part][k]), (part, k)
    for k in a["disc"]:
        assert torch.equal(a["disc"][k], b["disc"][k]), k
    for i, st in a["disc_optimizer"]["state"].items():
        assert torch.equal(st["exp_avg_sq"], b["disc_optimizer"]["state"][i]["exp_avg_sq"])


def test_unfrozen_encoder_trains_and_kl_counts(tiny_run, tmp_path):
    cfg = _tiny_cfg(tiny_run, "adv.freeze_encoder=false", "loss.kl_warmup_start=0", "loss.kl_warmup_steps=1")
    t = Trainer(cfg, FIXTURES, tmp_path / "run", init_from=tiny_run, logger="none", show_progress=False)
    before = {k: v.clone() for k, v in t.model.encoder.state_dict().items()}
    t.fit(2)
    assert any(not torch.equal(v, t.model.encoder.state_dict()[k]) for k, v in before.items())


def test_init_from_refuses_another_model(tiny_run, tmp_path):
    cfg = _tiny_cfg(tiny_run, "model.latent_dim=8")
    with pytest.raises(ValueError, match=r"model\.latent_dim .*config\.yaml"):
        Trainer(cfg, FIXTURES, tmp_path / "run", init_from=tiny_run, logger="none", show_progress=False)


def test_configs_without_an_adv_section_keep_it_off():
    cfg = RunConfig.from_dict({"model": {"family": "mel-vae"}, "train": {"lr": 5e-4}})
    assert cfg.adv.enabled is False and cfg.adv.freeze_encoder is True
    assert load_config("mel-vae-128", ["adv.enabled=true", "disc_crop=0"]).adv.disc_crop == 0
    with pytest.raises(ValueError, match="loss_type"):
        load_config("waveform-vae", ["adv.loss_type=wasserstein"])


@pytest.mark.parametrize("kind, fake_target", [("hinge", -1.0), ("lsgan", 0.0)])
def test_gan_losses_reward_the_right_side(kind, fake_target):
    good = [(torch.full((2, 1, 4, 4), 1.0), [torch.ones(2, 3, 4, 4)])]
    bad = [(torch.full((2, 1, 4, 4), fake_target), [torch.zeros(2, 3, 4, 4)])]
    assert disc_loss(good, bad, kind) == 0 and disc_loss(bad, good, kind) > 0
    assert gen_loss(good, kind) == 0 and gen_loss(bad, kind) > 0
    assert feature_loss(good, good) == 0 and torch.isclose(feature_loss(good, bad), torch.tensor(1.0))


def test_aligned_crops_take_the_same_window_of_both():
    x = torch.arange(40.0).reshape(2, 1, 20)
    cx, cy = aligned_crops(x, -x, 7)
    assert cx.shape == (2, 1, 7) and torch.equal(cy, -cx)
    assert torch.equal(cx[:, :, 1:] - cx[:, :, :-1], torch.ones(2, 1, 6))  # contiguous
    assert aligned_crops(x, x, 0)[0] is x


def test_discriminator_default_size_and_shapes():
    from models.discriminator import MultiResolutionDiscriminator

    d = MultiResolutionDiscriminator()
    assert 30_000 < sum(p.numel() for p in d.parameters()) < 35_000  # "32 k parameters" in its docstring
    out = d(torch.randn(2, 1, 8192))
    assert len(out) == 3
    for (logits, feats), n_fft in zip(out, (512, 1024, 2048)):
        frames = 8192 // (n_fft // 4) + 1
        assert logits.shape[:2] == (2, 1) and logits.shape[-1] == frames and len(feats) == 4
        assert all(f.shape[1] == 16 and f.shape[-1] == frames for f in feats)
