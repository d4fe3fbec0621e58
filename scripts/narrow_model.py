"""Turn the shipped causal default (a streaming bundle) into a narrower model's checkpoint, to fine-tune from.

A live block's cost is mostly bytes and nodes touched with cold caches (docs/streaming.md, rounds 5-7), so a
cheaper default is a smaller one. This rebuilds the torch model from the bundle's ONNX weights (float16, weight
norm folded; the channel norms' affine parameters are unnamed [1, C, 1] constants in module order), proves the
rebuild against the bundle's own graphs on audio, then narrows any of:

- ``--hidden H``: each decoder ConvNeXt MLP keeps the H units with the largest ||pw1 row|| * ||pw2 column||;
- ``--blocks N``: the decoder keeps the N ConvNeXt blocks whose residual branch adds the most on real audio;
- ``--enc-channels E``: the encoder keeps the E residual-stream channels (and, inside each residual unit, the E
  channels) with the largest mean |activation| on real audio.

``--data`` gives that audio (a few seconds of each of a few files; needed for ``--blocks`` and ``--enc-channels``).
The checkpoint is what ``latentsynth-train --init-from`` accepts; the decoder's mel head (a training-only output,
not exported) starts fresh.

    python -m scripts.narrow_model --bundle desktop/factory/default --hidden 256 --blocks 3 --enc-channels 96 \
        --data corpus/train --out runs/small-init.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import soundfile as sf
import torch
from onnx import numpy_helper

from core.bundle_io import load_bundle
from export.streaming import run_blocks, state_specs
from models import build_model
from scripts.causal_init import save_init, state_from_onnx
from trainer.config import RunConfig

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


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


def calibration_audio(folder: Path, sample_rate: int, files: int = 24, seconds: float = 3.0) -> torch.Tensor:
    """float32[files, 1, T]: ``seconds`` from the middle of up to ``files`` audio files of ``folder`` (sorted, spread
    evenly over the list), mono, at the model's rate."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not paths:
        raise SystemExit(f"{folder}: no audio files (.wav, .flac, .ogg) to measure activations on")
    picked = [paths[i] for i in np.linspace(0, len(paths) - 1, min(files, len(paths))).astype(int)]
    n = int(seconds * sample_rate) // 256 * 256
    clips = []
    for path in picked:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
        if sr != sample_rate:
            raise SystemExit(f"{path}: {sr} Hz; calibration audio must be at the model's {sample_rate} Hz")
        mono = audio.mean(axis=1)
        start = max(0, (len(mono) - n) // 2)
        clip = np.zeros(n, np.float32)
        clip[: len(mono[start : start + n])] = mono[start : start + n]
        clips.append(clip)
    return torch.from_numpy(np.stack(clips))[:, None]


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


def block_contributions(model: torch.nn.Module, audio: torch.Tensor) -> list[float]:
    """Per decoder ConvNeXt block, ||block(x) - x|| / ||x|| on the latents of ``audio``: what its branch adds."""
    with torch.no_grad():
        h = model.decoder.inp(model.encode(audio)["z"])
        out = []
        for block in model.decoder.backbone:
            nxt = block(h)
            out.append(float((nxt - h).norm() / h.norm()))
            h = nxt
    return out


def drop_blocks(model: torch.nn.Module, keep: list[int]) -> None:
    """Keep only the decoder ConvNeXt blocks at indices ``keep`` (in order; in place)."""
    model.decoder.backbone = torch.nn.Sequential(*[model.decoder.backbone[i] for i in keep])


def encoder_activity(model: torch.nn.Module, audio: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Mean |activation| per channel of the encoder's residual stream (after each of its first four layers,
    summed) and, per residual unit, of its inner channels (the dilated conv's output)."""
    net = model.encoder.net
    with torch.no_grad():
        h = net[0](model.front(audio))
        stream = h.abs().mean(dim=(0, 2))
        inner = []
        for unit in net[1:4]:
            inner.append(unit.net[1](unit.net[0](h)).abs().mean(dim=(0, 2)))
            h = unit(h)
            stream = stream + h.abs().mean(dim=(0, 2))
    return stream, inner


def top(score: torch.Tensor, k: int) -> torch.Tensor:
    return torch.sort(torch.topk(score, k).indices).values


def narrow_encoder_state(model: torch.nn.Module, channels: int, audio: torch.Tensor) -> dict[str, torch.Tensor]:
    """The encoder's effective weights (weight norm applied) cut to ``channels``, keyed like a narrow model's
    state dict (weight norm refolded: g = ||W|| per output channel, v = W)."""
    stream, inner = encoder_activity(model, audio)
    s = top(stream, channels)
    cuts = {"net.0": (s, slice(None))}
    for i in (1, 2, 3):  # the residual units
        t = top(inner[i - 1], channels)
        cuts[f"net.{i}.net.1"] = (t, s)
        cuts[f"net.{i}.net.3"] = (s, t)
    cuts["net.5"] = (slice(None), s)
    state = {}
    for name, (rows, cols) in cuts.items():
        conv = model.encoder.get_submodule(name)
        w = conv.weight.detach()[rows][:, cols].clone()
        prefix = f"encoder.{name}"
        state[f"{prefix}.parametrizations.weight.original0"] = w.flatten(1).norm(dim=1).reshape(-1, 1, 1)
        state[f"{prefix}.parametrizations.weight.original1"] = w
        state[f"{prefix}.bias"] = conv.bias.detach()[rows].clone()
    return state


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, type=Path, help="a causal (streaming) mel-vae bundle")
    p.add_argument("--hidden", type=int, default=0, help="units to keep in each decoder MLP (0: all)")
    p.add_argument("--blocks", type=int, default=0, help="decoder ConvNeXt blocks to keep (0: all)")
    p.add_argument("--enc-channels", type=int, default=0, help="encoder channels to keep (0: all)")
    p.add_argument("--data", type=Path, help="audio folder to measure activations on (--blocks, --enc-channels)")
    p.add_argument("--out", required=True, type=Path, help="checkpoint file to write")
    args = p.parse_args(argv)
    if args.out.exists():
        raise SystemExit(f"{args.out}: exists; give a new file name")
    if (args.blocks or args.enc_channels) and args.data is None:
        raise SystemExit("--blocks and --enc-channels measure activations on real audio: give --data FOLDER")
    bundle = load_bundle(args.bundle)
    manifest = json.loads((args.bundle / "manifest.json").read_text())
    config = RunConfig.from_dict(manifest["provenance"]["config"])
    model = build_model(config.model).eval()
    load_from_streaming_bundle(model, args.bundle, bundle.manifest.parts)
    rng = np.random.default_rng(0)
    probe = (0.05 * rng.standard_normal(256 * 64)).astype(np.float32)
    names = [name for name, _, _ in model.levels]
    graphs = run_blocks(args.bundle, bundle.manifest.parts, state_specs(model), probe, probe.shape[0], names)
    with torch.no_grad():
        ref = model.decode(model.encode(torch.from_numpy(probe)[None, None]))[0, 0].numpy()
    err = float(np.abs(graphs - ref).max())
    print(f"rebuilt {args.bundle} in torch: max abs error against its graphs {err:.2e}", file=sys.stderr)
    if not err < 1e-3:
        raise SystemExit("the rebuilt model does not reproduce the bundle; refusing to write a checkpoint")
    audio = calibration_audio(args.data, config.model.sample_rate) if args.data is not None else None
    enc_state = {}
    if args.enc_channels:
        enc_state = narrow_encoder_state(model, args.enc_channels, audio)
        config.model.enc_max_channels = args.enc_channels
    if args.blocks:
        adds = block_contributions(model, audio)
        keep = sorted(sorted(range(len(adds)), key=lambda i: -adds[i])[: args.blocks])
        print("decoder blocks add " + ", ".join(f"{a:.3f}" for a in adds) + f"; keeping {keep}", file=sys.stderr)
        drop_blocks(model, keep)
        config.model.dec_blocks = args.blocks
    if args.hidden:
        shares = prune_mlps(model, args.hidden)
        print("kept share of each MLP: " + ", ".join(f"{s:.2f}" for s in shares), file=sys.stderr)
        config.model.dec_hidden = args.hidden
    narrow = build_model(config.model)
    state = {k: v for k, v in model.state_dict().items() if not (enc_state and k.startswith("encoder."))}
    narrow.load_state_dict({**state, **enc_state})
    save_init(args.out, config, narrow, int(manifest["provenance"].get("step", 0)), args.bundle)
    m = config.model
    print(
        f"wrote {args.out} (encoder {m.enc_max_channels} channels, {m.dec_blocks} decoder blocks, "
        f"MLPs {m.dec_hidden or 3 * m.dec_channels} wide)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
