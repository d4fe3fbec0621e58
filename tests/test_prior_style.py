"""A styled prior (docs/prior.md): conditioned on the style of what primed it, through training, export and playing.

A tiny styled prior is trained for a few steps on the fixture clips over a copy of the factory default bundle with the
real command; the tests play that copy the ways the renderer and Generate mode do.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import FIXTURES, run_cli, train_tiny_prior
from core.bundle_io import load_bundle
from core.prior_frames import null_style, prior_style
from desktop.engine.model.factory import default_bundle_path
from trainer.prior_data import LatentCorpus
from trainer.prior_train import PriorConfig, PriorTrainer, crops


@pytest.fixture(scope="module")
def styled_bundle(tmp_path_factory):
    return train_tiny_prior(tmp_path_factory.mktemp("styled"), default_bundle_path(), "steps=4", "style_frames=8")


def test_the_style_is_the_frames_mean_and_std_and_a_flag():
    frames = np.random.default_rng(0).standard_normal((2, 30, 3)).astype(np.float32) * [1, 2, 3] + [4, 5, 6]
    s = prior_style(frames)
    assert s.shape == (2, 7) and s.dtype == np.float32
    np.testing.assert_allclose(s[:, :3], frames.mean(1), atol=1e-5)
    np.testing.assert_allclose(s[:, 3:6], frames.std(1), atol=1e-5)
    assert (s[:, 6] == 1).all() and not null_style(3).any() and null_style(3).shape == (7,)


def test_training_conditions_each_crop_on_its_first_frames_or_on_none(tmp_path):
    seqs = [np.random.default_rng(k).standard_normal((n, 2)).astype(np.float32) * (k + 1) for k, n in
            enumerate([60, 45, 80])]  # fmt: skip
    silence = np.zeros(2, np.float32)
    corpus = LatentCorpus(seqs, seqs[:1], ["a", "b", "c"], ["v"], 40.0, silence)
    cfg = PriorConfig(hidden=8, layers=1, mixtures=2, seq_frames=40, batch_size=16, input_noise=0.0, join_mask=0,
                      style_frames=10, style_drop=0.5)  # fmt: skip
    trainer = PriorTrainer(corpus, np.zeros(2), np.ones(2), tmp_path, cfg)
    assert trainer.model.style
    before = trainer.rng.bit_generator.state
    loss = trainer.batch_loss()
    trainer.rng.bit_generator.state = before
    z, trained = crops(seqs, 16, 40, trainer.rng, silence, trainer.groups, 40.0, 0)
    given = trainer.rng.random(16) >= 0.5
    assert 0 < given.sum() < 16  # some crops styled, some not
    style = torch.from_numpy(prior_style(z[:, :10].numpy()) * given[:, None].astype(np.float32))
    with torch.no_grad():
        assert torch.allclose(loss, trainer.model.nll(z, 0.0, trained, style))
        assert not torch.allclose(loss, trainer.model.nll(z, 0.0, trained))  # the style is read


@pytest.mark.slow
def test_export_declares_the_style_input_and_onnx_matches_torch_under_a_style(styled_bundle):
    from export.prior_export import load_prior, parity

    bundle, run = styled_bundle
    spec = load_bundle(bundle).manifest.prior
    assert spec.style_frames == 8 and spec.inputs == ["z", "state.h", "style"]
    model, _ = load_prior(run / spec.training["checkpoint"])
    frames = np.random.default_rng(1).standard_normal((50, 16)).astype(np.float32) * 2
    assert parity(model, bundle / "prior.onnx", frames) <= 1e-4


@pytest.mark.slow
def test_a_prime_sets_the_style_a_generation_keeps_and_no_prime_sets_none(styled_bundle):
    from desktop.engine.model.prior import PriorRunner

    prior = PriorRunner(load_bundle(styled_bundle[0]))
    frames = np.random.default_rng(2).standard_normal((30, 16)).astype(np.float32)
    primed = prior.prime(frames)
    np.testing.assert_allclose(primed.style, prior_style(frames[-8:])[None])
    fed = prior.start(frames[0], primed.style)
    for z in frames[1:]:
        fed = prior.step(fed.h, z, primed.style)
    np.testing.assert_allclose(primed.h, fed.h, atol=1e-6)
    plain = prior.start(frames[0])
    for z in frames[1:]:
        plain = prior.step(plain.h, z)
    assert not np.allclose(primed.mean, plain.mean, atol=1e-4)  # the style changes what is predicted
    assert not plain.style.any()  # no style given: the null style
    _, after = prior.continue_from(primed, 5, 1.0, np.random.default_rng(0))
    assert after.style is primed.style  # held for the whole generation


@pytest.mark.slow
def test_generate_modes_bound_steps_play_a_styled_state_as_the_plain_steps_do(styled_bundle):
    from desktop.engine.model.generate import BoundPrior
    from desktop.engine.model.prior import PriorRunner

    prior = PriorRunner(load_bundle(styled_bundle[0]))
    state = prior.prime(np.random.default_rng(3).standard_normal((20, 16)).astype(np.float32))
    plain, _ = prior.continue_from(state, 12, 1.0, np.random.default_rng(7))
    bound = BoundPrior(prior)
    bound.load(state)
    np.testing.assert_allclose(bound.generate(12, 1.0, np.random.default_rng(7)), plain, atol=1e-5)


@pytest.mark.slow
def test_render_continues_a_prime_with_a_styled_prior(styled_bundle, tmp_path):
    import soundfile as sf

    out = tmp_path / "cont.wav"
    prime = sorted(FIXTURES.glob("*.wav"))[0]
    args = [
        "--bundle",
        str(styled_bundle[0]),
        "--generate",
        "1.5",
        "--prime",
        str(prime),
        "--seed",
        "3",
        "-o",
        str(out),
    ]
    proc = run_cli(["-m", "desktop.render_cli", "--quiet", *args])
    assert proc.returncode == 0, proc.stderr[-2000:]
    y, _ = sf.read(out)
    assert np.isfinite(y).all() and np.sqrt(np.mean(y**2)) > 1e-4


@pytest.mark.parametrize(
    "setting, says", [("style_frames=256", "fewer than seq_frames=256"), ("style_drop=1.5", "must be a share")]
)
def test_bad_style_settings_exit_2_with_one_line_before_anything_is_written(setting, says, tmp_path):
    out = tmp_path / "run"
    args = ["--bundle", str(default_bundle_path()), "--data", str(FIXTURES), "--out", str(out), setting]
    proc = run_cli(["-m", "trainer", "prior", *args])
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and says in proc.stderr, proc.stderr
    assert not out.exists()
