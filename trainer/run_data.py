"""A training run's data: the folder's chunks split for training and validation, the resumable sampler and loader,
and how a loader batch reaches the model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from .config import RunConfig
from .data import AudioFolder, ChunkDataset
from .distributed import DistInfo, ResumableSampler


@dataclass
class RunData:
    folder: AudioFolder
    summary: dict  # what data_summary.json and the checkpoint record
    train_set: ChunkDataset
    val_set: ChunkDataset | None
    sampler: ResumableSampler
    loader: DataLoader
    steps_per_epoch: int
    global_batch: int  # the batch over all ranks


def load_run_data(cfg: RunConfig, data_dir: Path, dist: DistInfo, device: torch.device, show_progress: bool) -> RunData:
    """``data_dir`` (resolved: recorded in the checkpoint, export finds the audio from any folder) read at the
    model's rate, split by file, chunked, and a loader with equal batches on every rank."""
    tc = cfg.train
    folder = AudioFolder.load(data_dir, cfg.model.sample_rate, show_progress=show_progress)
    train_idx, val_idx = folder.split(cfg.data.val_percent)

    def chunks(idx: list[int]) -> ChunkDataset:
        return ChunkDataset([folder.signals[i] for i in idx], cfg.data)

    train_set = chunks(train_idx)
    sampler = ResumableSampler(train_set, dist.world_size, dist.rank, tc.seed)
    # A short last batch would make ranks disagree on batch shapes; keep it only when it is all there is.
    drop_last = sampler.num_samples >= tc.batch_size
    loader = DataLoader(
        train_set,
        batch_size=tc.batch_size,
        sampler=sampler,
        num_workers=tc.num_workers,
        drop_last=drop_last,
        # its own generator: making an iterator must not draw from the global RNG,
        # or a resumed run's noise would differ from an uninterrupted one's
        generator=torch.Generator().manual_seed(tc.seed + dist.rank),
        pin_memory=device.type == "cuda",
        persistent_workers=tc.num_workers > 0,
    )
    return RunData(
        folder=folder,
        summary=folder.summary(train_idx, val_idx),
        train_set=train_set,
        val_set=chunks(val_idx) if val_idx else None,
        sampler=sampler,
        loader=loader,
        steps_per_epoch=sampler.batches_per_epoch(tc.batch_size, drop_last),
        global_batch=tc.batch_size * dist.world_size,
    )


def spread_chunks(dataset: ChunkDataset, chunks: int) -> torch.Tensor:
    """Up to ``chunks`` chunks evenly spaced over ``dataset``, the same on every rank: audio [N, 1, T]."""
    n = len(dataset)
    idx = np.linspace(0, n - 1, min(chunks, n)).astype(int)
    return torch.stack([dataset[int(i)] for i in idx])


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A loader batch (audio float32[B, 1, T]) on ``device``."""
    return batch.to(device, non_blocking=True)
