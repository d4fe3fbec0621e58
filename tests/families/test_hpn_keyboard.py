"""A held MIDI note sets the pitch of a pitch-aware bundle (follow keyboard); releasing it hands pitch back."""

from __future__ import annotations

import math

import mido
import numpy as np

from core.latent import LatentControls, apply_declared
from core.streaming import StreamingModel
from desktop.control.midi import PITCH, TRANSPOSE, MidiMap
from desktop.engine.params import ParamRegistry, StaticTarget
from desktop.engine.values import LIVE_MODES, EngineParams, StreamConfig
from tests.families.test_hpn import SR, hpn_bundle, hpn_runner  # noqa: F401  (module fixtures)
from tests.families.test_hpn import f0_of as _f0_of


def f0_near(y: np.ndarray, hz: float) -> float:
    """The f0 within +-6 semitones of ``hz``: the tiny test model is trained 2 steps, so its harmonic amplitudes are
    arbitrary and a tracker may lock onto a harmonic; within the window a 15-cent error still reads as one."""
    return _f0_of(y, hz * 2 ** (-6 / 12), hz * 2 ** (6 / 12))


def _decode(runner, values: dict) -> np.ndarray:
    """The decoder at a built latent: a steady 440 Hz input pitch, voiced, -20 dBFS, harmonics over noise."""
    frames = 120
    control = np.zeros((1, 4, frames), np.float32)
    control[:, 1], control[:, 2], control[:, 3] = 1.0, -1.0, 1.0
    z = np.zeros((1, runner.manifest.levels[0].dim, frames), np.float32)
    lat = apply_declared({"z": z, "control": control}, runner.manifest.controls, values)
    y, _ = runner.decode_step(lat, runner.zero_states("decoder"))
    return y[0, 0, 4096:]


def test_a_held_note_sets_the_output_f0_within_15_cents(hpn_runner):  # noqa: F811
    m = hpn_runner.manifest
    registry = ParamRegistry(StaticTarget(EngineParams(), StreamConfig()), m, LIVE_MODES)
    midi = MidiMap(registry, follow="keyboard")
    for note in (60, 67, 52):
        midi.handle(mido.Message("note_on", note=note, velocity=90))
        y = _decode(hpn_runner, registry.target.controls.values)
        want = 440.0 * 2 ** ((note - 69) / 12)
        cents = 1200 * math.log2(f0_near(y, want) / want)
        assert abs(cents) <= 15, (note, cents)
        midi.handle(mido.Message("note_off", note=note))
    assert "pitch" not in registry.target.controls.values  # released: the input's pitch again
    y = _decode(hpn_runner, registry.target.controls.values)
    assert abs(1200 * math.log2(f0_near(y, 440.0) / 440.0)) <= 15
    midi.handle(mido.Message("note_on", note=57, velocity=90))  # A3 held, bend up a whole tone: B3
    midi.handle(mido.Message("pitchwheel", pitch=8191))
    y = _decode(hpn_runner, registry.target.controls.values)
    want = 220.0 * 2 ** (2 / 12)
    assert abs(1200 * math.log2(f0_near(y, want) / want)) <= 15
    assert registry.get(TRANSPOSE) > 1.99 and registry.get(PITCH) == 57.0


def test_the_streaming_path_sets_the_pitch_channel_while_held_and_releases_it(hpn_runner):  # noqa: F811
    m = hpn_runner.manifest
    pitch = m.control("pitch")
    decoded = []
    holder = {"c": LatentControls().with_value(pitch, 60)}
    model = StreamingModel(hpn_runner, controls_of=lambda: holder["c"])
    decode = model.bound.decode  # what live blocks hand the decoder

    def spy(lat):
        decoded.append(lat["control"][0, 0].copy())
        return decode(lat)

    model.bound.decode = spy
    x = (0.1 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)
    block = model.block
    for k in range(8):
        model.process(x[k * block : (k + 1) * block])
    held = np.concatenate(decoded)
    assert np.allclose(held, (60 - 69) / 12, atol=1e-6)  # set from the first frame, no glide in from A4
    holder["c"] = holder["c"].without_value("pitch")
    decoded.clear()
    for k in range(8, 16):
        model.process(x[k * block : (k + 1) * block])
    assert not np.allclose(np.concatenate(decoded), (60 - 69) / 12, atol=1e-3)  # the encoder's pitch again
