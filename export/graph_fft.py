"""Four-step FFT subgraphs that replace a dense (inverse) DFT basis in an ONNX graph, and the tests that recognise
such a basis (a windowed real DFT for the STFT front end, a windowed inverse real DFT for the inverse STFT).

Used by the speed rewrites of export/graph_rewrites.py; measured in docs/streaming.md ("Speed").
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from models.fft import factor_pair

from .onnx_graph import Graph


def windowed_dft(weight: np.ndarray) -> np.ndarray | None:
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


def real_dft(gr: Graph, x: str, n: int, out: str) -> list[onnx.NodeProto]:
    """Nodes computing ``out`` [B, 2 (n/2+1), F] (the real parts of bins 0..n/2, then the imaginary parts) from real
    frames ``x`` [B, F, n]: a four-step FFT of two MatMuls. With n = n1 * n2, sample i = n2 a + b, bin k = c + n1 d:

        X[c + n1 d] = sum_b exp(-2 pi i b d / n2) * [exp(-2 pi i b c / n) * sum_a x[n2 a + b] exp(-2 pi i a c / n1)]

    The frames go to [B, n, F] first (F innermost all the way, so every later transpose moves whole rows of F).
    The first MatMul ([4 n1, n1] on the left) gives the inner sums as (re, im) and again as (im, re), so the
    twiddle factors are one Mul and one Add; the second ([2 d, 2 n2] on the left, per c) sums over b. At n = 1024:
    about 270 k multiply-adds a frame against 1.05 M for the dense basis, 33 kB of constants, and no 5-D transpose
    of the spectrum (onnxruntime's own DFT kernel and the transposes around it took 2.1 ms of a 64-frame encoder
    call; docs/streaming.md, "Speed")."""
    n1, n2 = factor_pair(n)
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


def synthesis_basis(w: np.ndarray) -> tuple[int, np.ndarray] | None:
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


def inverse_rfft_frames(gr: Graph, x: str, w: np.ndarray) -> tuple[list[onnx.NodeProto], str] | None:
    """For a synthesis basis ``w`` (``synthesis_basis``): nodes computing frames[B, F, K] = x^T @ w from the
    spectrum x[B, 2 bins, F] (real rows, then imaginary rows) as a four-step inverse FFT of two batched MatMuls,
    F innermost. With N = P * Q, bin k = Q k1 + k2, sample n = n1 + P n2:

        x[n] = Re sum_k2 exp(2 pi i k2 n2 / Q) [exp(2 pi i k2 n1 / N) sum_k1 X[Q k1 + k2] exp(2 pi i k1 n1 / P)]

    A Gather lays the Hermitian spectrum out per k2; the first MatMul's Q matrices hold the inner DFT, the twiddle
    factors and the conjugation of the bins above N/2, the second's P matrices only the output samples needed, the
    window and 1/N. Both are computed on the constant path from small angle tables (onnxruntime folds them at load;
    bundles have a size budget). At N = 1024, K = 512: 164 k multiply-adds a frame against 525 k for the dense
    basis, and 0.66 MB of weights to read against 2.1 MB."""
    found = synthesis_basis(w)
    sizes = factor_pair(2 * (w.shape[0] // 2 - 1))
    if found is None or sizes is None:
        return None
    (o, window), (p, q) = found, sizes
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
