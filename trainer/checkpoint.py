"""Checkpoints: config + per-component state dicts + optimizer + step, written atomically.

Format ``latentsynth-checkpoint`` version 1. Always present: config, model, ema (or None), optimizer, scheduler,
step, data_summary. Added later, optional (older checkpoints resume without them): epoch, epoch_step,
world_size, global_batch, rng (one entry per rank), scaler (fp16 GradScaler state or None).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from core.bundle import RETIRED_FAMILIES
from models import build_model

from .config import RunConfig

CHECKPOINT_FORMAT = "latentsynth-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(Exception):
    pass


class CheckpointSaveError(CheckpointError, OSError):
    """A save failed (full disk, read-only folder); the message names the file and says what survived."""


TMP_PREFIX = ".tmp-"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """torch.save into a temporary file in the same folder, fsync, then rename over ``path`` and fsync the folder:
    a kill (or a crash, or a full disk) at any moment of the save leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".pt", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it 0600; a checkpoint is an ordinary file
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except (OSError, RuntimeError) as exc:  # full disk (torch wraps the write error in a RuntimeError), read-only
        reason = getattr(exc, "strerror", None) or " ".join(str(exc).split())
        kept = "the previous checkpoint is intact" if path.exists() else "no checkpoint was written"
        raise CheckpointSaveError(f"{path}: cannot save the checkpoint ({reason}); {kept}") from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete half-written checkpoint temporaries a killed save left behind (never a finished checkpoint)."""
    removed = []
    for tmp in Path(folder).glob(f"{TMP_PREFIX}*.pt"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except FileNotFoundError:
            pass
    return removed


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it; done once at import, before any thread exists
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (power loss); not every platform lets a directory be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint file, a run folder's last checkpoint, or a model bundle's weights (trainer/from_bundle.py)."""
    path = Path(path)
    from .from_bundle import checkpoint_from_bundle, is_bundle

    if is_bundle(path):
        return checkpoint_from_bundle(path)
    if path.is_dir():
        path = latest_checkpoint(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a LatentSynth checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt.get('version')} is not supported")
    family = ((ckpt.get("config") or {}).get("model") or {}).get("family")
    if family in RETIRED_FAMILIES:
        raise CheckpointError(f"{path}: the model family '{family}' {RETIRED_FAMILIES[family]}")
    ckpt["path"] = str(path)
    return ckpt


def latest_checkpoint(run_dir: Path) -> Path:
    path = Path(run_dir) / "checkpoints" / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: no checkpoints/last.pt (is it a training run folder?)")
    return path


def model_from_checkpoint(ckpt: dict[str, Any], use_ema: bool = True) -> tuple[torch.nn.Module, RunConfig]:
    """Rebuild the model from the config stored in the checkpoint; EMA weights when present."""
    cfg = RunConfig.from_dict(ckpt["config"])
    model = build_model(cfg.model)
    states = ckpt["ema"] if use_ema and ckpt.get("ema") else ckpt["model"]
    load_components(model, states)
    return model.eval(), cfg


def component_states(model: torch.nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    return {
        name: {k: v.detach().cpu().clone() for k, v in part.state_dict().items()}
        for name, part in model.components().items()
    }


def load_components(model: torch.nn.Module, states: dict[str, dict[str, torch.Tensor]]) -> None:
    for name, part in model.components().items():
        if name not in states:
            raise CheckpointError(f"checkpoint has no state for component '{name}'")
        part.load_state_dict(states[name])


__all__ = [
    "save_checkpoint",
    "remove_stale_temporaries",
    "load_checkpoint",
    "model_from_checkpoint",
    "component_states",
    "load_components",
    "latest_checkpoint",
    "CheckpointError",
    "CheckpointSaveError",
]
