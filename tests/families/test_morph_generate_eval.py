"""Morph, prior generation and the eval metrics: numbers that match the trainer, exact identities, valid PNGs."""

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import run_cli
from core.audiofile import load_audio
from core.bundle_io import load_bundle
from core.render import render_audio
from core.session import ModelRunner, WindowModel
from desktop.engine.model.morph import generate, render_morph
from desktop.evaluation.evaluate import codebook_stats
from desktop.evaluation.report import spectrogram_png
from desktop.evaluation.spectral import all_metrics, mel_distance, si_sdr, stft_distance


@pytest.fixture(scope="module")
def runner(tiny_bundle):
    return ModelRunner(load_bundle(tiny_bundle), provider="cpu")


def test_numpy_distances_equal_the_trainer_losses(fixtures_dir):
    from trainer.config import LossConfig
    from trainer.losses import MultiResolutionSTFTLoss, MultiScaleMelLoss

    x, sr = sf.read(fixtures_dir / "speech_arctic_a0007.wav", dtype="float32")
    x = x[:22050]
    y = (0.7 * x + 0.01 * np.random.default_rng(0).standard_normal(len(x))).astype(np.float32)
    cfg = LossConfig()
    tx, ty = torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None]
    mel_t = float(MultiScaleMelLoss(22050, cfg.mel_n_ffts, cfg.mel_bands)(ty, tx))
    stft_t = float(MultiResolutionSTFTLoss(cfg.stft_n_ffts)(ty, tx))
    assert mel_distance(y, x, 22050) == pytest.approx(mel_t, rel=1e-3)
    assert stft_distance(y, x) == pytest.approx(stft_t, rel=1e-3)


def test_metric_identities():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(8000).astype(np.float32) * 0.1
    same = all_metrics(x, x, 22050)
    assert same["mel_distance"] == 0 and same["mse"] == 0 and same["cosine_similarity"] == pytest.approx(1)
    assert si_sdr(0.5 * x, x) > 100  # scale-invariant
    assert all_metrics(-x, x, 22050)["cosine_similarity"] == pytest.approx(-1)
    cb = codebook_stats(np.array([[0, 1], [1, 1], [2, 1], [3, 1]]), 8)
    assert cb["codebook_usage"] == pytest.approx((4 / 8 + 1 / 8) / 2)
    assert cb["codebook_perplexity"] == pytest.approx((4 + 1) / 2)


def test_png_is_valid(tmp_path):
    import matplotlib.image

    x = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    p = spectrogram_png(tmp_path / "s.png", [x, 0.5 * x, np.zeros_like(x)], 22050, ["in", "half", "silence"])
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(p)
    assert img.shape[:2] == (int(round((1.3 * 3 + 0.4) * 80)), 9 * 80)  # one panel per signal
    assert img[..., :3].std() > 0.05  # drawn, not blank


def test_morph_amount_zero_is_the_plain_render_and_one_moves_to_b(runner, fixtures_dir):
    a = load_audio(fixtures_dir / "speech_pd_voice.wav")
    b = load_audio(fixtures_dir / "drums_loop_tabla.wav")
    plain = render_audio(a, WindowModel(runner))
    assert np.abs(render_morph(a, b, runner, 0.0) - plain).max() < 1e-5
    assert np.abs(render_morph(a, a, runner, 0.7) - plain).max() < 1e-5  # toward itself: nothing changes
    half = render_morph(a, b, runner, 0.5)
    assert half.shape == plain.shape and np.abs(half - plain).max() > 1e-4


def test_generate_is_seeded_and_temperature_zero_is_the_mean(runner):
    y1 = generate(runner, 1.3, temperature=0.8, seed=3)
    y2 = generate(runner, 1.3, temperature=0.8, seed=3)
    assert y1.shape == (int(round(1.3 * 22050)),) and np.array_equal(y1, y2) and np.isfinite(y1).all()
    assert not np.array_equal(y1, generate(runner, 1.3, temperature=0.8, seed=4))
    zero = generate(runner, 1.0, temperature=0.0, seed=1)
    assert np.array_equal(zero, generate(runner, 1.0, temperature=0.0, seed=2))
    # temperature 0 decodes the latents' mean (the manifest's PCA mean) in every frame
    m = runner.manifest
    total = 22050 + (-22050) % m.pad_multiple
    mean = {
        lv.name: np.repeat(runner.axes[lv.name].mean[None, :, None], total // lv.hop, axis=2).astype(np.float32)
        for lv in m.levels
    }
    expected = runner.decode(runner.quantize(mean))[0, 0, :22050]
    assert np.abs(zero - expected).max() <= 1e-6 and np.abs(expected).max() > 0


def test_render_cli_morph_and_generate(tiny_bundle, fixtures_dir, tmp_path):
    src, b = fixtures_dir / "speech_pd_voice.wav", fixtures_dir / "drums_loop_tabla.wav"
    out = tmp_path / "m.wav"
    proc = run_cli(
        [
            "-m",
            "desktop.render_cli",
            str(src),
            "-o",
            str(out),
            "--bundle",
            str(tiny_bundle),
            "--quiet",
            "--morph",
            str(b),
            "--amount",
            "0.3",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert sf.read(out)[0].shape == sf.read(src)[0].shape
    gen = tmp_path / "g.wav"
    proc = run_cli(
        [
            "-m",
            "desktop.render_cli",
            "-o",
            str(gen),
            "--bundle",
            str(tiny_bundle),
            "--generate",
            "2",
            "--temperature",
            "0.5",
            "--quiet",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    y, sr = sf.read(gen)
    assert sr == 22050 and len(y) == 44100
    bad = run_cli(["-m", "desktop.render_cli", "-o", str(gen), "--bundle", str(tiny_bundle)])
    assert bad.returncode == 2 and "input file is required" in bad.stderr
    bad = run_cli(
        [
            "-m",
            "desktop.render_cli",
            str(src),
            "-o",
            str(gen),
            "--bundle",
            str(tiny_bundle),
            "--morph",
            str(b),
            "--amount",
            "2",
        ]
    )
    assert bad.returncode == 2 and "--amount: 2 is out of range (must be >= 0 and <= 1)" in bad.stderr
