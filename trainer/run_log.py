"""What a run writes for people to read: train_log.jsonl and TensorBoard (scalars, histograms, audio, spectrograms).

Generic over the model's aux keys: a scalar becomes a curve under its own name; a vector (e.g.
``stats/kl_per_dim`` [D], a codebook usage [K]) becomes a histogram plus one curve per element when it is short.
So a new bottleneck family's statistics (``vq/perplexity``, ...) show up without touching this file.
:class:`MetricWindow` sums step metrics between two log points.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch

# Vectors up to this length also get one scalar curve per element (``stats/kl_per_dim/03``).
MAX_PER_ELEMENT_SCALARS = 64


def is_statistic(key: str) -> bool:
    """Aux entries under ``latent/`` are activations (batch-shaped), everything else is a loss or statistic."""
    return not key.startswith("latent/")


def to_record(values: dict[str, torch.Tensor | float]) -> dict[str, float | list[float]]:
    """Tensors -> JSON-able floats (scalars) or lists (vectors)."""
    out: dict[str, float | list[float]] = {}
    for k, v in values.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().float().cpu()
            out[k] = float(v) if v.numel() == 1 else [float(x) for x in v.reshape(-1)]
        else:
            out[k] = float(v)
    return out


class RunLog:
    """Rank 0 only. ``kind``: 'tensorboard' or 'none' (train_log.jsonl is always written).

    ``resume_step``: entries after it (logged by a run killed after its last checkpoint) are dropped from the
    JSONL log and TensorBoard is told to purge them, so curves do not double back on resume.
    """

    def __init__(self, run_dir: Path, kind: str = "tensorboard", resume_step: int | None = None):
        if kind not in ("tensorboard", "none"):
            raise ValueError(f"unknown logger '{kind}' (use tensorboard or none)")
        self.path = Path(run_dir) / "train_log.jsonl"
        if resume_step is not None and self.path.exists():
            self._truncate_after(resume_step)
        self.writer = None
        if kind == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=resume_step)

    def _truncate_after(self, step: int) -> None:
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                if int(json.loads(line)["step"]) <= step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):  # a line cut short by a kill
                continue
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, self.path)

    def metrics(self, step: int, values: dict[str, torch.Tensor | float]) -> dict[str, float | list[float]]:
        record = to_record(values)
        if not record:
            return record
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **record}) + "\n")
        if self.writer is not None:
            for k, v in record.items():
                if isinstance(v, list):
                    self.writer.add_histogram(k, np.asarray(v), step)
                    if len(v) <= MAX_PER_ELEMENT_SCALARS:
                        width = len(str(len(v) - 1))
                        for i, x in enumerate(v):
                            self.writer.add_scalar(f"{k}/{i:0{width}d}", x, step)
                else:
                    self.writer.add_scalar(k, v, step)
        return record

    def audio_pair(self, step: int, name: str, x: np.ndarray, y: np.ndarray, sample_rate: int) -> None:
        """Input and reconstruction (float32[T] each) as playable audio and spectrogram images."""
        if self.writer is None:
            return
        y = np.clip(y, -1.0, 1.0)
        self.writer.add_audio(f"audio/{name}_input", x[None], step, sample_rate=sample_rate)
        self.writer.add_audio(f"audio/{name}_reconstruction", y[None], step, sample_rate=sample_rate)
        self.writer.add_image(f"spectrogram/{name}_input", spectrogram_image(x), step, dataformats="HWC")
        self.writer.add_image(f"spectrogram/{name}_reconstruction", spectrogram_image(y), step, dataformats="HWC")

    def text(self, tag: str, text: str, step: int = 0) -> None:
        if self.writer is not None:
            self.writer.add_text(tag, text, step)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def spectrogram_image(x: np.ndarray, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """float32[T] -> uint8[n_fft/2+1, frames, 3] log-magnitude picture, 80 dB range, low frequencies at the bottom."""
    from matplotlib import colormaps

    x = np.asarray(x, dtype=np.float32)
    frames = max(1, (len(x) - n_fft) // hop + 1)
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    seg = np.pad(x, (0, max(0, n_fft - len(x))))[idx] * np.hanning(n_fft)[None]
    mag = 20 * np.log10(np.abs(np.fft.rfft(seg, axis=1)).T + 1e-5)
    img = np.clip((mag - mag.max() + 80) / 80, 0, 1)[::-1]
    return (colormaps["magma"](img)[..., :3] * 255).astype(np.uint8)


class MetricWindow:
    """Running sums of step metrics between two log points (tensors: no host sync per step)."""

    def __init__(self, step: int):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.t0, self.s0 = time.perf_counter(), step

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for k, v in values.items():
            v = v.detach().float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
        self.count += 1

    def means(self) -> dict[str, torch.Tensor]:
        return {k: v / max(1, self.count) for k, v in self.sums.items()}

    def reset(self, step: int) -> tuple[int, float]:
        now = time.perf_counter()
        steps, seconds = step - self.s0, now - self.t0
        self.sums, self.count, self.t0, self.s0 = {}, 0, now, step
        return steps, seconds
