"""Issue 23 (ugly): an input's DC offset. The models passed about half of an offset of 0.05 on and raised the floor
of quiet passages by 13 dB (31 dB at 0.5). The engine now blocks the input's DC where it feeds a model: a 10 Hz
high-pass with state inside ``StreamingModel.process`` (live and render), and before the windows of a window
bundle (the live chain and ``render_audio``). An offset must change neither the output's DC nor the quiet floor."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES, run_cli
from core.audiofile import Audio, audio_info
from core.bundle_io import load_bundle
from core.dsp import DcBlocker
from core.formats import output_format
from core.render import render_audio
from core.session import ModelRunner, WindowModel
from desktop.engine.audio.chain import ChainStats, ProcessingChain
from desktop.engine.files.file_render import render_file
from desktop.engine.model.factory import default_bundle_path
from desktop.engine.model.slot import ModelSlot
from desktop.engine.parameters.values import EngineParams, StreamConfig

CLIP = FIXTURES / "music_rock_mix.wav"  # 4 s, 22.05 kHz mono
OFFSETS = (0.05, 0.5)


def music_then_quiet() -> tuple[np.ndarray, int, slice]:
    """4 s of music, then 2 s of noise at -60 dBFS; the quiet passage measured from 0.5 s into it to 0.2 s before
    the end."""
    x, sr = sf.read(CLIP, dtype="float32")
    quiet = np.random.default_rng(0).standard_normal(2 * sr).astype(np.float32) * 1e-3
    return np.concatenate([x, quiet]), sr, slice(x.size + sr // 2, x.size + 2 * sr - sr // 5)


def floor_db(y: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(y, dtype=np.float64))))


def assert_offset_changes_nothing(outputs: dict[float, np.ndarray], quiet: slice) -> None:
    base = outputs[0.0]
    for off in OFFSETS:
        y = outputs[off]
        assert abs(float(y.mean()) - float(base.mean())) < 2e-3, (off, y.mean(), base.mean())
        assert abs(floor_db(y[quiet]) - floor_db(base[quiet])) < 1.0, (off, floor_db(y[quiet]), floor_db(base[quiet]))


@pytest.mark.slow
def test_render_cli_of_the_default_bundle_ignores_an_input_offset(tmp_path):
    """The command a user runs, on the streaming default: offsets 0.05 and 0.5 give the output of no offset (its
    DC within 0.002, the quiet passage's floor within 1 dB; before the blocker: +0.017 and -29 dBFS against -60)."""
    sig, sr, quiet = music_then_quiet()
    outputs = {}
    for off in (0.0, *OFFSETS):
        src, out = tmp_path / f"in{off}.wav", tmp_path / f"out{off}.wav"
        sf.write(src, sig + off, sr, subtype="FLOAT")
        proc = run_cli(["-m", "desktop.render_cli", "--quiet", str(src), "-o", str(out)])
        assert proc.returncode == 0, proc.stderr
        outputs[off] = sf.read(out, dtype="float32")[0]
    assert_offset_changes_nothing(outputs, quiet)


def test_a_window_bundle_render_ignores_an_input_offset():
    """mel-vae (windows of 1 s, loudness-normalised per window): before the blocker an offset of 0.5 left -0.42 of
    DC in the output and the quiet floor at -9 dBFS (against -61)."""
    sig, sr, quiet = music_then_quiet()
    model = WindowModel(ModelRunner(load_bundle(default_bundle_path().parent / "mel-vae"), "cpu", 1))
    outputs = {off: render_audio(Audio((sig + off)[None], sr), model)[0] for off in (0.0, *OFFSETS)}
    assert_offset_changes_nothing(outputs, quiet)


def test_live_window_modes_block_the_offset_before_the_windows():
    """The live chain in a window mode plays what a render writes: an identity model's output carries no DC after
    the blocker's 16 ms time constant, and the same input without its offset gives the same samples."""
    sig, sr, _ = music_then_quiet()
    outs = {}
    for off in (0.0, 0.5):
        chain = ProcessingChain(ModelSlot.identity(), StreamConfig("low-latency", 0.1), sr, 256, 0.05, ChainStats())
        chain.start_gains(EngineParams(limiter=False))
        x = sig + off
        outs[off] = np.concatenate([chain.process(x[i : i + 256], chain.params)[1] for i in range(0, x.size, 256)])
    settled = slice(sr, outs[0.0].size)
    assert abs(float(outs[0.5][settled].mean())) < 1e-3
    np.testing.assert_allclose(outs[0.5][settled], outs[0.0][settled], atol=1e-4)


@pytest.mark.parametrize("sizes", [(256,), (777,), (64, 4096, 3)])
def test_the_blocker_carries_its_state_so_any_blocks_equal_one_call(sizes):
    """Live (device blocks) and a render (large blocks) see the same filter: blocks of any sizes equal one call over
    the whole signal, and a constant offset is gone after a few time constants."""
    x = (0.1 * np.random.default_rng(1).standard_normal(50000) + 0.5).astype(np.float32)
    whole = DcBlocker(22050).process(x)
    blocker = DcBlocker(22050)
    parts, i, k = [], 0, 0
    while i < x.size:
        n = sizes[k % len(sizes)]
        parts.append(blocker.process(x[i : i + n]))
        i, k = i + n, k + 1
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-7)
    assert abs(float(whole[5000:].mean())) < 2e-3 and abs(float(x[5000:].mean()) - 0.5) < 2e-3


@pytest.mark.parametrize("bundle", ["default", "mel-vae"])
@pytest.mark.parametrize("way", ["whole", "blocks"])
def test_a_file_ending_on_an_offset_ends_as_the_file_without_it(tmp_path, bundle, way):
    """The file's end: a render pads the signal with silence, which used to pass the streaming model's DC blocker,
    a step from the offset down to 0 that the model played as a click in the last 12 ms (the default, offset 0.5:
    0.094 away from the render without the offset; 0.05: 0.030). The padding is silence after the blocker now, so
    the last 50 ms equal the render of the same file without the offset; ``whole``: ``render_audio``, ``blocks``:
    the CLI's block-by-block ``render_file``. The clip's last 2 s: the end is what is measured, and mel-vae's last
    windows reach 1 s back."""
    x, sr = sf.read(CLIP, dtype="float32")
    x = x[-2 * sr :]
    runner = ModelRunner(load_bundle(default_bundle_path().parent / bundle), "cpu", 1)
    outs = {}
    for off in (0.0, 0.5):
        if way == "whole":
            outs[off] = render_audio(Audio((x + off)[None], sr), WindowModel(runner))[0]
        else:
            src, out = tmp_path / f"in{off}.wav", tmp_path / f"out{off}.wav"
            sf.write(src, x + off, sr, subtype="FLOAT")
            render_file(audio_info(src), str(out), WindowModel(runner), output_format(out, "FLOAT"), block=4096)
            outs[off] = sf.read(out, dtype="float32")[0]
    tail = slice(x.size - sr // 20, x.size)
    assert float(np.abs(outs[0.0][tail]).max()) > 1e-2  # the music plays to the end
    assert float(np.abs(outs[0.5][tail] - outs[0.0][tail]).max()) < 1e-3
