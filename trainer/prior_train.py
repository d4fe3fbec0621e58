"""Training loop of the latent prior: random crops of the encoded corpus, mixture NLL, Adam, checkpoints, resume.

RUN/prior.pt is written every ``ckpt_every`` steps, at the end and on SIGINT/SIGTERM (after the current step);
``resume=True`` continues from it with its stored config (steps and the time budget may be raised). RUN/
prior_log.jsonl has one line per ``log_every`` steps with the train NLL and, every ``val_every``, the held-out NLL
(nats per frame and dimension: lower is better; a standard normal scores 1.42).
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from core.prior_frames import prior_style
from models.prior import LatentPrior

from .checkpoint import CheckpointError
from .prior_data import LatentCorpus


@dataclass
class PriorConfig:
    hidden: int = 128
    layers: int = 1  # one layer: half the onnxruntime nodes of two, so a cheaper step, and it scored better
    mixtures: int = 8
    seq_frames: int = 256  # ~3 s at 86 frames/s
    batch_size: int = 32
    lr: float = 2e-3
    lr_min_ratio: float = 0.05
    steps: int = 3000
    input_noise: float = 0.05
    join_mask: int = 8  # frames after a join between files not trained (see crops); 0 trains every frame
    onset_gap: float = 0.0  # seconds: a join after at least this much silence is trained (crops); 0: none is
    rollout: int = 0  # the crop's last frames conditioned on the prior's own draws (LatentPrior.rollout_nll); 0: none
    style_frames: int = 0  # > 0: a styled prior, each crop conditioned on its first style_frames frames; 0: none
    style_drop: float = 0.2  # a styled prior's share of crops trained with no style (what unprimed generation uses)
    max_minutes: float = 60.0  # the budget: training stops (and saves) after this many minutes of this run
    val_every: int = 250
    ckpt_every: int = 100
    log_every: int = 25
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict) -> "PriorConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown prior setting(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})")
        cfg = cls(**data)
        if not 0 <= cfg.style_frames < cfg.seq_frames:
            raise ValueError(
                f"style_frames={cfg.style_frames}: must be 0 (none) or fewer than seq_frames={cfg.seq_frames}"
            )
        if not 0.0 <= cfg.style_drop <= 1.0:
            raise ValueError(f"style_drop={cfg.style_drop}: must be a share, 0..1")
        return cfg


def parse_overrides(items: list[str]) -> dict:
    out = {}
    types = {f.name: f.type for f in fields(PriorConfig)}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in types:
            raise ValueError(f"'{item}': expected key=value with key one of {', '.join(types)}")
        try:
            out[key] = int(value) if types[key] in ("int", int) else float(value)
        except ValueError:
            raise ValueError(f"'{item}': {value!r} is not a number") from None
    return out


MAX_GAP_S = 0.5  # silence between joined short files, at most


def crops(
    seqs: list[np.ndarray],
    n: int,
    length: int,
    rng: np.random.Generator,
    silence: np.ndarray | None = None,
    groups: list[str] | None = None,
    frame_rate: float = 86.13,
    join_mask: int = 0,
    onset_gap: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` crops float32[n, length, D] of ``length`` frames from a random place in a file drawn in proportion to
    its length, and which of their frames to train on, bool[n, length]. A crop that runs past the file's end goes
    on into other files of its group (its top folder: drums after drums), each after 0 to ``MAX_GAP_S`` of
    ``silence`` (the encoder's frame for digital silence), as a playlist or a sampler would. Looping short files
    taught the prior that nothing ends (samples louder and busier than the corpus); padding them with long
    silence, or ending crops where files end, taught it that nothing starts again after a sound dies away (its
    samples fell silent for good: 55 % silent seconds in 20-s samples).

    ``join_mask`` > 0: the silence between two files and the first ``join_mask`` frames of the next file are
    not trained (False), though they stay in the crop as context: what comes after a join is another file, so
    training its prediction taught the prior that a sound may give way to an unrelated one at any time (45 % of
    continuations stayed near their prime). 0 trains every frame.

    ``onset_gap`` > 0 (seconds): a join after a silence at least that long is a new start after silence, not a
    jump: its silence is trained after its first ``join_mask`` frames (the cut into it) and the next file's
    onset is trained. With every join masked, a prior over an instrument's phrases (silence only in rests and at
    the ends) never learned that a phrase follows silence: half of its 20-s samples' seconds were silent."""
    lengths = np.array([len(s) for s in seqs], dtype=np.float64)
    picks = rng.choice(len(seqs), size=n, p=lengths / lengths.sum())
    dim = seqs[0].shape[1]
    fill = np.zeros(dim, np.float32) if silence is None else silence
    groups = groups or [""] * len(seqs)
    pool = {g: np.array([i for i in range(len(seqs)) if groups[i] == g], dtype=np.int64) for g in set(groups)}
    max_gap = int(MAX_GAP_S * frame_rate)
    onset = int(np.ceil(onset_gap * frame_rate)) if onset_gap > 0 else max_gap + 1  # never, when off
    out = np.empty((n, length, dim), np.float32)
    trained = np.ones((n, length), bool)
    for row, i in enumerate(picks):
        s = seqs[i]
        start = int(rng.integers(0, len(s)))  # anywhere in the drawn file; what follows it is another file
        if start + length <= len(s):
            out[row] = s[start : start + length]
            continue
        parts, flags, total, j, gap = [], [], 0, i, 0
        while total < start + length:
            flag = np.ones(len(seqs[j]), bool)
            if flags and gap < onset:  # a file joined on: its first frames follow an unrelated sound
                flag[:join_mask] = False
            gap = int(rng.integers(0, max_gap + 1))
            gap_flag = np.full(gap, join_mask <= 0)
            if gap >= onset:  # a long silence: trained after the cut into it
                gap_flag[join_mask:] = True
            parts += [seqs[j], np.repeat(fill[None], gap, 0)]
            flags += [flag, gap_flag]
            total += len(seqs[j]) + gap
            j = int(rng.choice(pool[groups[i]]))
        out[row] = np.concatenate(parts)[start : start + length]
        trained[row] = np.concatenate(flags)[start : start + length]
    return torch.from_numpy(out), torch.from_numpy(trained)


def validation_nll(model: LatentPrior, seqs: list[np.ndarray], max_frames: int = 4096) -> float:
    """Held-out NLL over whole files (each from a zero state, a styled prior with no style: comparable with an
    unstyled one's), at most ``max_frames`` per file."""
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for s in seqs:
            z = torch.from_numpy(s[:max_frames])[None]
            n = len(z[0]) - 1
            total += float(model.nll(z)) * n
            count += n
    model.train()
    return total / max(count, 1)


class PriorTrainer:
    def __init__(
        self,
        corpus: LatentCorpus,
        mean,
        std,
        out: Path,
        cfg: PriorConfig,
        resume: bool = False,
        given: frozenset[str] = frozenset(),
    ):
        """``given``: the settings the user passed; on resume only ``steps`` and ``max_minutes`` among them
        replace the stored run's (a resume without them keeps the run's own)."""
        self.corpus, self.out = corpus, out
        self.ckpt = out / "prior.pt"
        state = None
        if resume:
            if not self.ckpt.is_file():
                raise CheckpointError(f"{self.ckpt}: no checkpoint to resume from")
            state = torch.load(self.ckpt, map_location="cpu", weights_only=False)
            stored = PriorConfig.from_dict({"join_mask": 0, **state["config"]})  # runs from before the mask
            # the model and data settings are the stored run's; only the length of the run may change
            for key in {"steps", "max_minutes"} & set(given):
                setattr(stored, key, getattr(cfg, key))
            cfg = stored
        elif self.ckpt.is_file():
            raise FileExistsError(f"{self.ckpt}: a prior run is already there; pass --resume or choose another --out")
        self.cfg = cfg
        self.groups = [n.split("/")[0] if "/" in n else "" for n in corpus.train_names]
        torch.manual_seed(cfg.seed)
        self.model = LatentPrior(len(mean), mean, std, cfg.hidden, cfg.layers, cfg.mixtures, cfg.style_frames > 0)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.step = 0
        self.rng = np.random.default_rng(cfg.seed)
        self.best_val = float("inf")
        self.cpu_seconds = 0.0
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.step = int(state["step"])
            self.rng.bit_generator.state = state["rng"]
            torch.set_rng_state(state["torch_rng"])
            self.best_val = float(state.get("best_val", float("inf")))
            self.cpu_seconds = float(state.get("cpu_seconds", 0.0))
        self._stop = False

    def _lr(self) -> float:
        c = self.cfg
        t = min(self.step / max(c.steps, 1), 1.0)
        return c.lr * (c.lr_min_ratio + (1 - c.lr_min_ratio) * 0.5 * (1 + np.cos(np.pi * t)))

    def batch_loss(self) -> torch.Tensor:
        """The NLL of one batch of training crops, their joins' first frames left out (``crops``)."""
        c = self.cfg
        z, trained = crops(
            self.corpus.train,
            c.batch_size,
            c.seq_frames,
            self.rng,
            self.corpus.silence,
            self.groups,
            self.corpus.frame_rate,
            c.join_mask,
            c.onset_gap,
        )
        style = None
        if c.style_frames > 0:  # the crop's first frames' style, or none (a random share), for every frame of it
            given = self.rng.random(len(z)) >= c.style_drop
            style = torch.from_numpy(prior_style(z[:, : c.style_frames].numpy()) * given[:, None].astype(np.float32))
        return self.model.rollout_nll(z, c.rollout, c.input_noise, trained, style)  # rollout 0: teacher forcing

    def save(self, path: Path | None = None) -> None:
        path = path or self.ckpt
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(
            {
                "model": self.model.state_dict(),
                "model_config": self.model.config(),
                "optimizer": self.opt.state_dict(),
                "step": self.step,
                "rng": self.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "config": asdict(self.cfg),
                "best_val": self.best_val,
                "cpu_seconds": self.cpu_seconds,
                "train_names": self.corpus.train_names,
                "val_names": self.corpus.val_names,
            },
            tmp,
        )
        tmp.replace(path)

    def _on_signal(self, signum, frame) -> None:
        self._stop = True

    def fit(self, log=print) -> dict:
        c = self.cfg
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        started = time.process_time()
        base_cpu = self.cpu_seconds
        logf = (self.out / "prior_log.jsonl").open("a", encoding="utf-8")
        try:
            while self.step < c.steps and not self._stop:
                if (time.process_time() - started) / 60 >= c.max_minutes:
                    log(f"stopping at step {self.step}: the {c.max_minutes:g} CPU-minute budget is spent")
                    break
                for g in self.opt.param_groups:
                    g["lr"] = self._lr()
                loss = self.batch_loss()
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.opt.step()
                self.step += 1
                self.cpu_seconds = base_cpu + time.process_time() - started
                record = None
                if self.step % c.log_every == 0:
                    record = {
                        "step": self.step,
                        "nll": round(loss.item(), 4),
                        "cpu_min": round(self.cpu_seconds / 60, 2),
                    }
                if self.step % c.val_every == 0 and self.corpus.val:
                    v = validation_nll(self.model, self.corpus.val)
                    record = {**(record or {"step": self.step}), "val_nll": round(v, 4)}
                    if v < self.best_val:
                        self.best_val = v
                        self.save(self.out / "prior_best.pt")
                if record is not None:
                    logf.write(json.dumps(record) + "\n")
                    logf.flush()
                    log(json.dumps(record))
                if self.step % c.ckpt_every == 0:
                    self.save()
            self.save()
        finally:
            logf.close()
            for s, h in old.items():
                signal.signal(s, h)
        val = validation_nll(self.model, self.corpus.val) if self.corpus.val else None
        return {
            "step": self.step,
            "val_nll": None if val is None else round(val, 4),
            "cpu_minutes": round(self.cpu_seconds / 60, 2),
            "checkpoint": str(self.ckpt),
        }
