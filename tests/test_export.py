"""Export: onnxruntime matches torch numerically; a failed export leaves no half bundle."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import soundfile as sf
import torch

from core.bundle_io import load_bundle
from trainer.checkpoint import load_checkpoint, model_from_checkpoint


def test_onnx_matches_torch_on_real_audio(tiny_run, tiny_bundle, fixtures_dir):
    model, _ = model_from_checkpoint(load_checkpoint(tiny_run))
    bundle = load_bundle(tiny_bundle)
    enc = ort.InferenceSession(str(tiny_bundle / "encoder.onnx"), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(tiny_bundle / "decoder.onnx"), providers=["CPUExecutionProvider"])
    x, _ = sf.read(fixtures_dir / "music_rock_mix.wav", dtype="float32")
    for n in (256 * 3, 256 * 87, 256 * 200):  # any multiple of the hop, batch 1 and 3
        for batch in (1, 3):
            audio = np.stack([x[i * 1000 : i * 1000 + n] for i in range(batch)])[:, None, :]
            with torch.no_grad():
                zt = model.encode(torch.from_numpy(audio))["z"].numpy()
                yt = model.decode({"z": torch.from_numpy(zt)}).numpy()
            zo = enc.run(["z"], {"audio": audio})[0]
            yo = dec.run(["audio"], {"z": zo})[0]
            assert zo.shape == zt.shape == (batch, 4, n // 256)
            assert np.abs(zo - zt).max() < 1e-4
            assert yo.shape == (batch, 1, n) and np.abs(yo - yt).max() < 1e-3
    recorded = bundle.manifest.provenance["parity_max_abs_error"]
    assert set(recorded) == {"encoder", "decoder", "end_to_end"} and max(recorded.values()) < 1e-3
    assert not list(tiny_bundle.glob("*.data"))


def test_manifest_records_provenance(tiny_bundle):
    data = json.loads((tiny_bundle / "manifest.json").read_text())
    prov = data["provenance"]
    assert prov["step"] == 4 and prov["config"]["model"]["latent_dim"] == 4
    assert prov["data"]["files"] == 9 and prov["data"]["train_files"] >= 7
    assert data["normalization"] == {"type": "rms", "target_dbfs": -20.0, "max_gain_db": 30.0}
    assert data["window"] == 22050 and data["hop"] == 11025
    assert data["latent"]["compression_ratio"] == 64.0


def test_failed_export_leaves_nothing(tiny_run, tmp_path, monkeypatch):
    from export import bundle_writer

    monkeypatch.setattr(bundle_writer, "PARITY_TOLERANCE", -1.0)  # force the parity check to fail
    out = tmp_path / "bundle"
    with pytest.raises(bundle_writer.ExportError, match="differs from torch"):
        bundle_writer.export_bundle(tiny_run, out, stat_chunks=8, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_export_replaces_an_existing_bundle_atomically(tiny_run, tiny_bundle, tmp_path):
    from export.bundle_writer import ExportError, export_bundle

    out = tmp_path / "b"
    export_bundle(tiny_run, out, stat_chunks=8, show_progress=False)
    first = (out / "manifest.json").read_text()
    export_bundle(tiny_run, out, stat_chunks=8, show_progress=False)
    assert load_bundle(out) and (out / "manifest.json").read_text() != first  # new 'created' stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    other = tmp_path / "notabundle"
    other.mkdir()
    (other / "precious.txt").write_text("user data")
    with pytest.raises(ExportError, match="not a bundle; refusing"):
        export_bundle(tiny_run, other, stat_chunks=8, show_progress=False)
    assert (other / "precious.txt").read_text() == "user data"


def test_export_without_data_says_what_to_do(tiny_run, tmp_path):
    from conftest import run_cli

    ck = load_checkpoint(tiny_run)
    ck["data_summary"]["root"] = str(tmp_path / "gone")
    from trainer.checkpoint import save_checkpoint

    moved = tmp_path / "moved.pt"
    save_checkpoint(moved, {k: v for k, v in ck.items() if k not in ("format", "version", "path")})
    proc = run_cli(["-m", "export", str(moved), "--out", str(tmp_path / "b"), "--no-progress"])
    assert proc.returncode == 2 and "pass --data DIR" in proc.stderr


def test_synthesis_swap_applies_to_source_filter_runs_only(tiny_run, tmp_path):
    """``--synthesis`` plays a source-filter run through another synthesis (no weights change); any other family is
    refused in one line, exit 2, nothing written."""
    from conftest import run_cli
    from export.bundle_writer import preset_checkpoint, with_synthesis
    from trainer.checkpoint import model_from_checkpoint

    swapped = with_synthesis(preset_checkpoint("dsp"), "additive")
    model, cfg = model_from_checkpoint(swapped)
    assert cfg.model.synthesis == "additive" and type(model.synth).__name__ == "AdditiveSynth"
    out = tmp_path / "b"
    proc = run_cli(["-m", "export", str(tiny_run), "--synthesis", "stft-live", "--out", str(out), "--no-progress"])
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "source-filter" in proc.stderr and "waveform-vae" in proc.stderr and not out.exists()
