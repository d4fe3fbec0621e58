"""The training loop: single process or torchrun data-parallel (DDP; NCCL on CUDA, gloo on CPU)."""
from __future__ import annotations

import copy
import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from models import build_model

from .checkpoint import component_states, latest_checkpoint, load_checkpoint, load_components, save_checkpoint
from .config import RunConfig, save_config
from .data import AudioFolder, ChunkDataset
from .losses import ReconstructionLoss


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @classmethod
    def from_env(cls) -> "DistInfo":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                   int(os.environ.get("WORLD_SIZE", 1)))

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def lr_factor(step: int, cfg) -> float:
    """Linear warm-up, then cosine decay to ``lr_min_ratio`` at ``max_steps``."""
    if step < cfg.lr_warmup_steps:
        return (step + 1) / cfg.lr_warmup_steps
    progress = min(1.0, (step - cfg.lr_warmup_steps) / max(1, cfg.max_steps - cfg.lr_warmup_steps))
    return cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class _StopFlag:
    """Set by SIGINT/SIGTERM so the loop can save a checkpoint before leaving."""

    def __init__(self):
        self.stop = False
        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass

    def _handle(self, signum, frame):
        self.stop = True

    def restore(self):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _spectrogram_image(x: np.ndarray) -> np.ndarray:
    """float32[T] -> uint8[H, W, 3] log-magnitude picture for TensorBoard (low frequencies at the bottom)."""
    from matplotlib import colormaps

    n_fft, hop = 1024, 256
    frames = max(1, (len(x) - n_fft) // hop + 1)
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    seg = np.pad(x, (0, max(0, n_fft - len(x))))[idx] * np.hanning(n_fft)[None]
    mag = 20 * np.log10(np.abs(np.fft.rfft(seg, axis=1)).T + 1e-5)
    img = np.clip((mag - mag.max() + 80) / 80, 0, 1)[::-1]
    return (colormaps["magma"](img)[..., :3] * 255).astype(np.uint8)


class Trainer:
    def __init__(self, cfg: RunConfig, data_dir: str | Path, run_dir: str | Path, resume: bool = False,
                 logger: str = "tensorboard", show_progress: bool = True):
        self.dist = DistInfo.from_env()
        self.run_dir = Path(run_dir)
        self.show_progress = show_progress and self.dist.is_main
        ckpt = None
        if resume:
            ckpt = load_checkpoint(latest_checkpoint(self.run_dir))
            cfg = RunConfig.from_dict(ckpt["config"])
        elif (self.run_dir / "checkpoints" / "last.pt").exists():
            raise FileExistsError(f"{self.run_dir}: already holds a training run; pass --resume to continue it "
                                  "or choose another --out (nothing is overwritten)")
        self.cfg = cfg
        tc = cfg.train
        if self.dist.world_size > 1 and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
        if torch.cuda.is_available():
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        if tc.threads > 0:
            torch.set_num_threads(tc.threads)
        torch.manual_seed(tc.seed + self.dist.rank)

        self.folder = AudioFolder.load(data_dir, cfg.model.sample_rate, show_progress=self.show_progress)
        train_idx, val_idx = self.folder.split(cfg.data.val_percent)
        self.data_summary = self.folder.summary(train_idx, val_idx)
        self.train_set = ChunkDataset([self.folder.signals[i] for i in train_idx], cfg.data)
        self.val_set = ChunkDataset([self.folder.signals[i] for i in val_idx], cfg.data) if val_idx else None
        self.sampler = DistributedSampler(self.train_set, num_replicas=self.dist.world_size, rank=self.dist.rank,
                                          shuffle=True, seed=tc.seed, drop_last=False)
        self.loader = DataLoader(self.train_set, batch_size=tc.batch_size, sampler=self.sampler,
                                 num_workers=tc.num_workers, drop_last=len(self.train_set) >= tc.batch_size * self.dist.world_size)

        self.model = build_model(cfg.model).to(self.device)
        self.ema = copy.deepcopy(self.model).eval() if tc.ema_decay > 0 else None
        self.loss_fn = ReconstructionLoss(cfg.loss, cfg.model.sample_rate).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=tc.lr, betas=(0.8, 0.99))
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_factor(s, tc))
        self.step = 0
        if ckpt is not None:
            load_components(self.model, ckpt["model"])
            if self.ema is not None and ckpt.get("ema"):
                load_components(self.ema, ckpt["ema"])
            self.opt.load_state_dict(ckpt["optimizer"])
            self.sched.load_state_dict(ckpt["scheduler"])
            self.step = int(ckpt["step"])
        self.net = (DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
                    if self.dist.world_size > 1 else self.model)
        self.amp = tc.amp and self.device.type == "cuda"
        self.writer = None
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / "config.yaml")
            (self.run_dir / "data_summary.json").write_text(json.dumps(self.data_summary, indent=1))
            if logger == "tensorboard":
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))
            elif logger != "none":
                raise ValueError(f"unknown logger '{logger}' (use tensorboard or none)")

    # ---- checkpoints -------------------------------------------------------------------------------
    def checkpoint_payload(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "model": component_states(self.model),
            "ema": component_states(self.ema) if self.ema is not None else None,
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "step": self.step,
            "data_summary": self.data_summary,
        }

    def save(self) -> None:
        if self.dist.is_main:
            save_checkpoint(self.run_dir / "checkpoints" / "last.pt", self.checkpoint_payload())

    # ---- one step ----------------------------------------------------------------------------------
    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        self.net.train()
        x = batch.to(self.device, non_blocking=True)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            y, aux = self.net(x)
        loss, terms = self.loss_fn(y, x, aux, self.step)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        self.opt.step()
        self.sched.step()
        if self.ema is not None:
            with torch.no_grad():
                d = self.cfg.train.ema_decay
                for pe, p in zip(self.ema.parameters(), self.model.parameters()):
                    pe.lerp_(p, 1 - d)
                for be, b in zip(self.ema.buffers(), self.model.buffers()):
                    be.copy_(b)
        out = {k: float(v.detach()) for k, v in terms.items() if v.ndim == 0}
        out["loss/total"] = float(loss.detach())
        out["stats/grad_norm"] = float(grad_norm)
        out["stats/lr"] = self.sched.get_last_lr()[0]
        for key, value in aux.items():
            if key.startswith("stats/") and value.ndim == 0:
                out[key] = float(value)
        return out

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        if self.val_set is None or len(self.val_set) == 0:
            return {}
        model = self.ema if self.ema is not None else self.model
        model.eval()
        n = min(len(self.val_set), self.cfg.data.max_val_chunks)
        idx = np.linspace(0, len(self.val_set) - 1, n).astype(int)
        sums: dict[str, float] = {}
        for start in range(0, n, 8):
            x = torch.stack([self.val_set[int(i)] for i in idx[start:start + 8]]).to(self.device)
            y, aux = model(x)
            _, terms = self.loss_fn(y, x, aux, self.step)
            for k in ("loss/mel", "loss/stft", "loss/mse", "loss/kl"):
                if k in terms:
                    sums[k] = sums.get(k, 0.0) + float(terms[k]) * x.shape[0]
        return {"val/" + k.split("/", 1)[1]: v / n for k, v in sums.items()}

    @torch.no_grad()
    def log_audio(self) -> None:
        source = self.val_set if self.val_set is not None and len(self.val_set) else self.train_set
        model = self.ema if self.ema is not None else self.model
        model.eval()
        sr = self.cfg.model.sample_rate
        for i in range(min(2, len(source))):
            x = source[i * (len(source) // 2)][None].to(self.device)
            y, _ = model(x)
            xa, ya = x[0, 0].float().cpu().numpy(), y[0, 0].float().cpu().numpy().clip(-1, 1)
            self.writer.add_audio(f"audio/{i}_input", xa[None], self.step, sample_rate=sr)
            self.writer.add_audio(f"audio/{i}_reconstruction", ya[None], self.step, sample_rate=sr)
            self.writer.add_image(f"spectrogram/{i}_input", _spectrogram_image(xa), self.step, dataformats="HWC")
            self.writer.add_image(f"spectrogram/{i}_reconstruction", _spectrogram_image(ya), self.step,
                                  dataformats="HWC")

    def log(self, metrics: dict[str, float]) -> None:
        if not self.dist.is_main:
            return
        with open(self.run_dir / "train_log.jsonl", "a") as f:
            f.write(json.dumps({"step": self.step, **metrics}) + "\n")
        if self.writer is not None:
            for k, v in metrics.items():
                self.writer.add_scalar(k, v, self.step)

    # ---- the loop ----------------------------------------------------------------------------------
    def fit(self, steps: int | None = None) -> dict[str, Any]:
        """Train until ``steps`` total steps (default ``train.max_steps``); returns a summary."""
        tc = self.cfg.train
        target = steps if steps is not None else tc.max_steps
        stop = _StopFlag()
        bar = tqdm(total=target, initial=self.step, desc="train", unit="step", disable=not self.show_progress,
                   file=sys.stderr, dynamic_ncols=True)
        epoch = self.step // max(1, len(self.loader))
        t_start, s_start = time.perf_counter(), self.step
        t_log, s_log = t_start, self.step
        last: dict[str, float] = {}
        interrupted = False
        try:
            while self.step < target:
                self.sampler.set_epoch(epoch)
                for batch in self.loader:
                    last = self.train_step(batch)
                    self.step += 1
                    bar.update(1)
                    if self.step % tc.log_every == 0 or self.step == target:
                        now = time.perf_counter()
                        last["stats/steps_per_s"] = (self.step - s_log) / max(now - t_log, 1e-9)
                        t_log, s_log = now, self.step
                        self.log(last)
                        bar.set_postfix(mel=f"{last['loss/mel']:.3f}", stft=f"{last['loss/stft']:.3f}",
                                        kl=f"{last.get('loss/kl', 0):.2f}", sps=f"{last['stats/steps_per_s']:.2f}")
                    if self.dist.is_main and self.step % tc.val_every == 0:
                        self.log(self.validate())
                    if self.writer is not None and self.step % tc.audio_every == 0:
                        self.log_audio()
                    if self.step % tc.ckpt_every == 0:
                        self.save()
                    if self._should_stop(stop.stop) or self.step >= target:
                        break
                epoch += 1
                if self._should_stop(stop.stop):
                    interrupted = True
                    break
        finally:
            stop.restore()
            bar.close()
            self.save()
        val = self.validate() if self.dist.is_main else {}
        if val:
            self.log(val)
        if self.writer is not None:
            self.log_audio()
            self.writer.flush()
            self.writer.close()
        elapsed = time.perf_counter() - t_start
        summary = {"step": self.step, "steps_per_s": (self.step - s_start) / max(elapsed, 1e-9),
                   "interrupted": interrupted, **last, **val}
        if self.dist.world_size > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
        return summary

    def _should_stop(self, local: bool) -> bool:
        if self.dist.world_size == 1 or not dist.is_initialized():
            return local
        flag = torch.tensor([1.0 if local else 0.0], device=self.device)
        dist.all_reduce(flag)
        return bool(flag.item() > 0)
