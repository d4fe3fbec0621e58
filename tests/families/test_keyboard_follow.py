"""The declared pitch controls on the shipped voice bundle (family sf): a held MIDI note sets the output's pitch
(follow keyboard) and releasing it hands pitch back; transpose reaches the pitch channel alone through the engine's
streaming path; the render CLI's --transpose is the declared control; the controls round-trip and bad declarations
are refused. Real parts: the bundle's onnxruntime graphs, the engine's streaming path, MIDI map and registry."""

from __future__ import annotations

import json
import math

import mido
import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES, main_in_process
from core.bundle import BundleError, Control
from core.bundle_io import control_from_json, load_bundle, manifest_from_json
from core.latent import LatentControls, apply_declared
from core.session import ModelRunner
from core.streaming import SMOOTH_FRAMES, StreamingModel, render_stream
from desktop.control.midi import PITCH, TRANSPOSE, MidiMap
from desktop.engine.model.factory import default_bundle_path
from desktop.engine.parameters.params import ParamRegistry, StaticTarget
from desktop.engine.parameters.values import LIVE_MODES, EngineParams, StreamConfig
from desktop.render_cli import main as render_main

VOICE = default_bundle_path().parent / "voice"
SR = 22050


@pytest.fixture(scope="module")
def voice_runner() -> ModelRunner:
    return ModelRunner(load_bundle(VOICE), "cpu", threads=1)


def f0_of(y: np.ndarray, lo: float, hi: float) -> float:
    """The f0 (Hz) of a steady harmonic signal between ``lo`` and ``hi``: the candidate whose first 8 harmonics stand
    highest above the points halfway between them in a zero-padded spectrum (octave-safe: at 2 f0 the halfway points
    are harmonics, at f0 / 2 half the 'harmonics' are gaps)."""
    n = 1 << int(np.ceil(np.log2(y.shape[0] * 8)))
    spec = np.abs(np.fft.rfft(y * np.hanning(y.shape[0]), n))
    cands = np.arange(lo, hi, 0.05)
    k = np.arange(1, 9)[:, None]
    at = lambda f: np.interp(f / (SR / n), np.arange(spec.shape[0]), spec)  # noqa: E731
    return float(cands[np.argmax(at(k * cands).mean(0) - at((k - 0.5) * cands).mean(0))])


def f0_near(y: np.ndarray, hz: float) -> float:
    """The f0 within +-6 semitones of ``hz`` (a test of cents, not of octave errors)."""
    return f0_of(y, hz * 2 ** (-6 / 12), hz * 2 ** (6 / 12))


def _saw(hz: float, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * hz * t) / k for k in range(1, int(0.45 * SR / hz)))
    return (0.1 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


@pytest.fixture(scope="module")
def saw_latents(voice_runner) -> dict[str, np.ndarray]:
    """The voice encoder's latents of a steady 220 Hz sawtooth (voiced, a voice-like level)."""
    x = _saw(220.0)
    x = x[: x.shape[0] - x.shape[0] % 256]
    lat, _ = voice_runner.encode_step(x[None, None], voice_runner.zero_states("encoder"))
    return lat


def _decode(runner: ModelRunner, latents: dict, values: dict) -> np.ndarray:
    """The decoder at ``latents`` with the declared controls at ``values``; the steady part after 0.4 s."""
    lat = apply_declared({k: v.copy() for k, v in latents.items()}, runner.manifest.controls, values)
    y, _ = runner.decode_step(lat, runner.zero_states("decoder"))
    return y[0, 0, 8820:]


def test_a_held_note_sets_the_output_f0_within_15_cents(voice_runner, saw_latents):
    m = voice_runner.manifest
    registry = ParamRegistry(StaticTarget(EngineParams(), StreamConfig()), m, LIVE_MODES)
    midi = MidiMap(registry, follow="keyboard")
    for note in (60, 67, 52):
        midi.handle(mido.Message("note_on", note=note, velocity=90))
        y = _decode(voice_runner, saw_latents, registry.target.controls.values)
        want = 440.0 * 2 ** ((note - 69) / 12)
        cents = 1200 * math.log2(f0_near(y, want) / want)
        assert abs(cents) <= 15, (note, cents)
        midi.handle(mido.Message("note_off", note=note))
    assert "pitch" not in registry.target.controls.values  # released: the input's pitch again
    y = _decode(voice_runner, saw_latents, registry.target.controls.values)
    assert abs(1200 * math.log2(f0_near(y, 220.0) / 220.0)) <= 15
    midi.handle(mido.Message("note_on", note=57, velocity=90))  # A3 held, bend up a whole tone: B3
    midi.handle(mido.Message("pitchwheel", pitch=8191))
    y = _decode(voice_runner, saw_latents, registry.target.controls.values)
    want = 220.0 * 2 ** (2 / 12)
    assert abs(1200 * math.log2(f0_near(y, want) / want)) <= 15
    assert registry.get(TRANSPOSE) > 1.99 and registry.get(PITCH) == 57.0


def test_the_streaming_path_sets_the_pitch_channel_while_held_and_releases_it(voice_runner):
    pitch = voice_runner.manifest.control("pitch")
    decoded = []
    holder = {"c": LatentControls().with_value(pitch, 60)}
    model = StreamingModel(voice_runner, controls_of=lambda: holder["c"])
    decode = model.bound.decode  # what live blocks hand the decoder

    def spy(lat):
        decoded.append(lat["control"][0, 0].copy())
        return decode(lat)

    model.bound.decode = spy
    x = (0.1 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)
    block = model.block
    for k in range(8):
        model.process(x[k * block : (k + 1) * block])
    assert np.allclose(np.concatenate(decoded), (60 - 69) / 12, atol=1e-6)  # set from the first frame, no glide
    holder["c"] = holder["c"].without_value("pitch")
    decoded.clear()
    for k in range(8, 16):
        model.process(x[k * block : (k + 1) * block])
    assert not np.allclose(np.concatenate(decoded), (60 - 69) / 12, atol=1e-3)  # the encoder's pitch again


@pytest.mark.parametrize("semitones", [12, -12, 7])
def test_transpose_moves_the_decoded_f0_by_its_cents(voice_runner, saw_latents, semitones):
    t = voice_runner.manifest.control("transpose")
    flat = f0_near(_decode(voice_runner, saw_latents, {}), 220.0)
    want = 220.0 * 2 ** (semitones / 12)
    moved = f0_near(_decode(voice_runner, saw_latents, LatentControls().with_value(t, semitones).values), want)
    assert abs(1200 * math.log2(flat / 220.0)) <= 15, flat
    assert abs(1200 * math.log2(moved / flat) - 100 * semitones) <= 15, (moved, flat)


def test_streaming_engine_applies_transpose_to_the_pitch_channel_only(voice_runner):
    """The declared control reaches the decoder as +1 octave on the pitch channel (ramped in over the smoothing
    frames, then exact), the other control channels and the learned latent untouched."""
    x = _saw(220.0, 1.0)
    encoded, decoded = [], []
    encode, decode = voice_runner.encode_step, voice_runner.decode_step

    def spy_encode(audio, states):
        lat, states = encode(audio, states)
        encoded.append({k: v.copy() for k, v in lat.items()})
        return lat, states

    def spy_decode(lat, states):
        decoded.append({k: v.copy() for k, v in lat.items()})
        return decode(lat, states)

    voice_runner.encode_step, voice_runner.decode_step = spy_encode, spy_decode
    try:
        t = voice_runner.manifest.control("transpose")
        y = render_stream(x, StreamingModel(voice_runner, LatentControls().with_value(t, 12)), block=1024)
    finally:
        del voice_runner.encode_step, voice_runner.decode_step
    assert y.shape == x.shape and np.isfinite(y).all()
    before = {k: np.concatenate([e[k] for e in encoded], -1) for k in ("z", "control")}
    after = {k: np.concatenate([d[k] for d in decoded], -1) for k in ("z", "control")}
    step = after["control"][0, 0] - before["control"][0, 0]
    ramp = np.arange(1, SMOOTH_FRAMES + 1) / SMOOTH_FRAMES
    assert np.allclose(step[:SMOOTH_FRAMES], ramp, atol=1e-6)  # ramped, no jump
    assert np.allclose(step[SMOOTH_FRAMES:], 1.0, atol=1e-6)
    assert np.array_equal(after["control"][0, 1:], before["control"][0, 1:])
    assert np.array_equal(after["z"], before["z"])


def test_controls_round_trip_and_bad_declarations_are_refused(tmp_path):
    data = json.loads((VOICE / "manifest.json").read_text())
    m = manifest_from_json(data, tmp_path / "manifest.json")
    assert {c.name for c in m.controls} >= {"pitch", "transpose"}
    assert (m.control("pitch").transform, m.control("transpose").transform) == ("set", "add")
    assert manifest_from_json(json.loads(json.dumps(m.to_json())), tmp_path).controls == m.controls
    old = dict(data)
    del old["controls"]  # bundles from before controls load, with none
    assert manifest_from_json(old, tmp_path).controls == ()
    for bad, words in [
        ({"channel": 9}, "which the latent does not have"),
        ({"level": "nope"}, "does not have"),
        ({"transform": "multiply"}, "unknown transform"),
        ({"default": 999.0}, "minimum <= default"),
    ]:
        broken = json.loads(json.dumps(data))
        next(c for c in broken["controls"] if c["name"] == "transpose").update(bad)
        with pytest.raises(BundleError, match=words):
            manifest_from_json(broken, tmp_path / "manifest.json")
    c = Control("x", "dB", -1, 1, 0, "control", 2)
    assert control_from_json(c.to_json(), tmp_path, 0) == c


def test_render_cli_transposes_and_names_the_controls_a_bundle_lacks(tmp_path):
    """--transpose 7 renders what the declared control at +7 semitones renders, and not what the same file renders
    untransposed (an ignored or mis-signed --transpose fails); an undeclared control or an out-of-range transpose
    is refused with exit 2, naming what the bundle has."""
    src = tmp_path / "in.wav"
    sf.write(src, sf.read(FIXTURES / "speech_pd_voice.wav", dtype="float32", frames=SR * 2)[0], SR)

    def render(name: str, *extra: str):
        args = [str(src), "-o", str(tmp_path / name), "--bundle", str(VOICE), *extra]
        return main_in_process(render_main, [*args, "--quiet"])

    outs = {}
    for name, extra in [("up", ["--transpose", "7"]), ("ctl", ["--control", "transpose=7"]), ("flat", [])]:
        proc = render(f"{name}.wav", *extra)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs[name] = sf.read(tmp_path / f"{name}.wav", dtype="float32")[0]
        assert outs[name].shape[0] == sf.info(src).frames and np.isfinite(outs[name]).all()
    assert np.abs(outs["flat"]).mean() > 1e-4
    np.testing.assert_allclose(outs["up"], outs["ctl"], atol=1e-6, rtol=0)
    assert np.abs(outs["up"] - outs["flat"]).mean() > 0.1 * np.abs(outs["flat"]).mean()
    proc = render("x.wav", "--control", "vibrato=3")
    assert proc.returncode == 2 and "declares no control 'vibrato'" in proc.stderr and "transpose" in proc.stderr
    proc = render("x.wav", "--transpose", "30")
    assert proc.returncode == 2 and "-24..24" in proc.stderr
