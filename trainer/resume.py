"""Resume and init-from policy: what a continued run may change, and which run a --resume or --init-from names.

A resumed run keeps its stored config (only ``RESUME_MUTABLE`` keys may change on the command line), its CONFIG
and its training data; ``--init-from`` starts a new run from another run's weights with the same model config.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
from .config import RunConfig, apply_override

# Keys that may differ from the checkpoint's config on --resume: they change how often things happen or how
# fast, never what is learned. Anything else given on the command line must match the stored config.
RESUME_MUTABLE = {
    "train.ckpt_every",
    "train.log_every",
    "train.val_every",
    "train.audio_every",
    "train.threads",
    "train.num_workers",
    "train.amp",
}


def read_resume_checkpoint(run_dir: Path, resume: bool | str):
    """Rank 0: the checkpoint dict to resume ``run_dir`` from, None for a new run, or the exception to raise
    everywhere. ``resume``: True, False or "auto" (continue when ``run_dir`` holds a run, start one otherwise)."""
    if resume not in (True, False, "auto"):
        return ValueError(f"resume must be True, False or 'auto', not {resume!r}")
    exists = (run_dir / "checkpoints" / "last.pt").exists()
    try:
        if resume is True or (resume == "auto" and exists):
            return load_checkpoint(latest_checkpoint(run_dir))
        if exists:
            raise FileExistsError(
                f"{run_dir}: already holds a training run; pass --resume to continue "
                "it or choose another --out (nothing is overwritten)"
            )
        return None
    except (CheckpointError, FileExistsError) as exc:
        return exc


def config_for_resume(stored: dict[str, Any], overrides: list[str]) -> RunConfig:
    """The checkpoint's config with command-line overrides applied; only ``RESUME_MUTABLE`` keys may change."""
    cfg = RunConfig.from_dict(stored)
    before = _flat(cfg.to_dict())
    for item in overrides:
        apply_override(cfg, item)
    after = _flat(cfg.to_dict())
    changed = sorted(k for k in after if after[k] != before.get(k) and k not in RESUME_MUTABLE)
    if changed:
        raise ValueError(
            "--resume continues the stored config; these overrides would change it: "
            + ", ".join(f"{k} ({before.get(k)!r} -> {after[k]!r})" for k in changed)
            + f". Only {', '.join(sorted(RESUME_MUTABLE))} may change on resume."
        )
    return cfg


def check_resume_matches(
    ckpt: dict[str, Any], run_dir: Path, data_dir: Path, config_source: str | None, given: RunConfig | None
) -> None:
    """Refuse a --resume whose command names another run than the one in ``run_dir`` (ValueError, one line).

    ``config_source`` is this command's CONFIG (preset name or YAML path), ``given`` the config it resolves to.
    The run continues with its stored config, so a CONFIG that means something else would be silently ignored:
    it must be the CONFIG the run was started with (recorded in its checkpoints since this check exists), or
    resolve to the stored config (e.g. RUN/config.yaml), or, for a run that recorded none (started through the
    ``Trainer`` API, not the command line), be of the same model family. The training data folder must be the one the run was trained on while that folder still exists
    (a different one would train on other audio and overwrite the run's record of its data)."""
    stored = RunConfig.from_dict(ckpt["config"])
    if config_source is not None and given is not None:
        recorded = ckpt.get("config_source")
        same_config = not [
            k
            for k, v in _flat(given.to_dict()).items()
            if k not in RESUME_MUTABLE and _flat(stored.to_dict()).get(k) != v
        ]
        if recorded is not None:
            ok = same_config or _same_source(recorded, config_source)
        else:
            ok = same_config or given.model.family == stored.model.family
        if not ok:
            started = f"'{recorded}'" if recorded else f"a {stored.model.family} config"
            raise ValueError(
                f"{run_dir}: was started from {started}, not '{config_source}'; --resume continues "
                f"a run with its own config, so pass the same CONFIG (or {run_dir / 'config.yaml'}), "
                "or choose another --out for a new run"
            )
    old_root = (ckpt.get("data_summary") or {}).get("root")
    if old_root and Path(old_root).resolve() != Path(data_dir).resolve():
        if Path(old_root).is_dir():
            raise ValueError(
                f"{run_dir}: was trained on {old_root}, not {data_dir}; --resume continues on the "
                "same audio, so pass --data " + old_root + " (or choose another --out for a new run)"
            )
        print(
            f"note: {run_dir} was trained on {old_root}, which no longer exists; continuing on {data_dir}",
            file=sys.stderr,
        )


def _same_source(a: str, b: str) -> bool:
    """The same preset name, or the same YAML file."""
    if a == b:
        return True
    pa, pb = Path(a), Path(b)
    return pa.is_file() and pb.is_file() and pa.resolve() == pb.resolve()


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def read_init(source: str | Path, cfg: RunConfig):
    """Rank 0: {'states', 'info'} for ``init_from``, or the exception to raise on every rank."""
    try:
        ckpt = load_checkpoint(Path(source))
        stored = RunConfig.from_dict(ckpt["config"]).model
        if stored != cfg.model:
            a, b = _flat(asdict(stored)), _flat(asdict(cfg.model))
            diff = ", ".join(
                f"model.{k} ({a[k]!r} in the checkpoint, {b.get(k)!r} here)" for k in a if a[k] != b.get(k)
            )
            raise ValueError(
                f"--init-from {source}: the model config differs from the checkpoint's: {diff}. "
                "Pass the source run's config.yaml as CONFIG to start from its settings."
            )
        use_ema = bool(ckpt.get("ema"))
        return {
            "states": ckpt["ema"] if use_ema else ckpt["model"],
            "info": {"path": ckpt["path"], "step": int(ckpt["step"]), "ema": use_ema},
        }
    except (CheckpointError, ValueError) as exc:
        return exc
