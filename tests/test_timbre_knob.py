"""The ``timbre`` knob of a timbre bundle with a timbre code (a 'scale' control): by default (0 %) every player holds
the code at 0, the instrument's own tone, with no setting needed; 100 % plays the input's own code. Checked on a
tiny trained and exported run through the renderer, the streaming engine, presets, the front panel and the manifest
check; the 'scale' transform itself on the streaming identity bundle, frame by frame."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES, export_cli, render_with, train_cli
from core.bundle import Control
from core.bundle_check import BundleError
from core.bundle_io import load_bundle, read_manifest, write_manifest
from core.latent import LatentControls, apply_declared
from core.session import ModelRunner
from core.streaming import StreamingModel
from tests.streaming_identity_bundle import PART_DELAY, build_streaming_identity_bundle

pytestmark = pytest.mark.slow

HOP = 256
SPEECH = FIXTURES / "speech_arctic_a0007.wav"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("timbre_knob")
    train_cli("timbre", root / "run", 2, "model.timbre_dim=2")
    return export_cli(root / "run", root / "bundle")


@pytest.fixture(scope="module")
def runner(bundle):
    return ModelRunner(load_bundle(bundle), "cpu", 1)


def _code_zeroed(lat: dict) -> dict:
    z = lat["z"].copy()
    z[:, 1:] = 0.0
    return dict(lat, z=z)


def test_the_manifest_declares_the_knob_at_zero(runner):
    c = runner.manifest.control("timbre")
    assert (c.transform, c.level, c.channel, c.channels, c.default, c.unit) == ("scale", "z", 1, 2, 0.0, "%")
    assert runner.manifest.control("timbre").is_knob


def test_by_default_the_code_is_held_and_at_100_it_follows(runner):
    x = sf.read(SPEECH, dtype="float32")[0][: 8 * 1024]
    lat = runner.encode(x[None, None])
    assert np.std(lat["z"][0, 1:]) > 0.1  # the encoder does hear a code
    held = runner.decode(apply_declared(lat, runner.manifest.controls, {}))
    np.testing.assert_array_equal(held, runner.decode(_code_zeroed(lat)))
    followed = runner.decode(apply_declared(lat, runner.manifest.controls, {"timbre": 100.0}))
    np.testing.assert_array_equal(followed, runner.decode(lat))
    assert np.max(np.abs(followed - held)) > 1e-4


def test_render_plays_the_default_and_the_knob_differs(tmp_path, runner):
    outs = {}
    for name, ctl in (("default", ()), ("zero", ("timbre=0",)), ("full", ("timbre=100",))):
        render_with(runner, SPEECH, tmp_path / f"{name}.wav", *ctl)
        outs[name] = sf.read(tmp_path / f"{name}.wav", dtype="float32")[0]
    np.testing.assert_array_equal(outs["default"], outs["zero"])
    assert np.max(np.abs(outs["full"] - outs["default"])) > 1e-4


def test_streaming_holds_the_code_too(runner):
    """Block by block (no DC blocker, as the whole decode has none), the default plays what the whole-file decode
    of the held code plays."""
    m = runner.manifest
    x = sf.read(SPEECH, dtype="float32")[0][: 32 * HOP]
    model = StreamingModel(runner, LatentControls(), dc_block=False)
    y = np.concatenate([model.process(x[i : i + HOP]) for i in range(0, len(x), HOP)])
    d = m.streaming.delay
    padded = np.concatenate([x, np.zeros(d, np.float32)])[None, None]
    whole = runner.decode(_code_zeroed(runner.encode(padded)))[0, 0]
    assert np.max(np.abs(y[: len(x)] - whole[: len(x)])) < 1e-3


def test_a_preset_keeps_the_knob(tmp_path, runner):
    from desktop.engine.parameters.presets import load_preset, save_preset

    m = runner.manifest
    turned = LatentControls().with_value(m.control("timbre"), 60.0)
    path = save_preset(tmp_path / "p.json", turned, m, model_name="tiny")
    back, _ = load_preset(path, m)
    assert back.values["timbre"] == 60.0


def test_the_front_panel_offers_it_as_a_knob(runner):
    from desktop.ui.front_panel import front_controls, unit_format

    names = [c.name for c in front_controls(runner.manifest)]
    assert "timbre" in names and "pitch" not in names
    assert unit_format("%").format(60.0) == "60 %"


def test_the_check_refuses_a_knob_past_the_latent(bundle, tmp_path):
    import json
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(bundle, bad)
    data = json.loads((bad / "manifest.json").read_text())
    knob = next(c for c in data["controls"] if c["name"] == "timbre")
    knob["channels"] = 3  # z has 1 + 2 channels: from channel 1, only 2 remain
    (bad / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="acts on 3 channels from 1 of level 'z'"):
        load_bundle(bad)


@pytest.mark.parametrize("value, expect", [(None, 0.0), (50.0, 0.5), (100.0, 1.0)])
def test_scale_multiplies_each_frame_default_included(tmp_path, value, expect):
    """On the identity bundle (channel 0 of a frame comes out as its first sample): a 'scale' control with default 0
    silences the channel untouched, and a value v multiplies it by v * scale once the glide is over."""
    d = build_streaming_identity_bundle(tmp_path / "sid")
    gain = Control("gain", "%", 0.0, 100.0, 0.0, "z", 0, "scale", 0.01)
    write_manifest(d, replace(read_manifest(d), controls=(gain,)))
    runner = ModelRunner(load_bundle(d), "cpu", 1)
    controls = LatentControls(glide_s=0.0)
    model = StreamingModel(runner, controls if value is None else controls.with_value(gain, value), dc_block=False)
    x = np.full(12 * HOP, 0.25, np.float32)
    y = np.concatenate([model.process(x[i : i + HOP]) for i in range(0, len(x), HOP)])
    first = y[PART_DELAY + 4 * HOP :: HOP][:6]
    plain = 0.25  # what channel 0 carries for a constant 0.25 input
    np.testing.assert_allclose(first, plain * expect, atol=1e-6)


def test_a_prior_learns_and_is_primed_with_the_code_held(runner):
    """The prior's training frames and a prime's frames are the latents as played by default: the code is 0 there,
    the loudness, pitch and voicing are the encoder's."""
    from core.audiofile import load_audio
    from core.prior_frames import audio_frames
    from trainer.prior_data import encode_file

    primed = audio_frames(runner, load_audio(SPEECH))
    trained = encode_file(runner, SPEECH)
    np.testing.assert_array_equal(primed, trained)
    assert primed.shape[1] == 3 + 4  # z: loudness + 2 code numbers; control: pitch, voicing, formant, breath
    assert not np.any(primed[:, 1:3]) and np.std(primed[:, 0]) > 0.1
    lat = runner.encode(load_audio(SPEECH).mono()[None, None, : 8 * 1024])
    assert np.std(lat["z"][0, 1:]) > 0.1  # while the encoder itself does hear a code
