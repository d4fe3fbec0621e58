"""The speed rewrites of an exported streaming graph: each replaces a node pattern onnxruntime runs slowly on one CPU
thread by nodes with the same outputs to float rounding; :func:`speed_up` applies them all to a model.

- the STFT front end's framing convolution, whose weight is a windowed DFT basis (or the DFT node an earlier version
  wrote), becomes frames (Reshape + Slices + Concat) * window -> a four-step FFT of two MatMuls: no 1026 x 1024
  basis (4.2 MB) to read every call, a quarter of the multiply-adds;
- every 1x1 convolution becomes Transpose -> MatMul with the weight transposed on the constant path -> Transpose:
  onnxruntime pre-packs that weight at load and streams it from memory almost twice as fast as the Conv's;
- the inverse STFT's ConvTranspose (synthesis and overlap-add) becomes a four-step inverse FFT of two batched
  MatMuls (a dense MatMul for a basis that is not an inverse DFT) and an overlap-add of Slices;
- a layer norm over channels, which the exporter spells out in nine nodes that onnxruntime cannot fuse (its fusion
  wants the last axis), becomes Transpose -> LayerNormalization -> Transpose (the Transposes cancel against the
  pointwise MatMuls').

Measured in docs/streaming.md ("Speed", rounds 1-4), with what was tried and left out. Weight transforms are nodes
on the constant path that onnxruntime folds at load, so the weights stay stored as they were (float16 + Cast).
export/fast_graph.py applies them to files and bundles, checked against the original graphs.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from models.fft import factor_pair

from .graph_fft import inverse_rfft_frames, real_dft, windowed_dft
from .onnx_graph import Graph, attrs

MARK = "latentsynth.fast_graph"  # metadata key: a rewritten graph says so (rewriting it again finds nothing to do)


def _plain_1d(a: dict) -> bool:
    """A 1-D convolution's attributes without groups, padding or automatic padding (what every rewrite here needs)."""
    return (
        len(a.get("kernel_shape", [])) == 1
        and a.get("group", 1) == 1
        and not any(a.get("pads", [0, 0]))
        and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
    )


def _framing(gr: Graph, node: onnx.NodeProto) -> tuple[list[onnx.NodeProto], str] | None:
    """For a Conv with one input channel, kernel K = m * S at stride S, no padding, dilation 1, group 1, no bias
    and a constant weight (an STFT's framing): nodes cutting its input x[B, 1, L] into frames[B, F, K],
    F = L / S - m + 1 (Reshape to S-sample blocks, m Slices, Concat), and the frames' name; else None."""
    a = attrs(node)
    k, s = a.get("kernel_shape", [0])[0], a.get("strides", [1])[0]
    if (
        not _plain_1d(a)
        or a.get("dilations", [1]) != [1]
        or s <= 1
        or k % s
        or (len(node.input) > 2 and node.input[2])
        or not gr.is_constant(node.input[1])
    ):
        return None
    m = k // s
    n = [
        helper.make_node(
            "Reshape",
            [node.input[0], gr.const("blocks_shape", np.array([0, -1, s], np.int64))],
            [blocks := gr.name("blocks")],
        )
    ]
    pieces = []
    axis1 = gr.const("axis1", np.array([1], np.int64))
    for j in range(m):
        end = -(m - 1 - j) if j < m - 1 else np.iinfo(np.int64).max
        n.append(
            helper.make_node(
                "Slice",
                [blocks, gr.const("start", np.array([j], np.int64)), gr.const("end", np.array([end], np.int64)), axis1],
                [piece := gr.name("piece")],
            )
        )
        pieces.append(piece)
    n.append(helper.make_node("Concat", pieces, [frames := gr.name("frames")], axis=2))
    return n, frames


def _conv_stft(gr: Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """A framing Conv (``_framing``) whose weight is a windowed real DFT basis (the STFT front end):
    frames[B, F, N] * window -> the four-step FFT of ``real_dft`` -> [B, 2 (N/2+1), F], the real rows then the
    imaginary rows, as the Conv gives them."""
    framing = _framing(gr, node)
    if framing is None:
        return None
    window = windowed_dft(gr.constant_value(node.input[1]))
    if window is None or factor_pair(window.shape[0]) is None:
        return None
    nodes, frames = framing
    nodes.append(
        helper.make_node("Mul", [frames, gr.const("window", window.astype(np.float32))], [wf := gr.name("windowed")])
    )
    return nodes + real_dft(gr, wf, window.shape[0], node.output[0])


def _dft(gr: Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """What an earlier version of ``_conv_stft`` wrote (frames * window -> Unsqueeze -> onnxruntime's DFT, one-sided,
    axis 2 -> Transpose [0, 3, 2, 1] -> Reshape to [B, 2 bins, F]) -> the four-step FFT of ``real_dft``; the
    Transpose and the Reshape go with the DFT."""
    a = attrs(node)
    if a.get("onesided", 0) != 1 or a.get("inverse", 0) or len(node.input) < 3 or node.input[1]:
        return None
    if not gr.is_constant(node.input[2]) or int(gr.constant_value(node.input[2])) != 2:
        return None
    unsqueeze = gr.producer.get(node.input[0])
    users = gr.consumers(node.output[0])
    if unsqueeze is None or unsqueeze.op_type != "Unsqueeze" or len(users) != 1 or users[0].op_type != "Transpose":
        return None
    transpose = users[0]
    after = gr.consumers(transpose.output[0])
    if attrs(transpose).get("perm") != [0, 3, 2, 1] or len(after) != 1 or after[0].op_type != "Reshape":
        return None
    reshape = after[0]
    window_mul = gr.producer.get(unsqueeze.input[0])
    window = None
    if window_mul is not None and window_mul.op_type == "Mul":
        window = next((gr.constant_value(i) for i in window_mul.input if gr.is_constant(i)), None)
    if window is None or window.ndim != 1 or factor_pair(window.shape[0]) is None:
        return None
    gr.removed.update({id(transpose), id(reshape)})
    return real_dft(gr, unsqueeze.input[0], window.shape[0], reshape.output[0])


def _conv_transpose(gr: Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """A ConvTranspose to one channel with a constant weight W[C, 1, K], stride S, K = m * S, no padding, group 1,
    no bias (the inverse STFT's synthesis and overlap-add): frames = x^T[B, F, C] @ W[C, K] (a four-step inverse FFT
    when W is an inverse DFT basis, ``inverse_rfft_frames``; else pre-packed), then
    the m overlapping S-sample pieces of each frame shifted and added -> [B, 1, (F + m - 1) S]. onnxruntime's
    ConvTranspose kernel took 0.83 ms of a 64-frame decoder call (profiler) for 17 M multiply-adds."""
    a = attrs(node)
    k, s = a.get("kernel_shape", [0])[0], a.get("strides", [1])[0]
    if (
        not _plain_1d(a)
        or any(a.get("output_padding", [0]))
        or a.get("dilations", [1]) != [1]
        or "output_shape" in a
        or s < 1
        or k % s
        or (len(node.input) > 2 and node.input[2])
        or not gr.is_constant(node.input[1])
    ):
        return None
    w = gr.constant_value(node.input[1])
    if w.ndim != 3 or w.shape[1] != 1 or w.shape[2] != k:
        return None
    m = k // s
    fft = inverse_rfft_frames(gr, node.input[0], w[:, 0, :])
    if fft is not None:
        nodes, fr = fft
    else:
        nodes = [
            helper.make_node("Transpose", [node.input[0]], [xt := gr.name("x_T")], perm=[0, 2, 1]),
            # the weight reshaped on the constant path (folded at load): a basis computed in-graph stays computed
            helper.make_node(
                "Reshape", [node.input[1], gr.const("ck", np.array([0, -1], np.int64))], [w2 := gr.name("w2d")]
            ),
            helper.make_node("MatMul", [xt, w2], [fr := gr.name("frames")]),
        ]
    if m == 1:
        return nodes + [
            helper.make_node("Reshape", [fr, gr.const("flat", np.array([0, 1, -1], np.int64))], [node.output[0]])
        ]
    nodes.append(
        helper.make_node("Reshape", [fr, gr.const("pieces", np.array([0, 0, m, s], np.int64))], [p := gr.name("p")])
    )
    shifted = []
    axis2 = gr.const("axis2", np.array([2], np.int64))
    for j in range(m):
        nodes += [
            helper.make_node(
                "Slice",
                [p, gr.const("j", np.array([j], np.int64)), gr.const("j1", np.array([j + 1], np.int64)), axis2],
                [pj := gr.name("piece")],
            ),
            helper.make_node("Squeeze", [pj, axis2], [qj := gr.name("piece_sq")]),
            helper.make_node(
                "Pad",
                [qj, gr.const("shift", np.array([0, j, 0, 0, m - 1 - j, 0], np.int64))],
                [rj := gr.name("shifted")],
            ),
        ]
        shifted.append(rj)
    total = shifted[0]
    for r in shifted[1:]:
        nodes.append(helper.make_node("Add", [total, r], [t := gr.name("ola")]))
        total = t
    return nodes + [
        helper.make_node("Reshape", [total, gr.const("flat", np.array([0, 1, -1], np.int64))], [node.output[0]])
    ]


def _matmul_synthesis(gr: Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """What an earlier version of ``_conv_transpose`` wrote: Transpose(x) -> MatMul with a synthesis basis
    (``synthesis_basis``) -> the four-step inverse FFT of ``inverse_rfft_frames``; the Transpose goes if
    nothing else reads it."""
    transpose = gr.producer.get(node.input[0])
    if transpose is None or transpose.op_type != "Transpose" or attrs(transpose).get("perm") != [0, 2, 1]:
        return None
    if not gr.is_constant(node.input[1]):
        return None
    w = gr.constant_value(node.input[1])
    if w.ndim != 2:
        return None
    fft = inverse_rfft_frames(gr, transpose.input[0], w)
    if fft is None:
        return None
    nodes, frames = fft
    return nodes + [helper.make_node("Identity", [frames], [node.output[0]])]


def _conv_pointwise(gr: Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """A 1x1 Conv (kernel 1, stride 1, no padding, group 1) with a constant weight W[O, C, 1]: x[B, C, F] ->
    x^T[B, F, C] @ W^T[C, O] (+ bias) -> [B, O, F]. onnxruntime pre-packs a constant right-hand MatMul operand at
    load, and streams it from memory faster than the Conv's weight: 12 such 768 x 256 layers (9.4 MB) took 0.65 ms
    per frame against 1.14 ms as Convs with flushed caches."""
    a = attrs(node)
    if (
        not _plain_1d(a)
        or a.get("kernel_shape") != [1]
        or a.get("strides", [1]) != [1]
        or not gr.is_constant(node.input[1])
    ):
        return None
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    n = [
        helper.make_node("Transpose", [node.input[0]], [xt := gr.name("x_T")], perm=[0, 2, 1]),
        helper.make_node(
            "Reshape", [node.input[1], gr.const("w2d", np.array([0, -1], np.int64))], [w2 := gr.name("w2d")]
        ),
        helper.make_node("Transpose", [w2], [wt := gr.name("w_T")], perm=[1, 0]),
        helper.make_node("MatMul", [xt, wt], [y := gr.name("y_T")]),
    ]
    if bias is not None:
        n.append(helper.make_node("Add", [y, bias], [yb := gr.name("y_T_bias")]))
        y = yb
    n.append(helper.make_node("Transpose", [y], [node.output[0]], perm=[0, 2, 1]))
    return n


def _channel_layer_norm(gr: Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """A layer norm over the channels of x[B, C, F], as the exporter spells it out (nine nodes: ReduceMean over
    axis 1, Sub, Mul, ReduceMean, Add eps, Sqrt, Div, Mul gamma, Add beta; ``node`` is the last Add) ->
    Transpose -> onnxruntime's fused LayerNormalization over the last axis -> Transpose. onnxruntime fuses the
    spelled-out form only over the last axis, so over channels its nine nodes each ran on their own (strided
    reductions); the Transposes cancel against the pointwise MatMul's Transpose that follows."""

    def one(name, op):  # the node producing ``name`` when it is an ``op`` whose output nothing else reads
        n = gr.producer.get(name)
        return n if n is not None and n.op_type == op and len(gr.consumers(n.output[0])) <= 2 else None

    def axis1(reduce):
        a = attrs(reduce)
        axes = a.get("axes")
        if axes is None and len(reduce.input) > 1 and gr.is_constant(reduce.input[1]):
            axes = gr.constant_value(reduce.input[1]).tolist()
        return a.get("keepdims", 1) == 1 and axes in ([1], [-2])

    if len(node.input) != 2 or not gr.is_constant(node.input[1]):
        return None
    scale = one(node.input[0], "Mul")
    div = scale and one(next((i for i in scale.input if not gr.is_constant(i)), ""), "Div")
    if not div or not any(gr.is_constant(i) for i in scale.input):
        return None
    sub, sqrt = gr.producer.get(div.input[0]), one(div.input[1], "Sqrt")
    add_eps = sqrt and one(sqrt.input[0], "Add")
    if not (sub is not None and sub.op_type == "Sub" and add_eps and gr.is_constant(add_eps.input[1])):
        return None
    var = one(add_eps.input[0], "ReduceMean")
    sq = var and one(var.input[0], "Mul")
    mean = gr.producer.get(sub.input[1])
    if not (var and sq and sq.input[0] == sq.input[1] == sub.output[0] and mean is not None):
        return None
    x = sub.input[0]
    if mean.op_type != "ReduceMean" or mean.input[0] != x or not (axis1(mean) and axis1(var)):
        return None
    inner = (mean, sub, sq, var, add_eps, sqrt, div, scale)
    if any(n.output[0] in {o.name for o in gr.g.output} for n in inner):
        return None
    users = {id(u) for n in inner for u in gr.consumers(n.output[0])}
    if not users <= {id(n) for n in inner} | {id(node)}:  # a value of the pattern read outside it
        return None
    gamma = next(i for i in scale.input if gr.is_constant(i))
    eps = float(np.asarray(gr.constant_value(add_eps.input[1])).ravel()[0])
    flat = gr.const("flat", np.array([-1], np.int64))
    return [
        helper.make_node("Transpose", [x], [xt := gr.name("ln_in_T")], perm=[0, 2, 1]),
        helper.make_node("Reshape", [gamma, flat], [g := gr.name("ln_gamma")]),
        helper.make_node("Reshape", [node.input[1], flat], [b := gr.name("ln_beta")]),
        helper.make_node("LayerNormalization", [xt, g, b], [yt := gr.name("ln_T")], axis=-1, epsilon=eps),
        helper.make_node("Transpose", [yt], [node.output[0]], perm=[0, 2, 1]),
    ]


def _conv(gr: Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    return _conv_stft(gr, node) or _conv_pointwise(gr, node)


REWRITES = {
    "Conv": _conv,
    "DFT": _dft,
    "ConvTranspose": _conv_transpose,
    "Add": _channel_layer_norm,
    "MatMul": _matmul_synthesis,
}


def speed_up(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """The rewritten model (a copy) and how many nodes were replaced; a rewritten graph has nothing left to replace."""
    proto = onnx.ModelProto.FromString(proto.SerializeToString())
    gr = Graph(proto)
    nodes, count = [], 0
    for node in list(gr.g.node):
        if id(node) in gr.removed:
            continue
        rewrite = REWRITES.get(node.op_type)
        new = rewrite(gr, node) if rewrite is not None else None
        if new is None:
            nodes.append(node)
        else:
            nodes.extend(new)
            count += 1
    if count:  # what only fed a replaced node (the basis computed in-graph) goes too
        live = {o.name for o in gr.g.output}
        kept = []
        for node in reversed(nodes):
            if any(o in live for o in node.output):
                kept.append(node)
                live.update(i for i in node.input if i)
        nodes = kept[::-1]
        inits = [i for i in gr.g.initializer if i.name in live]
        del gr.g.initializer[:]
        gr.g.initializer.extend(inits)
        sparse = [t for t in gr.g.sparse_initializer if t.values.name in live]
        del gr.g.sparse_initializer[:]
        gr.g.sparse_initializer.extend(sparse)
    del gr.g.node[:]
    gr.g.node.extend(nodes)
    if count:
        helper.set_model_props(
            proto,
            {
                **{p.key: p.value for p in proto.metadata_props},
                MARK: "stft-four-step-fft,pointwise-matmul,istft-four-step-ifft,channel-layernorm",
            },
        )
    onnx.checker.check_model(proto)
    return proto, count
