"""A streaming bundle renders a file disk to disk in blocks (desktop/engine/files/file_render.py; issue 23: render memory
grew with the file, 1.37 GB for 30 minutes at 44.1 kHz). The output is the whole-file render's, memory does not grow
with the length, and the output file is replaced only by a finished render."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import soxr

from conftest import FIXTURES, run_cli
from core.audiofile import AudioFileError, audio_info, load_audio, write_audio
from core.bundle_io import load_bundle
from core.formats import output_format
from core.latent import LatentControls
from core.render import render_audio
from core.session import ModelRunner, WindowModel
from desktop.engine.files.file_render import render_file
from desktop.engine.model.factory import default_bundle_path


@pytest.fixture(scope="module")
def runner():
    return ModelRunner(load_bundle(default_bundle_path()), "cpu", 1)


def music(seconds: float, rate: int) -> np.ndarray:
    parts = [sf.read(p, dtype="float32", always_2d=True)[0].mean(1) for p in sorted(FIXTURES.glob("*.wav"))]
    x = soxr.resample(np.concatenate(parts), 22050, rate).astype(np.float32)
    return np.resize(x, int(seconds * rate))


CASES = {  # rate, channels, subtype, frames beyond whole seconds (a last block of odd length)
    "44.1k-mono-16bit": (44100, 1, "PCM_16", 0),
    "48k-stereo-float": (48000, 2, "FLOAT", 777),
    "model-rate-mono-24bit": (22050, 1, "PCM_24", 123),
    "8k-stereo-16bit": (8000, 2, "PCM_16", 5),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
@pytest.mark.parametrize("knob", [0.0, 1.5])
def test_a_file_rendered_in_blocks_equals_the_whole_file_render(runner, tmp_path, case, knob):
    rate, channels, subtype, extra = CASES[case]
    x = music(4.0, rate)[: 4 * rate + extra]
    data = np.stack([x * (1.0 - 0.4 * c) for c in range(channels)], 1)
    src = tmp_path / "in.wav"
    sf.write(src, data, rate, subtype=subtype)
    model = WindowModel(runner, LatentControls().with_offset("z", 0, knob, 16))
    fmt = output_format(tmp_path / "o.wav", "FLOAT")
    audio = load_audio(src)
    write_audio(tmp_path / "whole.wav", render_audio(audio, model), rate, "FLOAT")
    render_file(audio_info(src), str(tmp_path / "blocks.wav"), model, fmt, block=8192)  # 10 blocks in 4 s
    whole, blocks = (sf.read(tmp_path / f"{n}.wav", dtype="float32", always_2d=True)[0] for n in ("whole", "blocks"))
    assert blocks.shape == whole.shape == data.shape
    assert np.abs(whole).max() > 1e-2
    assert float(np.abs(blocks - whole).max()) <= 1e-5


def test_render_memory_does_not_grow_with_the_length(tmp_path):
    """Python's and numpy's allocations at their peak (tracemalloc) for 5 s and for 80 s of 44.1 kHz stereo: the
    same few blocks, where the whole-file render held the file several times over (80 s is 28 MB as float32). The
    bundle is the streaming identity (blocks of 256 samples, as the default's): the render's own buffers are what
    is measured, and its model costs nothing."""
    from tests.streaming_identity_bundle import build_streaming_identity_bundle

    model = WindowModel(ModelRunner(load_bundle(build_streaming_identity_bundle(tmp_path / "identity")), "cpu", 1))
    fmt = output_format(tmp_path / "o.wav", "PCM_16")
    peaks = {}
    for seconds in (5, 80):
        src = tmp_path / f"in{seconds}.wav"
        x = music(seconds, 44100)
        sf.write(src, np.stack([x, 0.5 * x], 1), 44100, subtype="PCM_16")
        info = audio_info(src)
        tracemalloc.start()
        render_file(info, str(tmp_path / f"out{seconds}.wav"), model, fmt)
        peaks[seconds] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        assert sf.info(tmp_path / f"out{seconds}.wav").frames == x.size
    assert peaks[80] < 1.3 * peaks[5] + 2.0, peaks
    assert peaks[80] < 25.0, peaks


def test_an_interrupted_render_leaves_the_previous_output_and_no_temporary_file(runner, tmp_path):
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, music(20.0, 44100), 44100, subtype="PCM_16")
    out.write_bytes(b"an earlier result")

    def interrupt(done: int, total: int) -> None:
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_file(audio_info(src), str(out), WindowModel(runner), output_format(out), interrupt)
    assert out.read_bytes() == b"an earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "out.wav"]


def test_a_float_input_with_nan_is_refused_before_anything_is_written(tmp_path):
    """The block-by-block reader makes load_audio's check: NaN anywhere in a float file, with the count."""
    x = np.zeros((5 * 65536 + 7, 2), np.float32)
    x[4 * 65536 + 3, 1] = np.nan
    x[-1, 0] = np.inf
    sf.write(tmp_path / "nan.wav", x, 44100, subtype="FLOAT")
    with pytest.raises(AudioFileError, match=r"nan.wav: 2 of 655374 samples are NaN or infinite"):
        audio_info(tmp_path / "nan.wav")


@pytest.mark.slow
def test_the_render_cli_streams_and_says_so_and_keeps_the_mode_of_what_it_replaces(tmp_path):
    """The command a user runs: a 44.1 kHz file on the default bundle, the output replacing a file with mode 0640
    keeps 0640, the same length, rate and channels as the input, nothing else left in the folder."""
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, np.stack([music(8.0, 44100)] * 2, 1), 44100, subtype="PCM_16")
    out.write_bytes(b"old")
    out.chmod(0o640)
    proc = run_cli(["-m", "desktop.render_cli", str(src), "-o", str(out)])
    assert proc.returncode == 0, proc.stderr
    assert "times faster than real time" in proc.stderr and "streamed in one pass" in proc.stderr
    info = sf.info(out)
    assert (info.frames, info.samplerate, info.channels) == (8 * 44100, 44100, 2)
    assert out.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "out.wav"]


def _blocks_equal_whole(tmp_path, model, whole_fn, rate=44100, channels=2, seconds=5.0, hop=0.25, atol=1e-5):
    x = music(seconds, rate)[: int(seconds * rate) + 321]
    data = np.stack([x * (1.0 - 0.4 * c) for c in range(channels)], 1)
    src = tmp_path / "in.wav"
    sf.write(src, data, rate, subtype="FLOAT")
    whole = whole_fn(load_audio(src))
    render_file(
        audio_info(src),
        str(tmp_path / "blocks.wav"),
        model,
        output_format(tmp_path / "b.wav", "FLOAT"),
        block=None,
        hop_seconds=hop,
    )
    blocks = sf.read(tmp_path / "blocks.wav", dtype="float32", always_2d=True)[0].T
    assert blocks.shape == whole.shape == data.T.shape
    assert np.abs(whole).max() > 1e-2
    assert float(np.abs(blocks - whole).max()) <= atol


# 2.5 blocks of 8 hops each, a short last; stereo once (the channels' own cores), the short hop in mono
@pytest.mark.parametrize("hop, seconds, channels", [(0.25, 5.0, 2), (0.1, 2.0, 1)])
def test_a_window_bundle_renders_in_blocks_as_it_renders_whole(tmp_path, hop, seconds, channels):
    """mel-vae (1-s windows every ``hop``): the file render used to hold the whole file; now its DC blocker and
    overlap-add run block by block with their state carried, and the output is the whole-file render's."""
    model = WindowModel(ModelRunner(load_bundle(default_bundle_path().parent / "mel-vae"), "cpu", 1))
    render = lambda a: render_audio(a, model, hop)  # noqa: E731
    _blocks_equal_whole(tmp_path, model, render, channels=channels, hop=hop, seconds=seconds)


@pytest.mark.parametrize("bundle", ["default", "mel-vae"])
def test_a_morph_renders_in_blocks_as_it_renders_whole(tmp_path, bundle):
    """--morph used to load and render the whole file on every bundle; B (looped: 1.4 s against A's 2.5 s) is the
    only whole thing held now, mono at the model rate. 2.5 s of A is over one 2-s block of a window bundle."""
    from desktop.engine.files.file_render import read_mono
    from desktop.engine.model.morph import morph_model, render_morph

    r = ModelRunner(load_bundle(default_bundle_path().parent / bundle), "cpu", 1)
    b_path = FIXTURES / "speech_pd_voice.wav"
    b = load_audio(b_path)
    b_model = read_mono(audio_info(b_path), r.manifest.sample_rate)
    np.testing.assert_array_equal(
        b_model, soxr.resample(b.mono(), b.sample_rate, r.manifest.sample_rate)[: b_model.size]
    )
    info_frames = int(2.5 * 44100) + 321
    model = morph_model(r, b_model, info_frames, 44100, 0.7)
    assert model.loop
    _blocks_equal_whole(tmp_path, model, lambda a: render_morph(a, b, r, 0.7), seconds=2.5)


def test_griffin_lim_renders_in_blocks_as_it_renders_whole(tmp_path):
    """--inversion griffin-lim (a window path whatever the bundle: no streaming graph gives a mel) in blocks."""
    from desktop.engine.model.inversion import GriffinLimRunner

    # 4 iterations, not the default 32: blocks equal whole at any count, and each iteration costs a whole STFT
    runner = ModelRunner(load_bundle(default_bundle_path().parent / "mel-vae"), "cpu", 1)
    model = WindowModel(GriffinLimRunner(runner, n_iter=4))
    _blocks_equal_whole(tmp_path, model, lambda a: render_audio(a, model), rate=22050, channels=1, seconds=2.5)


def test_window_render_memory_does_not_grow_with_the_length(tmp_path):
    """tracemalloc's peak for 5 s and 40 s of 44.1 kHz stereo through a window bundle (blocks of 8 hops, 4 s): the
    same few blocks (about 7 MB), where holding the file would add 14 MB for each float32 copy of 40 s. The bundle
    is the identity (1-s windows, as mel-vae's): the render's own buffers are what is measured, and its windows
    cost nothing where mel-vae's 180 took 3 s."""
    from tests.identity_bundle import build_identity_bundle

    model = WindowModel(ModelRunner(load_bundle(build_identity_bundle(tmp_path / "identity")), "cpu", 1))
    fmt = output_format(tmp_path / "o.wav", "PCM_16")
    peaks = {}
    for seconds in (5, 40):
        src = tmp_path / f"in{seconds}.wav"
        x = music(seconds, 44100)
        sf.write(src, np.stack([x, 0.5 * x], 1), 44100, subtype="PCM_16")
        tracemalloc.start()
        render_file(audio_info(src), str(tmp_path / f"out{seconds}.wav"), model, fmt, hop_seconds=0.5)
        peaks[seconds] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert peaks[40] < 1.3 * peaks[5] + 2.0, peaks
