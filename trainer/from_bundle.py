"""A model bundle read back as a checkpoint: the weights its ONNX graphs hold (fp16 or fp32), the run config its
manifest records. So a shipped bundle can be re-exported with today's code (``latentsynth-export BUNDLE``) or
trained further (``latentsynth-train ... --init-from BUNDLE``) on a machine that does not have its run.

Parameters and buffers are matched by name (the exporter names each initializer after the module path). A buffer
the exporter folded into a Clip (the timbre family's input bounds) is read from that Clip. Nothing is guessed:
a parameter not found is an error, and the caller checks the rebuilt decoder against the bundle's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from models import build_model

from .checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointError, component_states
from .config import RunConfig

GRAPHS = ("encoder.onnx", "decoder.onnx", "quantizer.onnx")
# buffers the exporter folds into a Clip of one graph input: (buffer name suffix, the Clip's data input), or into a
# Clip of that input's channel 0 (a Slice from 0: 'z' when a timbre code follows the loudness)
CLIPPED_BUFFERS = {"bounds.loudness": "z"}
CLIPPED_SLICES = {"bounds.pitch": "control", "bounds.loudness": "z"}


def is_bundle(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / "manifest.json").is_file()


def _initializers(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    out = {}
    for t in graph.initializer:
        name = t.name
        if not name.startswith("model."):
            continue
        name = name[len("model.") :].removesuffix(".fp16")
        out[name] = numpy_helper.to_array(t).astype(np.float32)
    return out


def _clip_bounds(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """{buffer name: [min, max]} for the Clips in CLIPPED_BUFFERS / CLIPPED_SLICES, from their constant inputs."""
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    found = {}
    for node in graph.node:
        if node.op_type != "Clip" or len(node.input) != 3 or not all(i in consts for i in node.input[1:]):
            continue
        bounds = np.array([float(consts[node.input[1]]), float(consts[node.input[2]])], np.float32)
        for name, source in CLIPPED_BUFFERS.items():
            if node.input[0] == source:
                found[name] = bounds
        src = producers.get(node.input[0])
        if src is None or src.op_type != "Slice" or len(src.input) < 2 or src.input[1] not in consts:
            continue
        if consts[src.input[1]].size != 1 or int(consts[src.input[1]].reshape(-1)[0]) != 0:
            continue  # a Slice from a channel other than 0 (the timbre code after the loudness)
        for name, source in CLIPPED_SLICES.items():
            if src.input[0] == source and name not in found:
                found[name] = bounds
    return found


def checkpoint_from_bundle(bundle: Path) -> dict[str, Any]:
    """The checkpoint dict (as ``load_checkpoint`` returns it) of the model a bundle was exported from."""
    bundle = Path(bundle)
    try:
        manifest = json.loads((bundle / "manifest.json").read_text())
        config = manifest["provenance"]["config"]
        step = int(manifest["provenance"].get("step", 0))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{bundle}: its manifest records no run config ({exc})") from exc
    model = build_model(RunConfig.from_dict(config).model)
    weights: dict[str, np.ndarray] = {}
    for name in GRAPHS:
        if (bundle / name).is_file():
            graph = onnx.load(str(bundle / name)).graph
            weights.update(_initializers(graph))
            weights.update({k: v for k, v in _clip_bounds(graph).items() if k not in weights})
    persistent = model.state_dict()
    params = {k for k, _ in model.named_parameters()}
    missing = sorted(k for k in persistent if k not in weights)
    lost = [k for k in missing if k in params or any(k.endswith(b) for b in (*CLIPPED_BUFFERS, *CLIPPED_SLICES))]
    if lost:
        raise CheckpointError(f"{bundle}: its graphs do not hold {', '.join(lost)}")
    state = {k: torch.from_numpy(weights[k]).reshape(v.shape) if k in weights else v for k, v in persistent.items()}
    model.load_state_dict(state)
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": config,
        "step": step,
        "model": component_states(model),
        "ema": None,
        "path": str(bundle),
        "from_bundle": True,
    }


__all__ = ["checkpoint_from_bundle", "is_bundle"]
