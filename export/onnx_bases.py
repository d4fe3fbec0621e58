"""Replace the fixed DFT bases in an exported ONNX file by nodes that compute them (a bundle stores no 4 MB basis).

The torch modules keep their bases as non-persistent buffers (the torch model stays the reference); the dynamo
exporter stores them as initializers. After export, every initializer that equals (bit for bit) a basis buffer of
:class:`models.istft.InverseSTFT` or :class:`models.mel.MelFrontEnd` is swapped for a small subgraph that builds it from
scalars: Range -> (k*n mod n_fft, in int64 so no large angle reaches a cosine) -> float64 Cos/Sin, times a
Hann window computed the same way -> float32. Every input of that subgraph is constant, so onnxruntime folds it at
session creation: inference runs on the same float32 tensor as before. The generated values are checked against the
buffer before the file is rewritten.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from core.session import open_session
from models.istft import CausalInverseSTFT, InverseSTFT
from models.mel import MelFrontEnd

from .onnx_graph import Graph

# the generated float32 basis may differ from torch's by float64 rounding carried into float32 (one ulp, < 1e-7)
MAX_BASIS_ERROR = 1e-6


def _window(g: Graph, n_fft: int) -> tuple[str, str, str]:
    """(window float64[n_fft], n int64[n_fft], step 2 pi / n_fft): torch.hann_window(periodic=True, float64) =
    0.5 - 0.5 * cos(n * step)."""
    n = g.op("Range", g.literal(0, np.int64), g.literal(n_fft, np.int64), g.literal(1, np.int64))
    step = g.literal(2 * math.pi / n_fft, np.float64)
    half = g.literal(0.5, np.float64)
    n_angle = g.op("Mul", g.op("Cast", n, to=TensorProto.DOUBLE), step)
    return g.op("Sub", half, g.op("Mul", half, g.op("Cos", n_angle))), n, step


def _dft_terms(g: Graph, n_fft: int) -> tuple[str, str, str, str]:
    """(cos, sin, window, k) as float64[bins, n_fft], float64[bins, n_fft], float64[n_fft], int64[bins]."""
    window, n, step = _window(g, n_fft)
    k = g.op("Range", g.literal(0, np.int64), g.literal(n_fft // 2 + 1, np.int64), g.literal(1, np.int64))
    kn = g.op("Mod", g.op("Mul", g.op("Unsqueeze", k, g.literal([1], np.int64)), n), g.literal(n_fft, np.int64), fmod=0)
    angle = g.op("Mul", g.op("Cast", kn, to=TensorProto.DOUBLE), step)
    return g.op("Cos", angle), g.op("Sin", angle), window, k


def _stft_basis(g: Graph, n_fft: int, out: str) -> None:
    """MelFrontEnd.basis: cat([cos * w, -sin * w])[:, None, :] as float32[2*bins, 1, n_fft]."""
    cos, sin, window, _ = _dft_terms(g, n_fft)
    basis = g.op("Concat", g.op("Mul", cos, window), g.op("Mul", g.op("Neg", sin), window), axis=0)
    g.op("Cast", g.op("Unsqueeze", basis, g.literal([1], np.int64)), to=TensorProto.FLOAT, out=out)


def _istft_basis(g: Graph, n_fft: int, out: str) -> None:
    """InverseSTFT.basis: cat([cos*s/n_fft*w, -sin*s/n_fft*w])[:, None, :]; s is 1 at DC and Nyquist, else 2."""
    cos, sin, window, k = _dft_terms(g, n_fft)
    edge = g.op("Equal", g.op("Mod", k, g.literal(n_fft // 2, np.int64), fmod=0), g.literal(0, np.int64))
    scale = g.op(
        "Unsqueeze",
        g.op("Where", edge, g.literal(1.0, np.float64), g.literal(2.0, np.float64)),
        g.literal([1], np.int64),
    )
    size = g.literal(float(n_fft), np.float64)

    def term(x: str) -> str:
        return g.op("Mul", g.op("Div", g.op("Mul", x, scale), size), window)

    basis = g.op("Concat", term(cos), term(g.op("Neg", sin)), axis=0)
    g.op("Cast", g.op("Unsqueeze", basis, g.literal([1], np.int64)), to=TensorProto.FLOAT, out=out)


def _istft_win_sq(g: Graph, n_fft: int, out: str) -> None:
    """InverseSTFT.win_sq: (w ** 2)[None, None, :] as float32[1, 1, n_fft] (the window alone: no DFT terms)."""
    window, _, _ = _window(g, n_fft)
    sq = g.op("Mul", window, window)
    g.op("Cast", g.op("Unsqueeze", sq, g.literal([0, 1], np.int64)), to=TensorProto.FLOAT, out=out)


def _causal_istft_basis(module: CausalInverseSTFT) -> Callable:
    """CausalInverseSTFT.basis: the InverseSTFT terms for n in [offset, offset + 2*hop) times its synthesis window
    (2*hop float64 values stored as a constant: 4 kB instead of the 2 MB basis)."""
    offset, support = module.offset, 2 * module.hop
    window_values = module.window.detach().cpu().numpy().astype(np.float64)

    def generate(g: Graph, n_fft: int, out: str) -> None:
        n = g.op("Range", g.literal(offset, np.int64), g.literal(offset + support, np.int64), g.literal(1, np.int64))
        k = g.op("Range", g.literal(0, np.int64), g.literal(n_fft // 2 + 1, np.int64), g.literal(1, np.int64))
        kn = g.op(
            "Mod", g.op("Mul", g.op("Unsqueeze", k, g.literal([1], np.int64)), n), g.literal(n_fft, np.int64), fmod=0
        )
        angle = g.op("Mul", g.op("Cast", kn, to=TensorProto.DOUBLE), g.literal(2 * math.pi / n_fft, np.float64))
        edge = g.op("Equal", g.op("Mod", k, g.literal(n_fft // 2, np.int64), fmod=0), g.literal(0, np.int64))
        scale = g.op(
            "Unsqueeze",
            g.op("Where", edge, g.literal(1.0, np.float64), g.literal(2.0, np.float64)),
            g.literal([1], np.int64),
        )
        weight = g.op("Div", g.literal(window_values, np.float64), g.literal(float(n_fft), np.float64))

        def term(x: str) -> str:
            return g.op("Mul", g.op("Mul", x, scale), weight)

        basis = g.op("Concat", term(g.op("Cos", angle)), term(g.op("Neg", g.op("Sin", angle))), axis=0)
        g.op("Cast", g.op("Unsqueeze", basis, g.literal([1], np.int64)), to=TensorProto.FLOAT, out=out)

    return generate


def known_bases(model: nn.Module) -> list[tuple[np.ndarray, int, Callable]]:
    """(buffer as float32 numpy, n_fft, generator) for every fixed basis buffer in ``model``."""
    found = []
    for module in model.modules():
        if isinstance(module, CausalInverseSTFT):
            found.append((module.basis, module.n_fft, _causal_istft_basis(module)))
        elif isinstance(module, InverseSTFT):
            found += [(module.basis, module.n_fft, _istft_basis), (module.win_sq, module.n_fft, _istft_win_sq)]
        elif isinstance(module, MelFrontEnd):
            found.append((module.basis, module.n_fft, _stft_basis))
    return [(t.detach().cpu().numpy().astype(np.float32), n, gen) for t, n, gen in found]


def _evaluate(nodes: list, out: str, like: TensorProto, opsets) -> np.ndarray:
    """Run the generator nodes alone in onnxruntime (the same kernels that fold them in the player)."""
    graph = helper.make_graph(nodes, "basis", [], [helper.make_tensor_value_info(out, like.data_type, list(like.dims))])
    model = helper.make_model(graph, opset_imports=opsets)
    return open_session(model.SerializeToString(), threads=None).run([out], {})[0]


def generate_fixed_bases(path: Path, model: nn.Module) -> list[str]:
    """Rewrite the ONNX file at ``path`` so the model's fixed bases are computed in-graph; returns the replaced
    initializer names. Raises RuntimeError if a generated basis does not reproduce the stored one."""
    bases = known_bases(model)
    if not bases:
        return []
    proto = onnx.load(str(path))
    graph = proto.graph
    opsets = [o for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    graph_inputs = {i.name for i in graph.input}
    new_nodes, replaced, keep = [], [], []
    for init in graph.initializer:
        match = None
        if init.data_type == TensorProto.FLOAT and init.name not in graph_inputs:
            value = numpy_helper.to_array(init)
            match = next((b for b in bases if b[0].shape == value.shape and np.array_equal(b[0], value)), None)
        if match is None:
            keep.append(init)
            continue
        stored, n_fft, generator = match
        g = Graph(prefix=f"{init.name}/generated")
        generator(g, n_fft, init.name)
        error = float(np.abs(_evaluate(g.nodes, init.name, init, opsets) - stored).max())
        if not error <= MAX_BASIS_ERROR:
            raise RuntimeError(f"{path.name}: generated '{init.name}' differs from the stored basis by {error:.3g}")
        new_nodes += g.nodes
        replaced.append(init.name)
    if not replaced:
        return []
    del graph.initializer[:]
    graph.initializer.extend(keep)
    # generators first: the node list must stay topologically sorted
    old_nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(new_nodes + old_nodes)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return replaced
