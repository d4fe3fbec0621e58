"""Turn the shipped causal default (a streaming bundle) into a checkpoint with a narrower decoder, to fine-tune from.

Most of a streaming decoder call is its ConvNeXt MLPs (docs/streaming.md, "Round 4"): four 256 -> 768 -> 256
pointwise pairs. This rebuilds the torch model from the bundle's ONNX weights (float16, weight norm folded; the
channel norms' affine parameters are unnamed [1, C, 1] constants in module order), proves the rebuild against
the bundle's own graphs on audio, then keeps in each MLP the ``--hidden`` units with the largest
||pw1 row|| * ||pw2 column|| * |layer scale| share and writes a checkpoint ``latentsynth-train --init-from`` accepts.
The decoder's mel head (a training-only output, not exported) starts fresh.

    python scripts/narrow_decoder.py --bundle desktop/factory/default --hidden 384 --out runs/narrow-init.pt
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from causal_init import save_init, state_from_onnx  # noqa: E402

from desktop.engine.bundle import load_bundle  # noqa: E402
from export.streaming import run_blocks, state_specs  # noqa: E402
from models import build_model  # noqa: E402
from trainer.config import RunConfig  # noqa: E402


def streaming_weights(path: Path) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Named initializers ('model.<path>[.fp16]' -> '<path>', float32) and, in file order, the unnamed [1, C, 1]
    ones (the channel norms' weight and bias)."""
    named, unnamed = {}, []
    for init in onnx.load(str(path)).graph.initializer:
        value = numpy_helper.to_array(init).astype(np.float32)
        if init.name.startswith("model."):
            named[init.name[len("model.") :].removesuffix(".fp16")] = value
        elif value.ndim == 3 and value.shape[0] == 1 and value.shape[2] == 1 and value.shape[1] > 1:
            unnamed.append(value)
    return named, unnamed


def load_from_streaming_bundle(model: torch.nn.Module, bundle: Path, parts: dict[str, str]) -> None:
    enc, _ = streaming_weights(bundle / parts["encoder"])
    dec, norms = streaming_weights(bundle / parts["decoder"])
    state_from_onnx(model, {**enc, **dec}, norms, fresh=("decoder.mel_head.",))


def prune_mlps(model: torch.nn.Module, hidden: int) -> list[float]:
    """Keep ``hidden`` units of every decoder ConvNeXt MLP (in place: the modules are replaced); returns, per block,
    the share of sum(||pw1 row|| * ||pw2 column||) the kept units hold."""
    shares = []
    for block in model.decoder.backbone:
        w1, b1 = block.pw1.weight.data[:, :, 0], block.pw1.bias.data
        w2, b2 = block.pw2.weight.data[:, :, 0], block.pw2.bias.data
        score = w1.norm(dim=1) * w2.norm(dim=0)
        keep = torch.sort(torch.topk(score, hidden).indices).values
        shares.append(float(score[keep].sum() / score.sum()))
        pw1 = torch.nn.Conv1d(w1.shape[1], hidden, 1)
        pw2 = torch.nn.Conv1d(hidden, w2.shape[0], 1)
        pw1.weight.data, pw1.bias.data = w1[keep][:, :, None].clone(), b1[keep].clone()
        pw2.weight.data, pw2.bias.data = w2[:, keep][:, :, None].clone(), b2.clone()
        block.pw1, block.pw2 = pw1, pw2
    return shares


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, type=Path, help="a causal (streaming) mel-vae bundle")
    p.add_argument("--hidden", required=True, type=int, help="units to keep in each decoder MLP")
    p.add_argument("--out", required=True, type=Path, help="checkpoint file to write")
    args = p.parse_args(argv)
    if args.out.exists():
        raise SystemExit(f"{args.out}: exists; give a new file name")
    bundle = load_bundle(args.bundle)
    manifest = json.loads((args.bundle / "manifest.json").read_text())
    config = RunConfig.from_dict(manifest["provenance"]["config"])
    model = build_model(config.model).eval()
    load_from_streaming_bundle(model, args.bundle, bundle.manifest.parts)
    rng = np.random.default_rng(0)
    audio = (0.05 * rng.standard_normal(256 * 64)).astype(np.float32)
    names = [name for name, _, _ in model.levels]
    graphs = run_blocks(args.bundle, bundle.manifest.parts, state_specs(model), audio, audio.shape[0], names)
    with torch.no_grad():
        ref = model.decode(model.encode(torch.from_numpy(audio)[None, None]))[0, 0].numpy()
    err = float(np.abs(graphs - ref).max())
    print(f"rebuilt {args.bundle} in torch: max abs error against its graphs {err:.2e}", file=sys.stderr)
    if not err < 1e-3:
        raise SystemExit("the rebuilt model does not reproduce the bundle; refusing to write a checkpoint")
    shares = prune_mlps(model, args.hidden)
    print("kept share of each MLP: " + ", ".join(f"{s:.2f}" for s in shares), file=sys.stderr)
    config.model.dec_hidden = args.hidden
    narrow = build_model(config.model)
    narrow.load_state_dict(model.state_dict())
    save_init(args.out, config, narrow, int(manifest["provenance"].get("step", 0)), args.bundle)
    print(f"wrote {args.out} (decoder MLPs {args.hidden} wide)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
