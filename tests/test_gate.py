"""The input gate (``core.dsp.Gate``; the app's GATE knob, /latentsynth/mix/gate_db, ``latentsynth-render --gate``):
a room's noise floor between phrases reaches the model as silence, so an instrument model does not play it as breath;
what is above the threshold reaches the model untouched, and the dry signal is never gated."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES, run_cli
from core.dsp import GATE_OFF_DB, Gate
from desktop.engine.audio.chain import ChainStats, ProcessingChain
from desktop.engine.model.slot import ModelSlot
from desktop.engine.parameters.params import PREFIX, ParamRegistry, StaticTarget
from desktop.engine.parameters.values import LIVE_MODES, EngineParams, StreamConfig

SR = 22050


def db(y: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(y, dtype=np.float64)) + 1e-30))


def noise_tone_noise() -> np.ndarray:
    """1 s of noise at -60 dBFS, 1 s of a 220 Hz tone at -13 dBFS, 1 s of the noise again."""
    noise = np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32) * 1e-3
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR).astype(np.float32)
    return noise + np.concatenate([np.zeros(SR), tone, np.zeros(SR)]).astype(np.float32)


def test_the_noise_between_goes_silent_and_the_tone_passes():
    x = noise_tone_noise()
    y = Gate(SR).process(x, -50.0)
    assert db(y[: SR // 2]) < -200  # closed from the start
    np.testing.assert_array_equal(y[SR + 256 : 2 * SR], x[SR + 256 : 2 * SR])  # open: untouched after two blocks
    assert db(y[2 * SR + int(0.2 * SR) :]) < -200  # 50 ms of hold, 100 ms of fade, then nothing
    fade = y[2 * SR : 2 * SR + int(0.2 * SR)]
    assert float(np.abs(np.diff(fade)).max()) < 0.03  # the tone is faded, not cut (a cut steps by up to 0.3)


def test_off_is_the_signal_itself_and_turning_it_on_fades_instead_of_cutting():
    x = noise_tone_noise()
    gate = Gate(SR)
    np.testing.assert_array_equal(gate.process(x[: SR // 2], GATE_OFF_DB), x[: SR // 2])
    y = gate.process(x[SR // 2 : SR], -50.0)  # on, in the noise: it starts open and fades out
    np.testing.assert_array_equal(y[:64], x[SR // 2 : SR // 2 + 64])
    assert db(y[-SR // 4 :]) < -200


@pytest.mark.parametrize("sizes", [(256,), (777,), (1, 63, 4096, 65)])
def test_blocks_of_any_sizes_give_one_calls_output(sizes):
    x = noise_tone_noise()
    whole = Gate(SR).process(x, -50.0)
    gate, parts, i, k = Gate(SR), [], 0, 0
    while i < x.size:
        parts.append(gate.process(x[i : i + sizes[k % len(sizes)]], -50.0))
        i, k = i + sizes[k % len(sizes)], k + 1
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_a_level_just_under_the_threshold_does_not_chatter():
    """Open, a tone that falls 3 dB under the threshold stays open (it closes 6 dB under): no gaps in a decay."""
    t = np.arange(2 * SR) / SR
    level = np.where(t < 1.0, 10 ** (-40 / 20), 10 ** (-53 / 20)) * np.sqrt(2)
    x = (level * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    y = Gate(SR).process(x, -50.0)
    np.testing.assert_array_equal(y[SR + 256 :], x[SR + 256 :])


def test_the_live_chain_gates_the_model_input_not_the_dry_signal():
    """An identity model in the live chain: with the gate at -50 dB its output is silent in the noise and the tone
    comes through; the dry signal the chain hands back keeps the noise."""
    x = noise_tone_noise()
    outs, drys = {}, {}
    for gate_db in (GATE_OFF_DB, -50.0):
        chain = ProcessingChain(ModelSlot.identity(), StreamConfig("low-latency", 0.1), SR, 256, 0.05, ChainStats())
        p = EngineParams(limiter=False, gate_db=gate_db)
        chain.start_gains(p)
        got = [chain.process(x[i : i + 256], p) for i in range(0, x.size, 256)]
        outs[gate_db] = np.concatenate([g[1] for g in got])
        drys[gate_db] = np.concatenate([g[2] for g in got])
    lag = x.size - outs[-50.0].size  # the chain's latency: what has not come out yet
    quiet = slice(2 * SR + SR // 2 - lag, 3 * SR - lag - 1000)
    assert db(outs[GATE_OFF_DB][quiet]) > -65 and db(outs[-50.0][quiet]) < -120
    tone = slice(SR + SR // 4 - lag, 2 * SR - SR // 4 - lag)
    assert abs(db(outs[-50.0][tone]) - db(outs[GATE_OFF_DB][tone])) < 0.1
    np.testing.assert_array_equal(drys[-50.0], drys[GATE_OFF_DB])


def test_the_address_and_its_range():
    registry = ParamRegistry(StaticTarget(EngineParams(), StreamConfig()), None, LIVE_MODES)
    registry.set(f"{PREFIX}/mix/gate_db", -45)
    assert registry.target.params.gate_db == -45.0
    with pytest.raises(ValueError, match="gate_db"):
        registry.set(f"{PREFIX}/mix/gate_db", -10)


def test_render_cli_gate_silences_an_instrument_between_phrases(tmp_path):
    """The command a user runs: the violin on a speech clip with its recording's noise floor (-48 dBFS). Without the
    gate it plays that floor as bow noise at about its level; with --gate -40 the gaps are silent, the phrase the same."""
    x, sr = sf.read(FIXTURES / "speech_arctic_a0007.wav", dtype="float32")
    outs = {}
    for gate in (None, "-40"):
        out = tmp_path / f"violin{gate}.wav"
        cmd = ["-m", "desktop.render_cli", "--quiet", str(FIXTURES / "speech_arctic_a0007.wav"), "-o", str(out)]
        cmd += ["--bundle", "desktop/factory/violin", "--octave", "auto", "--subtype", "FLOAT"]
        proc = run_cli(cmd + (["--gate", gate] if gate else []))
        assert proc.returncode == 0, proc.stderr
        outs[gate] = sf.read(out, dtype="float32")[0]
    gap = slice(int(0.2 * sr), int(0.35 * sr))  # before the first word (at 0.4 s)
    assert db(outs[None][gap]) > -60 and db(outs["-40"][gap]) < -85
    phrase = slice(int(0.5 * sr), int(3.4 * sr))
    assert abs(db(outs["-40"][phrase]) - db(outs[None][phrase])) < 0.5
    proc = run_cli(
        ["-m", "desktop.render_cli", str(FIXTURES / "speech_arctic_a0007.wav"), "-o", str(tmp_path / "x.wav")]
        + ["--gate", "-10"]
    )
    assert proc.returncode == 2 and "--gate" in proc.stderr and "Traceback" not in proc.stderr
