"""The harmonic-plus-noise family (hpn): oscillator, streaming, training step, export, declared controls, transpose.

Real parts: a tiny hpn trained two steps by the CLI on the fixtures and exported by the CLI (onnxruntime step
graphs with explicit states), the engine's streaming path and the renderer. Where training is impossible in a
test (transpose accuracy), the latent is built directly: the pitch channel of the exported decoder is set, and
the output's f0 is measured with the trainer's own YIN labeller.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import FIXTURES, run_cli
from core.bundle import BundleError, Control
from core.bundle_io import control_from_json, load_bundle, manifest_from_json, read_manifest
from core.latent import LatentControls, apply_declared
from core.session import ModelRunner
from core.streaming import StreamingModel, render_stream
from export.onnx_parts import fold_weight_norm
from export.streaming import round_weights_to_fp16, run_blocks, streaming_parity_by_part
from models import build_model, model_config
from models.harmonic import CausalSTFT, HarmonicOscillator, NoiseTable
from models.hpn import pitch_stats
from models.yin import YinPitch
from trainer.checkpoint import load_checkpoint, model_from_checkpoint
from trainer.pitch_labels import chunk_labels

TOLERANCE = 1e-4
SR = 22050
TINY = [
    "model.latent_dim=4",
    "model.enc_max_channels=16",
    "model.dec_channels=16",
    "model.dec_blocks=1",
    "model.n_mels=32",
    "train.batch_size=2",
]


def tiny_hpn() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = model_config(
        family="hpn",
        latent_dim=4,
        enc_max_channels=16,
        dec_channels=16,
        dec_blocks=1,
        n_mels=32,
        n_fft=1024,
        causal=True,
        lookahead=1,
        random_gain_db=[-10.0, 10.0],
    )
    return build_model(cfg)


def f0_of(y: np.ndarray, lo: float = 50.0, hi: float = 1000.0) -> float:
    """The f0 (Hz) of a steady harmonic signal: the candidate whose first 8 harmonics stand highest above the
    points halfway between them in a zero-padded spectrum (octave-safe: at 2 f0 the halfway points are harmonics,
    at f0 / 2 half the 'harmonics' are gaps)."""
    n = 1 << int(np.ceil(np.log2(y.shape[0] * 8)))
    spec = np.abs(np.fft.rfft(y * np.hanning(y.shape[0]), n))
    hz_per_bin = SR / n
    cands = np.arange(lo, hi, 0.05)
    k = np.arange(1, 9)[:, None]
    at = lambda f: np.interp(f / hz_per_bin, np.arange(spec.shape[0]), spec)  # noqa: E731
    score = at(k * cands).mean(0) - at((k - 0.5) * cands).mean(0)
    return float(cands[np.argmax(score)])


# ---- sources --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("frames_per_block", [1, 2, 4])
def test_oscillator_streams_like_one_call_and_keeps_its_phase_wrapped(frames_per_block):
    """Given the same f0 values bit for bit, a stream equals one call. (The pitch moves between whole octaves so
    that 2^pitch is exact: torch's pow may round the last bit differently for different tensor shapes, and at the
    100th harmonic one bit of phase is 3e-4 of output; the exported graphs are checked on trained latents.)"""
    osc = HarmonicOscillator(SR, 256)
    frames = 64
    pitch = torch.tensor([[-1.0] * 20 + [-2.0] * 5 + [0.0] * 19 + [-1.0] * 20])  # 220, 110, 440 Hz with glides
    gate = (torch.arange(frames) % 16 < 12).float()[None]
    whole = osc(pitch, gate)
    state, parts = [torch.zeros(1, 4, 1)], []
    for i in range(0, frames, frames_per_block):
        y, state = osc.stream(pitch[:, i : i + frames_per_block], gate[:, i : i + frames_per_block], state)
        parts.append(y)
        assert 0.0 <= float(state[0][0, 0, 0]) < 1.0  # the carried phase is wrapped to one cycle
    assert float((torch.cat(parts, -1) - whole).abs().max()) <= 1e-5
    steady = whole[0, 0, 256 * 26 : 256 * 28]  # 440 Hz, gate on
    rms = float(steady.pow(2).mean().sqrt())
    assert abs(rms - 1.0) < 0.1, rms  # the harmonics' amplitudes sum to RMS 1 whatever f0


def test_oscillator_is_band_limited_and_at_its_f0():
    osc = HarmonicOscillator(SR, 256)
    for hz in (110.0, 440.0, 3000.0):
        y = osc(torch.full((1, 40), math.log2(hz / 440)), torch.ones(1, 40))[0, 0, 2048:].numpy()
        spec = np.abs(np.fft.rfft(y * np.hanning(y.shape[0])))
        freqs = np.fft.rfftfreq(y.shape[0], 1 / SR)
        near = (freqs > 0.7 * hz) & (freqs < 1.3 * hz)
        assert abs(freqs[near][np.argmax(spec[near])] - hz) / hz < 0.01  # the fundamental is there...
        assert spec[freqs < 0.7 * hz].max() / spec.max() < 1e-2  # ...and nothing below it
        above = spec[freqs > 0.95 * SR / 2 + 100].max() / spec.max()
        assert above < 1e-3, (hz, above)  # nothing above the band limit: no aliasing


def test_noise_table_streams_exactly():
    noise = NoiseTable(length=1000)
    ref = torch.zeros(1, 1, 12)
    whole, _ = noise.stream(ref, 256, [torch.zeros(1, 1, 1)])
    state, parts = [torch.zeros(1, 1, 1)], []
    for _ in range(12):
        y, state = noise.stream(ref[..., :1], 256, state)
        parts.append(y)
    assert torch.equal(torch.cat(parts, -1), whole)
    assert abs(float(whole.pow(2).mean()) - 1.0) < 0.1


def test_causal_stft_streams_exactly():
    stft = CausalSTFT(512, 256, channels=2).eval()
    x = torch.randn(1, 2, 256 * 10)
    re, im = stft(x)
    state, parts = [torch.zeros(1, 2, 256)], []
    for i in range(0, x.shape[-1], 512):
        (r, _), state = stft.stream(x[..., i : i + 512], state)
        parts.append(r)
    assert float((torch.cat(parts, -1) - re).abs().max()) <= 1e-5
    stft.train()  # training uses torch.stft for the same frames
    re_t, im_t = stft(x)
    assert float((re_t - re).abs().max()) <= 1e-3 and float((im_t - im).abs().max()) <= 1e-3


# ---- the model ------------------------------------------------------------------------------------------------


def _tone(hz: float, seconds: float = 1.0, saw: bool = False, amp: float = 0.3) -> torch.Tensor:
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    if saw:
        y = sum(torch.sin(2 * math.pi * k * hz * t) / k for k in range(1, int(0.45 * SR / hz) + 1)) * 0.6
    else:
        y = torch.sin(2 * math.pi * hz * t)
    return (amp * y).float()[None, None]


@pytest.mark.parametrize(
    "hz,saw,cents",
    [
        (55.0, False, 12.0),
        (110.0, True, 2.0),
        (220.0, False, 2.0),
        (440.0, False, 2.0),
        (880.0, False, 2.0),
        (1400.0, False, 2.0),
        (150.0, True, 2.0),
    ],
)
def test_encoder_yin_finds_the_f0_of_steady_tones(hz, saw, cents):
    """Pitch is signal processing inside the encoder: right from the first step, no training. Below ~80 Hz the
    1024-sample Hann window holds under 3.5 periods and the error depends on the phase (up to ~10 cents at 55 Hz,
    ~25 at 60 Hz); from 100 Hz up it is below 2 cents."""
    model = tiny_hpn().eval()
    with torch.no_grad():
        control = model.encode(_tone(hz, saw=saw))["control"][0]
    pitch, voicing = control[0, 8:], control[1, 8:]  # after the first window has filled
    err = (pitch - math.log2(hz / 440)).abs().max() * 1200
    assert float(err) < cents, (hz, float(err))
    assert float(voicing.min()) > 0.9


def test_encoder_yin_is_the_same_in_training_and_in_export():
    """Training reads the autocorrelation by FFT, eval/export by a strided DFT conv: the same frames."""
    yin = YinPitch(SR, 256, 1024)
    x = torch.randn(2, 1, 1024 + 256 * 20) * 0.1 + _tone(180.0, (1024 + 256 * 20) / SR)
    with torch.no_grad():
        p_eval, a_eval = yin.eval()(x)
        p_train, a_train = yin.train()(x)
    assert float((p_eval - p_train).abs().max()) * 1200 < 0.5
    assert float((a_eval - a_train).abs().max()) < 1e-3


def test_loudness_follows_the_level_within_two_hops():
    """Loudness is the level of the last two hops (the decoder's synthesis frame): a step of 30 dB shows at once,
    and silence after a note reads as silence (a 93 ms window lagged and filled pauses)."""
    model = tiny_hpn().eval()
    x = _tone(300.0, 1.0, amp=0.3)
    x[..., 256 * 40 :] = 0.0
    with torch.no_grad():
        loud = model.encode(x)["control"][0, 2] * 20  # dBFS
    assert abs(float(loud[30]) - 20 * math.log10(0.3 / math.sqrt(2))) < 0.2
    assert float(loud[41]) < -90.0  # the frame after the last note samples (frame 40 still overlaps)


@pytest.mark.slow  # streams the encoder at three block sizes in torch (38 s under load)
def test_encoder_control_streams_like_offline():
    model = tiny_hpn().eval()
    t = torch.arange(256 * 60, dtype=torch.float64) / SR
    x = (0.2 * torch.sin(2 * math.pi * (150 * t + 40 * t * t))).float()[None, None]
    x = x + 0.01 * torch.randn_like(x)
    with torch.no_grad():
        whole = model.encode(x)
        for block in (256, 512, 1024):
            states = [torch.zeros(1, c, f) for _, c, f in model.stream_state_shapes()["encoder"]]
            parts = []
            for i in range(0, x.shape[-1], block):
                lat, states = model.encode_stream(x[..., i : i + block], states)
                parts.append(lat["control"])
            diff = (torch.cat(parts, -1) - whole["control"]).abs().max()
            assert float(diff) <= TOLERANCE, (block, float(diff))


@pytest.mark.slow
def test_forward_and_one_training_step_reports_pitch_against_labels():
    model = tiny_hpn().train()
    x = _tone(220.0).repeat(2, 1, 1)
    labels = torch.stack([torch.full((2, 90), math.log2(220 / 440)), torch.ones(2, 90)], 1)
    labels[:, 0, :10] = float("nan")  # unvoiced frames: NaN pitch
    y, aux = model(x, pitch_labels=labels)
    assert y.shape == x.shape and torch.isfinite(y).all()
    for key in ("loss/kl", "stats/pitch_cents", "stats/pitch_within_50c", "stats/voicing_agreement"):
        assert key in aux and torch.isfinite(aux[key])
    assert "loss/pitch" not in aux  # nothing about pitch is learned
    assert float(aux["stats/pitch_cents"]) < 5.0 and float(aux["stats/pitch_within_50c"]) > 0.95
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    loss = (y - x).abs().mean() + aux["loss/kl"]
    opt.zero_grad()
    loss.backward()
    assert model.decoder.head.weight.grad.abs().sum() > 0
    opt.step()
    model.eval()
    y2, _ = model(x)
    assert y2.shape == x.shape


def test_pitch_stats_count_frames_both_call_voiced():
    control = torch.zeros(1, 4, 4)
    control[0, 1] = torch.tensor([1.0, 1.0, 1.0, 1.0])
    control[0, 0] = torch.tensor([0.0, 10 / 1200, 60 / 1200, 1.0])
    labels = torch.tensor([[[0.0, 0.0, 0.0, float("nan")], [1.0, 1.0, 1.0, 0.0]]])
    s = pitch_stats(control, labels)
    assert abs(float(s["stats/pitch_cents"]) - 10.0) < 1e-3  # frames 0..2: 0, 10 and 60 cents
    assert abs(float(s["stats/pitch_within_50c"]) - 2 / 3) < 1e-6
    assert abs(float(s["stats/voicing_agreement"]) - 0.75) < 1e-6  # frame 3: unvoiced label, voiced here


@pytest.mark.parametrize("block", [256, 512, 1024])
@pytest.mark.slow
def test_decoder_streams_exactly_like_offline_on_the_same_latents(block):
    model = tiny_hpn().eval()
    frames = 48
    z = torch.randn(1, 4, frames)
    control = torch.stack(
        [
            math.log2(200 / 440) + 0.2 * torch.sin(torch.arange(frames) / 5.0),
            (torch.arange(frames) % 20 < 15).float(),
            torch.full((frames,), -1.0),
            torch.zeros(frames),
        ]
    )[None]
    with torch.no_grad():
        whole = model.decode({"z": z, "control": control})
        states = [torch.zeros(1, c, f) for _, c, f in model.stream_state_shapes()["decoder"]]
        parts = []
        per = block // 256
        for i in range(0, frames, per):
            y, states = model.decode_stream({"z": z[..., i : i + per], "control": control[..., i : i + per]}, states)
            parts.append(y)
    assert float((torch.cat(parts, -1) - whole).abs().max()) <= TOLERANCE


def test_chunk_labels_interpolate_at_the_end_of_each_frame():
    f0 = np.array([200.0, 200.0, 400.0, np.nan, 100.0], np.float32)
    voiced = np.array([1, 1, 1, 0, 1], np.float32)
    lab = chunk_labels((f0, voiced), start=0, frames=3, hop=256)
    assert np.allclose(2 ** lab[0, 0] * 440, 200.0)  # frame 0 ends at sample 256 = label frame 1
    assert np.allclose(2 ** lab[0, 1] * 440, 400.0)  # frame 1 ends at 512 = label frame 2
    assert np.isnan(lab[0, 2])  # frame 2 ends at 768: label frame 3, unvoiced


# ---- the exported bundle --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hpn_bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("hpn")
    run_dir, bundle = root / "run", root / "bundle"
    proc = run_cli(
        [
            "-m",
            "trainer",
            "hpn",
            "--data",
            str(FIXTURES),
            "--out",
            str(run_dir),
            "--steps",
            "2",
            "--logger",
            "none",
            "--no-progress",
            f"data.pitch_cache={root / 'pitch'}",
            *TINY,
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_cli(["-m", "export", str(run_dir), "--out", str(bundle), "--stat-chunks", "8", "--no-progress"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return bundle


@pytest.fixture(scope="module")
def hpn_runner(hpn_bundle):
    return ModelRunner(load_bundle(hpn_bundle), "cpu", threads=1)


def test_bundle_declares_its_controls_and_streams(hpn_bundle):
    m = read_manifest(hpn_bundle)
    data = json.loads((hpn_bundle / "manifest.json").read_text())
    assert m.family == "hpn" and m.format_version == 2 and m.streaming is not None
    assert [lv.name for lv in m.levels] == ["z", "control"]
    assert {c["name"] for c in data["controls"]} == {"pitch", "transpose", "loudness", "balance"}
    t = m.control("transpose")
    assert (t.unit, t.minimum, t.maximum, t.level, t.channel, t.transform) == (
        "semitones",
        -24,
        24,
        "control",
        0,
        "add",
    )
    assert abs(t.scale - 1 / 12) < 1e-12
    assert m.streaming.parity_max_abs_error <= TOLERANCE
    errors = m.provenance["parity_max_abs_error"]
    assert all(v <= TOLERANCE for k, v in errors.items() if k.startswith("block_"))


def test_controls_round_trip_and_bad_declarations_are_refused(hpn_bundle, tmp_path):
    data = json.loads((hpn_bundle / "manifest.json").read_text())
    m = manifest_from_json(data, tmp_path / "manifest.json")
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


@pytest.mark.parametrize("block", [256, 512, 1024])
def test_each_part_streams_like_offline_in_onnxruntime(hpn_bundle, block):
    m = read_manifest(hpn_bundle)
    names = [lv.name for lv in m.levels]
    x = sf.read(FIXTURES / "speech_pd_voice.wav", dtype="float32")[0]
    x = (x if x.ndim == 1 else x.mean(1))[: 22050 * 3]
    x = x[: x.shape[0] - x.shape[0] % 1024] * 0.5
    ckpt = load_checkpoint(hpn_bundle.parent / "run" / "checkpoints" / "last.pt")
    ref = round_weights_to_fp16(fold_weight_norm(model_from_checkpoint(ckpt)[0]))
    gated, drift = streaming_parity_by_part(ref, hpn_bundle, m.parts, m.streaming.states, x, (block,))
    assert gated[f"block_{block}_encoder"] <= TOLERANCE and gated[f"block_{block}_decoder"] <= TOLERANCE, gated
    offline = run_blocks(hpn_bundle, m.parts, m.streaming.states, x, x.shape[0], names)
    assert np.abs(offline).max() > 1e-4


@pytest.mark.parametrize("semitones", [12, -12, 7])
def test_transpose_moves_the_f0_by_its_cents(hpn_runner, semitones):
    """The decoder at a built latent (a steady 440 Hz, voiced, -20 dBFS, harmonics 20 dB over noise), played by the
    engine's streaming path with the declared transpose control, against the same without it."""
    frames = 120
    control = np.zeros((1, 4, frames), np.float32)
    control[:, 0] = 0.0  # 440 Hz
    control[:, 1] = 1.0
    control[:, 2] = -1.0
    control[:, 3] = 1.0
    z = np.zeros((1, hpn_runner.manifest.levels[0].dim, frames), np.float32)
    t = hpn_runner.manifest.control("transpose")
    outs = {}
    for s in (0, semitones):
        lat = {"z": z, "control": control.copy()}
        lat = apply_declared(lat, hpn_runner.manifest.controls, LatentControls().with_value(t, s).values)
        y, _ = hpn_runner.decode_step(lat, hpn_runner.zero_states("decoder"))
        outs[s] = y[0, 0, 4096:]
    # searched within 3 semitones of the target: a nearly untrained decoder shapes the harmonics at random, which
    # fools a free search (spectral peaks or YIN) by an octave or a fifth; the test is for the cents, not octaves
    f0 = {s: f0_of(y, 440 * 2 ** ((s - 3) / 12), 440 * 2 ** ((s + 3) / 12)) for s, y in outs.items()}
    assert abs(f0[0] - 440.0) < 440 * (2 ** (15 / 1200) - 1), f0
    cents = 1200 * math.log2(f0[semitones] / f0[0])
    assert abs(cents - 100 * semitones) <= 15, (cents, f0)


def test_streaming_engine_applies_transpose_to_the_pitch_channel_only(hpn_runner):
    """The engine's streaming path: the declared control reaches the decoder as +1 octave on the pitch channel
    (ramped in over the smoothing frames, then exact), other channels and the timbre untouched."""
    x = (((np.arange(22050) * 220.0 / SR) % 1.0) * 2 - 1).astype(np.float32) * 0.1
    encoded, decoded = [], []
    encode, decode = hpn_runner.encode_step, hpn_runner.decode_step

    def spy_encode(audio, states):
        lat, states = encode(audio, states)
        encoded.append({k: v.copy() for k, v in lat.items()})
        return lat, states

    def spy_decode(lat, states):
        decoded.append({k: v.copy() for k, v in lat.items()})
        return decode(lat, states)

    hpn_runner.encode_step, hpn_runner.decode_step = spy_encode, spy_decode
    try:
        model = StreamingModel(hpn_runner, LatentControls().with_value(hpn_runner.manifest.control("transpose"), 12))
        y = render_stream(x, model, block=1024)
    finally:
        del hpn_runner.encode_step, hpn_runner.decode_step
    assert y.shape == x.shape and np.isfinite(y).all()
    before = {k: np.concatenate([e[k] for e in encoded], -1) for k in ("z", "control")}
    after = {k: np.concatenate([d[k] for d in decoded], -1) for k in ("z", "control")}
    step = after["control"][0, 0] - before["control"][0, 0]
    assert np.allclose(step[:4], [0.25, 0.5, 0.75, 1.0], atol=1e-6)  # ramped over SMOOTH_FRAMES, no jump
    assert np.allclose(step[4:], 1.0, atol=1e-6)
    assert np.array_equal(after["control"][0, 1:], before["control"][0, 1:])
    assert np.array_equal(after["z"], before["z"])


def test_render_cli_transposes_and_names_the_controls_a_bundle_lacks(hpn_bundle, tmp_path):
    """--transpose 7 renders what the declared control at +7 semitones renders, and not what the same file renders
    untransposed (an ignored or mis-signed --transpose fails); an undeclared control or an out-of-range transpose
    is refused, naming what the bundle has."""
    src = FIXTURES / "speech_pd_voice.wav"

    def render(name: str, *extra: str) -> np.ndarray:
        proc = run_cli(
            ["-m", "desktop.render_cli", str(src), "-o", str(tmp_path / name), "--bundle", str(hpn_bundle)]
            + [*extra, "--control", "loudness=-6", "--quiet"]
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        y, _ = sf.read(tmp_path / name, dtype="float32")
        assert y.shape[0] == sf.info(src).frames and np.isfinite(y).all()
        return y

    up = render("up.wav", "--transpose", "7")
    by_control = render("by_control.wav", "--control", "transpose=7")
    flat = render("flat.wav")
    assert np.abs(flat).mean() > 1e-4
    np.testing.assert_allclose(up, by_control, atol=1e-6, rtol=0)
    assert np.abs(up - flat).mean() > 0.1 * np.abs(flat).mean()
    proc = run_cli(
        [
            "-m",
            "desktop.render_cli",
            str(src),
            "-o",
            str(tmp_path / "x.wav"),
            "--bundle",
            str(hpn_bundle),
            "--control",
            "vibrato=3",
        ]
    )
    assert proc.returncode == 2 and "declares no control 'vibrato'" in proc.stderr and "transpose" in proc.stderr
    proc = run_cli(
        [
            "-m",
            "desktop.render_cli",
            str(src),
            "-o",
            str(tmp_path / "x.wav"),
            "--bundle",
            str(hpn_bundle),
            "--transpose",
            "30",
        ]
    )
    assert proc.returncode == 2 and "-24..24" in proc.stderr
