"""A real bundle whose model is the identity (frames of 256 samples in, the same frames out), built with onnx.

Lets tests check the whole playing path (resampling, windowing, normalisation, latency) against the input.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from core.bundle import LatentLevel, LatentStats, Manifest, Normalization
from core.bundle_io import sha256_file, write_manifest

HOP = 256


def _save(graph, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def identity_stats() -> LatentStats:
    """Latent statistics of the identity latent: HOP independent unit axes (the knobs' PCA is the identity)."""
    eye = np.eye(HOP)
    return LatentStats(
        mean=(0.0,) * HOP,
        std=(0.1,) * HOP,
        components=tuple(map(tuple, eye.tolist())),
        explained_variance=(0.01,) * HOP,
        explained_variance_ratio=(1.0 / HOP,) * HOP,
    )


def build_identity_bundle(out: Path, sample_rate: int = 22050, window: int = 22050, scale: float | None = None) -> Path:
    """The bundle in the folder ``out``: a copy of the one built for these settings earlier in this process (its
    manifest's 65k latent statistics take 0.1-0.2 s to write and check; a test may change its copy). ``scale``: also
    export a posterior-scale output 'z_scale' equal to ``scale`` everywhere, so the latent's KL (and the information
    rate the evaluation reports) is known in closed form."""
    shutil.copytree(_built(sample_rate, window, scale), out, dirs_exist_ok=True)
    return out


@lru_cache(maxsize=None)
def _built(sample_rate: int, window: int, scale: float | None) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="identity-"))
    atexit.register(shutil.rmtree, folder, True)
    return _build(folder / "bundle", sample_rate, window, scale)


def _build(out: Path, sample_rate: int, window: int, scale: float | None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    to_frames = helper.make_tensor("to_frames", TensorProto.INT64, [3], [0, -1, HOP])
    to_audio = helper.make_tensor("to_audio", TensorProto.INT64, [3], [0, 1, -1])
    nodes = [
        helper.make_node("Reshape", ["audio", "to_frames"], ["frames"]),
        helper.make_node("Transpose", ["frames"], ["z"], perm=[0, 2, 1]),
    ]
    outputs = [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["B", HOP, "F"])]
    inits = [to_frames]
    if scale is not None:
        inits += [
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("scale", TensorProto.FLOAT, [], [float(scale)]),
        ]
        nodes += [helper.make_node("Mul", ["z", "zero"], ["z0"]), helper.make_node("Add", ["z0", "scale"], ["z_scale"])]
        outputs.append(helper.make_tensor_value_info("z_scale", TensorProto.FLOAT, ["B", HOP, "F"]))
    enc = helper.make_graph(
        nodes,
        "identity_encoder",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["B", 1, "T"])],
        outputs,
        initializer=inits,
    )
    dec = helper.make_graph(
        [
            helper.make_node("Transpose", ["z"], ["frames"], perm=[0, 2, 1]),
            helper.make_node("Reshape", ["frames", "to_audio"], ["audio"]),
        ],
        "identity_decoder",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["B", HOP, "F"])],
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["B", 1, "T"])],
        initializer=[to_audio],
    )
    _save(enc, out / "encoder.onnx")
    _save(dec, out / "decoder.onnx")
    parts = {"encoder": "encoder.onnx", "decoder": "decoder.onnx"}
    manifest = Manifest(
        family="identity",
        sample_rate=sample_rate,
        window=window,
        hop=window // 2,
        levels=(LatentLevel("z", HOP, HOP, "z_scale" if scale is not None else None),),
        normalization=Normalization("rms", -20.0, 30.0),
        latent_stats={"z": identity_stats()},
        parts=parts,
        files={f: sha256_file(out / f) for f in parts.values()},
        provenance={"name": "identity (test)"},
    )
    write_manifest(out, manifest)
    return out
