"""A sound server's new stream settles before the engine plays (``settle.SETTLE_S``): it first takes a burst that
fills its buffer, then bursts of its habit. Driven deterministically (``SteppedDriver`` making every callback, in
bursts), the engine plays silence through the settling, starts its output ahead by the habit's bursts, and then
never underruns on them, with every position exact. (Before, the first ~0.1 s of every stream on PulseAudio's
virtual devices underran 4-10 times, in Generate mode too, issue 27.)"""

from __future__ import annotations

import numpy as np
import pytest
from stepped_driver import SteppedDriver
from streaming_identity_bundle import build_streaming_identity_bundle

from core.bundle_io import load_bundle
from core.session import ModelRunner
from desktop.engine.audio.live import LiveEngine
from desktop.engine.audio.settle import SETTLE_S
from desktop.engine.model.slot import ModelSlot
from desktop.engine.parameters.values import EngineParams, StreamConfig
from tests.waits import wait_for

RATE = 44100
BLOCK = 512
HABIT = 3  # device blocks a burst of the server's habit takes (PulseAudio's ALSA plugin: 2-3)


class SettlingDriver(SteppedDriver):
    settles = True  # as SoundDeviceDriver


def _engine(tmp_path, drv) -> LiveEngine:
    runner = ModelRunner(load_bundle(build_streaming_identity_bundle(tmp_path / "sid")), "cpu", 1)
    eng = LiveEngine()
    eng.set_model(ModelSlot.from_runner(runner))
    eng.set_stream_config(StreamConfig("streaming", 0.1))
    eng.set_params(EngineParams(limiter=False))
    eng.start(drv)
    return eng


@pytest.mark.parametrize("outlier", [0, 8])
def test_the_output_starts_ahead_by_the_habits_bursts_and_never_underruns_on_them(tmp_path, outlier):
    """Settling: the fill (5 blocks at once), then bursts of 3 blocks (one of ``outlier`` blocks among them, a
    hiccup, which does not count). The output then starts 3 blocks ahead, not 1, and 40 bursts of 3 find it full
    although each comes before the worker has answered it; impulses land exactly at the latency in force."""
    at = [int(t * RATE) for t in (0.6, 0.9, 1.2)]
    src = np.zeros(int(RATE * 1.6), np.float32)
    src[at] = 0.5
    drv = SettlingDriver(RATE, BLOCK, src)
    eng = _engine(tmp_path, drv)
    try:
        drv.burst(5)
        bursts = 0
        while eng.settle.cover == 0:
            drv.burst(outlier if bursts == 1 and outlier else HABIT)
            bursts += 1
            assert drv.blocks_done * BLOCK < 2 * SETTLE_S * RATE, "the stream never settled"
        assert eng.settle.cover == HABIT * BLOCK
        assert not drv.captured().any()  # silence while settling
        while not drv.done:
            wait_for(
                lambda: eng.out_ring.level() >= HABIT * BLOCK,
                "the output a burst ahead (it is not, without the settling's cover)",
                every=0.0005,
                timeout=5,
            )
            drv.burst(HABIT)
        summary = eng.summary()
    finally:
        eng.stop(fade=False)
    assert summary["underruns"] == 0, summary
    assert summary["latency_parts_ms"]["device_burst"] == pytest.approx(1000 * (HABIT - 1) * BLOCK / RATE, abs=0.05)
    y = drv.captured()
    heard = [i for i in range(1, y.size - 1) if abs(y[i]) > 0.2 and abs(y[i]) >= max(abs(y[i - 1]), abs(y[i + 1]))]
    latency = eng.prefill + eng.dry_delay
    assert [h - a for h, a in zip(heard, at)] == [latency] * len(at), (heard, at, latency)


def test_a_driver_that_does_not_settle_plays_from_its_first_callback(tmp_path):
    """The test drivers and the null driver (no sound server) play at once: no settling, no cover."""
    src = np.zeros(int(RATE * 0.5), np.float32)
    src[int(0.2 * RATE)] = 0.5
    drv = SteppedDriver(RATE, BLOCK, src)
    eng = _engine(tmp_path, drv)
    try:
        while not drv.done:
            wait_for(lambda: eng.out_ring.level() >= BLOCK, "the engine's output for the next block", every=0.0005)
            drv.step()
    finally:
        eng.stop(fade=False)
    assert eng.settle.cover == 0 and eng.underruns == 0
    y = drv.captured()
    assert int(np.argmax(np.abs(y))) - int(0.2 * RATE) == eng.prefill + eng.dry_delay
