"""The training loop: single process or torchrun data-parallel (DDP; NCCL on CUDA, gloo on CPU).

Every rank runs the same number of steps in the same order: equal batches per epoch (DistributedSampler pads,
the loader drops a short last batch), one all_reduce per step for the stop flag, checkpoint/log/validation
decisions taken from the step counter alone. Only rank 0 writes files; validation and audio examples run on
rank 0 while the others wait in their next collective.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import default_collate
from tqdm import tqdm

from models import build_model

from . import distributed as ddp
from .adversarial import AdversarialStep
from .checkpoint import (
    CheckpointError,
    component_states,
    load_components,
    remove_stale_temporaries,
    save_checkpoint,
)
from .config import RunConfig, save_config
from .distributed import DistInfo
from .ema import WeightEMA
from .losses import ReconstructionLoss
from .resume import check_resume_matches, config_for_resume, read_init, read_resume_checkpoint
from .run_data import load_run_data, spread_chunks, to_device
from .run_log import MetricWindow, RunLog, is_statistic
from .schedule import amp_dtype_for, lr_factor
from .signals import StopFlag


class Trainer:
    """``resume``: True continues the run in ``run_dir`` from checkpoints/last.pt, "auto" does so when it
    exists and starts a new run otherwise (for torchrun --max-restarts and preemptible jobs). On resume ``cfg``
    is ignored: the stored config is used, with ``resume_overrides`` (key=value) applied where
    ``RESUME_MUTABLE`` allows.

    ``init_from`` (a checkpoint or run folder): a new run whose model weights (the EMA's where the checkpoint has
    one, i.e. what export would ship) come from that checkpoint, e.g. to fine-tune adversarially. ``cfg.model``
    must equal the checkpoint's; everything else (optimizer, schedule, step counter, which restarts at 0) is new.
    Ignored when the run is resumed: its own checkpoint already holds the fine-tuned weights."""

    def __init__(
        self,
        cfg: RunConfig,
        data_dir: str | Path,
        run_dir: str | Path,
        resume: bool | str = False,
        logger: str = "tensorboard",
        show_progress: bool = True,
        resume_overrides: list[str] = (),
        init_from: str | Path | None = None,
        config_source: str | None = None,
    ):
        if logger not in ("tensorboard", "none"):
            raise ValueError(f"unknown logger '{logger}' (use tensorboard or none)")
        self.dist = DistInfo.from_env()
        self.run_dir = Path(run_dir)
        self.show_progress = show_progress and self.dist.is_main
        if torch.cuda.is_available():
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        self.backend = ddp.init_process_group(self.dist, self.device)

        # Rank 0 reads the checkpoint and hands it to the others: no shared filesystem needed across nodes.
        ckpt = ddp.broadcast_object(read_resume_checkpoint(self.run_dir, resume) if self.dist.is_main else None)
        if isinstance(ckpt, Exception):
            raise ckpt
        self.config_source = config_source
        if ckpt is not None:
            check_resume_matches(ckpt, self.run_dir, Path(data_dir), config_source, cfg)
            self.config_source = ckpt.get("config_source") or config_source
            cfg = config_for_resume(ckpt["config"], list(resume_overrides))
        cfg.validate()
        init = None
        if ckpt is None and init_from is not None:
            init = ddp.broadcast_object(read_init(init_from, cfg) if self.dist.is_main else None)
            if isinstance(init, Exception):
                raise init
        self.cfg = cfg
        tc = cfg.train
        if tc.threads > 0:
            torch.set_num_threads(tc.threads)

        # resolved: recorded in the checkpoint; export finds the audio from any folder
        self.data = load_run_data(cfg, Path(data_dir).resolve(), self.dist, self.device, self.show_progress)
        torch.manual_seed(tc.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
        self.model = build_model(cfg.model).to(self.device)
        self.init_info = None
        if init is not None:
            load_components(self.model, init["states"])
            self.init_info = init["info"]
        self._build_optimisation(cfg)
        self.step, self.epoch, self.epoch_step = 0, 0, 0
        if ckpt is not None:
            self._restore(ckpt)
        else:
            torch.manual_seed(tc.seed + self.dist.rank)  # different noise per rank
            if init_from is None and hasattr(self.model, "data_init"):
                self._data_init()
        # The EMA lives on rank 0 (the only rank that saves, validates and logs), copied after any restore.
        self.ema = None
        if tc.ema_decay > 0 and self.dist.is_main:
            self.ema = WeightEMA(self.model, tc.ema_decay)
            if ckpt is not None and ckpt.get("ema"):
                load_components(self.ema.model, ckpt["ema"])
        self.net = self.model
        if self.dist.launched:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self._saved_step = self.step if ckpt is not None else -1
        self._validated_step = self._audio_step = -1
        self.log = self._open_run(logger, ckpt is not None) if self.dist.is_main else None

    def _build_optimisation(self, cfg: RunConfig) -> None:
        """The loss, the adversarial step (adv.enabled), the optimizer over what trains, the schedule and the
        mixed-precision scaler."""
        tc, ac = cfg.train, cfg.adv
        self.loss_fn = ReconstructionLoss(cfg.loss, cfg.model.sample_rate).to(self.device)
        self.frozen = ac.enabled and ac.freeze_encoder
        if self.frozen:  # before the optimizer and DDP see the parameters: only the decoder's train
            decoder = {id(p) for p in self.model.components()["decoder"].parameters()}
            for p in self.model.parameters():
                if id(p) not in decoder:
                    p.requires_grad_(False)
        self.adv = None
        if ac.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.adv = AdversarialStep(
                ac,
                tc,
                self.device,
                wrap=(lambda m: DistributedDataParallel(m, device_ids=ids)) if self.dist.launched else None,
            )
        if not any(p.requires_grad for p in self.model.parameters()):
            raise ValueError(
                f"model family '{cfg.model.family}' with these settings has nothing to train (the dsp preset): "
                "export it with latentsynth-export --preset NAME --data DIR --out BUNDLE"
            )
        # only trainable parameters: without adv.freeze_encoder this is every parameter, as before
        self.opt = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad], lr=tc.lr, betas=(0.8, 0.99)
        )
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_factor(s, tc))
        self.amp_dtype = amp_dtype_for(self.device, tc.amp)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None

    def _open_run(self, logger: str, resumed: bool) -> RunLog:
        """Rank 0: the run folder with its config and data summary, the log, and one line on stderr saying how
        the run trains."""
        cfg, tc = self.cfg, self.cfg.train
        self.run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.run_dir / "checkpoints")
        save_config(cfg, self.run_dir / "config.yaml")
        (self.run_dir / "data_summary.json").write_text(json.dumps(self.data.summary, indent=1))
        log = RunLog(self.run_dir, logger, resume_step=self.step if resumed else None)
        n = self.dist.world_size
        where = (
            f"{n} process{'es' if n > 1 else ''} ("
            + (f"{self.backend}, " if self.backend else "")
            + f"{self.device.type})"
        )
        amp = f", autocast {str(self.amp_dtype).replace('torch.', '')}" if self.amp_dtype else ""
        init = self.init_info if not resumed else None
        print(
            f"training on {where}{amp}; global batch {self.data.global_batch} = {tc.batch_size} x "
            f"{self.dist.world_size}; {self.data.steps_per_epoch} steps per epoch; "
            + (f"resumed at step {self.step}" if resumed else "new run")
            + (f", weights from {init['path']} (step {init['step']})" if init is not None else "")
            + ("; adversarial fine-tuning" + (", encoder frozen" if self.frozen else "") if cfg.adv.enabled else ""),
            file=sys.stderr,
        )
        log.text("config", "```\n" + json.dumps(cfg.to_dict(), indent=1) + "\n```", self.step)
        return log

    def _data_init(self, chunks: int = 512) -> None:
        """A family's data-dependent start (sf: its linear codec is the corpus features' PCA): ``chunks`` training
        chunks evenly spaced over the set, the same on every rank, before the first step."""
        with torch.no_grad():
            self.model.data_init(spread_chunks(self.data.train_set, chunks).to(self.device))

    def _restore(self, ckpt: dict[str, Any]) -> None:
        load_components(self.model, ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.init_info = ckpt.get("init_from")
        if self.adv is not None:
            if not ckpt.get("disc"):
                raise CheckpointError(f"{ckpt.get('path')}: adv.enabled but the checkpoint has no discriminator")
            self.adv.load(ckpt)
        self.sched.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.step = int(ckpt["step"])
        if "epoch" in ckpt:
            self.epoch, self.epoch_step = int(ckpt["epoch"]), int(ckpt["epoch_step"])
        else:  # written before epochs were recorded, by a run never resumed: the position follows from the step
            self.epoch, self.epoch_step = divmod(self.step, max(1, self.data.steps_per_epoch))
        if self.epoch_step >= self.data.steps_per_epoch:  # e.g. resumed with more processes: that epoch is done
            self.epoch, self.epoch_step = self.epoch + 1, 0
        rng = ckpt.get("rng") or []
        if len(rng) == self.dist.world_size and rng[self.dist.rank]:
            torch.set_rng_state(rng[self.dist.rank]["cpu"])
            if self.device.type == "cuda" and rng[self.dist.rank].get("cuda") is not None:
                torch.cuda.set_rng_state(rng[self.dist.rank]["cuda"])
        else:  # another world size: fresh but reproducible noise streams
            torch.manual_seed(self.cfg.train.seed + self.dist.rank + 100003 * self.step)

    # ---- checkpoints -------------------------------------------------------------------------------
    def checkpoint_payload(self, rng: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "model": component_states(self.model),
            "ema": component_states(self.ema.model) if self.ema is not None else None,
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "step": self.step,
            "data_summary": self.data.summary,
            "epoch": self.epoch,
            "epoch_step": self.epoch_step,
            "world_size": self.dist.world_size,
            "global_batch": self.data.global_batch,
            "rng": rng or [],
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            # adversarial fine-tuning only; export never reads these
            **(self.adv.state() if self.adv is not None else {"disc": None, "disc_optimizer": None}),
            "init_from": self.init_info,
            "config_source": self.config_source,  # the CONFIG the run was started with (checked on --resume)
        }

    def _rng_state(self) -> dict[str, Any]:
        state = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def save(self) -> None:
        """Collective: every rank calls it at the same step (each contributes its RNG state); rank 0 writes."""
        if self._saved_step == self.step:
            return
        rng = ddp.gather_objects(self._rng_state())
        if self.dist.is_main:
            save_checkpoint(self.run_dir / "checkpoints" / "last.pt", self.checkpoint_payload(rng))
        self._saved_step = self.step

    # ---- one step ----------------------------------------------------------------------------------
    def train_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimizer step (with adv.enabled: a discriminator step, then the generator's); returns detached
        loss terms and statistics (tensors, no host sync)."""
        self.net.train()
        if self.frozen:  # frozen parts in eval mode: posterior means, no sampling (hvae reads the top flag)
            self.model.eval()
            self.model.components()["decoder"].train()
        x = to_device(batch, self.device)
        with torch.autocast(
            device_type=self.device.type, dtype=self.amp_dtype or torch.bfloat16, enabled=self.amp_dtype is not None
        ):
            y, aux = self.net(x)
        aux = {k: (v.float() if torch.is_floating_point(v) else v) for k, v in aux.items() if is_statistic(k)}
        loss, terms = self.loss_fn(y, x, aux, self.step, frozen_latents=self.frozen)
        if self.adv is not None:
            adv_loss, adv_terms = self.adv(x, y, self.step)
            loss = loss + adv_loss
            terms.update(adv_terms)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.opt)
        else:
            loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        self.sched.step()
        if self.ema is not None:
            self.ema.update(self.model, self.step)
        out = {k: v.detach() for k, v in aux.items()}
        out.update({k: torch.as_tensor(v).detach().to(self.device) for k, v in terms.items()})
        out["loss/total"] = loss.detach()
        out["stats/grad_norm"] = grad_norm.detach()
        return out

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Rank 0: mean loss terms over up to ``data.max_val_chunks`` held-out chunks (EMA weights if any)."""
        self._validated_step = self.step
        if self.data.val_set is None or len(self.data.val_set) == 0:
            return {}
        model = self.ema.model if self.ema is not None else self.model
        model.eval()
        n = min(len(self.data.val_set), self.cfg.data.max_val_chunks)
        idx = np.linspace(0, len(self.data.val_set) - 1, n).astype(int)
        sums: dict[str, float] = {}
        for start in range(0, n, 8):
            x = to_device(default_collate([self.data.val_set[int(i)] for i in idx[start : start + 8]]), self.device)
            y, aux = model(x)
            _, terms = self.loss_fn(y, x, {k: v for k, v in aux.items() if is_statistic(k)}, self.step)
            for k, v in terms.items():
                if k.startswith("loss/") and v.ndim == 0:
                    sums[k] = sums.get(k, 0.0) + float(v) * x.shape[0]
        return {"val/" + k.split("/", 1)[1]: v / n for k, v in sums.items()}

    @torch.no_grad()
    def log_audio(self) -> None:
        """Rank 0: two validation chunks (training chunks if there is no validation set), input and output."""
        if self.log is None or self.log.writer is None or self._audio_step == self.step:
            return
        self._audio_step = self.step
        source = self.data.val_set if self.data.val_set is not None and len(self.data.val_set) else self.data.train_set
        model = self.ema.model if self.ema is not None else self.model
        model.eval()
        for i in range(min(2, len(source))):
            x = to_device(default_collate([source[i * (len(source) // 2)]]), self.device)
            y, _ = model(x)
            self.log.audio_pair(
                self.step,
                str(i),
                x[0, 0].float().cpu().numpy(),
                y[0, 0].float().cpu().numpy(),
                self.cfg.model.sample_rate,
            )

    # ---- the loop ----------------------------------------------------------------------------------
    def fit(self, steps: int | None = None) -> dict[str, Any]:
        """Train until ``steps`` total steps (default ``train.max_steps``); returns a summary (on every rank).
        Ends with the process group destroyed."""
        tc = self.cfg.train
        target = steps if steps is not None else tc.max_steps
        stop = StopFlag()
        bar = tqdm(
            total=target,
            initial=min(self.step, target),
            desc="train",
            unit="step",
            disable=not self.show_progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        t_start, s_start = time.perf_counter(), self.step
        window = MetricWindow(self.step)
        last: dict[str, Any] = {}
        interrupted = False
        try:
            while self.step < target and not interrupted:
                self.data.sampler.set_epoch(self.epoch)
                self.data.sampler.set_start(self.epoch_step * tc.batch_size)
                for batch in self.data.loader:
                    window.add(self.train_step(batch))
                    self.step += 1
                    self.epoch_step += 1
                    bar.update(1)
                    if self.step % tc.log_every == 0 or self.step == target:
                        last = self._log_window(window)
                        bar.set_postfix(
                            mel=f"{last['loss/mel']:.3f}",
                            stft=f"{last['loss/stft']:.3f}",
                            kl=f"{last.get('loss/kl', 0):.2f}",
                            sps=f"{last['stats/steps_per_s']:.2f}",
                        )
                    if self.dist.is_main and self.step % tc.val_every == 0:
                        self.log.metrics(self.step, self.validate())
                    if self.dist.is_main and self.step % tc.audio_every == 0:
                        self.log_audio()
                    if self.step % tc.ckpt_every == 0:
                        self.save()
                    interrupted = ddp.any_rank(stop.stop, self.device)
                    if interrupted or self.step >= target:
                        break
                if self.epoch_step >= self.data.steps_per_epoch:
                    self.epoch, self.epoch_step = self.epoch + 1, 0
            if window.count:
                last = self._log_window(window)
            self.save()
        finally:
            stop.restore()
            bar.close()
        val: dict[str, float] = {}
        if self.dist.is_main:
            if self._validated_step != self.step:
                val = self.validate()
                self.log.metrics(self.step, val)
            self.log_audio()
            self.log.close()
        elapsed = time.perf_counter() - t_start
        summary = {
            "step": self.step,
            "steps_per_s": (self.step - s_start) / max(elapsed, 1e-9),
            "world_size": self.dist.world_size,
            "global_batch": self.data.global_batch,
            "interrupted": interrupted,
            **{k: v for k, v in last.items() if not isinstance(v, list)},
            **val,
        }
        ddp.barrier()  # the other ranks wait here while rank 0 validates and writes
        ddp.shutdown()
        return summary

    def _log_window(self, window: MetricWindow) -> dict[str, Any]:
        """Collective: metrics averaged over the steps since the last log and over ranks; rank 0 writes them."""
        metrics = ddp.mean_over_ranks(window.means(), self.device)
        steps, seconds = window.reset(self.step)
        metrics["stats/lr"] = self.sched.get_last_lr()[0]
        metrics["stats/steps_per_s"] = steps / max(seconds, 1e-9)
        metrics["stats/samples_per_s"] = metrics["stats/steps_per_s"] * self.data.global_batch
        metrics["stats/epoch"] = self.epoch + self.epoch_step / max(1, self.data.steps_per_epoch)
        if self.dist.is_main:
            return self.log.metrics(self.step, metrics)
        from .run_log import to_record

        return to_record(metrics)
