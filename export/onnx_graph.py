"""An ONNX graph being edited: fresh tensor names, constants, nodes by output, and constant folding.

Shared by the speed rewrites (export/graph_rewrites.py, export/graph_fft.py), which replace nodes of an exported
graph, and the basis generators (export/onnx_bases.py), which build small subgraphs from scalars.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from core.session import open_session


def attrs(node: onnx.NodeProto) -> dict:
    """A node's attributes by name, as Python values."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class Graph:
    """A graph being edited: node index by output, fresh names under ``prefix``, constants to add, and ``nodes``,
    the new nodes built with :meth:`op` and :meth:`literal` (a graph of its own when no ``proto`` is given)."""

    def __init__(self, proto: onnx.ModelProto | None = None, prefix: str = "fast"):
        self.proto = proto if proto is not None else onnx.ModelProto()
        self.g = self.proto.graph
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.producer = {o: n for n in self.g.node for o in n.output}
        self.consts = {i.name for i in self.g.initializer} | {s.values.name for s in self.g.sparse_initializer}
        self._n = 0
        self.removed: set[int] = set()  # ids of nodes a rewrite replaced along with the one it was called for
        self.taken = {o for n in self.g.node for o in n.output} | self.consts | {i.name for i in self.g.input}

    def consumers(self, name: str) -> list[onnx.NodeProto]:
        return [n for n in self.g.node if name in n.input]

    def name(self, base: str = "") -> str:
        """A name no tensor of the graph has (a graph rewritten before holds names of this form)."""
        while True:
            self._n += 1
            name = "/".join(p for p in (self.prefix, base, str(self._n)) if p)
            if name not in self.taken:
                self.taken.add(name)
                return name

    def const(self, base: str, value: np.ndarray) -> str:
        """A new initializer holding ``value``; its name."""
        name = self.name(base)
        self.g.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def literal(self, value, dtype) -> str:
        """A new Constant node holding ``value`` as ``dtype``; its output's name."""
        out = self.name()
        self.nodes.append(
            helper.make_node(
                "Constant",
                [],
                [out],
                name=out + "/const",
                value=numpy_helper.from_array(np.asarray(value, dtype=dtype), out),
            )
        )
        return out

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attributes) -> str:
        """A new ``op_type`` node on ``inputs``; its output's name (``out`` when given)."""
        out = out or self.name()
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out + "/" + op_type, **attributes))
        return out

    def is_constant(self, name: str, seen: set | None = None) -> bool:
        """True when ``name`` depends on no graph input (onnxruntime folds it at load)."""
        if name in self.consts:
            return True
        node = self.producer.get(name)
        if node is None:
            return False
        seen = seen if seen is not None else set()
        if id(node) in seen:  # by identity: nodes the rewrites add have no names
            return True
        seen.add(id(node))
        return all(not i or self.is_constant(i, seen) for i in node.input)

    def constant_value(self, name: str) -> np.ndarray:
        """The value of a constant tensor of the graph (an initializer, or computed from initializers in-graph)."""
        for init in self.g.initializer:
            if init.name == name:
                return numpy_helper.to_array(init)
        needed, todo = [], [name]
        while todo:  # the nodes it is computed by, and theirs
            node = self.producer.get(todo.pop())
            if node is not None and node not in needed:
                needed.append(node)
                todo.extend(i for i in node.input if i)
        order = [n for n in self.g.node if n in needed]
        probe = onnx.ModelProto.FromString(self.proto.SerializeToString())
        del probe.graph.node[:], probe.graph.input[:], probe.graph.output[:]
        probe.graph.node.extend(order)
        probe.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
        return open_session(probe.SerializeToString()).run(None, {})[0]
