"""A real streaming bundle (format_version 2) whose model is the identity delayed by 256 samples, built with onnx.

The encoder delays the audio by 128 samples and the decoder by 128 more, each through a state tensor it takes and
returns, exactly as a causal model's parts do: tests can check the engine's streaming path (states, blocks,
resampling, latency bookkeeping) against the input sample for sample.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from onnx import TensorProto, helper

from core.bundle import STREAMING_FORMAT_VERSION, LatentLevel, Manifest, Normalization, StateSpec, Streaming
from core.bundle_io import sha256_file, write_manifest
from tests.identity_bundle import HOP, _save, identity_stats

PART_DELAY = 128  # each part's delay: 256 samples in all = one latent frame of lookahead


def _delay_nodes(x: str, state: str, out: str, nxt: str) -> list:
    """out = (state ++ x)[:, :, :N], nxt = its last PART_DELAY samples, N = x's length."""
    return [
        helper.make_node("Concat", [state, x], [x + "_full"], axis=2),
        helper.make_node("Shape", [x], [x + "_shape"]),
        helper.make_node("Gather", [x + "_shape", "two"], [x + "_n"]),
        helper.make_node("Unsqueeze", [x + "_n", "axis0"], [x + "_n1"]),
        helper.make_node("Slice", [x + "_full", "zero1", x + "_n1", "axis2"], [out]),
        helper.make_node("Slice", [x + "_full", x + "_n1", "big1", "axis2"], [nxt]),
    ]


def _consts() -> list:
    return [
        helper.make_tensor("two", TensorProto.INT64, [], [2]),
        helper.make_tensor("axis0", TensorProto.INT64, [1], [0]),
        helper.make_tensor("zero1", TensorProto.INT64, [1], [0]),
        helper.make_tensor("big1", TensorProto.INT64, [1], [1 << 40]),
        helper.make_tensor("axis2", TensorProto.INT64, [1], [2]),
    ]


def build_streaming_identity_bundle(out: Path, sample_rate: int = 22050, block: int = 256) -> Path:
    """The bundle in the folder ``out``: a copy of the one built for these settings earlier in this process (its
    manifest's 65k latent statistics take 0.1-0.2 s to write and check; a test may change its copy)."""
    shutil.copytree(_built(sample_rate, block), out, dirs_exist_ok=True)
    return out


@lru_cache(maxsize=None)
def _built(sample_rate: int, block: int) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="streaming-identity-"))
    atexit.register(shutil.rmtree, folder, True)
    return _build(folder / "bundle", sample_rate, block)


def _build(out: Path, sample_rate: int, block: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    f = TensorProto.FLOAT
    enc = helper.make_graph(
        _delay_nodes("audio", "state.enc", "delayed", "state.enc.next")
        + [
            helper.make_node("Reshape", ["delayed", "to_frames"], ["frames"]),
            helper.make_node("Transpose", ["frames"], ["z"], perm=[0, 2, 1]),
        ],
        "streaming_identity_encoder",
        [
            helper.make_tensor_value_info("audio", f, ["B", 1, "T"]),
            helper.make_tensor_value_info("state.enc", f, ["B", 1, PART_DELAY]),
        ],
        [
            helper.make_tensor_value_info("z", f, ["B", HOP, "F"]),
            helper.make_tensor_value_info("state.enc.next", f, ["B", 1, PART_DELAY]),
        ],
        initializer=_consts() + [helper.make_tensor("to_frames", TensorProto.INT64, [3], [0, -1, HOP])],
    )
    dec = helper.make_graph(
        [
            helper.make_node("Transpose", ["z"], ["frames"], perm=[0, 2, 1]),
            helper.make_node("Reshape", ["frames", "to_audio"], ["raw"]),
        ]
        + _delay_nodes("raw", "state.dec", "audio", "state.dec.next"),
        "streaming_identity_decoder",
        [
            helper.make_tensor_value_info("z", f, ["B", HOP, "F"]),
            helper.make_tensor_value_info("state.dec", f, ["B", 1, PART_DELAY]),
        ],
        [
            helper.make_tensor_value_info("audio", f, ["B", 1, "T"]),
            helper.make_tensor_value_info("state.dec.next", f, ["B", 1, PART_DELAY]),
        ],
        initializer=_consts() + [helper.make_tensor("to_audio", TensorProto.INT64, [3], [0, 1, -1])],
    )
    _save(enc, out / "encoder.onnx")
    _save(dec, out / "decoder.onnx")
    parts = {"encoder": "encoder.onnx", "decoder": "decoder.onnx"}
    streaming = Streaming(
        block=block,
        lookahead=1,
        delay=2 * PART_DELAY,
        states=(
            StateSpec("encoder", "state.enc", (1, 1, PART_DELAY)),
            StateSpec("decoder", "state.dec", (1, 1, PART_DELAY)),
        ),
    )
    manifest = Manifest(
        family="identity",
        sample_rate=sample_rate,
        window=22050,
        hop=11025,
        levels=(LatentLevel("z", HOP, HOP),),
        normalization=Normalization("none"),
        latent_stats={"z": identity_stats()},
        parts=parts,
        files={name: sha256_file(out / name) for name in parts.values()},
        provenance={"name": "streaming identity (test)"},
        streaming=streaming,
        format_version=STREAMING_FORMAT_VERSION,
    )
    write_manifest(out, manifest)
    return out
