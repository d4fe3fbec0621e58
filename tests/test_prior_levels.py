"""A learned prior over a bundle with two latent levels (an instrument's ``z`` and ``control``, core/prior_frames.py).

A tiny prior is trained with the real command on the fixture clips over a copy of the factory violin (its levels
share one hop) and written into that copy; then the renderer's sampler, Generate mode's generator and the bundle
checks play that copy.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from conftest import ROOT, train_tiny_prior
from core.audiofile import Audio
from core.bundle import BundleError
from core.bundle_io import load_bundle
from core.prior_frames import audio_frames, join_levels, split_levels
from core.prior_spec import PriorSpec
from core.session import ModelRunner
from core.streaming import StreamingModel
from desktop.engine.model.generate import STEPS_PER_BLOCK, GenerateSettings, PriorGenerator, generate_unavailable
from desktop.engine.model.prior import PriorRunner, generate_with_prior

VIOLIN = ROOT / "desktop" / "factory" / "violin"


@pytest.fixture(scope="module")
def violin_prior(tmp_path_factory):
    return train_tiny_prior(tmp_path_factory.mktemp("violin_prior"), VIOLIN, "steps=3")[0]


@pytest.fixture(scope="module")
def runner(violin_prior):
    return ModelRunner(load_bundle(violin_prior), "cpu", 1)


@pytest.mark.slow
def test_the_prior_models_both_levels_side_by_side_and_only_adds_its_file(violin_prior):
    m = load_bundle(violin_prior).manifest
    # z: loudness and the 4-number timbre code; control: pitch, voicing, formant, breath
    assert m.prior is not None and m.prior.levels == ("z", "control") and m.prior.dim == 5 + 4
    assert m.prior.parity_max_abs_error is not None and m.prior.parity_max_abs_error <= 1e-4
    on_disk = json.loads((violin_prior / "manifest.json").read_text())
    assert on_disk["prior"]["levels"] == ["z", "control"] and "level" not in on_disk["prior"]
    before = json.loads((VIOLIN / "manifest.json").read_text())
    parts = lambda files: {k: v for k, v in files.items() if k != "prior.onnx"}  # noqa: E731
    assert parts(on_disk["files"]) == parts(before["files"]) and "prior.onnx" in on_disk["files"]
    assert on_disk["parts"] == before["parts"] and generate_unavailable(m) is None


@pytest.mark.slow
def test_sampling_and_continuing_decode_every_level(runner):
    prior = PriorRunner(runner.bundle)
    a = generate_with_prior(runner, prior, 1.0, 1.0, 3)
    assert a.shape == (runner.manifest.sample_rate,) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, generate_with_prior(runner, prior, 1.0, 1.0, 3))
    assert np.abs(generate_with_prior(runner, prior, 1.0, 1.0, 4) - a).max() > 1e-4
    clip = Audio(np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)[None].astype(np.float32) * 0.3, 22050, "a4")
    frames = audio_frames(runner, clip)
    assert frames.shape == (-(-22050 // 256), 9)
    assert np.abs(frames[20:, 5] - np.log2(440 / 440)).max() < 0.05  # control's pitch sits after z's 5 numbers
    assert not np.any(frames[:, 1:5])  # the timbre code as played by default: held at 0
    cont = generate_with_prior(runner, prior, 1.0, 1.0, 3, prime=clip)
    assert np.isfinite(cont).all() and np.abs(cont - a).max() > 1e-4


@pytest.mark.slow
def test_generate_mode_hands_the_decoder_the_offline_samplers_frames_on_both_levels(runner):
    prior = PriorRunner(runner.bundle)
    gen = PriorGenerator(runner, prior)
    gen.set_settings(GenerateSettings(True, 0.8, 5))
    sm = StreamingModel(runner, blend=gen)
    x = np.zeros(sm.block * 40, np.float32)
    frames, playing = [], []
    for k in range(len(x) // sm.block):
        sm.process(x[k * sm.block : (k + 1) * sm.block])
        assert sm.last_latents["z"].shape[1] == 5 and sm.last_latents["control"].shape[1] == 4
        frames.append(join_levels(sm.last_latents, ("z", "control")))
        playing.append(gen.playing)
    frames = np.concatenate(frames)
    warm = -(-(gen.burn_in + 1) // STEPS_PER_BLOCK)
    assert not any(playing[:warm]) and all(playing[warm:])
    rng = np.random.default_rng(5)
    mean = np.concatenate([runner.axes["z"].mean, runner.axes["control"].mean])
    offline, _ = prior.continue_from(prior.unprimed(mean, 0.8, rng), len(frames) - warm, 0.8, rng)
    np.testing.assert_allclose(frames[warm:], offline, atol=1e-5)


def test_levels_join_and_split_per_frame():
    z, c = np.arange(6, dtype=np.float32).reshape(1, 1, 6), np.arange(24, dtype=np.float32).reshape(1, 4, 6)
    frames = join_levels({"z": z, "control": c}, ("z", "control"))
    assert frames.shape == (6, 5) and frames[2].tolist() == [2, 2, 8, 14, 20]
    back = split_levels(frames, ("z", "control"), [1, 4])
    np.testing.assert_array_equal(back["z"], z)
    np.testing.assert_array_equal(back["control"], c)


def test_a_prior_over_levels_the_bundle_cannot_join_is_refused():
    spec = PriorSpec("prior.onnx", ("z", "control"), 5, 8, 1, 2)
    files = {"prior.onnx": "0" * 64}
    assert spec.problem({"z": 1, "control": 4}, files, {"z": 256, "control": 256}) is None
    assert "different frame rates" in spec.problem({"z": 1, "control": 4}, files, {"z": 256, "control": 512})
    assert "5 dims" in spec.problem({"z": 2, "control": 4}, files, {"z": 256, "control": 256})
    assert "not distinct" in spec.problem({"z": 1}, files, {"z": 256})
    assert "not distinct" in replace(spec, levels=("z", "z")).problem({"z": 1}, files, {"z": 256})
    assert PriorSpec.from_json(spec.to_json()) == spec
    single = PriorSpec("prior.onnx", ("z",), 16, 8, 1, 2)
    assert single.to_json()["level"] == "z" and "levels" not in single.to_json()  # as written before levels
    assert PriorSpec.from_json(single.to_json()) == single
    with pytest.raises(ValueError, match="levels"):
        PriorSpec.from_json({**spec.to_json(), "levels": []})


@pytest.mark.slow
def test_a_prior_over_one_level_of_two_does_not_play(violin_prior, tmp_path):
    bundle = shutil.copytree(violin_prior, tmp_path / "b")
    data = json.loads((bundle / "manifest.json").read_text())
    data["prior"] = {**data["prior"], "levels": ["control"], "dim": 4}
    (bundle / "manifest.json").write_text(json.dumps(data))
    b = load_bundle(bundle)
    assert "only some" in generate_unavailable(b.manifest)
    with pytest.raises(BundleError, match="not every level"):
        generate_with_prior(ModelRunner(b, "cpu", 1), None, 1.0)


@pytest.mark.parametrize("name", ["violin", "flute", "clarinet", "choir"])
def test_every_factory_instrument_ships_a_checked_prior_over_both_levels(name):
    m = load_bundle(VIOLIN.parent / name).manifest
    # 5 numbers a frame (loudness, pitch, voicing, formant, breath), plus the timbre code where there is one
    assert m.prior is not None and m.prior.levels == ("z", "control") and m.prior.dim == sum(lv.dim for lv in m.levels)
    assert m.prior.dim == 5 or m.control("timbre") is not None
    assert m.prior.parity_max_abs_error is not None and m.prior.parity_max_abs_error <= 1e-4
    assert m.prior.training["cpu_minutes"] <= 60 and generate_unavailable(m) is None
