"""The learned prior (docs/prior.md): training, export parity, streaming state, rendering and refusals.

A tiny prior (8 hidden units) is trained for a few steps on the fixture clips over a copy of the factory default
bundle's latents, with the real command, and written into that copy; everything after plays that copy.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES, run_cli, train_tiny_prior
from core.bundle import BundleError
from core.bundle_io import load_bundle
from desktop.engine.model.factory import default_bundle_path
from desktop.evaluation.texture import DIMS, embed, frechet_distance


@pytest.fixture(scope="module")
def prior_bundle(tmp_path_factory):
    return train_tiny_prior(tmp_path_factory.mktemp("prior"), default_bundle_path(), "steps=3", "layers=2")


def render(args):
    return run_cli(["-m", "desktop.render_cli", "--quiet", *args])


@pytest.mark.slow
def test_training_writes_a_declared_checksummed_prior_and_resumes(prior_bundle, tmp_path):
    bundle, run = prior_bundle
    m = load_bundle(bundle).manifest
    assert m.prior is not None and m.prior.file == "prior.onnx" and "prior.onnx" in m.files
    assert "prior" not in m.parts  # players from before the prior keep playing the bundle
    assert (m.prior.dim, m.prior.hidden, m.prior.layers, m.prior.mixtures) == (16, 8, 2, 2)
    assert m.prior.parity_max_abs_error is not None and m.prior.parity_max_abs_error <= 1e-4
    assert (bundle / "prior.onnx").stat().st_size < 1_000_000
    log = [json.loads(line) for line in (run / "prior_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "nll" in r] == [1, 2, 3]
    run = shutil.copytree(run, tmp_path / "run")  # the module's run stays as installed
    proc = run_cli(["-m", "trainer", "prior", "--bundle", str(bundle), "--data", str(FIXTURES), "--out", str(run),
                    "--resume", "--no-install", "steps=5", "--quiet"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["step"] == 5
    log = [json.loads(line) for line in (run / "prior_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "nll" in r] == [1, 2, 3, 4, 5]
    # a resume without steps= keeps the run's own (5), rather than the default: nothing left to train
    proc = run_cli(["-m", "trainer", "prior", "--bundle", str(bundle), "--data", str(FIXTURES), "--out", str(run),
                    "--resume", "--no-install", "--quiet"])  # fmt: skip
    assert proc.returncode == 0 and json.loads(proc.stdout.strip().splitlines()[-1])["step"] == 5, proc.stderr


@pytest.mark.slow
def test_onnx_steps_match_torch_over_a_whole_sequence(prior_bundle):
    import torch

    from export.prior_export import load_prior, parity
    from models.prior import PriorStep

    bundle, run = prior_bundle
    model, _ = load_prior(run / load_bundle(bundle).manifest.prior.training["checkpoint"])
    frames = np.random.default_rng(1).standard_normal((60, 16)).astype(np.float32)
    assert parity(model, bundle / "prior.onnx", frames) <= 1e-4
    # the explicit step (what is exported) carried frame by frame == nn.GRU over the whole sequence
    step, h = PriorStep(model), torch.zeros(1, model.layers, model.hidden)
    with torch.no_grad():
        logits, mean, log_scale, _ = model(torch.from_numpy(frames)[None])
        for t in range(len(frames)):
            lo, mu, _, h = step(torch.from_numpy(frames[t : t + 1]), h)
            assert torch.allclose(lo[0], logits[0, t], atol=1e-5)
            assert torch.allclose(mu[0], mean[0, t] * model.z_std + model.z_mean, atol=1e-5)


@pytest.mark.slow
def test_generation_carries_its_state_across_calls(prior_bundle):
    from desktop.engine.model.prior import PriorRunner

    prior = PriorRunner(load_bundle(prior_bundle[0]))
    first = np.zeros(16, np.float32)
    whole, _ = prior.continue_from(prior.start(first), 20, 1.0, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    a, state = prior.continue_from(prior.start(first), 8, 1.0, rng)
    b, _ = prior.continue_from(state, 12, 1.0, rng)
    np.testing.assert_array_equal(whole, np.concatenate([a, b]))
    primed = prior.prime(whole)  # priming == feeding the same frames one call at a time
    fed = prior.start(whole[0])
    for z in whole[1:]:
        fed = prior.step(fed.h, z)
    np.testing.assert_allclose(primed.h, fed.h, atol=1e-6)


@pytest.mark.slow
def test_render_generate_with_prior_seed_temperature_and_prime(prior_bundle, tmp_path):
    bundle = str(prior_bundle[0])
    outs = {}
    for name, extra in {
        "a": ["--seed", "1"],
        "a2": ["--seed", "1"],
        "b": ["--seed", "2"],
        "cold1": ["--temperature", "0", "--seed", "1"],
        "cold2": ["--temperature", "0", "--seed", "2"],
        "primed": ["--prime", str(FIXTURES / "speech_arctic_a0007.wav")],
    }.items():
        out = tmp_path / f"{name}.wav"
        proc = render(["--bundle", bundle, "--generate", "1.5", "-o", str(out), "--subtype", "FLOAT", *extra])
        assert proc.returncode == 0, proc.stderr
        assert "note:" not in proc.stderr
        outs[name], sr = sf.read(out, dtype="float32")
        assert sr == 22050 and outs[name].shape == (33075,) and np.isfinite(outs[name]).all()
    assert np.sqrt(np.mean(outs["a"] ** 2)) > 1e-4
    np.testing.assert_array_equal(outs["a"], outs["a2"])
    assert not np.array_equal(outs["a"], outs["b"])
    np.testing.assert_array_equal(outs["cold1"], outs["cold2"])  # temperature 0: no randomness left
    assert not np.array_equal(outs["primed"], outs["a"])


NO_PRIOR = default_bundle_path().parent / "mel-vae"  # a factory bundle without a learned prior


@pytest.mark.slow
def test_generate_without_a_prior_says_so_in_one_line(tmp_path):
    assert load_bundle(NO_PRIOR).manifest.prior is None
    out = tmp_path / "n.wav"
    proc = render(["--bundle", str(NO_PRIOR), "--generate", "0.5", "-o", str(out)])
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if "note:" in line]
    assert len(notes) == 1 and "has no learned prior" in notes[0] and "N(0, I)" in notes[0]
    assert sf.info(out).frames == 11025


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, says",
    [
        (["--generate", "1", "--temperature", "-0.5"], "argument --temperature: -0.5 is out of range"),
        (["--generate", "1", "--prime", str(FIXTURES / "speech_arctic_a0007.wav")], "has no learned prior"),
        (["--prime", str(FIXTURES / "speech_arctic_a0007.wav"), str(FIXTURES / "speech_arctic_a0007.wav")], "--prime"),
    ],
)
def test_bad_generate_arguments_exit_2_with_one_line(args, says, tmp_path):
    proc = render([*args, "--bundle", str(NO_PRIOR), "-o", str(tmp_path / "x.wav")])
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and says in proc.stderr, proc.stderr
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.slow
def test_a_damaged_or_undeclared_prior_is_refused_naming_the_file(prior_bundle, tmp_path):
    bundle = tmp_path / "b"
    shutil.copytree(prior_bundle[0], bundle)
    with (bundle / "prior.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match=r"prior\.onnx: checksum mismatch"):
        load_bundle(bundle)
    data = json.loads((bundle / "manifest.json").read_text())
    del data["files"]["prior.onnx"]
    (bundle / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"manifest\.json: 'prior\.file' 'prior\.onnx' has no sha256"):
        load_bundle(bundle)


def test_bundles_without_a_prior_load_and_write_unchanged():
    m = load_bundle(NO_PRIOR).manifest
    assert m.prior is None and "prior" not in m.to_json()
    on_disk = json.loads((NO_PRIOR / "manifest.json").read_text())
    assert m.to_json()["files"] == on_disk["files"] and "prior" not in on_disk


def test_frechet_distance_on_the_texture_embedding():
    rng = np.random.default_rng(0)
    noise = [rng.standard_normal(22050 * 6).astype(np.float32) * 0.1 for _ in range(4)]
    t = np.arange(22050 * 6) / 22050
    tone = [(0.3 * np.sin(2 * np.pi * f * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32) for f in (220, 330)]
    en = np.concatenate([embed(x, 22050) for x in noise])
    assert en.shape == (4 * 11, DIMS)
    half_a, half_b = en[::2], en[1::2]
    et = np.concatenate([embed(x, 22050) for x in tone])
    same, other = frechet_distance(half_a, half_b), frechet_distance(half_a, et)
    assert same >= 0 and other > 10 * same
    with pytest.raises(ValueError, match="at least 2 segments"):
        frechet_distance(en[:1], en)


def test_the_factory_default_ships_a_small_checked_prior():
    bundle = load_bundle(default_bundle_path())
    spec = bundle.manifest.prior
    assert spec is not None and spec.parity_max_abs_error is not None and spec.parity_max_abs_error <= 1e-4
    assert (bundle.path / spec.file).stat().st_size < 1_000_000
    assert spec.training["cpu_minutes"] <= 60  # the budget for training it
    assert spec.style_frames > 0  # styled: continuations keep the style of what primed them (docs/prior.md)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sampling_draws_the_mixture_reshaped_by_temperature(temperature):
    from desktop.engine.model.prior import PriorState, sample_frame

    logits = np.array([0.0, 1.0, -1.0], np.float32)
    mean = np.array([[-100.0, 0.0], [0.0, 5.0], [100.0, -5.0]], np.float32)
    scale = np.array([[1.0, 2.0], [0.5, 0.5], [3.0, 1.0]], np.float32)
    state = PriorState(np.zeros((1, 1, 4), np.float32), logits, mean, scale)
    rng = np.random.default_rng(0)
    draws = np.array([sample_frame(state, temperature, rng) for _ in range(20000)])
    assert draws.dtype == np.float32 and draws.shape == (20000, 2)
    k = np.argmin(np.abs(draws[:, :1] - mean[:, 0]), 1)  # the components' first coordinates lie 100 apart
    want = np.exp(logits / temperature) / np.exp(logits / temperature).sum()
    np.testing.assert_allclose(np.bincount(k, minlength=3) / len(k), want, atol=0.015)
    for c in range(3):
        np.testing.assert_allclose(draws[k == c].std(0), temperature * scale[c], rtol=0.1)
    cold = sample_frame(state, 0.0, rng)
    np.testing.assert_array_equal(cold, mean[1])  # temperature 0: the most likely component's mean


def test_the_architecture_benchmarks_cores_score_the_priors_loss():
    """benchmarks/prior_arch.py swaps the GRU for other cores; each must still run ``LatentPrior``'s loss."""
    import torch

    from benchmarks.prior_arch import build

    z = torch.randn(2, 12, 16)
    for arch in ("gru", "conv", "transformer"):
        model = build(arch, 16, torch.zeros(16), torch.ones(16))
        assert torch.isfinite(model.nll(z)).item(), arch
