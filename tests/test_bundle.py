"""Bundle validation: a damaged, missing or unknown bundle file gives an error that names it."""

import json
import shutil

import numpy as np
import pytest

from core.bundle import FORMAT_VERSION, BundleError
from core.bundle_io import load_bundle, read_manifest
from core.session import ModelRunner


@pytest.fixture()
def bundle_copy(tiny_bundle, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(tiny_bundle, dst)
    return dst


def test_valid_bundle_loads_and_runs(tiny_bundle):
    b = load_bundle(tiny_bundle)
    m = b.manifest
    assert m.format_version == FORMAT_VERSION and m.family == "waveform-vae"
    assert m.sample_rate == 22050 and m.window == 22050
    assert set(m.parts) == {"encoder", "decoder"}
    assert m.compression_ratio == pytest.approx(256 / 4)
    stats = m.latent_stats["z"]
    assert list(stats.explained_variance) == sorted(stats.explained_variance, reverse=True)
    comps = np.asarray(stats.components)
    np.testing.assert_allclose(comps @ comps.T, np.eye(4), atol=1e-6)
    runner = ModelRunner(b, "cpu", 1)
    z = runner.encode(np.zeros((1, 1, 256 * 8), np.float32))["z"]
    assert z.shape == (1, 4, 8)
    assert runner.decode({"z": z}).shape == (1, 1, 256 * 8)
    assert runner.short_provider == "cpu"


def test_altered_onnx_file_is_named(bundle_copy):
    f = bundle_copy / "decoder.onnx"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"decoder\.onnx.*checksum mismatch"):
        load_bundle(bundle_copy)


def test_missing_file_is_named(bundle_copy):
    (bundle_copy / "encoder.onnx").unlink()
    with pytest.raises(BundleError, match=r"encoder\.onnx.*missing"):
        load_bundle(bundle_copy)


def test_missing_manifest(bundle_copy):
    (bundle_copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"manifest\.json.*missing"):
        load_bundle(bundle_copy)


def test_unsupported_version(bundle_copy):
    p = bundle_copy / "manifest.json"
    data = json.loads(p.read_text())
    data["format_version"] = 99
    p.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"manifest\.json.*format_version 99 is not supported"):
        read_manifest(bundle_copy)


def test_malformed_manifest(bundle_copy):
    p = bundle_copy / "manifest.json"
    p.write_text("{not json")
    with pytest.raises(BundleError, match=r"manifest\.json.*not valid JSON"):
        load_bundle(bundle_copy)
    p.write_text("{}")
    with pytest.raises(BundleError, match=r"missing field 'format_version'"):
        load_bundle(bundle_copy)


def test_manifest_stats_shape_checked(bundle_copy):
    p = bundle_copy / "manifest.json"
    data = json.loads(p.read_text())
    data["latent_stats"]["z"]["mean"] = [0.0]
    p.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="do not have 4 entries"):
        read_manifest(bundle_copy)


def test_not_a_folder(tmp_path):
    with pytest.raises(BundleError, match="not a bundle folder"):
        load_bundle(tmp_path / "nope")


def test_factory_default_bundle_is_valid():
    from desktop.engine.model.factory import default_bundle_path

    b = load_bundle(default_bundle_path())
    assert b.manifest.family == "mel-vae" and b.manifest.extra["mel"]["n_mels"] == 128  # docs/factory.md
    assert max(b.manifest.provenance["parity_max_abs_error"].values()) < 1e-3
