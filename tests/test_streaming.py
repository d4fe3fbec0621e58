"""Streaming: a causal model played block by block with carried state equals the same model over the whole file.

Real parts throughout: a tiny causal mel-VAE trained two steps and exported by the CLI (onnxruntime graphs with
explicit state inputs and outputs), the engine's streaming path, the renderer, and export's parity gate.
"""

from __future__ import annotations

import json
import time

import numpy as np
import onnx
import pytest
import soundfile as sf
import torch
from streaming_identity_bundle import build_streaming_identity_bundle

from conftest import export_cli, run_cli, train_cli
from core.audiofile import Audio
from core.bundle import BundleError
from core.bundle_io import load_bundle, read_manifest
from core.dsp import DcBlocker
from core.latent import LatentControls
from core.render import render_audio
from core.session import ModelRunner, WindowModel
from core.streaming import StreamingModel, StreamingProcessor, render_stream
from desktop.engine.audio.chain import ADAPT_BLOCKS, ChainStats, ProcessingChain
from desktop.engine.audio.devices import NullDriver
from desktop.engine.audio.live import LiveEngine
from desktop.engine.model.factory import default_bundle_path
from desktop.engine.model.slot import ModelSlot
from desktop.engine.parameters.values import EngineParams, StreamConfig
from models import build_model, model_config
from tests.waits import wait_for

TOLERANCE = 1e-4
RATE = 44100


def tiny_causal(**kw) -> torch.nn.Module:
    cfg = model_config(
        family="mel-vae",
        latent_dim=4,
        enc_max_channels=16,
        dec_channels=16,
        dec_blocks=1,
        causal=True,
        lookahead=1,
        **kw,
    )
    torch.manual_seed(0)
    return build_model(cfg).eval()


def stream_torch(model, x: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    shapes = model.stream_state_shapes()
    es = [torch.zeros(1, c, f) for _, c, f in shapes["encoder"]]
    ds = [torch.zeros(1, c, f) for _, c, f in shapes["decoder"]]
    zs, ys = [], []
    for i in range(0, x.shape[-1], block):
        lat, es = model.encode_stream(x[..., i : i + block], es)
        y, ds = model.decode_stream(lat, ds)
        zs.append(lat["z"])
        ys.append(y)
    return torch.cat(zs, -1), torch.cat(ys, -1)


# ---- the model (torch) ------------------------------------------------------------------------------------------


@pytest.mark.slow  # builds and runs a causal model per block size
@pytest.mark.parametrize("block", [256, 512, 1024])
def test_causal_model_streams_exactly_like_offline(block):
    model = tiny_causal()
    x = torch.randn(1, 1, 256 * 24) * 0.1
    with torch.no_grad():
        z = model.encode(x)["z"]
        y = model.decode({"z": z})
        zs, ys = stream_torch(model, x, block)
    assert (zs - z).abs().max() < 1e-5 and (ys - y).abs().max() < 1e-5


def test_causal_model_output_never_depends_on_the_future():
    model = tiny_causal()
    x = torch.randn(1, 1, 256 * 24) * 0.1
    cut = 256 * 10  # a block boundary: block b's output may use all of block b's input, nothing after it
    x2 = x.clone()
    x2[..., cut:] = torch.randn(1, 1, x.shape[-1] - cut)
    with torch.no_grad():
        y, y2 = model.decode(model.encode(x)), model.decode(model.encode(x2))
    assert torch.equal(y[..., :cut], y2[..., :cut])
    assert (y[..., cut:] - y2[..., cut:]).abs().max() > 1e-3  # and it does depend on the present


def test_training_forward_aligns_the_delayed_output_with_its_input():
    model = tiny_causal(random_gain_db=[-20.0, 0.0]).train()
    x = torch.randn(2, 1, 22050) * 0.1
    y, aux = model(x)
    assert y.shape == x.shape and torch.isfinite(y).all() and "loss/mel_head" in aux
    with pytest.raises(ValueError, match="no causal"):
        build_model(model_config(family="waveform-vae", causal=True))


# ---- the exported bundle (onnxruntime) ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def causal_run(tmp_path_factory, fixtures_dir):
    run_dir = tmp_path_factory.mktemp("causal") / "run"
    train_cli("factory-causal", run_dir, 2)
    return run_dir


@pytest.fixture(scope="module")
def causal_bundle(causal_run, tmp_path_factory):
    return export_cli(causal_run, tmp_path_factory.mktemp("causalbundle") / "bundle")


@pytest.fixture(scope="module")
def runner(causal_bundle):
    return ModelRunner(load_bundle(causal_bundle), "cpu", threads=1)


def real_audio(fixtures_dir, seconds=5.0) -> np.ndarray:
    parts = [sf.read(p, dtype="float32")[0] for p in sorted(fixtures_dir.glob("*.wav"))]
    return np.concatenate([p if p.ndim == 1 else p.mean(1) for p in parts])[: int(seconds * 22050)]


def test_streaming_bundle_manifest_lists_its_states(causal_bundle, runner):
    m = read_manifest(causal_bundle)
    data = json.loads((causal_bundle / "manifest.json").read_text())
    assert m.format_version == 2 and m.streaming is not None and m.normalization.type == "none"
    s = data["streaming"]
    assert s["block"] == 256 and s["lookahead"] == 1 and s["delay_samples"] == 256 and s["latency_samples"] == 512
    assert s["parity_max_abs_error"] <= TOLERANCE
    for spec in m.streaming.states:  # every listed state is an input and an output of its part, as listed
        sess = runner.sessions[spec.part]
        ins = {i.name: i for i in sess.get_inputs()}
        assert spec.name in ins and spec.output in [o.name for o in sess.get_outputs()]
        assert list(ins[spec.name].shape[1:]) == list(spec.shape[1:])
    assert {s.part for s in m.streaming.states} == {"encoder", "decoder"}


@pytest.mark.parametrize("block", [256, 512, 1024])
@pytest.mark.parametrize("signal", ["real", "impulse"])
def test_block_by_block_onnxruntime_equals_offline(runner, fixtures_dir, block, signal):
    if signal == "real":
        x = real_audio(fixtures_dir)
    else:
        x = np.zeros(22050 * 2, np.float32)
        x[12345] = 0.9
    x = x[: x.shape[0] - x.shape[0] % 1024]
    # one call over the whole signal, zero states, on the input as StreamingModel feeds it (its DC blocked)
    offline = runner.decode(runner.encode(DcBlocker(22050).process(x)[None, None, :]))[0, 0]
    model = StreamingModel(runner)
    blocks = np.concatenate([model.process(x[i : i + block]) for i in range(0, x.shape[0], block)])
    assert np.abs(offline).max() > 1e-3
    err = float(np.abs(blocks - offline).max())
    assert err <= TOLERANCE, err


def test_live_blocks_use_preallocated_swapped_states_and_equal_plain_calls(runner, fixtures_dir):
    """Blocks of the bundle's size run through IO bindings into buffers allocated once (two per state, swapped);
    the output equals plain ``session.run`` calls exactly, through knob moves and a block of another size."""
    x = real_audio(fixtures_dir, 3.0)
    knobs = LatentControls().with_offset("z", 0, 2.0, 4).with_scale("z", 1, 1.5, 4)
    outs = []
    for bind in (True, False):
        model = StreamingModel(runner)
        model._bind = bind
        buffers = {id(buf) for pair in model.bound.states.values() for st in pair for buf in st.values()}
        ys, i, k = [], 0, 0
        while i + 1024 <= x.shape[0]:
            n = 768 if k == 40 else 256  # one plain call of three blocks in the middle
            if k == 20:
                model.controls = knobs
            ys.append(model.process(x[i : i + n]))
            i, k = i + n, k + 1
        outs.append(np.concatenate(ys))
        assert {id(buf) for pair in model.bound.states.values() for st in pair for buf in st.values()} == buffers
    assert np.abs(outs[0]).max() > 1e-3
    np.testing.assert_array_equal(outs[0], outs[1])


def test_render_streams_in_one_pass_and_equals_live(runner, fixtures_dir):
    x = real_audio(fixtures_dir, 3.0)
    rendered = render_audio(Audio(x[None, :], 22050), WindowModel(runner))[0]
    proc = StreamingProcessor(StreamingModel(runner))  # live: 256-sample blocks, fed in odd-sized chunks
    padded = np.concatenate([x, np.zeros(1024, np.float32)])
    live = np.concatenate([proc.push(padded[i : i + 300]) for i in range(0, padded.shape[0], 300)])
    live = live[proc.latency : proc.latency + x.shape[0]]  # the reported latency aligns it with the input
    assert live.shape == x.shape
    assert float(np.abs(rendered - live).max()) <= TOLERANCE


def test_export_refuses_a_stream_that_differs_from_offline(causal_run, tmp_path, monkeypatch):
    """A state that is not carried (the classic streaming bug) must stop the export, leaving no bundle."""
    from export.bundle_writer import ExportError, export_bundle
    from models.causal import CausalConv1d

    def forgetful(self, x, states):
        full = torch.cat([torch.zeros_like(states[0]), x], dim=-1)  # drops the carried frames
        return torch.nn.Conv1d.forward(self, full), [full[..., full.shape[-1] - self.context :]]

    monkeypatch.setattr(CausalConv1d, "stream", forgetful)
    out = tmp_path / "bad"
    with pytest.raises(ExportError, match="block-by-block"):
        export_bundle(causal_run, out, stat_chunks=8, show_progress=False)
    assert not out.exists() and not list(tmp_path.glob(".bad*"))


def test_upgrading_an_old_bundle_to_the_fast_graphs_keeps_its_output(
    causal_run, causal_bundle, runner, tmp_path, monkeypatch, fixtures_dir
):
    """A bundle exported before export/fast_graph.py (its STFT as a 1024-tap Conv) upgraded in place: the manifest's
    checksums follow, the encoder runs a four-step FFT, and the output equals the old graphs' (and a new export's) to within
    float rounding. A tolerance it cannot meet leaves the bundle as it was."""
    import export.streaming
    from export.bundle_writer import export_bundle
    from export.fast_graph import upgrade_bundle

    monkeypatch.setattr(export.streaming, "speed_up_file", lambda path, hop, strict=True: (0, 0.0))
    old = tmp_path / "old"
    export_bundle(causal_run, old, stat_chunks=8, show_progress=False)
    monkeypatch.undo()
    assert "Conv" in {n.op_type for n in onnx.load(str(old / "encoder.onnx")).graph.node}
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    with pytest.raises(ValueError, match="differs from the original"):
        upgrade_bundle(old, tolerance=0.0)
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    x = real_audio(fixtures_dir, 3.0)
    x = x[: x.shape[0] - x.shape[0] % 256]
    y_old = render_stream(x, StreamingModel(ModelRunner(load_bundle(old), "cpu", 1)), 256)
    report = upgrade_bundle(old)
    assert report["encoder"][0] >= 1 and report["decoder"][0] >= 1  # the FFT front end; the 1x1 convs, the iSTFT
    upgraded = ModelRunner(load_bundle(old), "cpu", 1)  # checksums match the rewritten files
    ops = {n.op_type for n in onnx.load(str(old / "encoder.onnx")).graph.node}
    assert "MatMul" in ops and "DFT" not in ops
    y_new = render_stream(x, StreamingModel(upgraded), 256)
    y_export = render_stream(x, StreamingModel(runner), 256)  # exported with the rewrite
    assert np.abs(y_old).max() > 1e-3
    assert float(np.abs(y_new - y_old).max()) <= TOLERANCE
    assert float(np.abs(y_new - y_export).max()) <= 1e-6


# ---- schema --------------------------------------------------------------------------------------------------------


def test_window_bundles_still_load_and_bad_streaming_sections_are_refused(causal_bundle, tmp_path):
    assert load_bundle(default_bundle_path().parent / "mel-vae").manifest.streaming is None  # format_version 1
    data = json.loads((causal_bundle / "manifest.json").read_text())
    bad = dict(data, format_version=1)  # a v1 player's view: no streaming; a v2 section needs v2
    m = read_manifest_from(tmp_path / "v1", causal_bundle, bad)
    assert m.streaming is None
    wrong = json.loads(json.dumps(data))
    wrong["streaming"]["states"][0]["shape"] = [2, 1, 768]
    with pytest.raises(BundleError, match="shape"):
        read_manifest_from(tmp_path / "shape", causal_bundle, wrong)
    wrong = json.loads(json.dumps(data))
    wrong["streaming"]["block"] = 300
    with pytest.raises(BundleError, match="multiple of the latent hop"):
        read_manifest_from(tmp_path / "block", causal_bundle, wrong)


def read_manifest_from(folder, bundle, data):
    folder.mkdir()
    for f in bundle.iterdir():
        if f.suffix == ".onnx":
            (folder / f.name).symlink_to(f)
    (folder / "manifest.json").write_text(json.dumps(data))
    return read_manifest(folder)


# ---- the live engine -----------------------------------------------------------------------------------------------


def run_engine(slot, source, mode="streaming", speed=2.0):
    eng = LiveEngine()
    eng.set_model(slot)
    eng.set_stream_config(StreamConfig(mode, 0.1))
    eng.set_params(EngineParams(limiter=False))
    drv = NullDriver(RATE, 512, source, loop=False, speed=speed, capture=True, max_blocks=source.size // 512)
    eng.start(drv)
    wait_for(lambda: not drv.active, "the driver to play its source", timeout=60)
    eng.stop(fade=False)
    return eng, drv.captured()


def test_engine_streaming_impulse_latency_equals_reported(tmp_path):
    runner = ModelRunner(load_bundle(build_streaming_identity_bundle(tmp_path / "sid")), "cpu", 1)
    slot = ModelSlot.from_runner(runner)
    at = [int(t * RATE) for t in (0.5, 1.0, 1.5, 2.0)]
    src = np.zeros(int(RATE * 2.5), np.float32)
    src[at] = 0.5
    eng, y = run_engine(slot, src)
    s = eng.summary()
    assert s["mode"] == "streaming"
    reported = eng.prefill + eng.dry_delay
    # every impulse heard is exactly as late as reported; on a loaded machine an underrun may run the output one
    # block further ahead mid-run (cover_underrun): then the latency in force when it was played
    assert_impulses_land_where_reported(eng, y, at, 1)
    assert eng.chain.latency_log[-1][1] == reported
    assert abs(s["latency_ms"] - 1000 * reported / RATE) < 0.1
    parts = s["latency_parts_ms"]
    assert parts["model_delay"] == pytest.approx(1000 * 256 / 22050, abs=0.05)
    assert parts["block"] == pytest.approx(1000 * 256 / 22050, abs=0.05)
    assert sum(v for k, v in parts.items() if k != "block_p99_compute") == pytest.approx(s["latency_ms"], abs=0.1)


def test_window_bundles_play_low_latency_when_streaming_is_asked():
    eng, _ = run_engine(ModelSlot.identity(), np.zeros(RATE // 2, np.float32))
    assert eng.summary()["mode"] == "low-latency"


def test_knob_change_mid_stream_keeps_the_output_continuous(runner, fixtures_dir):
    """A knob jump is ramped over a few frames: no sample step at the change larger than the signal's own."""
    x = real_audio(fixtures_dir, 3.0)
    model = StreamingModel(runner)
    change = 256 * 100
    ys = []
    for i in range(0, x.shape[0] - x.shape[0] % 256, 256):
        if i == change:
            model.controls = LatentControls().with_offset("z", 0, 3.0, 4).with_scale("z", 1, 2.0, 4)
        ys.append(model.process(x[i : i + 256]))
    y = np.concatenate(ys)
    steps = np.abs(np.diff(y))
    around = steps[change - 512 : change + 2048].max()
    elsewhere = np.concatenate([steps[: change - 512], steps[change + 2048 :]]).max()
    assert around <= elsewhere, (around, elsewhere)
    still = StreamingModel(runner)
    base = np.concatenate([still.process(x[i : i + 256]) for i in range(0, change + 256 * 20, 256)])
    assert np.abs(y[change + 256 * 10 : change + 256 * 20] - base[change + 256 * 10 :]).mean() > 1e-4  # it did move


def test_late_blocks_play_the_delayed_dry_signal_and_the_model_state_still_advances(runner, fixtures_dir):
    x = real_audio(fixtures_dir, 2.0)
    x = x[: x.shape[0] - x.shape[0] % 256]
    late_from, late_to = 20, 30  # blocks
    count = {"n": 0}

    def is_late():
        count["n"] += 1
        return late_from < count["n"] <= late_to

    proc = StreamingProcessor(StreamingModel(runner), is_late=is_late)
    out = np.concatenate([proc.push(x[i : i + 256]) for i in range(0, x.shape[0], 256)])
    ref_proc = StreamingProcessor(StreamingModel(runner))
    ref = np.concatenate([ref_proc.push(x[i : i + 256]) for i in range(0, x.shape[0], 256)])
    d = proc.latency
    dry = np.concatenate([np.zeros(d, np.float32), x])[: x.shape[0]]
    assert proc.late_blocks == late_to - late_from
    a, b = late_from * 256 + 64, late_to * 256  # after the 64-sample crossfade into dry
    np.testing.assert_allclose(out[a:b], dry[a:b], atol=1e-6)
    # back to the model after a crossfade, and exactly where an undisturbed stream is: the states advanced
    np.testing.assert_allclose(out[b + 64 :], ref[b + 64 :], atol=1e-6)
    assert np.abs(out[: late_from * 256] - ref[: late_from * 256]).max() == 0.0


def test_window_tools_run_a_streaming_bundle_with_its_delay_removed(tmp_path, fixtures_dir):
    """ModelRunner feeds zero states and WindowModel removes the delay: the window path of a streaming identity
    bundle gives the input back, and so do render (streamed) and a live processor (delayed by its latency), both
    through the DC blocker that StreamingModel puts before the encoder."""
    runner = ModelRunner(load_bundle(build_streaming_identity_bundle(tmp_path / "sid")), "cpu", 1)
    x = real_audio(fixtures_dir, 1.0)
    fed = DcBlocker(22050).process(x)
    np.testing.assert_array_equal(WindowModel(runner)(x), x)
    np.testing.assert_allclose(render_audio(Audio(x[None, :], 22050), WindowModel(runner))[0], fed, atol=1e-7)
    proc = StreamingProcessor(StreamingModel(runner))
    y = np.concatenate([proc.push(x[i : i + 100]) for i in range(0, x.shape[0], 100)])
    np.testing.assert_allclose(y[proc.latency :], fed[: y.shape[0] - proc.latency], atol=1e-7)


def test_a_manifest_naming_states_the_graphs_do_not_have_is_refused(tmp_path):
    bundle = build_streaming_identity_bundle(tmp_path / "sid")
    data = json.loads((bundle / "manifest.json").read_text())
    data["streaming"]["states"][1]["name"] = "state.elsewhere"
    (bundle / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="decoder.onnx.*state.elsewhere"):
        ModelRunner(load_bundle(bundle), "cpu", 1)


def identity_slot_sleeping(tmp_path, seconds_at_call) -> ModelSlot:
    """A streaming identity bundle's slot whose n-th block (from 1) first sleeps ``seconds_at_call(n)``."""
    slot = ModelSlot.from_runner(ModelRunner(load_bundle(build_streaming_identity_bundle(tmp_path / "sid")), "cpu", 1))
    sm = slot.streaming_model
    inner = sm.process
    calls = {"n": 0}

    def sleeping(x):
        calls["n"] += 1
        pause = seconds_at_call(calls["n"])
        if pause:
            time.sleep(pause)
        return inner(x)

    sm.process = sleeping
    return slot


def latency_at(eng, a: int) -> int:
    """The latency (samples) the engine's chain reported for input sample ``a`` (its log of changes)."""
    return [n for first, n in eng.chain.latency_log if first <= a][-1]


def assert_impulses_land_where_reported(eng, y, at, start) -> None:
    """Every impulse peak in y from ``start`` on is exactly (+-1 sample) the reported latency after one in at: the
    latency in force for that input sample, by the chain's log of changes (covers, the compute slot)."""
    heard = [
        i
        for i in range(start, y.size - 1)
        if abs(y[i]) > 0.2 and abs(y[i]) >= abs(y[i - 1]) and abs(y[i]) >= abs(y[i + 1])
    ]
    assert heard, "no impulse came through"
    for i in heard:
        assert min(abs(i - a - latency_at(eng, a)) for a in at) <= 1, (i, eng.chain.latency_log, at)


@pytest.mark.slow  # plays in real time with a model made slow on purpose
def test_compute_slot_follows_the_recent_block_times_and_positions_stay_exact(tmp_path):
    """Blocks that get slower mid-run grow the slot (the reported latency follows, every impulse still lands
    exactly where the latency in force says, the final one after the change)."""
    slot = identity_slot_sleeping(tmp_path, lambda n: 0.004 if n > 100 else 0.0)
    at = [int(t * RATE) for t in (5.0, 5.5, 6.0)]
    src = np.zeros(int(RATE * 6.5), np.float32)
    src[at] = 0.5
    eng, y = run_engine(slot, src, speed=1.0)
    s = eng.summary()
    assert s["slot_changes"] >= 1 and s["latency_parts_ms"]["compute_slot"] > 2 * 4.0
    assert s["latency_parts_ms"]["other"] == 0.0  # the grown slot is what the prefill holds, to the sample
    assert_impulses_land_where_reported(eng, y, at, int(4.9 * RATE))


@pytest.mark.parametrize("p99_ms", [2.13, 3.37, 7.11, 11.3])
def test_a_resized_compute_slot_is_held_by_the_prefill_to_the_sample(tmp_path, p99_ms):
    """The slot grows (or shrinks) to 2 x p99 + 4 ms rounded like the first slot, so the latency parts add up to the
    prefill exactly ('other' stays 0) whatever the fractions."""
    slot = identity_slot_sleeping(tmp_path, lambda n: 0.0)
    slot.block_p99_s = 0.0004
    chain = ProcessingChain(slot, StreamConfig("streaming", 0.1), RATE, 256, 0.1, ChainStats())
    fixed = chain.prefill - chain.margin_samples
    for p99, changes in ((p99_ms, 1), (0.4, 2 if p99_ms > 5 else 1)):  # grow, then shrink back where far enough
        chain.ola.times[:] = p99 / 1000.0
        chain.ola.count = ADAPT_BLOCKS
        chain._adapt_slot()
        assert chain.stats.slot_changes == changes
        assert chain.margin_samples == int(chain.margin_used_s * RATE)
        assert chain.prefill == fixed + chain.margin_samples


def test_render_cli_streams_a_streaming_bundle(causal_bundle, runner, fixtures_dir, tmp_path):
    src = fixtures_dir / "speech_arctic_a0007.wav"
    out = tmp_path / "out.wav"
    proc = run_cli(["-m", "desktop.render_cli", str(src), "-o", str(out), "--bundle", str(causal_bundle)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "streamed in one pass" in proc.stderr and "256-sample delay removed" in proc.stderr
    x, sr = sf.read(src, dtype="float32")
    y, sr_out = sf.read(out, dtype="float32")
    assert sr_out == sr and y.shape == x.shape
    model = StreamingModel(runner)
    expected = render_stream(x, model)
    assert float(np.abs(y - expected).max()) < 1e-3  # 16-bit PCM file: quantisation only


def test_underrun_cover_is_bounded_and_counts_towards_a_later_burst_cover(tmp_path):
    from desktop.engine.audio.chain import UNDERRUN_COVER_MAX_S, ChainStats, ProcessingChain

    runner = ModelRunner(load_bundle(build_streaming_identity_bundle(tmp_path / "sid")), "cpu", 1)
    written = []
    chain = ProcessingChain(
        ModelSlot.from_runner(runner), StreamConfig("streaming", 0.1), RATE, 256, 0.1, ChainStats(), pad=written.append
    )
    start = chain.prefill
    grown = 0
    while chain.cover_underrun():
        grown += 1
    assert grown == int(UNDERRUN_COVER_MAX_S * RATE) // 256 and chain.underrun_extra == 256 * grown
    assert chain.prefill == start + 256 * grown and sum(written) == 256 * grown
    chain.cover_burst(256 + 3 * 256)  # bursts of 4 blocks: 3 more than covered, all of it already ahead
    assert chain.prefill == start + 256 * grown and sum(written) == 256 * grown
    assert chain.burst_extra == 3 * 256 and chain.underrun_extra == 256 * (grown - 3)
    chain.cover_burst(256 + 3 * 256 + 20 * 256)  # more than is ahead: only the difference is written
    assert chain.prefill == start + 3 * 256 + 20 * 256 and chain.underrun_extra == 0
