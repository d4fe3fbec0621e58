"""The live engine without audio hardware: a fake source replayed in callback-sized blocks by NullDriver."""

import time

import numpy as np
import pytest

from core.dsp import DcBlocker, Limiter
from core.latent import LatentControls
from desktop.engine.audio.devices import NullDriver
from desktop.engine.audio.live import LiveEngine
from desktop.engine.audio.resample import StreamResampler
from desktop.engine.audio.ring import RingBuffer
from desktop.engine.model.slot import ModelSlot
from desktop.engine.parameters.presets import PresetError, load_preset, random_controls, save_preset
from desktop.engine.parameters.values import EngineParams, StreamConfig
from tests.waits import wait_for

from .conftest import impulse_train

RATE = 44100


def run_engine(slot, source, mode="low-latency", hop=0.1, params=EngineParams(limiter=False), speed=2.0):
    eng = LiveEngine()
    eng.set_model(slot)
    eng.set_stream_config(StreamConfig(mode, hop))
    eng.set_params(params)
    drv = NullDriver(RATE, 512, source, loop=False, speed=speed, capture=True, max_blocks=source.size // 512)
    eng.start(drv)
    wait_for(lambda: not drv.active, "the driver to play its source", timeout=60)
    eng.stop(fade=False)
    return eng, drv.captured()


def test_ring_buffer_keeps_alignment_through_an_underrun():
    ring = RingBuffer(100)
    ring.write(np.arange(10, dtype=np.float32))
    out = np.empty(16, np.float32)
    assert ring.read_into(out) == 6 and np.all(out[10:] == 0)
    ring.write(np.arange(10, 30, dtype=np.float32))  # positions 10..15 were already played as silence
    out = np.empty(4, np.float32)
    ring.read_into(out)
    np.testing.assert_array_equal(out, [16, 17, 18, 19])


@pytest.mark.parametrize("a,b", [(44100, 22050), (22050, 44100), (48000, 22050), (22050, 48000)])
def test_stream_resampler_is_aligned_and_clean(a, b):
    r = StreamResampler(a, b)
    t = np.arange(a) / a
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    rng = np.random.default_rng(0)
    outs, i = [], 0
    while i < x.size:
        n = int(rng.integers(1, 700))
        outs.append(r.process(x[i : i + n]))
        i += n
    y = np.concatenate(outs)
    assert x.size * b // a - y.size <= r.hold
    ref = 0.5 * np.sin(2 * np.pi * 440 * np.arange(y.size) / b)
    err = y[100:] - ref[100:]
    assert 10 * np.log10(np.mean(ref[100:] ** 2) / np.mean(err**2)) > 70


@pytest.mark.parametrize("a,b", [(44100, 22050), (22050, 44100), (22050, 88200)])
def test_stream_resampler_correlate_path_equals_the_gather_path(a, b):
    """Few phases (44.1 <-> 22.05 kHz) take one np.correlate per phase: the same sums as the general path."""
    x = np.random.default_rng(1).standard_normal(a).astype(np.float32)
    sizes = np.random.default_rng(2).integers(1, 700, 400)
    outs = []
    for small_up in (StreamResampler.SMALL_UP, 0):
        r = StreamResampler(a, b)
        r.SMALL_UP = small_up  # 0: every ratio takes the gather path
        ys, i = [], 0
        for n in sizes:
            ys.append(r.process(x[i : i + n]))
            i += n
        outs.append(np.concatenate(ys))
    assert outs[0].size == outs[1].size > 0.9 * x.size * b / a
    np.testing.assert_allclose(outs[0], outs[1], atol=2e-6)


@pytest.mark.parametrize("mode", ["low-latency", "window"])
@pytest.mark.slow
def test_impulse_latency_equals_reported(mode):
    src = impulse_train(RATE, 3.5, [0.5, 2.0])
    eng, y = run_engine(ModelSlot.identity(), src, mode=mode)
    reported = eng.prefill + eng.dry_delay
    first = int(np.argmax(np.abs(y[: int(1.9 * RATE) + reported])))
    assert abs(first - int(0.5 * RATE) - reported) <= 1, (first, reported)
    assert abs(eng.summary()["latency_ms"] - 1000 * reported / RATE) < 0.1
    # (underruns, if a loaded machine causes any, play silence but never shift positions: still exact)


@pytest.mark.slow
def test_dry_path_is_delayed_to_match_wet():
    """With an identity model, any dry/wet mix equals the input (the wet part DC-blocked, as the model is fed it):
    the dry path has the wet path's delay."""
    t = np.arange(RATE * 2) / RATE  # band-limited: the wet path passes through the model rate (22.05 kHz)
    src = (0.2 * np.sin(2 * np.pi * 330 * t) + 0.1 * np.sin(2 * np.pi * 2750 * t + 1)).astype(np.float32)
    fed = DcBlocker(RATE).process(src)  # the chain's 10 Hz high-pass before the windows (at the model rate there)
    for mix in (0.0, 0.5):
        eng, y = run_engine(ModelSlot.identity(), src, params=EngineParams(dry_wet=mix, limiter=False))
        d = eng.prefill + eng.dry_delay
        seg = slice(RATE // 2, RATE + RATE // 2)
        want = (1 - mix) * src + mix * fed
        np.testing.assert_allclose(y[seg][:], want[seg.start - d : seg.stop - d], atol=2e-3)


@pytest.mark.slow
def test_knobs_reach_the_worker(default_runner):
    """A knob turned while the engine plays changes what its worker computes from then on, exactly as the same knob
    set before the start does, and changes nothing before it was turned. Three runs on one input: knob at 0 (A),
    turned to +2 one second in (B), at +2 from the start (C); B equals A up to the turn and C two hops after it, and
    differs from A there. A run with late windows (a loaded machine plays the dry input instead) is played again,
    never skipped."""
    x = (0.1 * np.random.default_rng(4).standard_normal(RATE * 4)).astype(np.float32)
    hop = 0.2
    turn_block = RATE // 512  # about one second in

    def play(offset: float, turn: bool) -> tuple[np.ndarray, int, int]:
        for _ in range(4):
            eng = LiveEngine()
            eng.set_model(ModelSlot.from_runner(default_runner))
            eng.set_stream_config(StreamConfig("low-latency", hop))
            eng.set_params(EngineParams(limiter=False))
            knob = LatentControls().with_offset("z", 0, offset, 16)
            if not turn:
                eng.set_controls(knob)
            drv = NullDriver(RATE, 512, x, loop=False, speed=1.0, capture=True, max_blocks=x.size // 512)
            eng.start(drv)
            turned_at = 0
            if turn:
                wait_for(lambda: not drv.active or drv.blocks_done >= turn_block, "the block to turn the knob at")
                eng.set_controls(knob)
                turned_at = drv.blocks_done * 512  # every output sample before this was computed before the turn
                assert eng.controls.offsets["z"][0] == offset
            wait_for(lambda: not drv.active, "the driver to play its source", timeout=60)
            late, lat = eng.summary()["late_windows"], eng.prefill + eng.dry_delay
            eng.stop(fade=False)
            if late == 0:
                return drv.captured(), lat, turned_at
        pytest.fail(f"every try had late windows ({late} in the last): the machine is too loaded for this test")

    (a, lat_a, _), (b, lat_b, turned), (c, lat_c, _) = play(0.0, False), play(2.0, True), play(2.0, False)
    a, b, c = a[lat_a:], b[lat_b:], c[lat_c:]  # each run's own latency removed: sample i is input sample i
    n = min(a.size, b.size, c.size)
    scale = np.abs(a[:n]).mean()
    assert scale > 1e-3 and turned >= turn_block * 512
    before = slice(0, turned - lat_b - 512)  # already played when the knob turned
    np.testing.assert_allclose(b[before], a[before], atol=1e-4 * max(1.0, np.abs(a).max()))
    after = slice(turned + int(3 * hop * RATE), n)  # input that arrived two hops and a crossfade after the turn
    assert after.stop - after.start > RATE // 2
    np.testing.assert_allclose(b[after], c[after], atol=1e-4 * max(1.0, np.abs(c).max()))
    assert np.abs(b[after] - a[after]).mean() > 0.05 * scale


@pytest.mark.slow
def test_slow_model_is_reported_and_falls_back_to_the_dry_input():
    """A model slower than it claimed: its late windows are counted and replaced by the dry input, in place (an
    underrun plays silence but never shifts the stream), and every underrun is counted in the xruns."""

    def slow(w):
        time.sleep(0.12)
        return np.zeros_like(w)

    slot = ModelSlot(slow, 22050, 22050, "slow", "cpu", compute_s=0.005)  # it lies about its speed
    t = np.arange(RATE * 3) / RATE  # band-limited: the dry path passes the model-rate resampler
    src = (0.2 * np.sin(2 * np.pi * 330 * t) + 0.1 * np.sin(2 * np.pi * 1750 * t)).astype(np.float32)
    eng, y = run_engine(slot, src, hop=0.05, params=EngineParams(limiter=False, fallback="dry"), speed=1.0)
    s = eng.summary()
    assert s["late_windows"] > 0 and s["error"] == ""
    assert s["xruns"] == s["device_xruns"] + s["underruns"]
    lat = eng.prefill + eng.dry_delay
    # the dry input as the windows hold it: DC-blocked (the chain's 10 Hz high-pass, at the model rate there)
    out, dry = y[lat + RATE // 2 : lat + 2 * RATE], DcBlocker(RATE).process(src)[RATE // 2 : 2 * RATE]
    played = np.abs(out) > 1e-3  # the model itself only returns zeros: what sounds is the fallback
    assert played.mean() > 0.3, played.mean()
    # the dry input in its place, faded in and out at the switches: out = a * dry with 0 <= a <= 1, mostly a = 1
    loud = played & (np.abs(dry) > 0.05)
    ratio = out[loud] / dry[loud]
    assert ratio.min() > -0.01 and ratio.max() < 1.01, (ratio.min(), ratio.max())
    assert np.mean(np.abs(ratio - 1.0) < 1e-2) > 0.5


def test_limiter_caps_the_output():
    lim = Limiter(RATE, ceiling_db=-1.0)
    x = (3.0 * np.sin(np.arange(RATE) * 0.03)).astype(np.float32)
    y = np.concatenate([lim.process(x[i : i + 512]) for i in range(0, x.size, 512)])
    assert np.abs(y).max() <= 10 ** (-1 / 20) + 1e-6
    assert lim.reduction_db > 5


def test_limiter_passes_quiet_blocks_unchanged_once_recovered_and_limits_again():
    """Quiet blocks after a limited burst glide the gain back up; once it is back at 1 they pass through exactly
    (the cheap path), and a loud block is limited at once."""
    lim = Limiter(RATE, ceiling_db=-1.0)
    loud = (3.0 * np.sin(np.arange(2048) * 0.03)).astype(np.float32)
    quiet = (0.5 * np.sin(np.arange(256) * 0.05)).astype(np.float32)
    lim.process(loud)
    assert lim.gain < 1.0
    first = lim.process(quiet)
    assert np.abs(first).max() < np.abs(quiet).max()  # still recovering: quieter than its input
    for _ in range(4000):  # ~23 s of blocks: the gain gets back to exactly 1
        lim.process(quiet)
    assert lim.gain == 1.0
    np.testing.assert_array_equal(lim.process(quiet), quiet)
    assert lim.reduction_db == 0.0
    y = lim.process(loud[:256])
    assert np.abs(y).max() <= 10 ** (-1 / 20) + 1e-6 and lim.reduction_db > 5


def test_presets_round_trip(tmp_path, default_bundle):
    m = default_bundle.manifest
    c = LatentControls().with_offset("z", 3, -1.25, 16).with_scale("z", 0, 0.5, 16)
    p = save_preset(tmp_path / "p.json", c, m, EngineParams(dry_wet=0.3), "default")
    c2, params = load_preset(p, m, EngineParams)
    assert c2.offsets["z"][3] == -1.25 and c2.scales["z"][0] == 0.5 and params.dry_wet == 0.3
    r = random_controls(m, np.random.default_rng(0))
    assert len(r.offsets["z"]) == 16 and max(abs(v) for v in r.offsets["z"]) <= 2.5
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(PresetError, match="bad.json"):
        load_preset(tmp_path / "bad.json", m)


def test_playing_shortens_the_gil_switch_interval_and_stop_restores_it():
    """The audio callback needs the GIL: while playing, another thread running Python hands it over within 1 ms
    (Python's default, 5 ms, is most of a 256-frame device block)."""
    import sys

    before = sys.getswitchinterval()
    eng = LiveEngine()
    eng.set_model(ModelSlot.identity())
    src = np.zeros(RATE, np.float32)
    eng.start(NullDriver(RATE, 512, src, loop=True, speed=1.0))
    try:
        assert sys.getswitchinterval() <= 0.001
    finally:
        eng.stop(fade=False)
    assert sys.getswitchinterval() == before


def test_the_gate_knob_reaches_the_live_worker():
    """GATE at -50 dB through the live engine (identity model, the worker thread, a fake device): the noise at
    -60 dBFS before and after a tone comes out silent, the tone as it went in; with the gate off the noise plays."""
    noise = np.random.default_rng(3).standard_normal(3 * RATE).astype(np.float32) * 1e-3
    tone = np.zeros(3 * RATE, np.float32)
    tone[RATE : 2 * RATE] = 0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE)
    src = noise + tone
    level = {}
    for gate in (-90.0, -50.0):
        _, out = run_engine(ModelSlot.identity(), src, params=EngineParams(limiter=False, gate_db=gate))
        energy = np.convolve(out**2, np.ones(2048) / 2048, mode="same")
        loud = np.flatnonzero(energy > 1e-3)  # where the tone came out (the engine's latency moves it)
        assert loud.size > 0.8 * RATE
        quiet = np.concatenate([out[RATE // 4 : loud[0] - RATE // 4], out[loud[-1] + RATE // 4 : -RATE // 4]])
        level[gate] = 10 * np.log10(np.mean(quiet.astype(np.float64) ** 2) + 1e-30)
        np.testing.assert_allclose(
            np.sqrt(np.mean(out[loud[0] + 4096 : loud[-1] - 4096] ** 2)), 0.3 / np.sqrt(2), rtol=0.02
        )
    assert level[-90.0] > -65 and level[-50.0] < -120, level
