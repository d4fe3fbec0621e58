"""torch.distributed plumbing for the trainer: who am I, the process group, lock-step helpers, a resumable sampler."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

# torchrun (torch.distributed.run) sets all of these for every worker; a plain `python -m trainer` sets none.
TORCHRUN_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @classmethod
    def from_env(cls) -> "DistInfo":
        return cls(
            int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        )

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def launched(self) -> bool:
        """True under torchrun, even with one process: then the DDP/NCCL path runs exactly as it would on N."""
        return self.world_size > 1 or all(k in os.environ for k in TORCHRUN_ENV)


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def init_process_group(info: DistInfo, device: torch.device) -> str | None:
    """NCCL on CUDA, gloo on CPU; rendezvous from torchrun's environment (env://). Returns the backend."""
    if not info.launched or active():
        return dist.get_backend() if active() else None
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs = {"device_id": device} if device.type == "cuda" else {}
    dist.init_process_group(backend, rank=info.rank, world_size=info.world_size, **kwargs)
    return backend


def shutdown() -> None:
    if active():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on at least one: all ranks take the same branch (e.g. stop now)."""
    if not active():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(values: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Average same-keyed, same-shaped tensors over ranks with one all_reduce (keys in sorted order)."""
    if not active() or not values:
        return values
    keys = sorted(values)
    flat = torch.cat([values[k].detach().float().reshape(-1).to(device) for k in keys])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= dist.get_world_size()
    out, i = {}, 0
    for k in keys:
        n = values[k].numel()
        out[k] = flat[i : i + n].reshape(values[k].shape)
        i += n
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s object on every rank (pickled through the process group; no shared filesystem needed)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_objects(obj: Any) -> list[Any]:
    """One object per rank, in rank order, on every rank."""
    if not active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


class ResumableSampler(DistributedSampler):
    """DistributedSampler that can start an epoch part-way (``set_start``), so a resumed run sees exactly the
    batches the killed one had not yet seen. Each rank gets ``num_samples`` indices (padded to equal length by
    DistributedSampler), so every rank has the same number of batches per epoch: DDP stays in lock-step."""

    def __init__(self, dataset, num_replicas: int, rank: int, seed: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=False)
        self.start = 0

    def set_start(self, start: int) -> None:
        self.start = max(0, int(start))

    def __iter__(self) -> Iterator[int]:
        it = super().__iter__()
        for _ in range(min(self.start, self.num_samples)):
            next(it)
        return it

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)

    def batches_per_epoch(self, batch_size: int, drop_last: bool) -> int:
        return self.num_samples // batch_size if drop_last else math.ceil(self.num_samples / batch_size)
