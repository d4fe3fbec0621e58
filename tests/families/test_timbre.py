"""The timbre family (models/sftimbre.py): the decoder sees only pitch, voicing and loudness; its linear start is the
corpus's least-squares fit; unvoiced input gives no harmonics; louder input plays louder; streaming equals whole."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from models import build_model, model_config
from models.sftimbre import LOUD_UNIT_DB
from models.sourcefilter import mel_points

SR = 22050


@pytest.fixture(scope="module")
def chunks(fixtures_dir):
    x, sr = sf.read(fixtures_dir / "speech_arctic_a0007.wav", dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    assert sr == SR
    return torch.from_numpy(x[: (len(x) // SR) * SR].reshape(-1, 1, SR))


@pytest.fixture(scope="module")
def model(chunks):
    torch.manual_seed(0)
    m = build_model(model_config("timbre", dec_channels=16, dec_blocks=2)).eval()
    m.data_init(chunks)
    return m


def test_data_init_fits_the_features_better_than_zeros(chunks):
    torch.manual_seed(0)
    m = build_model(model_config("timbre", dec_channels=16, dec_blocks=2))
    m.train()
    with torch.no_grad():
        before = float(m(chunks)[1]["loss/features"])
    m.data_init(chunks)
    with torch.no_grad():
        after = float(m(chunks)[1]["loss/features"])
    assert after < 0.5 * before, (before, after)


def test_the_latent_is_the_loudness_and_louder_plays_louder(model, chunks):
    with torch.no_grad():
        lat = model.encode(chunks)
        assert lat["z"].shape[1] == 1
        # 12 dB quieter input: z falls by 12 dB in its units
        quiet = model.encode(chunks * 10 ** (-12 / 20))
        voiced = lat["control"][:, 1] > 0.5
        drop = (lat["z"] - quiet["z"])[:, 0][voiced].median() * LOUD_UNIT_DB
        assert 11.0 < float(drop) < 13.0, float(drop)
        y = model.decode(lat)
        louder = dict(lat, z=lat["z"] + 6.0 / LOUD_UNIT_DB)  # the manifest's loudness control at +6 dB
        y6 = model.decode(louder)
    gain = 10 * np.log10(float((y6**2).mean()) / float((y**2).mean()))
    assert 5.0 < gain < 7.0, gain  # the output's loudness is the input's plus the control
    level = 10 * np.log10(float((y**2).mean()) / float((chunks**2).mean()))
    assert abs(level) < 3.0, level


def test_unvoiced_input_gives_noise_only(model):
    frames = 20
    z = torch.zeros(1, 1, frames)
    control = torch.zeros(1, 4, frames)
    control[:, 0] = 1.3  # a wild pitch guess in an unvoiced frame (1 kHz)
    with torch.no_grad():
        _, ap, _ = model._features_of(z, control)
    assert torch.allclose(ap, torch.ones_like(ap)), float(ap.min())


def _stream_error(model, audio) -> float:
    """Largest difference between decoding ``audio``'s latents whole and three frames at a time."""
    with torch.no_grad():
        lat = model.encode(audio)
        whole = model.decode(lat)
        states = [torch.zeros(1, c, f) for _, c, f in model.stream_state_shapes()["decoder"]]
        outs, frames = [], lat["z"].shape[-1]
        for i in range(0, frames, 3):
            y, states = model.decode_stream({k: v[..., i : i + 3] for k, v in lat.items()}, states)
            outs.append(y)
    return float((torch.cat(outs, dim=-1) - whole).abs().max())


def test_streaming_decode_equals_whole(model, chunks):
    assert _stream_error(model, chunks[:1]) < 1e-4


def test_trained_range_has_pitch_and_loudness(model, chunks):
    r = model.trained_range(chunks)
    assert len(r["pitch_hz"]) == 3 and 60 < r["pitch_hz"][1] < 400
    lo, mid, hi = r["loudness_db"]
    assert lo < mid < hi


def test_the_log_aperiodicity_code_keeps_a_quiet_breath():
    """Coded as log10, a band's noise share of 0.001 comes back as 0.001 (linear coding's L1 loss leaves it at 0),
    the code spans -1..1 from the floor to all noise, and the linear code is the sf family's."""
    log = build_model(model_config("timbre", dec_channels=16, dec_blocks=2, ap_code="log"))
    linear = build_model(model_config("timbre", dec_channels=16, dec_blocks=2))
    logenv = torch.full((1, log.env_points, 5), -14.0)
    ap = torch.tensor([1e-6, 1e-5, 1e-3, 0.1, 1.0])[None, None].expand(1, log.bands, 5)
    code = log._net_in(logenv, ap)[:, log.env_points :]
    np.testing.assert_allclose(code[0, 0].numpy(), [-1.0, -1.0, -0.2, 0.6, 1.0], atol=1e-5)
    back = log._net_out(log._net_in(logenv, ap))[1]
    np.testing.assert_allclose(back[0, 0, 1:].numpy(), ap[0, 0, 1:].numpy(), rtol=1e-4)
    assert float(back[0, 0, 0]) == pytest.approx(1e-5, rel=1e-4)  # below the floor: the floor
    np.testing.assert_allclose(linear._net_out(linear._net_in(logenv, ap))[1].numpy(), ap.numpy(), atol=1e-6)


def test_an_unknown_aperiodicity_code_is_refused():
    with pytest.raises(ValueError, match="model.ap_code 'cepstral'"):
        build_model(model_config("timbre", ap_code="cepstral"))


def test_a_narrow_low_target_leaves_the_latents_alone(chunks):
    """``env_low_width_hz`` changes what the decoder learns under the fundamental, not the encoder: the latents (so
    a bundle's prior and trained range) stay those of the same recipe without it."""
    plain = build_model(model_config("timbre", dec_channels=16, dec_blocks=2)).eval()
    narrow = build_model(model_config("timbre", dec_channels=16, dec_blocks=2, env_low_width_hz=100.0)).eval()
    x = torch.nn.functional.pad(chunks[:2], (0, plain.delay))
    with torch.no_grad():
        for key, value in plain.encode(chunks[:2]).items():
            torch.testing.assert_close(narrow.encode(chunks[:2])[key], value)
        p, v, env, _, target = narrow._analyse(x)
        assert torch.equal(plain._analyse(x)[4], env)
    below = (torch.from_numpy(mel_points(SR, 80)).float()[None, :, None] < 0.8 * 440 * 2**p) & (v > 0.9)
    assert below.any()
    assert float((env - target)[below.expand_as(env)].mean()) > 0.3  # nats: the target is lower there


def test_a_dilated_decoder_hears_further_back_and_still_streams(chunks):
    """``dec_dilation`` 2: conv i dilated 2^i, so an impulse moves the output up to 2 + 4 + 8 + 16 frames later (the
    plain stack: 2 + 2 + 2 + 2); block by block equals whole."""
    torch.manual_seed(0)
    plain = build_model(model_config("timbre", dec_channels=16, dec_blocks=4)).eval()
    torch.manual_seed(0)
    dilated = build_model(model_config("timbre", dec_channels=16, dec_blocks=4, dec_dilation=2)).eval()
    for m in (plain, dilated):
        torch.nn.init.normal_(m.decoder.net[-1].weight, std=0.1)  # the last layer starts at zero
    x = torch.zeros(1, 3, 40)
    x[..., 5] = 1.0  # an impulse at frame 5

    def reach(m):
        with torch.no_grad():
            y = m.decoder(x)[0]  # [features, frames]: constant where the impulse does not reach
        return int(torch.nonzero((y - y[:, -1:]).abs().amax(dim=0) > 1e-6).max())

    assert reach(plain) == 5 + 2 * 4
    assert reach(dilated) == 5 + 2 + 4 + 8 + 16
    assert _stream_error(dilated, chunks[:1]) < 1e-4


def test_a_timbre_code_carries_what_pitch_and_loudness_miss(chunks):
    """``timbre_dim`` 3: 'z' is the loudness then 3 numbers (the residual's principal axes, in standard deviations);
    decoding the input's own code comes closer to it than the code held at 0 (the instrument's mean timbre); the
    code's buffers travel with the checkpoint's components; block by block equals whole."""
    from desktop.evaluation.spectral import mel_distance
    from trainer.checkpoint import component_states, load_components

    torch.manual_seed(0)
    m = build_model(model_config("timbre", dec_channels=16, dec_blocks=2, timbre_dim=3)).eval()
    m.data_init(chunks)
    with torch.no_grad():
        lat = m.encode(chunks)
        assert lat["z"].shape[1] == 4
        voiced = lat["control"][:, 1] > 0.5
        code_std = lat["z"][:, 1:].transpose(0, 1)[:, voiced].std(dim=1)
        assert bool(((code_std > 0.5) & (code_std < 2.0)).all()), code_std
        held = dict(lat, z=torch.cat([lat["z"][:, :1], torch.zeros_like(lat["z"][:, 1:])], dim=1))
        follow, mean = m.decode(lat), m.decode(held)
    x = chunks.numpy()
    d_follow = np.mean([mel_distance(follow[i, 0, :SR].numpy(), x[i, 0], SR) for i in range(len(x))])
    d_mean = np.mean([mel_distance(mean[i, 0, :SR].numpy(), x[i, 0], SR) for i in range(len(x))])
    assert d_follow < d_mean - 0.01, (d_follow, d_mean)
    copy = build_model(model_config("timbre", dec_channels=16, dec_blocks=2, timbre_dim=3)).eval()
    load_components(copy, component_states(m))
    with torch.no_grad():
        torch.testing.assert_close(copy.encode(chunks)["z"], lat["z"])
    assert _stream_error(m, chunks[:1]) < 1e-4
