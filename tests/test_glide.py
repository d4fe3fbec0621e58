"""Glide: a declared control (a held note's pitch) reaches a new value in a straight line over ``glide_s`` on the
streaming path, read per block from the frozen controls; unset, it keeps the old 4-frame smoothing."""

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("onnx")

from core.bundle import Control  # noqa: E402
from core.bundle_io import load_bundle, read_manifest, write_manifest  # noqa: E402
from core.latent import LatentControls  # noqa: E402
from core.session import ModelRunner  # noqa: E402
from core.streaming import SMOOTH_FRAMES, StreamingModel  # noqa: E402
from tests.streaming_identity_bundle import PART_DELAY, build_streaming_identity_bundle  # noqa: E402

HOP = 256
RATE = 22050
PITCH = Control("pitch", "note", 0.0, 127.0, 0.0, "z", 0, "set", 0.01)


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    """The streaming identity bundle with a 'set' control on latent channel 0: the decoder plays channel 0 of each
    frame as that frame's first sample, so the output shows the control's value frame by frame."""
    d = build_streaming_identity_bundle(tmp_path_factory.mktemp("glide") / "sid")
    write_manifest(d, replace(read_manifest(d), controls=(PITCH,)))
    return ModelRunner(load_bundle(d), "cpu", 1)


def notes_per_frame(runner, first: float, second: float, glide_s: float | None, frames: int = 16) -> np.ndarray:
    """Hold ``first`` for 4 frames, then ``second``; the pitch control's value on each frame, read off the output."""
    base = LatentControls(glide_s=glide_s)
    model = StreamingModel(runner, base.with_value(PITCH, first))
    out = []
    for f in range(frames):
        if f == 4:
            model.controls = model.controls.with_value(PITCH, second)
        y = model.process(np.zeros(HOP, np.float32))
        out.append(y[PART_DELAY] / PITCH.scale)  # frame f's first sample, after the decoder's delay
    return np.round(np.asarray(out), 3)


@pytest.mark.parametrize("glide_s, frames", [(8 * HOP / RATE, 8), (0.0, 1), (None, SMOOTH_FRAMES), (0.1, 9)])
def test_the_pitch_glides_to_a_new_note_over_the_glide_time(runner, glide_s, frames):
    v = notes_per_frame(runner, 60.0, 72.0, glide_s)
    assert np.all(v[:4] == 60.0)
    ramp = 60.0 + 12.0 * np.arange(1, frames + 1) / frames
    assert np.allclose(v[4 : 4 + frames], ramp, atol=1e-3), v
    assert np.all(v[4 + frames :] == 72.0)


def test_glide_survives_every_knob_move_and_is_a_new_frozen_object():
    c = LatentControls().with_glide(0.25)
    moved = c.with_offset("z", 1, 0.5, 4).with_scale("z", 2, 2.0, 4).with_value(PITCH, 61).without_value("pitch")
    assert moved.glide_s == 0.25 and c.with_glide(-1).glide_s == 0.0 and c.with_glide(None).glide_s is None
    assert LatentControls().glide_s is None and c is not LatentControls().with_glide(0.25)
