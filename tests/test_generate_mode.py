"""The live Generate mode (issue 27, desktop/engine/model/generate.py) on the factory default bundle and its shipped prior.

The engine runs in streaming mode with the prior as the streaming model's blend, driven callback by callback by the
stepped driver (every callback waits until the worker has caught up: no underrun and no late block however busy the
machine, so runs repeat exactly); the input is silence, so whatever sounds is generated. Then the generator inside a bare streaming model:
its frames are the offline sampler's for the same seed, the knobs act on them on the encoded frames' own path and
are not fed back to the prior, and "continue" starts the prior near the input it heard.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from stepped_driver import SteppedDriver

from conftest import FIXTURES
from core.audiofile import resample
from core.bundle_io import load_bundle
from core.latent import LatentControls
from core.session import ModelRunner
from core.streaming import StreamingModel
from desktop.engine.audio.live import LiveEngine
from desktop.engine.model.factory import default_bundle_path
from desktop.engine.model.generate import STEPS_PER_BLOCK, GenerateSettings, PriorGenerator
from desktop.engine.model.prior import PriorRunner
from desktop.engine.model.slot import ModelSlot
from desktop.engine.parameters.values import EngineParams, StreamConfig
from tests.waits import wait_for

RATE = 44100
BLOCK = 512  # the app's default device block
SECONDS = 1.0  # under the 256 model blocks (3 s) after which the compute slot may be re-sized (timing-dependent);
# the checks read the half second after 0.5 s, where the prior plays
KNOB = LatentControls().with_offset("z", 0, 2.0, 16)


@pytest.fixture(scope="module")
def runner():
    return ModelRunner(load_bundle(default_bundle_path()), "cpu", 1)


@pytest.fixture(scope="module")
def slot(runner):
    return ModelSlot.from_runner(runner)


def play(slot, settings: GenerateSettings, controls: LatentControls = LatentControls()) -> np.ndarray:
    """SECONDS of the engine's output (device rate) with silence in and Generate set to ``settings``."""
    eng = LiveEngine(block=BLOCK)
    eng.set_model(slot)
    eng.set_stream_config(StreamConfig("streaming", 0.1))
    eng.set_params(EngineParams(limiter=False))
    eng.set_controls(controls)
    eng.generator.set_settings(settings)
    drv = SteppedDriver(RATE, BLOCK, np.zeros(int(SECONDS * RATE), np.float32))
    eng.start(drv)
    try:
        while not drv.done:  # each callback waits until the worker has played all the input it had
            wait_for(
                lambda: eng.out_ring.written + BLOCK + eng.hold >= eng.in_ring.written + eng.prefill,
                "the worker",
                every=0.0005,
            )
            drv.step()
        # so no block was late (a late block plays the dry input instead, here silence) and no callback ran dry
        assert eng.underruns == 0 and eng.late_windows == 0 and eng.mode == "streaming" and not eng.error
    finally:
        eng.stop(fade=False)
    return drv.captured()


def test_generate_mode_plays_the_prior_live_deterministic_per_seed_with_temperature_and_knobs(slot):
    assert slot.generator is not None and slot.generate_problem == ""
    on = play(slot, GenerateSettings(True, 1.0, 1))
    again = play(slot, GenerateSettings(True, 1.0, 1))
    off = play(slot, GenerateSettings(False, 1.0, 1))
    tail = slice(int(0.5 * RATE), None)  # after the start's fade-in and the prior's first blocks
    rms = lambda x: float(np.sqrt(np.mean(x[tail] ** 2)))  # noqa: E731
    assert np.isfinite(on).all() and len(on) >= SECONDS * RATE
    assert rms(on) > 0.01 and rms(off) < 0.1 * rms(on)  # the sound is the prior's: silence comes in
    np.testing.assert_array_equal(on, again)  # the same seed plays the same
    assert np.abs(play(slot, GenerateSettings(True, 1.0, 2)) - on)[tail].max() > 0.01  # another seed, another
    cold = play(slot, GenerateSettings(True, 0.0, 1))
    assert np.isfinite(cold).all() and np.abs(cold - on)[tail].max() > 0.01  # temperature changes it
    knobbed = play(slot, GenerateSettings(True, 1.0, 1), KNOB)
    assert np.isfinite(knobbed).all() and np.abs(knobbed - on)[tail].max() > 0.01  # a latent knob acts on it


def blocks_through(runner, generator, x: np.ndarray, controls=LatentControls(), ask_at: int | None = None):
    """``x`` (model rate) block by block through a streaming model whose blend is ``generator``: the audio, the
    frames handed to the decoder before the knobs (float32[blocks, D]) and whether each block played the prior."""
    sm = StreamingModel(runner, controls=controls, blend=generator)
    n = sm.block
    audio, frames, playing = [], [], []
    for k in range(len(x) // n):
        if ask_at == k:
            assert generator.ask_continue()
        audio.append(sm.process(x[k * n : (k + 1) * n]))
        frames.append(sm.last_latents["z"][0].T)
        playing.append(generator.playing)
    return np.concatenate(audio), np.concatenate(frames), np.array(playing)


def test_generated_frames_are_the_offline_samplers_and_the_knobs_act_on_them_as_on_encoded_ones(runner):
    prior = PriorRunner(runner.bundle)
    gen = PriorGenerator(runner, prior)
    gen.set_settings(GenerateSettings(True, 0.8, 5))
    x = np.zeros(256 * 60, np.float32)
    plain, frames, playing = blocks_through(runner, gen, x)
    warm = -(-(gen.burn_in + 1) // STEPS_PER_BLOCK)  # blocks the start takes, spread out (the mean frame + burn-in)
    assert not playing[:warm].any() and playing[warm:].all()
    rng = np.random.default_rng(5)
    state = prior.unprimed(runner.axes["z"].mean, 0.8, rng)
    offline, _ = prior.continue_from(state, len(frames) - warm, 0.8, rng)
    np.testing.assert_allclose(frames[warm:], offline, atol=1e-5)  # what `latentsynth-render --generate` draws

    knobbed, knob_frames, _ = blocks_through(runner, gen, x, KNOB)
    np.testing.assert_array_equal(knob_frames, frames)  # the prior is fed its own frames, not the knobs' result
    assert np.abs(knobbed - plain).max() > 0.01

    class Replay:  # the same frames as if the encoder had made them: the knobs' path for encoded frames
        def reset(self):
            self.k = 0

        def __call__(self, latents, n):
            self.k += 1
            return {"z": np.ascontiguousarray(frames[self.k - 1 : self.k].T[None])}

    encoded = StreamingModel(runner, controls=KNOB, blend=Replay())
    replayed = np.concatenate([encoded.process(x[k * 256 : (k + 1) * 256]) for k in range(len(x) // 256)])
    np.testing.assert_allclose(knobbed, replayed, atol=1e-6)


def test_continue_starts_the_prior_near_what_it_heard(runner):
    """A rock mix plays; "continue" is asked 2.5 s in. The prime (the last PRIME_S s heard, then the blocks that came
    while it was fed) takes over within the blocks its steps need, and the first 0.25 s the prior plays are nearer
    (PCA units) to the input's last frames before it than an unprimed generation's first 0.25 s are, for 5 seeds."""
    audio, sr = sf.read(FIXTURES / "music_rock_mix.wav", dtype="float32", always_2d=True)
    ask = int(2.5 * 22050) // 256
    # up to 60 blocks past the ask: the take-over comes within 20 and the check reads 22 frames from it
    x = np.ascontiguousarray(resample(audio.mean(1), sr, 22050), np.float32)[: 256 * (ask + 60)]
    axes = runner.axes["z"]
    prior = PriorRunner(runner.bundle)
    for seed in range(5):
        gen = PriorGenerator(runner, prior)
        gen.set_settings(GenerateSettings(False, 1.0, seed))
        _, frames, playing = blocks_through(runner, gen, x, ask_at=ask)
        first = int(np.argmax(playing))
        assert not playing[:ask].any() and playing[first:].all()
        assert first - ask <= -(-gen.prime_frames // (STEPS_PER_BLOCK - 1)) + 2  # spread over ~0.2 s of blocks
        heard = axes.project(frames[first - 8 : first].T[None])[0].mean(1)  # the input's last frames played
        primed = axes.project(frames[first : first + 22].T[None])[0].T

        gen = PriorGenerator(runner, prior)
        gen.set_settings(GenerateSettings(True, 1.0, seed))
        _, frames, playing = blocks_through(runner, gen, x[: 256 * 40])
        start = int(np.argmax(playing))
        unprimed = axes.project(frames[start : start + 22].T[None])[0].T
        near = np.linalg.norm(primed - heard, axis=1).mean()
        far = np.linalg.norm(unprimed - heard, axis=1).mean()
        assert near < far, (seed, near, far)


def test_a_continue_plays_the_offline_continuation_its_first_second_cooler(runner):
    """The frames Generate plays after "continue" are what ``latentsynth-render --prime`` draws from the same frames
    and seed: the prime's state, the first SETTLE_SECONDS at SETTLE_TEMPERATURE x the temperature, then as set."""
    from desktop.engine.model.prior import SETTLE_TEMPERATURE, settle_frames

    audio, sr = sf.read(FIXTURES / "music_rock_mix.wav", dtype="float32", always_2d=True)
    x = np.ascontiguousarray(resample(audio.mean(1), sr, 22050), np.float32)[: 256 * 380]
    ask = int(2.5 * 22050) // 256
    prior = PriorRunner(runner.bundle)
    gen = PriorGenerator(runner, prior)
    gen.set_settings(GenerateSettings(False, 0.9, 3))
    _, frames, playing = blocks_through(runner, gen, x, ask_at=ask)
    first = int(np.argmax(playing))
    settle = settle_frames(prior)
    assert len(frames) - first > settle + 20  # the test covers the settled second and what follows
    heard = frames[max(0, ask + 1 - gen.prime_frames) : first]  # the frames heard up to the take-over ...
    style = prior.style_of(frames[max(0, ask + 1 - gen.prime_frames) : ask + 1])  # ... a styled prior's: at the ask
    state = prior.start(heard[0], style)
    for z in heard[1:]:
        state = prior.step(state.h, z, style)
    rng = np.random.default_rng(3)
    cool, state = prior.continue_from(state, settle, SETTLE_TEMPERATURE * 0.9, rng)
    rest, _ = prior.continue_from(state, len(frames) - first - settle, 0.9, rng)
    np.testing.assert_allclose(frames[first:], np.concatenate([cool, rest]), atol=1e-5)
