"""export/graph_rewrites.py and export/fast_graph.py: the STFT's framing Conv (or an earlier rewrite's DFT node) rewritten as a four-step FFT of
two MatMuls, the inverse STFT's ConvTranspose as a MatMul and an overlap-add, and 1x1 Convs as pre-packed MatMuls
give the same outputs; other convolutions are left alone; the shipped streaming default carries the rewrites and an
upgrade of it is a no-op."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from core.bundle_io import load_bundle
from desktop.engine.model.factory import default_bundle_path
from export.fast_graph import REWRITE_TOLERANCE, upgrade_bundle
from export.graph_rewrites import MARK, speed_up

N_FFT, HOP = 64, 16


def stft_basis(n: int) -> np.ndarray:
    """float32[2 (n/2 + 1), 1, n]: Hann-windowed cos rows, then -sin rows (models/mel.py's front end)."""
    k, t = np.arange(n // 2 + 1), np.arange(n)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * t / n)
    angle = 2 * np.pi * np.outer(k, t) / n
    return np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])[:, None, :].astype(np.float32)


def conv_model(weight: np.ndarray, stride: int = HOP, bias: np.ndarray | None = None) -> onnx.ModelProto:
    """audio float32[B, C, L] -> Conv(weight, stride) -> y float32[B, O, F]."""
    inits = [numpy_helper.from_array(weight, "w")] + ([numpy_helper.from_array(bias, "b")] if bias is not None else [])
    node = helper.make_node(
        "Conv",
        ["audio", "w"] + (["b"] if bias is not None else []),
        ["y"],
        kernel_shape=[weight.shape[2]],
        strides=[stride],
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, weight.shape[1], None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None, None])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    return model


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"audio": x})[0]


@pytest.mark.parametrize("frames", [1, 2, 9])
def test_a_windowed_dft_conv_becomes_an_fft_with_the_same_output(frames):
    original = conv_model(stft_basis(N_FFT))
    fast, count = speed_up(original)
    assert count == 1
    ops = [n.op_type for n in fast.graph.node]
    assert ops.count("MatMul") == 2 and "DFT" not in ops and "Conv" not in ops
    assert any(p.key == MARK for p in fast.metadata_props)
    x = (0.1 * np.random.default_rng(frames).standard_normal((1, 1, N_FFT - HOP + frames * HOP))).astype(np.float32)
    ref, got = run(original, x), run(fast, x)
    assert got.shape == ref.shape == (1, N_FFT + 2, frames)
    assert float(np.abs(got - ref).max()) <= REWRITE_TOLERANCE
    assert speed_up(fast)[1] == 0  # marked: never rewritten twice


@pytest.mark.parametrize("frames", [1, 5])
def test_a_pointwise_conv_becomes_a_matmul_with_the_same_output(frames):
    rng = np.random.default_rng(frames)
    weight = (0.1 * rng.standard_normal((48, 32, 1))).astype(np.float32)
    original = conv_model(weight, stride=1, bias=rng.standard_normal(48).astype(np.float32))
    fast, count = speed_up(original)
    assert count == 1 and "Conv" not in [n.op_type for n in fast.graph.node]
    x = rng.standard_normal((1, 32, frames)).astype(np.float32)
    np.testing.assert_allclose(run(fast, x), run(original, x), atol=REWRITE_TOLERANCE, rtol=0)


def dft_model(n: int) -> onnx.ModelProto:
    """What the previous version of the rewrite wrote for an STFT (frames given): frames[1, F, n] * window ->
    Unsqueeze -> DFT (one-sided, axis 2) -> Transpose [0, 3, 2, 1] -> Reshape [1, 2 (n/2 + 1), F]."""
    window = stft_basis(n)[0, 0]
    nodes = [
        helper.make_node("Mul", ["audio", "window"], ["wf"]),
        helper.make_node("Unsqueeze", ["wf", "last"], ["real"]),
        helper.make_node("DFT", ["real", "", "axis"], ["spec"], onesided=1),
        helper.make_node("Transpose", ["spec"], ["spec_T"], perm=[0, 3, 2, 1]),
        helper.make_node("Reshape", ["spec_T", "channels"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(window, "window"),
        numpy_helper.from_array(np.array([-1], np.int64), "last"),
        numpy_helper.from_array(np.array(2, np.int64), "axis"),
        numpy_helper.from_array(np.array([0, n + 2, -1], np.int64), "channels"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, None, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None, None])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    return model


@pytest.mark.parametrize("n", [64, 1024])
def test_an_earlier_rewrites_dft_node_becomes_the_four_step_fft(n):
    original = dft_model(n)
    fast, count = speed_up(original)
    ops = [node.op_type for node in fast.graph.node]
    assert count == 1 and "DFT" not in ops and ops.count("MatMul") == 2 and "Unsqueeze" not in ops
    for frames in (1, 3, 64):
        x = (0.1 * np.random.default_rng(frames).standard_normal((1, frames, n))).astype(np.float32)
        ref, got = run(original, x), run(fast, x)
        assert got.shape == ref.shape == (1, n + 2, frames)
        assert float(np.abs(got - ref).max()) <= REWRITE_TOLERANCE * max(1.0, float(np.abs(ref).max()))


def conv_transpose_model(weight: np.ndarray, hop: int) -> onnx.ModelProto:
    """audio float32[1, C, F] -> ConvTranspose(weight [C, 1, K], stride hop) -> y float32[1, 1, (F + K/hop - 1) hop]."""
    c, _, k = weight.shape
    node = helper.make_node("ConvTranspose", ["audio", "w"], ["y"], kernel_shape=[k], strides=[hop])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, c, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, None])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    return model


def assert_same_overlap_add(original: onnx.ModelProto, fast: onnx.ModelProto, m: int, hop: int) -> None:
    c = original.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    for frames in (1, 2, 7):
        x = np.random.default_rng(frames).standard_normal((1, c, frames)).astype(np.float32)
        ref, got = run(original, x), run(fast, x)
        assert got.shape == ref.shape == (1, 1, (frames + m - 1) * hop)
        np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("m", [1, 2, 4])
def test_an_overlap_add_conv_transpose_becomes_a_matmul_with_the_same_output(m):
    hop = 16
    weight = (0.1 * np.random.default_rng(m).standard_normal((34, 1, m * hop))).astype(np.float32)
    original = conv_transpose_model(weight, hop)
    fast, count = speed_up(original)
    ops = [n.op_type for n in fast.graph.node]
    assert count == 1 and "ConvTranspose" not in ops and "Gather" not in ops  # a random basis: the dense MatMul
    assert_same_overlap_add(original, fast, m, hop)


@pytest.mark.parametrize("causal", [True, False])
def test_an_inverse_stft_becomes_a_four_step_inverse_fft_with_the_same_output(causal):
    """The models' own synthesis bases (models/istft.py): the causal one (the central 2 hop samples of each frame's
    inverse DFT, offset N/2 - hop) and the centred one (all N samples)."""
    from models.istft import CausalInverseSTFT, InverseSTFT

    hop = N_FFT // 4
    weight = (CausalInverseSTFT if causal else InverseSTFT)(N_FFT, hop).basis.numpy()
    original = conv_transpose_model(weight, hop)
    fast, count = speed_up(original)
    ops = [n.op_type for n in fast.graph.node]
    assert count == 1 and "ConvTranspose" not in ops and ops.count("MatMul") == 2
    assert_same_overlap_add(original, fast, weight.shape[2] // hop, hop)


def test_a_conv_that_is_not_a_dft_is_left_alone():
    weight = np.random.default_rng(0).standard_normal((N_FFT + 2, 1, N_FFT)).astype(np.float32)
    fast, count = speed_up(conv_model(weight))
    assert count == 0 and [n.op_type for n in fast.graph.node] == ["Conv"]


def test_the_factory_default_is_rewritten_and_upgrading_it_again_changes_nothing(tmp_path):
    src = default_bundle_path()
    encoder = onnx.load(str(src / "encoder.onnx"))
    assert any(p.key == MARK for p in encoder.metadata_props)
    assert "DFT" not in {n.op_type for n in encoder.graph.node}
    decoder_ops = {n.op_type for n in onnx.load(str(src / "decoder.onnx")).graph.node}
    assert "ConvTranspose" not in decoder_ops and "ReduceMean" not in decoder_ops
    dst = tmp_path / "default"
    shutil.copytree(src, dst)
    before = {p.name: p.read_bytes() for p in dst.iterdir()}
    report = upgrade_bundle(dst)
    assert all(count == 0 for count, _ in report.values())
    assert {p.name: p.read_bytes() for p in dst.iterdir()} == before
    load_bundle(dst)  # checksums still hold


def channel_layer_norm_model(c: int, eps: float = 1e-6, leak: bool = False) -> onnx.ModelProto:
    """x float32[1, C, F] -> a layer norm over the channels spelled out as the exporter writes it (nine nodes)
    -> y; ``leak``: the centred value is also an output (the pattern's inside is read elsewhere)."""
    rng = np.random.default_rng(1)
    inits = [
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
        numpy_helper.from_array(np.array(eps, np.float32), "eps"),
        numpy_helper.from_array(rng.standard_normal((c, 1)).astype(np.float32), "gamma"),
        numpy_helper.from_array(rng.standard_normal((c, 1)).astype(np.float32), "beta"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["audio", "axes"], ["mean"], keepdims=1),
        helper.make_node("Sub", ["audio", "mean"], ["d"]),
        helper.make_node("Mul", ["d", "d"], ["sq"]),
        helper.make_node("ReduceMean", ["sq", "axes"], ["var"], keepdims=1),
        helper.make_node("Add", ["var", "eps"], ["ve"]),
        helper.make_node("Sqrt", ["ve"], ["sd"]),
        helper.make_node("Div", ["d", "sd"], ["n"]),
        helper.make_node("Mul", ["n", "gamma"], ["ng"]),
        helper.make_node("Add", ["ng", "beta"], ["y"]),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, None])]
    if leak:
        outputs.append(helper.make_tensor_value_info("d", TensorProto.FLOAT, [1, c, None]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, c, None])], outputs, inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    return model


@pytest.mark.parametrize("frames", [1, 5])
def test_a_spelled_out_channel_layer_norm_becomes_one_fused_node_with_the_same_output(frames):
    original = channel_layer_norm_model(24)
    fast, count = speed_up(original)
    ops = [n.op_type for n in fast.graph.node]
    assert count == 1 and ops.count("LayerNormalization") == 1 and "ReduceMean" not in ops
    x = np.random.default_rng(frames).standard_normal((1, 24, frames)).astype(np.float32)
    np.testing.assert_allclose(run(fast, x), run(original, x), atol=1e-5, rtol=0)


def test_a_layer_norm_whose_inside_is_read_elsewhere_is_left_alone():
    fast, count = speed_up(channel_layer_norm_model(8, leak=True))
    assert count == 0 and "LayerNormalization" not in {n.op_type for n in fast.graph.node}
