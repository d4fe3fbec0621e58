"""Bundles store no fixed DFT basis: export computes them in-graph (export/onnx_bases.py), and they stay exact."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import helper, numpy_helper

from export import onnx_bases
from export.onnx_graph import Graph
from export.onnx_parts import export_parts
from models import build_model, model_config
from models.istft import InverseSTFT
from models.mel import MelFrontEnd

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time

# a float32 [2*(n_fft/2+1), 1, n_fft] basis is 4.2 MB at n_fft 1024; the largest tiny-model weight is 66 kB and the
# mel filterbank (kept stored) 263 kB
MAX_INITIALIZER_BYTES = 600_000


def _largest_initializers(path):
    proto = onnx.load(str(path))
    return sorted(((numpy_helper.to_array(i).nbytes, i.name) for i in proto.graph.initializer), reverse=True)[:3]


def _onnx_files(bundle_dir):
    return sorted(bundle_dir.glob("*.onnx"))


def test_tiny_bundle_stores_no_istft_basis(tiny_bundle):
    files = _onnx_files(tiny_bundle)
    assert {f.name for f in files} == {"encoder.onnx", "decoder.onnx"}
    for f in files:
        biggest = _largest_initializers(f)
        assert biggest[0][0] < MAX_INITIALIZER_BYTES, (f.name, biggest)
    # 4.5 MB when decoder.onnx stored the inverse-DFT basis; about 0.32 MB without it
    assert sum(f.stat().st_size for f in files) < 1_000_000


def test_mel_vae_parts_store_no_stft_basis_and_match_torch(tmp_path):
    torch.manual_seed(0)
    model = build_model(
        model_config(family="mel-vae", latent_dim=4, enc_max_channels=16, dec_channels=16, dec_blocks=1)
    )
    reference = build_model(
        model_config(family="mel-vae", latent_dim=4, enc_max_channels=16, dec_channels=16, dec_blocks=1)
    )
    reference.load_state_dict(model.state_dict())
    reference.eval()
    parts = export_parts(model, tmp_path)
    for f in parts.values():
        biggest = _largest_initializers(tmp_path / f)
        assert biggest[0][0] < MAX_INITIALIZER_BYTES, (f, biggest)
    # 8.9 MB with the STFT basis in encoder.onnx and the inverse-DFT basis in decoder.onnx
    assert sum((tmp_path / f).stat().st_size for f in parts.values()) < 1_000_000
    audio = (np.random.default_rng(0).standard_normal((2, 1, 256 * 40)) * 0.1).astype(np.float32)
    enc = ort.InferenceSession(str(tmp_path / "encoder.onnx"), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(tmp_path / "decoder.onnx"), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        zt = reference.encode(torch.from_numpy(audio))["z"]
        yt = reference.decode({"z": zt}).numpy()
    zo = enc.run(["z"], {"audio": audio})[0]
    assert np.abs(zo - zt.numpy()).max() / max(1.0, float(np.abs(zt.numpy()).max())) < 1e-3
    assert np.abs(dec.run(["audio"], {"z": zt.numpy()})[0] - yt).max() < 1e-3


@pytest.mark.parametrize("n_fft", [256, 1024, 2048])
@pytest.mark.parametrize("kind", ["istft_basis", "istft_win_sq", "stft_basis"])
def test_generated_bases_equal_the_torch_buffers(kind, n_fft):
    reference = {
        "istft_basis": lambda: InverseSTFT(n_fft, n_fft // 4).basis,
        "istft_win_sq": lambda: InverseSTFT(n_fft, n_fft // 4).win_sq,
        "stft_basis": lambda: MelFrontEnd(22050, n_fft, n_fft // 4, n_mels=16).basis,
    }[kind]().numpy()
    g = Graph(prefix="test")
    getattr(onnx_bases, f"_{kind}")(g, n_fft, "out")
    got = onnx_bases._evaluate(g.nodes, "out", numpy_helper.from_array(reference, "out"), [helper.make_opsetid("", 18)])
    assert got.dtype == np.float32 and got.shape == reference.shape
    # float64 angles reduced mod n_fft vs torch's unreduced ones: at most a float32 rounding step apart
    assert np.abs(got - reference).max() <= 6e-8
