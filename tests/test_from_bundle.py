"""A shipped bundle read back as a checkpoint (trainer/from_bundle.py): the rebuilt model decodes as the bundle's own
decoder.onnx does, and a bundle missing a weight is refused by name."""

import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from core.audiofile import load_audio, resample
from desktop.engine.model.factory import default_bundle_path
from trainer.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint

FACTORY = default_bundle_path().parent
CLIP = "tests/data/speech_arctic_a0007.wav"


def _run(path, feeds: dict) -> dict:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for i in sess.get_inputs():
        if i.name.startswith("state."):
            feeds[i.name] = np.zeros([1, *i.shape[1:]], np.float32)
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


@pytest.mark.parametrize("name", ["voice", "violin"])
def test_the_rebuilt_decoder_matches_the_bundles(name):
    bundle = FACTORY / name
    model, _ = model_from_checkpoint(load_checkpoint(bundle))
    audio = load_audio(CLIP)
    mono = np.atleast_2d(audio.samples).mean(axis=0)
    x = resample(mono, audio.sample_rate, 22050).astype(np.float32)
    x = x[: (len(x) // 256) * 256][None, None]
    latents = _run(bundle / "encoder.onnx", {"audio": x})
    y_onnx = _run(bundle / "decoder.onnx", {"z": latents["z"], "control": latents["control"]})["audio"]
    states = [torch.zeros(1, c, f) for _, c, f in model.stream_state_shapes()["decoder"]]
    with torch.no_grad():
        z = {"z": torch.from_numpy(latents["z"]), "control": torch.from_numpy(latents["control"])}
        y = model.decode_stream(z, states)[0].numpy()
    assert np.abs(y_onnx).max() > 0.05
    assert np.abs(y - y_onnx).max() < 1e-3


def test_a_bundle_missing_a_weight_is_refused_by_name(tmp_path):
    bundle = tmp_path / "violin"
    shutil.copytree(FACTORY / "violin", bundle)
    graph = onnx.load(str(bundle / "decoder.onnx"))
    victim = next(t for t in graph.graph.initializer if t.name.startswith("model.dec_linear.weight"))
    victim.name = "renamed"
    for node in graph.graph.node:
        node.input[:] = ["renamed" if i.startswith("model.dec_linear.weight") else i for i in node.input]
    onnx.save(graph, str(bundle / "decoder.onnx"))
    with pytest.raises(CheckpointError, match="dec_linear.weight"):
        load_checkpoint(bundle)
