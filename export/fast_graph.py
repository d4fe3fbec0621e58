"""Rewrites of exported streaming graphs that onnxruntime runs faster on one CPU thread, with the same outputs to float
rounding (checked against the original graph, 1e-5):

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

Apply with :func:`speed_up_file` (export/streaming.py does so for every new streaming bundle) or, on an existing
bundle, ``python -m export.fast_graph BUNDLE_DIR``, which checks the outputs against the original files before
replacing them and updates the manifest's checksums.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from desktop.engine.bundle import load_bundle, sha256_file, write_manifest

REWRITE_TOLERANCE = 1e-5  # the rewritten graph against the original: max abs difference / max(1, max abs output)
MARK = "latentsynth.fast_graph"  # metadata key: a rewritten graph says so (rewriting it again finds nothing to do)


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Graph:
    """A graph being edited: node index by output, fresh names, constants to add."""

    def __init__(self, proto: onnx.ModelProto):
        self.proto = proto
        self.g = proto.graph
        self.producer = {o: n for n in self.g.node for o in n.output}
        self.consts = {i.name for i in self.g.initializer} | {s.values.name for s in self.g.sparse_initializer}
        self._n = 0
        self.removed: set[int] = set()  # ids of nodes a rewrite replaced along with the one it was called for
        self.taken = {o for n in self.g.node for o in n.output} | self.consts | {i.name for i in self.g.input}

    def consumers(self, name: str) -> list[onnx.NodeProto]:
        return [n for n in self.g.node if name in n.input]

    def name(self, base: str) -> str:
        """A name no tensor of the graph has (a graph rewritten before holds names of this form)."""
        while True:
            self._n += 1
            name = f"fast/{base}/{self._n}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.name(base)
        self.g.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def is_constant(self, name: str, seen: set | None = None) -> bool:
        """True when ``name`` depends on no graph input (onnxruntime folds it at load)."""
        if name in self.consts:
            return True
        node = self.producer.get(name)
        if node is None:
            return False
        seen = seen if seen is not None else set()
        if id(node) in seen:  # by identity: nodes this module adds have no names
            return True
        seen.add(id(node))
        return all(not i or self.is_constant(i, seen) for i in node.input)


def _plain_1d(a: dict) -> bool:
    """A 1-D convolution's attributes without groups, padding or automatic padding (what every rewrite here needs)."""
    return (
        len(a.get("kernel_shape", [])) == 1
        and a.get("group", 1) == 1
        and not any(a.get("pads", [0, 0]))
        and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
    )


def _framing(gr: _Graph, node: onnx.NodeProto) -> tuple[list[onnx.NodeProto], str] | None:
    """For a Conv with one input channel, kernel K = m * S at stride S, no padding, dilation 1, group 1, no bias
    and a constant weight (an STFT's framing): nodes cutting its input x[B, 1, L] into frames[B, F, K],
    F = L / S - m + 1 (Reshape to S-sample blocks, m Slices, Concat), and the frames' name; else None."""
    a = _attrs(node)
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


def _constant_value(gr: _Graph, name: str) -> np.ndarray:
    """The value of a constant tensor of the graph (an initializer, or computed from initializers in-graph)."""
    for init in gr.g.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    needed, todo = [], [name]
    while todo:  # the nodes it is computed by, and theirs
        node = gr.producer.get(todo.pop())
        if node is not None and node not in needed:
            needed.append(node)
            todo.extend(i for i in node.input if i)
    order = [n for n in gr.g.node if n in needed]
    probe = onnx.ModelProto.FromString(gr.proto.SerializeToString())
    del probe.graph.node[:], probe.graph.input[:], probe.graph.output[:]
    probe.graph.node.extend(order)
    probe.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return _session(probe.SerializeToString()).run(None, {})[0]


def _windowed_dft(weight: np.ndarray) -> np.ndarray | None:
    """The analysis window when ``weight`` float32[2 * (N/2 + 1), 1, N] is a windowed real DFT basis
    (rows: window * cos(2 pi k n / N) for k = 0..N/2, then -window * sin(...)), else None."""
    if weight.ndim != 3 or weight.shape[1] != 1:
        return None
    n = weight.shape[2]
    bins = n // 2 + 1
    if n % 2 or weight.shape[0] != 2 * bins:
        return None
    window = weight[0, 0].astype(np.float64)
    angle = 2 * np.pi * np.mod(np.outer(np.arange(bins), np.arange(n)), n) / n
    basis = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])
    scale = max(float(np.abs(weight).max()), 1e-12)
    return weight[0, 0].copy() if float(np.abs(basis - weight[:, 0]).max()) <= 1e-5 * scale else None


def _conv_stft(gr: _Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """A framing Conv (``_framing``) whose weight is a windowed real DFT basis (the STFT front end):
    frames[B, F, N] * window -> the four-step FFT of ``_real_dft`` -> [B, 2 (N/2+1), F], the real rows then the
    imaginary rows, as the Conv gives them."""
    framing = _framing(gr, node)
    if framing is None:
        return None
    window = _windowed_dft(_constant_value(gr, node.input[1]))
    if window is None or _split(window.shape[0]) is None:
        return None
    nodes, frames = framing
    nodes.append(
        helper.make_node("Mul", [frames, gr.const("window", window.astype(np.float32))], [wf := gr.name("windowed")])
    )
    return nodes + _real_dft(gr, wf, window.shape[0], node.output[0])


def _split(n: int) -> tuple[int, int] | None:
    """n = n1 * n2 with n1 <= n2 as close to sqrt(n) as possible (n1 > 1), else None."""
    for n1 in range(int(np.sqrt(n)), 1, -1):
        if n % n1 == 0:
            return n1, n // n1
    return None


def _real_dft(gr: _Graph, x: str, n: int, out: str) -> list[onnx.NodeProto]:
    """Nodes computing ``out`` [B, 2 (n/2+1), F] (the real parts of bins 0..n/2, then the imaginary parts) from real
    frames ``x`` [B, F, n]: a four-step FFT of two MatMuls. With n = n1 * n2, sample i = n2 a + b, bin k = c + n1 d:

        X[c + n1 d] = sum_b exp(-2 pi i b d / n2) * [exp(-2 pi i b c / n) * sum_a x[n2 a + b] exp(-2 pi i a c / n1)]

    The frames go to [B, n, F] first (F innermost all the way, so every later transpose moves whole rows of F).
    The first MatMul ([4 n1, n1] on the left) gives the inner sums as (re, im) and again as (im, re), so the
    twiddle factors are one Mul and one Add; the second ([2 d, 2 n2] on the left, per c) sums over b. At n = 1024:
    about 270 k multiply-adds a frame against 1.05 M for the dense basis, 33 kB of constants, and no 5-D transpose
    of the spectrum (onnxruntime's own DFT kernel and the transposes around it took 2.1 ms of a 64-frame encoder
    call; docs/streaming.md, "Speed")."""
    n1, n2 = _split(n)
    bins = n // 2 + 1
    k2 = -(-bins // n1)  # the d that reach bin n/2
    a = np.arange(n1)
    inner = 2 * np.pi * np.outer(a, a) / n1  # [a, c]; symmetric
    g1 = np.concatenate([np.cos(inner), -np.sin(inner), -np.sin(inner), np.cos(inner)], axis=0)  # [4 c, a]
    tw = 2 * np.pi * np.outer(a, np.arange(n2)) / n  # [c, b]
    tt = np.stack([np.cos(tw), np.cos(tw), np.sin(tw), -np.sin(tw)])[:, :, :, None]  # [4, c, b, 1]
    outer = 2 * np.pi * np.outer(np.arange(k2), np.arange(n2)) / n2  # [d, b]
    wr, wi = np.cos(outer), -np.sin(outer)
    g3 = np.block([[wr, -wi], [wi, wr]])  # [(re, im) x d, (re, im) x b]
    f32 = lambda v: v.astype(np.float32)  # noqa: E731
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    return [
        helper.make_node("Transpose", [x], [xt := gr.name("frames_T")], perm=[0, 2, 1]),  # [B, n, F]
        helper.make_node("Reshape", [xt, gr.const("a_bF", i64(0, n1, -1))], [v1 := gr.name("a_bF")]),
        helper.make_node("MatMul", [gr.const("dft_inner", f32(g1)), v1], [v2 := gr.name("inner")]),  # [B, 4c, bF]
        helper.make_node("Reshape", [v2, gr.const("4cbF", i64(0, 4, n1, n2, -1))], [v3 := gr.name("4cbF")]),
        helper.make_node("Mul", [v3, gr.const("twiddle", f32(tt))], [v4 := gr.name("twiddled")]),
        helper.make_node("Split", [v4, gr.const("halves", i64(2, 2))], [p := gr.name("p"), q := gr.name("q")], axis=1),
        helper.make_node("Add", [p, q], [v5 := gr.name("2cbF")]),  # [B, (re, im), c, b, F]
        helper.make_node("Transpose", [v5], [v6 := gr.name("c2bF")], perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", [v6, gr.const("c_2b_F", i64(0, n1, 2 * n2, -1))], [v7 := gr.name("c_2b_F")]),
        helper.make_node("MatMul", [gr.const("dft_outer", f32(g3)), v7], [v8 := gr.name("outer")]),  # [B, c, 2d, F]
        helper.make_node("Reshape", [v8, gr.const("c2dF", i64(0, n1, 2, k2, -1))], [v9 := gr.name("c2dF")]),
        helper.make_node("Transpose", [v9], [v10 := gr.name("2dcF")], perm=[0, 2, 3, 1, 4]),
        helper.make_node("Reshape", [v10, gr.const("2_dc_F", i64(0, 2, k2 * n1, -1))], [v11 := gr.name("2_dc_F")]),
        helper.make_node(
            "Slice",
            [v11, gr.const("zero", i64(0)), gr.const("bins", i64(bins)), gr.const("axis2", i64(2))],
            [v12 := gr.name("2_bins_F")],
        ),
        helper.make_node("Reshape", [v12, gr.const("channels", i64(0, 2 * bins, -1))], [out]),
    ]


def _dft(gr: _Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """What an earlier version of ``_conv_stft`` wrote (frames * window -> Unsqueeze -> onnxruntime's DFT, one-sided,
    axis 2 -> Transpose [0, 3, 2, 1] -> Reshape to [B, 2 bins, F]) -> the four-step FFT of ``_real_dft``; the
    Transpose and the Reshape go with the DFT."""
    a = _attrs(node)
    if a.get("onesided", 0) != 1 or a.get("inverse", 0) or len(node.input) < 3 or node.input[1]:
        return None
    if not gr.is_constant(node.input[2]) or int(_constant_value(gr, node.input[2])) != 2:
        return None
    unsqueeze = gr.producer.get(node.input[0])
    users = gr.consumers(node.output[0])
    if unsqueeze is None or unsqueeze.op_type != "Unsqueeze" or len(users) != 1 or users[0].op_type != "Transpose":
        return None
    transpose = users[0]
    after = gr.consumers(transpose.output[0])
    if _attrs(transpose).get("perm") != [0, 3, 2, 1] or len(after) != 1 or after[0].op_type != "Reshape":
        return None
    reshape = after[0]
    window_mul = gr.producer.get(unsqueeze.input[0])
    window = None
    if window_mul is not None and window_mul.op_type == "Mul":
        window = next((_constant_value(gr, i) for i in window_mul.input if gr.is_constant(i)), None)
    if window is None or window.ndim != 1 or _split(window.shape[0]) is None:
        return None
    gr.removed.update({id(transpose), id(reshape)})
    return _real_dft(gr, unsqueeze.input[0], window.shape[0], reshape.output[0])


def _synthesis_basis(w: np.ndarray) -> tuple[int, np.ndarray] | None:
    """(offset o, window) when ``w`` float32[2 (N/2 + 1), K] is a windowed inverse real DFT restricted to output
    samples o..o+K-1: rows c * cos(2 pi k n / N) * window[n - o] / N, then -c * sin(...) (c = 1 for bins 0 and
    N/2, else 2), as models/istft.py's inverse STFTs build it; else None."""
    bins = w.shape[0] // 2
    n, k_len = 2 * (bins - 1), w.shape[1]
    if w.shape[0] != 2 * bins or n < 4 or k_len > n:
        return None
    window = w[0].astype(np.float64) * n
    k = np.arange(bins)
    c = np.where((k == 0) | (k == bins - 1), 1.0, 2.0)[:, None] / n
    scale = max(float(np.abs(w).max()), 1e-12)
    for o in range(n - k_len + 1):
        angle = 2 * np.pi * np.mod(np.outer(k, np.arange(o, o + k_len)), n) / n
        basis = np.concatenate([np.cos(angle) * c * window, -np.sin(angle) * c * window])
        if float(np.abs(basis - w).max()) <= 1e-5 * scale:
            return o, window
    return None


def _inverse_rfft_frames(gr: _Graph, x: str, w: np.ndarray) -> tuple[list[onnx.NodeProto], str] | None:
    """For a synthesis basis ``w`` (``_synthesis_basis``): nodes computing frames[B, F, K] = x^T @ w from the
    spectrum x[B, 2 bins, F] (real rows, then imaginary rows) as a four-step inverse FFT of two batched MatMuls,
    F innermost. With N = P * Q, bin k = Q k1 + k2, sample n = n1 + P n2:

        x[n] = Re sum_k2 exp(2 pi i k2 n2 / Q) [exp(2 pi i k2 n1 / N) sum_k1 X[Q k1 + k2] exp(2 pi i k1 n1 / P)]

    A Gather lays the Hermitian spectrum out per k2; the first MatMul's Q matrices hold the inner DFT, the twiddle
    factors and the conjugation of the bins above N/2, the second's P matrices only the output samples needed, the
    window and 1/N. Both are computed on the constant path from small angle tables (onnxruntime folds them at load;
    bundles have a size budget). At N = 1024, K = 512: 164 k multiply-adds a frame against 525 k for the dense
    basis, and 0.66 MB of weights to read against 2.1 MB."""
    found = _synthesis_basis(w)
    split = _split(2 * (w.shape[0] // 2 - 1))
    if found is None or split is None:
        return None
    (o, window), (p, q) = found, split
    n, bins, k_len = p * q, w.shape[0] // 2, w.shape[1]
    k = q * np.arange(p)[None, :] + np.arange(q)[:, None]  # [k2, k1]
    mirrored = k > n // 2
    kk = np.where(mirrored, n - k, k)
    idx = np.stack([kk, bins + kk], axis=1)  # [k2, (re, im), k1]
    a = np.arange(p)
    n2s = np.arange(o // p, (o + k_len - 1) // p + 1)
    at = a[:, None] + p * n2s[None, :]  # [n1, n2]: the output sample
    inside = (at >= o) & (at < o + k_len)
    f32 = lambda v: np.asarray(v, np.float32)  # noqa: E731
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    c = gr.const
    # the first MatMul's matrices [k2, (re, im) x n1, (re, im) x k1], angles reduced modulo 2 pi in float64
    inner = 2 * np.pi * np.mod(np.outer(a, a), p) / p  # [n1, k1]
    twiddle = 2 * np.pi * np.outer(np.arange(q), a) / n  # [k2, n1]
    conj = np.where(mirrored, -1.0, 1.0)[:, None, :]  # [k2, 1, k1]
    # the second's [n1, n2, (re, im) x k2]: cos and -sin of 2 pi k2 n2 / Q, times window(n) / N
    outer = 2 * np.pi * np.mod(np.outer(n2s, np.arange(q)), q) / q
    wn = np.where(inside, window[np.clip(at - o, 0, k_len - 1)], 0.0) / n  # [n1, n2]
    nodes = [
        helper.make_node(
            "Add", [c("inner", f32(inner[None])), c("twiddle", f32(twiddle[:, :, None]))], [th := gr.name("th")]
        ),
        helper.make_node("Cos", [th], [cos := gr.name("cos")]),
        helper.make_node("Sin", [th], [sin := gr.name("sin")]),
        helper.make_node("Mul", [sin, c("minus_conj", f32(-conj))], [s1 := gr.name("ms")]),
        helper.make_node("Mul", [cos, c("conj", f32(conj))], [c1 := gr.name("cc")]),
        helper.make_node("Concat", [cos, s1], [top := gr.name("top")], axis=2),
        helper.make_node("Concat", [sin, c1], [bottom := gr.name("bottom")], axis=2),
        helper.make_node("Concat", [top, bottom], [g1 := gr.name("idft_inner")], axis=1),
        helper.make_node(
            "Concat", [c("cos2", f32(np.cos(outer))), c("msin2", f32(-np.sin(outer)))], [g2s := gr.name("g2")], axis=1
        ),
        helper.make_node("Mul", [g2s, c("window", f32(wn[:, :, None]))], [g2 := gr.name("idft_outer")]),
        # the signal path
        helper.make_node("Gather", [x, c("hermitian", idx.reshape(-1))], [z := gr.name("spectrum")], axis=1),
        helper.make_node("Reshape", [z, c("k2_2k1_F", i64(0, q, 2 * p, -1))], [z1 := gr.name("k2_2k1_F")]),
        helper.make_node("MatMul", [g1, z1], [y1 := gr.name("inner")]),  # [B, k2, (re, im) x n1, F]
        helper.make_node("Reshape", [y1, c("k2_2_n1_F", i64(0, q, 2, p, -1))], [y2 := gr.name("k2_2_n1_F")]),
        helper.make_node("Transpose", [y2], [y3 := gr.name("n1_2_k2_F")], perm=[0, 3, 2, 1, 4]),
        helper.make_node("Reshape", [y3, c("n1_2k2_F", i64(0, p, 2 * q, -1))], [y4 := gr.name("n1_2k2_F")]),
        helper.make_node("MatMul", [g2, y4], [y5 := gr.name("outer")]),  # [B, n1, n2, F]
        helper.make_node("Transpose", [y5], [y6 := gr.name("F_n2_n1")], perm=[0, 3, 2, 1]),
        helper.make_node("Reshape", [y6, c("F_n", i64(0, 0, -1))], [fr := gr.name("samples")]),
    ]
    start = o - n2s[0] * p
    if start or len(n2s) * p != k_len:
        nodes.append(
            helper.make_node(
                "Slice",
                [fr, c("from", i64(start)), c("to", i64(start + k_len)), c("axis2", i64(2))],
                [fr := gr.name("frames")],
            )
        )
    return nodes, fr


def _conv_transpose(gr: _Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """A ConvTranspose to one channel with a constant weight W[C, 1, K], stride S, K = m * S, no padding, group 1,
    no bias (the inverse STFT's synthesis and overlap-add): frames = x^T[B, F, C] @ W[C, K] (a four-step inverse FFT
    when W is an inverse DFT basis, ``_inverse_rfft_frames``; else pre-packed), then
    the m overlapping S-sample pieces of each frame shifted and added -> [B, 1, (F + m - 1) S]. onnxruntime's
    ConvTranspose kernel took 0.83 ms of a 64-frame decoder call (profiler) for 17 M multiply-adds."""
    a = _attrs(node)
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
    w = _constant_value(gr, node.input[1])
    if w.ndim != 3 or w.shape[1] != 1 or w.shape[2] != k:
        return None
    m = k // s
    fft = _inverse_rfft_frames(gr, node.input[0], w[:, 0, :])
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


def _matmul_synthesis(gr: _Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """What an earlier version of ``_conv_transpose`` wrote: Transpose(x) -> MatMul with a synthesis basis
    (``_synthesis_basis``) -> the four-step inverse FFT of ``_inverse_rfft_frames``; the Transpose goes if
    nothing else reads it."""
    transpose = gr.producer.get(node.input[0])
    if transpose is None or transpose.op_type != "Transpose" or _attrs(transpose).get("perm") != [0, 2, 1]:
        return None
    if not gr.is_constant(node.input[1]):
        return None
    w = _constant_value(gr, node.input[1])
    if w.ndim != 2:
        return None
    fft = _inverse_rfft_frames(gr, transpose.input[0], w)
    if fft is None:
        return None
    nodes, frames = fft
    return nodes + [helper.make_node("Identity", [frames], [node.output[0]])]


def _conv_pointwise(gr: _Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """A 1x1 Conv (kernel 1, stride 1, no padding, group 1) with a constant weight W[O, C, 1]: x[B, C, F] ->
    x^T[B, F, C] @ W^T[C, O] (+ bias) -> [B, O, F]. onnxruntime pre-packs a constant right-hand MatMul operand at
    load, and streams it from memory faster than the Conv's weight: 12 such 768 x 256 layers (9.4 MB) took 0.65 ms
    per frame against 1.14 ms as Convs with flushed caches."""
    a = _attrs(node)
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


def _channel_layer_norm(gr: _Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """A layer norm over the channels of x[B, C, F], as the exporter spells it out (nine nodes: ReduceMean over
    axis 1, Sub, Mul, ReduceMean, Add eps, Sqrt, Div, Mul gamma, Add beta; ``node`` is the last Add) ->
    Transpose -> onnxruntime's fused LayerNormalization over the last axis -> Transpose. onnxruntime fuses the
    spelled-out form only over the last axis, so over channels its nine nodes each ran on their own (strided
    reductions); the Transposes cancel against the pointwise MatMul's Transpose that follows."""

    def one(name, op):  # the node producing ``name`` when it is an ``op`` whose output nothing else reads
        n = gr.producer.get(name)
        return n if n is not None and n.op_type == op and len(gr.consumers(n.output[0])) <= 2 else None

    def axis1(reduce):
        a = _attrs(reduce)
        axes = a.get("axes")
        if axes is None and len(reduce.input) > 1 and gr.is_constant(reduce.input[1]):
            axes = _constant_value(gr, reduce.input[1]).tolist()
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
    eps = float(np.asarray(_constant_value(gr, add_eps.input[1])).ravel()[0])
    flat = gr.const("flat", np.array([-1], np.int64))
    return [
        helper.make_node("Transpose", [x], [xt := gr.name("ln_in_T")], perm=[0, 2, 1]),
        helper.make_node("Reshape", [gamma, flat], [g := gr.name("ln_gamma")]),
        helper.make_node("Reshape", [node.input[1], flat], [b := gr.name("ln_beta")]),
        helper.make_node("LayerNormalization", [xt, g, b], [yt := gr.name("ln_T")], axis=-1, epsilon=eps),
        helper.make_node("Transpose", [yt], [node.output[0]], perm=[0, 2, 1]),
    ]


def _conv(gr: _Graph, node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
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
    gr = _Graph(proto)
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


def _session(data: bytes) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def probe_inputs(sess: ort.InferenceSession, hop: int, frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs for a streaming part at ``frames`` latent frames: 'audio' [1, 1, frames * hop], a latent
    [1, D, frames], states at their declared shapes, all scaled like real signals (0.1)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        if i.name == "audio":
            shape[-1] = frames * hop
        elif not i.name.startswith("state."):
            shape[-1] = frames
        feeds[i.name] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
    return feeds


def max_difference(original: bytes, rewritten: bytes, hop: int, frames=(1, 2, 7, 64)) -> float:
    """Max abs difference over every output of the two graphs on the same random inputs, at each frame count,
    relative to max(1, the output's max abs value): random latents can decode to large values."""
    a, b = _session(original), _session(rewritten)
    if [o.name for o in a.get_outputs()] != [o.name for o in b.get_outputs()]:
        raise ValueError("the rewritten graph's outputs differ from the original's")
    worst = 0.0
    for f in frames:
        feeds = probe_inputs(a, hop, f, seed=f)
        for u, v in zip(a.run(None, feeds), b.run(None, feeds)):
            if u.shape != v.shape:
                raise ValueError(f"output shape {v.shape} instead of {u.shape} at {f} frames")
            if u.size:
                worst = max(worst, float(np.abs(u - v).max()) / max(1.0, float(np.abs(u).max())))
    return worst


def speed_up_file(path: Path, hop: int, tolerance: float = REWRITE_TOLERANCE, strict: bool = True) -> tuple[int, float]:
    """Rewrite one ONNX file in place when that changes it and its outputs stay within ``tolerance`` of the
    original's; returns (nodes replaced, max difference). Otherwise the file is left as it was and, when
    ``strict``, ValueError is raised; not strict (export), (0, difference) is returned: a graph whose outputs jump
    on a float rounding (an argmax over pitch bins on random probe inputs), or that random probe inputs cannot run
    (an index computed from an input), is kept as exported."""
    path = Path(path)
    original = path.read_bytes()
    proto, count = speed_up(onnx.load_from_string(original))
    if not count:
        return 0, 0.0
    data = proto.SerializeToString()
    try:
        diff = max_difference(original, data, hop)
    except Exception:  # onnxruntime's private exception types: a graph random inputs cannot run (an index input)
        if strict:
            raise
        return 0, float("nan")
    if not diff <= tolerance:
        if not strict:
            return 0, diff
        raise ValueError(f"{path}: the rewritten graph differs from the original by {diff:.3g} (> {tolerance:g})")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return count, diff


def upgrade_bundle(bundle_dir: Path, tolerance: float = REWRITE_TOLERANCE) -> dict[str, tuple[int, float]]:
    """Rewrite a streaming bundle's parts in place and update the manifest's checksums through the bundle schema.
    Each part is rewritten in a temporary copy, checked against the original file (``max_difference``), and the
    bundle is reloaded (checksums, I/O names) before anything in ``bundle_dir`` is replaced."""
    bundle_dir = Path(bundle_dir)
    bundle = load_bundle(bundle_dir)
    m = bundle.manifest
    if m.streaming is None:
        raise ValueError(f"{bundle_dir}: not a streaming bundle; only streaming graphs are rewritten")
    report = {}
    with tempfile.TemporaryDirectory(dir=bundle_dir.parent) as tmp:
        tmp = Path(tmp)
        for fname in m.files:
            (tmp / fname).write_bytes((bundle_dir / fname).read_bytes())
        for part, fname in m.parts.items():
            report[part] = speed_up_file(tmp / fname, m.latent_hop, tolerance)
        if not any(count for count, _ in report.values()):
            return report
        files = {**m.files, **{fname: sha256_file(tmp / fname) for fname in m.parts.values()}}
        write_manifest(tmp, dataclasses.replace(m, files=files))
        load_bundle(tmp)  # the schema reads back what it wrote, and every checksum matches
        for fname in list(m.parts.values()) + ["manifest.json"]:  # the manifest last: a crash between leaves a
            # bundle whose checksums name the file that changed, which the player refuses
            (tmp / fname).replace(bundle_dir / fname)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Rewrite a streaming bundle's graphs in place for speed (same outputs "
        "to float rounding, checked against the original files before replacing them)."
    )
    p.add_argument("bundle", type=Path)
    p.add_argument("--tolerance", type=float, default=REWRITE_TOLERANCE)
    args = p.parse_args(argv)
    for part, (count, diff) in upgrade_bundle(args.bundle, args.tolerance).items():
        print(f"{part}: {count} nodes rewritten, max abs difference to the original {diff:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
