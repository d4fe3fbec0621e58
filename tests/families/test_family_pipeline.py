"""Every family end to end from the CLI at tiny width: train, export (parity), load in the engine, render, eval."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import soundfile as sf
import torch

from conftest import run_cli
from core.bundle_io import load_bundle
from core.session import ModelRunner
from familykit import FAMILY_PRESETS, eval_data, family_root, tiny_family_bundle  # noqa: F401 (fixtures)


@pytest.mark.parametrize("preset", FAMILY_PRESETS)
def test_train_export_render_eval(preset, family_root, eval_data, fixtures_dir, tmp_path):
    _, bundle_dir = tiny_family_bundle(preset, family_root)
    bundle = load_bundle(bundle_dir)
    m = bundle.manifest
    assert m.family == preset.rsplit("-", 1)[0] if preset.startswith("mel") else m.family == preset
    errors = m.provenance["parity_max_abs_error"]
    assert max(errors.values()) < 1e-3, errors
    runner = ModelRunner(bundle, provider="cpu")
    assert ("quantizer" in runner.sessions) == (preset == "vqvae")
    if preset == "vqvae":
        assert errors["codes"] == 0.0 and m.extra["quantizer"]["codebook_size"] == 625
    if preset.startswith("mel"):
        assert m.extra["mel"]["n_mels"] == int(preset.split("-")[-1]) and "mel" in errors
    if preset == "hvae":
        assert [l.name for l in m.levels] == ["top", "bottom"]

    out = tmp_path / "out.wav"
    src = fixtures_dir / "speech_pd_voice.wav"
    proc = run_cli(
        [
            "-m",
            "desktop.render_cli",
            str(src),
            "-o",
            str(out),
            "--bundle",
            str(bundle_dir),
            "--quiet",
            "--latent",
            f"{m.levels[0].name}:0=1",
        ]
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    x, sr = sf.read(src)
    y, ysr = sf.read(out)
    assert ysr == sr and y.shape == x.shape and np.isfinite(y).all()

    report = tmp_path / "report"
    proc = run_cli(
        [
            "-m",
            "desktop.evaluation.cli",
            "--bundle",
            str(bundle_dir),
            "--data",
            str(eval_data),
            "--out",
            str(report),
            "--max-seconds",
            "3",
            "--images",
            "2",
            "--no-progress",
            "--no-probes",
            "--no-cache",
        ]
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((report / "metrics.json").read_text())
    methods = ["model", "model_whole_file"] + (["model_griffin_lim"] if preset.startswith("mel") else [])
    assert metrics["systems"] == methods and metrics["files"] == 2
    for method in methods:
        assert {"mel_distance", "stft_distance", "si_sdr", "level_change_db"} <= set(metrics["overall"][method])
    assert metrics["overall"]["model"]["visqol"] is not None and metrics["overall"]["model"]["pesq_wb"] is not None
    assert set(metrics["by_category"]) == {"speech", "drums"}
    if preset != "vqvae":  # Gaussian latents: the encoder exports the posterior scale, so the rate is a KL
        assert m.levels[0].scale_output and m.information_rate["source"] == "kl"
        assert 0 < metrics["rates_bps"]["model"] < 1e6
    if preset == "vqvae":
        assert 0 < metrics["codebook_usage"] <= 1 and metrics["codebook_perplexity"] >= 1
    else:
        assert set(metrics["active_units"]) == {l.name for l in m.levels}
    pngs = list(report.glob("*.png"))
    assert len(pngs) == 3 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    md = (report / "report.md").read_text()
    assert "## Per category" in md and all(p.name in md for p in pngs)


def test_vq_quantizer_onnx_gives_torch_codes(family_root, fixtures_dir):
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    run_dir, bundle_dir = tiny_family_bundle("vqvae", family_root)
    model, _ = model_from_checkpoint(load_checkpoint(run_dir))
    x, _ = sf.read(fixtures_dir / "music_rock_mix.wav", dtype="float32")
    audio = np.stack([x[: 256 * 200], x[5000 : 5000 + 256 * 200]])[:, None, :] * 5
    enc = ort.InferenceSession(str(bundle_dir / "encoder.onnx"), providers=["CPUExecutionProvider"])
    quant = ort.InferenceSession(str(bundle_dir / "quantizer.onnx"), providers=["CPUExecutionProvider"])
    z = enc.run(["z"], {"audio": audio})[0]
    zq, codes = quant.run(["z_q", "codes"], {"z": z})
    with torch.no_grad():
        zt = torch.from_numpy(z)
        ct = model.codes({"z": zt}).numpy()
        qt = model.quantize({"z": zt})["z"].numpy()
    assert codes.dtype == np.int64 and codes.shape == (2, 1, 200)
    assert np.array_equal(codes, ct)
    assert np.abs(zq - qt).max() < 1e-6


def test_mel_griffin_lim_inversion_and_mel_parity(family_root, fixtures_dir, tmp_path):
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    run_dir, bundle_dir = tiny_family_bundle("mel-vae-128", family_root)
    model, _ = model_from_checkpoint(load_checkpoint(run_dir))
    z = torch.randn(1, 4, 40)
    dec = ort.InferenceSession(str(bundle_dir / "decoder.onnx"), providers=["CPUExecutionProvider"])
    audio, mel = dec.run(["audio", "mel"], {"z": z.numpy()})
    with torch.no_grad():
        mt = model.decode_extra({"z": z})["mel"].numpy()
    assert mel.shape == (1, 128, 40) and audio.shape == (1, 1, 40 * 256) and np.abs(mel - mt).max() < 1e-3
    out = tmp_path / "gl.wav"
    src = fixtures_dir / "drums_kit_hits.wav"
    proc = run_cli(
        [
            "-m",
            "desktop.render_cli",
            str(src),
            "-o",
            str(out),
            "--bundle",
            str(bundle_dir),
            "--quiet",
            "--inversion",
            "griffin-lim",
            "--hop",
            "0.5",
        ]
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sf.read(out)[0].shape == sf.read(src)[0].shape
    _, hvae_bundle = tiny_family_bundle("hvae", family_root)
    bad = run_cli(
        [
            "-m",
            "desktop.render_cli",
            str(src),
            "-o",
            str(out),
            "--bundle",
            str(hvae_bundle),
            "--quiet",
            "--inversion",
            "griffin-lim",
        ]
    )
    assert bad.returncode == 2 and "no mel output" in bad.stderr


def test_families_render_without_torch(family_root, fixtures_dir, tmp_path):
    from test_no_torch import run_blocked

    bundles = {p: tiny_family_bundle(p, family_root)[1] for p in ("hvae", "vqvae", "mel-vae-128")}
    src = fixtures_dir / "drums_loop_tabla.wav"
    names = {k: str(v) for k, v in bundles.items()}
    proc = run_blocked(f"""
        import sys
        from desktop.render_cli import main
        bundles = {names!r}
        for name, b in bundles.items():
            assert main([{str(src)!r}, '-o', {str(tmp_path)!r} + '/' + name + '.wav', '--bundle', b, '--quiet',
                         '--morph', {str(fixtures_dir / "speech_pd_voice.wav")!r}, '--amount', '0.5']) == 0
            assert main(['-o', {str(tmp_path)!r} + '/gen-' + name + '.wav', '--bundle', b, '--generate', '1.5',
                         '--temperature', '0.8', '--quiet']) == 0
        from desktop.evaluation.cli import main as eval_main
        assert eval_main(['--bundle', bundles['vqvae'], '--data', {str(fixtures_dir)!r}, '--out',
                          {str(tmp_path / "r")!r}, '--max-seconds', '1', '--images', '1', '--no-progress',
                          '--no-probes', '--no-cache']) == 0
        assert not any(m.split('.')[0] == 'torch' for m in sys.modules)
        print('ok')
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list(tmp_path.glob("*.wav"))) == 6
