"""The learning-rate schedule (linear warm-up, cosine decay) and the autocast precision for a device."""

from __future__ import annotations

import math

import torch


def lr_factor(step: int, cfg) -> float:
    """Linear warm-up, then cosine decay to ``lr_min_ratio`` at ``max_steps`` (and flat after it)."""
    if step < cfg.lr_warmup_steps:
        return (step + 1) / cfg.lr_warmup_steps
    progress = min(1.0, (step - cfg.lr_warmup_steps) / max(1, cfg.max_steps - cfg.lr_warmup_steps))
    return cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def amp_dtype_for(device: torch.device, amp: bool, bf16_supported: bool | None = None) -> torch.dtype | None:
    """Autocast dtype: bf16 on CUDA GPUs that have it (Ampere and later), fp16 (with a GradScaler) on older ones,
    none on CPU or when ``train.amp`` is off."""
    if not amp or device.type != "cuda":
        return None
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    return torch.bfloat16 if bf16_supported else torch.float16
