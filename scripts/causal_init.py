"""Turn a shipped non-causal mel-VAE bundle into a checkpoint of its causal variant, to fine-tune from.

The factory default's training checkpoint is not in the repository, but its weights are: the ONNX initializers
(weight norm folded). This rebuilds the torch model from them, proves the rebuild by running the bundle's decoder and
encoder against torch, then saves the SAME weights under the causal config (``causal: true``; the state dict keys
are identical by design), as a checkpoint ``latentsynth-train --init-from`` accepts.

    python -m scripts.causal_init --bundle desktop/factory/mel-vae --config trainer/presets/factory-causal.yaml \
        --out runs/causal-init.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from core.session import open_session
from models import build_model
from trainer.checkpoint import component_states, save_checkpoint
from trainer.config import RunConfig, load_config


def onnx_weights(path: Path) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Named initializers ('model.<path>') and, in file order, the unnamed [C, 1] ones (GroupNorm affine)."""
    named, unnamed = {}, []
    for init in onnx.load(str(path)).graph.initializer:
        value = numpy_helper.to_array(init)
        if init.name.startswith("model."):
            named[init.name[len("model.") :]] = value
        elif value.ndim == 2 and value.shape[1] == 1 and value.shape[0] > 1:
            unnamed.append(value)
    return named, unnamed


def state_from_onnx(
    model: torch.nn.Module, weights: dict[str, np.ndarray], norms: list[np.ndarray], fresh: tuple[str, ...] = ()
) -> None:
    """Load ``model`` from a bundle's weights: the named ones (weight norm refolded: g = ||W|| per output channel,
    v = W) and the decoder's norm affine parameters, unnamed in the graphs, from ``norms`` in module order. Keys
    starting with a ``fresh`` prefix (parts the bundle does not export) keep their initial values."""
    own = model.state_dict()
    state = {}
    for key, tensor in own.items():
        if ".parametrizations.weight.original" in key:
            base = key.split(".parametrizations.")[0]
            w = torch.from_numpy(weights[base + ".weight"].copy())
            state[key] = w.flatten(1).norm(dim=1).reshape(-1, 1, 1) if key.endswith("original0") else w
        elif key in weights:
            state[key] = torch.from_numpy(weights[key].copy()).reshape(tensor.shape)
    norm_keys = [k for k in own if k.startswith("decoder.") and (".norm." in k or k.startswith("decoder.norm."))]
    if len(norm_keys) != len(norms):
        raise SystemExit(f"expected {len(norm_keys)} norm tensors in the decoder graph, found {len(norms)}")
    for key, value in zip(norm_keys, norms):
        state[key] = torch.from_numpy(value.reshape(-1).copy())
    missing = [k for k in own if k not in state and not k.startswith(fresh)]
    if missing:
        raise SystemExit(f"no ONNX weights for {sorted(missing)}")
    model.load_state_dict({**own, **state})


def load_from_bundle(model: torch.nn.Module, bundle: Path) -> None:
    enc, _ = onnx_weights(bundle / "encoder.onnx")
    dec, norms = onnx_weights(bundle / "decoder.onnx")  # GroupNorm weight/bias: unnamed [C, 1] constants
    state_from_onnx(model, {**{k: v for k, v in enc.items() if k.startswith("encoder.")}, **dec}, norms)


def save_init(out: Path, config: RunConfig, model: torch.nn.Module, step: int, bundle: Path) -> None:
    """A checkpoint ``latentsynth-train --init-from`` accepts: the model's weights, no optimiser, no EMA."""
    save_checkpoint(
        out,
        {
            "config": config.to_dict(),
            "model": component_states(model),
            "ema": None,
            "step": step,
            "source_bundle": str(bundle),
        },
    )


def check_against_bundle(model: torch.nn.Module, bundle: Path) -> float:
    """Max abs difference of the rebuilt (non-causal) torch model against the bundle's own ONNX parts."""
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 1, 256 * 64)).astype(np.float32) * 0.1)
    with torch.no_grad():
        z = model.encode(x)["z"]
        y = model.decode({"z": z})
    enc = open_session(bundle / "encoder.onnx", threads=None)
    dec = open_session(bundle / "decoder.onnx", threads=None)
    zo = enc.run(["z"], {"audio": x.numpy()})[0]
    yo = dec.run(["audio"], {"z": z.numpy()})[0]
    return max(float(np.abs(zo - z.numpy()).max()), float(np.abs(yo - y.numpy()).max()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, type=Path, help="a non-causal mel-vae bundle")
    p.add_argument("--config", required=True, help="the causal run's config (preset name or YAML)")
    p.add_argument("--out", required=True, type=Path, help="checkpoint file to write")
    args = p.parse_args(argv)
    manifest = json.loads((args.bundle / "manifest.json").read_text())
    source = RunConfig.from_dict(manifest["provenance"]["config"])
    target = load_config(args.config)
    plain = build_model(source.model).eval()
    load_from_bundle(plain, args.bundle)
    err = check_against_bundle(plain, args.bundle)
    print(f"rebuilt {args.bundle} in torch: max abs error against its ONNX parts {err:.2e}", file=sys.stderr)
    if not err < 1e-3:
        raise SystemExit("the rebuilt model does not reproduce the bundle; refusing to write a checkpoint")
    causal = build_model(target.model)
    causal.load_state_dict(plain.state_dict())
    save_init(args.out, target, causal, int(manifest["provenance"].get("step", 0)), args.bundle)
    print(f"wrote {args.out} ({target.model.family}, causal={target.model.causal})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
