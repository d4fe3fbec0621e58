"""A folder of audio -> loudness-normalised 1-second chunks, with a deterministic validation split by file."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from core.audiofile import AudioFileError, find_audio_files, load_audio, resample
from core.bundle import Normalization

from .config import DataConfig


@dataclass
class AudioFolder:
    """Every readable file under ``root`` as mono float32 at ``sample_rate``; unreadable files are listed in
    ``problems`` (path, reason) and reported, never silently dropped."""

    root: Path
    sample_rate: int
    files: list[Path] = field(default_factory=list)
    signals: list[np.ndarray] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    source_rates: dict[int, int] = field(default_factory=dict)

    @classmethod
    def load(cls, root: str | Path, sample_rate: int, show_progress: bool = True) -> "AudioFolder":
        root = Path(root)
        paths = find_audio_files(root)
        if not paths:
            raise AudioFileError(f"{root}: no audio files found (looked for wav, flac, ogg, mp3, aiff, opus)")
        folder = cls(root, sample_rate)
        for path in tqdm(paths, desc=f"loading {root}", unit="file", disable=not show_progress, file=sys.stderr):
            try:
                audio = load_audio(path)
            except AudioFileError as exc:
                folder.problems.append((str(path), str(exc)))
                continue
            folder.source_rates[audio.sample_rate] = folder.source_rates.get(audio.sample_rate, 0) + 1
            folder.files.append(path)
            folder.signals.append(resample(audio.mono(), audio.sample_rate, sample_rate))
        for path, reason in folder.problems:
            print(f"warning: skipping {reason}", file=sys.stderr)
        if not folder.files:
            raise AudioFileError(f"{root}: none of the {len(paths)} audio files could be read (see warnings above)")
        return folder

    def split(self, val_percent: float) -> tuple[list[int], list[int]]:
        """Indices (train, val). A file goes to validation when a hash of its relative path says so; with
        two or more files at least one is held out, and training keeps at least one."""
        keys = [hashlib.sha1(str(p.relative_to(self.root)).encode()).hexdigest() for p in self.files]
        val = [i for i, k in enumerate(keys) if int(k[:8], 16) % 10000 < val_percent * 100]
        if len(self.files) >= 2 and val_percent > 0:
            if not val:
                val = [min(range(len(keys)), key=lambda i: keys[i])]
            if len(val) == len(self.files):
                val = val[:-1]
        train = [i for i in range(len(self.files)) if i not in set(val)]
        return train, val

    def summary(self, train: list[int], val: list[int]) -> dict:
        seconds = [len(s) / self.sample_rate for s in self.signals]
        return {
            "root": str(self.root),
            "files": len(self.files),
            "minutes": round(sum(seconds) / 60, 2),
            "train_files": len(train),
            "train_minutes": round(sum(seconds[i] for i in train) / 60, 2),
            "val_files": len(val),
            "val_minutes": round(sum(seconds[i] for i in val) / 60, 2),
            "val_file_names": [str(self.files[i].relative_to(self.root)) for i in val],
            "source_sample_rates": {str(k): v for k, v in sorted(self.source_rates.items())},
            "skipped": [{"file": p, "reason": r} for p, r in self.problems],
        }


def chunk_starts(length: int, window: int, hop: int) -> list[int]:
    """Window starts covering a signal; the last window is aligned to the end so no tail is lost.
    A signal shorter than the window gives one start (it is zero-padded)."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, hop))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


class ChunkDataset(Dataset):
    """Item: float32[1, window], loudness-normalised per chunk as the bundle records (``Normalization``)."""

    def __init__(self, signals: list[np.ndarray], cfg: DataConfig):
        self.signals = signals
        self.window = cfg.window
        self.norm = Normalization("rms", cfg.target_dbfs, cfg.max_gain_db)
        self.index = [
            (i, s) for i, sig in enumerate(signals) for s in chunk_starts(len(sig), cfg.window, cfg.chunk_hop)
        ]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> torch.Tensor:
        i, start = self.index[k]
        chunk = self.signals[i][start : start + self.window]
        if chunk.shape[0] < self.window:
            chunk = np.pad(chunk, (0, self.window - chunk.shape[0]))
        rms = float(np.sqrt(np.mean(np.square(chunk, dtype=np.float64))))
        chunk = chunk * self.norm.gain_for(rms)
        return torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32))[None]
