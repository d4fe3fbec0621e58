"""Which prior architecture buys the most held-out likelihood per CPU-minute: the shipped GRU, a dilated causal
convolution stack, or a small causal transformer, trained on the same crops with the same loss (docs/prior.md).

    .venv/bin/python -m benchmarks.prior_arch --bundle desktop/factory/default --data /work/corpus/train \\
        --out /tmp/prior_arch [--archs gru conv transformer] [--steps 3000] [--max-minutes 12]

Each architecture is the shipped prior with its recurrent core swapped: the same input layer, the same 8-component
Gaussian mixture head, ``LatentPrior.nll`` with the same input noise and join mask, the trainer's crops (3 s), Adam
with the cosine schedule, one torch thread, one run after another. The cores are sized to about the GRU's
multiply-adds per generated frame (a streaming step: the conv stack keeps each layer's past frames as state, the
transformer a key/value cache over its 256-frame window). Printed per architecture: parameters, multiply-adds per
frame, state floats per stream, and the held-out NLL (nats per frame and dimension, lower is better) at each
validation with the CPU-minutes spent so far. Only the GRU exports (``prior.onnx``); the others are measured here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from models.prior import LatentPrior

DILATIONS = (1, 2, 4, 8, 16, 32, 64, 128)  # kernel 2: a receptive field of 256 frames, the crop's length
WINDOW = 256  # the transformer attends to this many frames back


class ConvPrior(LatentPrior):
    """WaveNet-style: causal gated convolutions (kernel 2, dilations ``DILATIONS``) with residual and skip paths."""

    def __init__(self, dim: int, mean, std, channels: int, mixtures: int):
        super().__init__(dim, mean, std, hidden=channels, layers=1, mixtures=mixtures, style=False)
        del self.gru
        self.convs = nn.ModuleList(nn.Conv1d(channels, 2 * channels, 2, dilation=d) for d in DILATIONS)
        self.res = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in DILATIONS)

    def forward(self, z: torch.Tensor, h=None, style=None):
        x = self.embed(z, style).transpose(1, 2)  # [B, C, T]
        skip = torch.zeros_like(x)
        for conv, res, d in zip(self.convs, self.res, DILATIONS):
            a, b = conv(F.pad(x, (d, 0))).chunk(2, dim=1)
            y = torch.tanh(a) * torch.sigmoid(b)
            skip = skip + y
            x = x + res(y)
        return (*self._split(self.head(skip.transpose(1, 2) / len(DILATIONS) ** 0.5)), None)

    def step_cost(self) -> tuple[int, int]:
        c = self.hidden
        per_layer = 2 * c * 2 * c + c * c  # two taps into 2C gates, the 1x1 residual
        return len(DILATIONS) * per_layer, sum(DILATIONS) * c


class TransformerPrior(LatentPrior):
    """Pre-norm causal self-attention over the last ``WINDOW`` frames, no positional code (causality gives order)."""

    def __init__(self, dim: int, mean, std, width: int, layers: int, heads: int, mixtures: int):
        super().__init__(dim, mean, std, hidden=width, layers=layers, mixtures=mixtures, style=False)
        del self.gru
        block = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)

    def forward(self, z: torch.Tensor, h=None, style=None):
        x = self.embed(z, style)
        t = x.shape[1]
        i = torch.arange(t)
        mask = (i[None, :] > i[:, None]) | (i[:, None] - i[None, :] >= WINDOW)
        y = self.blocks(x, mask=torch.zeros(t, t).masked_fill(mask, float("-inf")))
        return (*self._split(self.head(y)), None)

    def step_cost(self) -> tuple[int, int]:
        w, n = self.hidden, self.layers
        return n * (4 * w * w + 2 * WINDOW * w + 8 * w * w), n * 2 * WINDOW * w


def gru_step_cost(model: LatentPrior) -> tuple[int, int]:
    h, n = model.hidden, model.layers
    return n * 3 * (2 * h * h), n * h


def build(arch: str, dim: int, mean, std) -> LatentPrior:
    if arch == "gru":
        return LatentPrior(dim, mean, std, hidden=128, layers=1, mixtures=8, style=False)
    if arch == "conv":
        return ConvPrior(dim, mean, std, channels=56, mixtures=8)
    if arch == "transformer":
        return TransformerPrior(dim, mean, std, width=64, layers=2, heads=4, mixtures=8)
    raise ValueError(f"unknown architecture {arch!r}")


def describe(model: LatentPrior) -> dict:
    shared = model.inp.weight.numel() + model.head.weight.numel()  # the input layer and head every core shares
    core = gru_step_cost(model) if type(model) is LatentPrior else model.step_cost()
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "macs_per_frame": core[0] + shared,
        "state_floats": core[1],
    }


def run(arch: str, corpus, mean, std, out: Path, steps: int, max_minutes: float) -> dict:
    from trainer.prior_train import PriorConfig, PriorTrainer

    cfg = PriorConfig(steps=steps, max_minutes=max_minutes)
    (out / arch).mkdir(parents=True, exist_ok=True)
    trainer = PriorTrainer(corpus, mean, std, out / arch, cfg)
    torch.manual_seed(cfg.seed)
    trainer.model = build(arch, len(mean), mean, std)
    trainer.opt = torch.optim.Adam(trainer.model.parameters(), lr=cfg.lr)
    summary = trainer.fit(lambda msg: print(f"{arch}: {msg}", file=sys.stderr, flush=True))
    records = [json.loads(line) for line in (out / arch / "prior_log.jsonl").read_text().splitlines()]
    curve = [(r["cpu_min"], r["val_nll"]) for r in records if "val_nll" in r]
    return {"arch": arch, **describe(trainer.model), **summary, "curve": curve}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="run folders (one per architecture) and the latents' cache")
    p.add_argument("--archs", nargs="+", default=["gru", "conv", "transformer"])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--max-minutes", type=float, default=12.0, help="CPU-minutes per architecture at most")
    args = p.parse_args(argv)
    from core.bundle_io import load_bundle
    from core.prior_frames import joined_stats
    from trainer.prior_data import bundle_levels, encode_corpus

    torch.set_num_threads(1)
    bundle = load_bundle(Path(args.bundle))
    out = Path(args.out)
    corpus = encode_corpus(bundle, Path(args.data), out / "latents.npz", 10.0, False)
    mean, std = joined_stats(bundle.manifest, bundle_levels(bundle))
    results = []
    for arch in args.archs:
        results.append(run(arch, corpus, mean, std, out, args.steps, args.max_minutes))
        print(json.dumps(results[-1]), flush=True)
    print("\n| prior | parameters | mult-adds / frame | state floats | steps | CPU-min | held-out NLL |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['arch']} | {r['parameters']} | {r['macs_per_frame']} | {r['state_floats']} | {r['step']} | "
              f"{r['cpu_minutes']} | {r['val_nll']} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
