"""Streaming underrun cover (``ProcessingChain.cover_underrun``), driven deterministically: the test makes every
device callback itself (``SteppedDriver``) and holds the worker back when it wants an underrun, so the underruns
are exactly the ones it makes, however busy the machine. (The earlier version drove a real-time NullDriver and
slept in the model; on a loaded machine a second hiccup underran too and the cover came out two blocks, issue 23.)
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from stepped_driver import SteppedDriver
from streaming_identity_bundle import build_streaming_identity_bundle

from core.bundle_io import load_bundle
from core.session import ModelRunner
from desktop.engine.audio.live import LiveEngine
from desktop.engine.model.slot import ModelSlot
from desktop.engine.parameters.values import EngineParams, StreamConfig
from tests.waits import wait_for

RATE = 44100
BLOCK = 512
HELD_CALL = 100  # the model block the worker is held in: 1.16 s in (256 samples at 22.05 kHz), after the fade-in
UNDERRUNS = 3  # callbacks that find the output empty while the worker is held: one hiccup


def held_identity_slot(tmp_path, held: threading.Event, release: threading.Event) -> ModelSlot:
    """A streaming identity bundle whose ``HELD_CALL``-th block sets ``held`` and waits for ``release``."""
    runner = ModelRunner(load_bundle(build_streaming_identity_bundle(tmp_path / "sid")), "cpu", 1)
    slot = ModelSlot.from_runner(runner)
    sm = slot.streaming_model
    inner, calls = sm.process, [0]

    def process(x):
        calls[0] += 1
        if calls[0] == HELD_CALL:
            held.set()
            release.wait(30.0)
        return inner(x)

    sm.process = process
    return slot


def play_with_one_hiccup(slot, src, held, release) -> tuple[LiveEngine, dict, np.ndarray]:
    """Every callback waits until the engine has the block it will take, except while the worker is held: then
    callbacks come until ``UNDERRUNS`` of them found the output short, and the worker is let go."""
    eng = LiveEngine()
    eng.set_model(slot)
    eng.set_stream_config(StreamConfig("streaming", 0.1))
    eng.set_params(EngineParams(limiter=False))
    drv = SteppedDriver(RATE, BLOCK, src)
    eng.start(drv)
    try:
        while not drv.done:
            holding = lambda: held.is_set() and not release.is_set()  # noqa: E731
            wait_for(
                lambda: holding() or eng.out_ring.level() >= BLOCK,
                "the engine's output for the next block",
                every=0.0005,
            )
            if holding():
                while eng.underruns < UNDERRUNS:
                    drv.step()
                release.set()
                continue
            drv.step()
        summary = eng.summary()
    finally:
        release.set()
        eng.stop(fade=False)
    return eng, summary, drv.captured()


def latency_at(eng, a: int) -> int:
    """The latency (samples) in force for input sample ``a``, by the chain's log of changes."""
    return [n for first, n in eng.chain.latency_log if first <= a][-1]


def test_an_underrun_runs_the_output_one_block_further_ahead_and_positions_stay_exact(tmp_path):
    """One hiccup (three callbacks short while the worker is held) runs the output one device block further ahead,
    once: `underrun_cover` is 11.61 ms and the latency log has one change of 512 samples. Every impulse lands exactly
    where the latency in force says: the one before the hiccup at the start's latency, those after at the final one.
    The input is shorter than 256 model blocks, so the compute slot is never re-sized: nothing else moves it."""
    held, release = threading.Event(), threading.Event()
    slot = held_identity_slot(tmp_path, held, release)
    at = [int(t * RATE) for t in (0.7, 1.6, 2.0, 2.4)]
    src = np.zeros(int(RATE * 2.6), np.float32)
    src[at] = 0.5
    eng, s, y = play_with_one_hiccup(slot, src, held, release)
    assert held.is_set() and s["underruns"] == UNDERRUNS and s["device_xruns"] == 0, s
    assert s["slot_changes"] == 0, s
    parts = s["latency_parts_ms"]
    assert parts["underrun_cover"] == pytest.approx(1000 * BLOCK / RATE, abs=0.05), parts
    assert parts["other"] == 0.0
    log = eng.chain.latency_log
    assert len(log) == 2 and log[1][1] - log[0][1] == BLOCK, log
    first, final = log[0][1], eng.prefill + eng.dry_delay
    assert final == log[1][1]
    assert latency_at(eng, at[0]) == first and all(latency_at(eng, a) == final for a in at[1:]), (log, at)
    heard = [i for i in range(1, y.size - 1) if abs(y[i]) > 0.2 and abs(y[i]) >= max(abs(y[i - 1]), abs(y[i + 1]))]
    assert len(heard) == len(at), heard
    assert [h - a for h, a in zip(heard, at)] == [first, final, final, final], (heard, at, log)
    assert s["latency_changes"][-1][1] == pytest.approx(s["algorithmic_latency_ms"], abs=0.02)
