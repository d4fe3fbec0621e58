"""Knobs named by what they do (issue 24, item 1): the descriptors export measures, the manifest field that records
them, and, on a tiny trained model, that each named axis moved by +2 sigma changes its descriptor in the named
direction on held-out audio while the player undoes its level change."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import FIXTURES, export_cli, train_cli
from core.axis_effects import TIMBRE, AxisEffects
from core.bundle import BundleError
from core.bundle_io import load_bundle, read_manifest
from core.latent import LatentControls
from core.session import ModelRunner
from desktop.engine.model.factory import default_bundle_path
from desktop.ui.front_panel import front_axes
from export.axis_effects import SECONDS, changes, folder_clips, held_out_check, render, uncompensated_runner

RATE = 22050
MARGIN_STEPS = 1.5  # a knob name this many noticeable steps strong must hold on held-out audio


def tone(f0: float, seconds: float = 1.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amp * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def test_descriptors_read_level_brightness_noise_and_pitch():
    up = changes([tone(220)], [2 * tone(220)], RATE)
    assert up["level_db"] == pytest.approx(6.02, abs=0.01)
    assert abs(up["brightness_st"]) < 0.01 and abs(up["pitch_st"]) < 0.01
    assert changes([tone(500)], [tone(2000)], RATE)["brightness_st"] == pytest.approx(24.0, abs=0.5)
    noise = np.random.default_rng(0).normal(0, 0.1, RATE).astype(np.float32)
    assert changes([tone(300)], [tone(300) + noise], RATE)["noisiness_db"] > 20
    assert changes([tone(220)], [tone(220 * 2 ** (1 / 12))], RATE)["pitch_st"] == pytest.approx(1.0, abs=0.05)


def _manifest_with(tmp_path, effects):
    bundle = tmp_path / "b"
    shutil.copytree(default_bundle_path(), bundle)
    data = json.loads((bundle / "manifest.json").read_text())
    data.pop("axis_effects", None)
    if effects is not None:
        data["axis_effects"] = effects
    (bundle / "manifest.json").write_text(json.dumps(data))
    return bundle


def test_manifest_field_is_optional_checked_and_compensates(tmp_path):
    assert load_bundle(_manifest_with(tmp_path / "old", None)).manifest.axis_effects is None  # older bundles load
    effects = {
        "sigma": 2.0,
        "levels": {
            "z": [
                {
                    "axis": 1,
                    "name": "brighter",
                    "descriptor": "brightness_st",
                    "plus": {"level_db": 4.0, "brightness_st": 3.0, "noisiness_db": 0.5},
                    "minus": {"level_db": -2.0, "brightness_st": -2.0, "noisiness_db": -0.1},
                }
            ]
        },
    }
    m = load_bundle(_manifest_with(tmp_path / "new", effects)).manifest
    e = m.axis_effects
    assert e.strongest()[0][1].name == "brighter"
    offsets = np.zeros((3, 16))
    offsets[:, 1] = [2.0, -2.0, 1.0]
    assert e.compensation_db("z", offsets) == pytest.approx([-4.0, 2.0, -2.0])
    assert e.gain({"z": (0.0, 2.0)}) == pytest.approx(10 ** (-4 / 20))
    assert AxisEffects.from_json(json.loads(json.dumps(e.to_json())), {"z": 16}) == e
    for bad, words in (
        ({**effects, "sigma": 0}, "sigma"),
        ({"sigma": 2.0, "levels": {"q": []}}, "level 'q'"),
        ({"sigma": 2.0, "levels": {"z": [{**effects["levels"]["z"][0], "axis": 16}]}}, ".axis"),
        ({"sigma": 2.0, "levels": {"z": [{**effects["levels"]["z"][0], "name": "louder"}]}}, "name 'louder'"),
    ):
        with pytest.raises(BundleError, match=words):
            read_manifest(_manifest_with(tmp_path / f"bad{len(words)}{words[0]}", bad))


@pytest.mark.slow  # four renders of a window model: 7 s under load
def test_the_window_path_undoes_the_recorded_level_change(tmp_path, fixtures_dir):
    """A window bundle (factory mel-vae) told that axis 1 is +6 dB at +2 sigma plays it 6 dB quieter than the
    axis alone makes it: the gain follows the knob, the timbre does not change."""
    bundle = tmp_path / "mel"
    shutil.copytree(default_bundle_path().parent / "mel-vae", bundle)
    data = json.loads((bundle / "manifest.json").read_text())
    data["axis_effects"] = {"sigma": 2.0, "levels": {"z": [{"axis": 0, "plus": {"level_db": 6.0}, "minus": {}}]}}
    (bundle / "manifest.json").write_text(json.dumps(data))
    b = load_bundle(bundle)
    clips = folder_clips(fixtures_dir, b.manifest.sample_rate, 0.0, held_out=False, seconds=4.0)[:2]
    up = LatentControls().with_offset("z", 0, 2.0, 16)
    raw = changes(
        render(uncompensated_runner(b), clips, LatentControls()), render(uncompensated_runner(b), clips, up), RATE
    )
    played = ModelRunner(b, provider="cpu", threads=1)
    got = changes(render(played, clips, LatentControls()), render(played, clips, up), RATE)
    assert got["level_db"] == pytest.approx(raw["level_db"] - 6.0, abs=0.05)
    assert got["brightness_st"] == pytest.approx(raw["brightness_st"], abs=0.05)


@pytest.fixture(scope="module")
def sf_bundle(tmp_path_factory):
    """The source-filter family, tiny, 4 steps from its PCA start (its axes already move envelope and pitch), with
    40 % of the fixture clips held out; exported from the CLI, which measures the axes on the training split."""
    root = tmp_path_factory.mktemp("sf_axes")
    train_cli("sf", root / "run", 4, "data.val_percent=40")
    return export_cli(root / "run", root / "b")


@pytest.mark.slow
def test_named_axes_do_what_they_say_on_held_out_audio(sf_bundle):
    """Each named axis of the front panel at +2 sigma through the engine as it plays (streaming, compensated): on
    the training audio export measured, the level stays within 0.1 dB; on held-out audio the named descriptor moves
    the named way where the name was earned clearly (MARGIN_STEPS), and the level within 3 dB (a per-axis gain cannot follow every sound: 2.7 dB measured here, the
    factory default's worst was 1.3 dB; docs/desktop.md)."""
    bundle = load_bundle(sf_bundle)
    m = bundle.manifest
    effects = m.axis_effects
    assert effects is not None and effects.sigma == 2.0
    assert [len(effects.levels[lv.name]) for lv in m.levels] == [lv.dim for lv in m.levels]
    front = [(lv, axis) for lv, axis, label in front_axes(m, 6) if not label.startswith("Axis")]
    assert len(front) >= 3, front
    for split, bound in ((False, 0.1), (True, 3.0)):
        clips = folder_clips(FIXTURES, m.sample_rate, 40.0, held_out=split, seconds=20.0 if split else SECONDS)
        rows = {(r["level"], r["axis"]): r for r in held_out_check(bundle, clips)}
        for key in front:
            row = rows[key]
            assert abs(row["level_db"]) <= bound, (split, row)
            # the direction must carry over for names earned clearly (1.5 noticeable steps or more); a name earned
            # by a marginal change does not reliably (here a 1.12 dB "cleaner" came out +1.16 dB on held-out audio)
            clear = abs(row["measured"]) >= MARGIN_STEPS * TIMBRE[row["descriptor"]][2]
            if split and clear and row["descriptor"] != "pitch_st":  # (pitch: too few voiced frames held out)
                assert np.sign(row["held_out"]) == np.sign(row["measured"]), row
