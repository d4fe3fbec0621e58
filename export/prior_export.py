"""Write a trained latent prior into a bundle: prior.onnx (one explicit-state step, weights stored as float16), its
checksum and the manifest's ``prior`` section, after checking onnxruntime against torch. All or nothing: the bundle is unchanged on failure.

Parity: a held-out latent sequence is fed frame by frame through prior.onnx, carrying the state, and compared with
``nn.GRU`` run over the whole sequence in torch (so the check covers the step graph and the state hand-over).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import warnings
from contextlib import redirect_stdout
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from core.bundle import Bundle
from core.bundle_io import load_bundle, sha256_file, write_manifest
from core.prior_frames import level_dims, null_style, prior_style, shared_hop
from core.prior_spec import PRIOR_FILE, PriorSpec
from core.session import ModelRunner, open_session
from models.prior import LatentPrior, PriorStep

from .streaming import round_weights_to_fp16, store_weights_fp16

PRIOR_PARITY_TOLERANCE = 1e-4


class PriorExportError(Exception):
    pass


def load_prior(checkpoint: Path) -> tuple[LatentPrior, dict]:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = state["model_config"]
    model = LatentPrior(cfg["dim"], torch.zeros(cfg["dim"]), torch.ones(cfg["dim"]), cfg["hidden"], cfg["layers"],
                        cfg["mixtures"], cfg.get("style", False))  # fmt: skip
    model.load_state_dict(state["model"])
    return model.eval(), state


def export_step(model: LatentPrior, path: Path) -> None:
    step = PriorStep(model).eval()
    z = torch.zeros(1, model.dim)
    h = torch.zeros(1, model.layers, model.hidden)
    args, names = ((z, h), ["z", "state.h"])
    if model.style:
        args, names = (z, h, torch.from_numpy(null_style(model.dim))[None]), names + ["style"]
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            step,
            args,
            str(path),
            input_names=names,
            output_names=["logits", "mean", "scale", "state.h.next"],
            external_data=False,
            dynamo=True,
        )
    if list(path.parent.glob(path.name + ".data")):
        raise PriorExportError(f"{path}: exporter wrote an external .data file; parts must be single files")


def parity(model: LatentPrior, path: Path, frames: np.ndarray) -> float:
    """Max abs difference of (logits, mean, scale) between onnxruntime stepping and torch over ``frames`` [F, D]
    (a styled prior under the style of the frames' first half)."""
    style = prior_style(frames[: max(1, len(frames) // 2)])[None] if model.style else None
    with torch.no_grad():
        logits, mean, log_scale, _ = model(torch.from_numpy(frames)[None], None, None if style is None else
                                           torch.from_numpy(style))  # fmt: skip
        ref_mean = (mean * model.z_std + model.z_mean)[0].numpy()
        ref_scale = (torch.exp(log_scale) * model.z_std)[0].numpy()
        ref_logits = logits[0].numpy()
    sess = open_session(path, threads=None)
    h = np.zeros((1, model.layers, model.hidden), np.float32)
    err = 0.0
    extra = {} if style is None else {"style": style}
    for t in range(len(frames)):
        lo, mu, sc, h = sess.run(None, {"z": frames[t : t + 1], "state.h": h, **extra})
        err = max(err, float(np.abs(lo[0] - ref_logits[t]).max()), float(np.abs(mu[0] - ref_mean[t]).max()))
        err = max(err, float(np.abs(sc[0] - ref_scale[t]).max()))
    return err


def install_prior(
    bundle_dir: Path,
    checkpoint: Path,
    check_frames: np.ndarray,
    training: dict | None = None,
    log=print,
    levels: tuple[str, ...] | None = None,
) -> Path:
    """Export ``checkpoint``'s prior over ``levels`` (default: the first level) into ``bundle_dir``, replacing a
    prior already there; only prior.onnx, its checksum and the manifest's ``prior`` section change (the manifest
    is read just before it is written). Returns prior.onnx."""
    bundle: Bundle = load_bundle(bundle_dir)
    m = bundle.manifest
    if m.streaming is None:
        raise PriorExportError(f"{bundle_dir}: not a streaming bundle; a prior plays frame by frame")
    model, state = load_prior(checkpoint)
    levels = tuple(levels or (m.levels[0].name,))
    known = {level.name for level in m.levels}
    if any(name not in known for name in levels) or shared_hop(m, levels) is None:
        raise PriorExportError(f"{bundle_dir}: levels {list(levels)} are not levels of one frame rate there")
    dim = sum(level_dims(m, levels))
    if model.dim != dim:
        raise PriorExportError(f"{checkpoint}: the prior has {model.dim} dims, {bundle_dir}'s {list(levels)} {dim}")
    with tempfile.TemporaryDirectory(dir=bundle_dir.parent) as tmp:
        tmp_path = Path(tmp) / PRIOR_FILE
        # weights stored as float16 (half the file; the factory's size budget) like the streaming parts; the
        # torch reference is rounded the same way, so parity compares the same numbers
        round_weights_to_fp16(model)
        export_step(model, tmp_path)
        store_weights_fp16(tmp_path)
        err = parity(model, tmp_path, np.ascontiguousarray(check_frames[:400], dtype=np.float32))
        log(f"prior parity: max |onnxruntime - torch| = {err:.2e} over {min(len(check_frames), 400)} frames")
        if not err <= PRIOR_PARITY_TOLERANCE:
            raise PriorExportError(
                f"{tmp_path}: onnxruntime differs from torch by {err:.2e} (> {PRIOR_PARITY_TOLERANCE})"
            )
        spec = PriorSpec(
            file=PRIOR_FILE,
            levels=levels,
            dim=model.dim,
            hidden=model.hidden,
            layers=model.layers,
            mixtures=model.mixtures,
            style_frames=int(state["config"].get("style_frames", 0)) if model.style else 0,
            parity_max_abs_error=err,
            training={
                **(training or {}),
                "step": int(state["step"]),
                "cpu_minutes": round(float(state.get("cpu_seconds", 0.0)) / 60, 2),
                "val_nll": None if state.get("best_val") in (None, float("inf")) else round(state["best_val"], 4),
            },
        )
        return _put_prior(bundle_dir, tmp_path, spec)


def _put_prior(bundle_dir: Path, tmp_path: Path, spec: PriorSpec) -> Path:
    """Move the prior file ``tmp_path`` into ``bundle_dir`` as prior.onnx and record it (checksum, ``spec``) in the
    manifest; only that file and the manifest's ``files`` and ``prior`` change. Returns prior.onnx."""
    # read again now: another tool may have re-exported the bundle's parts while the prior was made
    m = load_bundle(bundle_dir).manifest
    files = dict(m.files)
    files[PRIOR_FILE] = sha256_file(tmp_path)
    final = bundle_dir / PRIOR_FILE
    os.replace(tmp_path, final)
    write_manifest(bundle_dir, replace(m, files=files, prior=replace(spec, file=PRIOR_FILE)))
    load_bundle(bundle_dir)  # checksums and schema, as a player reads it
    return final


CARRY_LATENT_TOLERANCE = 1e-3  # max |latent| difference on the check audio for a prior to carry over
CARRY_STATS_TOLERANCE = 1e-4  # and of each level's recorded mean and std


def carry_prior(source_dir: Path, bundle_dir: Path, audio: list[Path], log=print, shown: str | None = None) -> Path:
    """Copy ``source_dir``'s prior into ``bundle_dir`` (just exported from a run whose encoder did not change: a
    decoder retrained, a synthesis swapped), once both bundles' encoders give the prior's levels the same latents on
    ``audio`` and the same recorded statistics; otherwise PriorExportError, and the prior must be trained again.
    Returns prior.onnx. All or nothing, as ``install_prior``. ``shown``: the source's name in messages (default its
    path)."""
    from trainer.prior_data import encode_file  # torch-free; the trainer's own reading of a file into frames

    src, dst = load_bundle(source_dir), load_bundle(bundle_dir)
    shown = shown or str(source_dir)
    spec = src.manifest.prior
    if spec is None:
        raise PriorExportError(f"{shown}: the bundle has no prior to keep")
    if dst.manifest.streaming is None:
        raise PriorExportError(f"{bundle_dir}: not a streaming bundle; a prior plays frame by frame")
    names = {level.name for level in dst.manifest.levels}
    if any(name not in names for name in spec.levels) or level_dims(dst.manifest, spec.levels) != level_dims(
        src.manifest, spec.levels
    ):
        raise PriorExportError(f"{bundle_dir}: its latent levels are not {list(spec.levels)} of {shown}'s sizes")
    for name in spec.levels:
        a, b = src.manifest.latent_stats[name], dst.manifest.latent_stats[name]
        gap = max(float(np.abs(np.subtract(a.mean, b.mean)).max()), float(np.abs(np.subtract(a.std, b.std)).max()))
        if not gap <= CARRY_STATS_TOLERANCE:
            raise PriorExportError(f"{bundle_dir}: level '{name}' has other statistics than {shown}'s "
                                   f"(by {gap:.2e}); train its prior again")  # fmt: skip
    gap = 0.0
    runners = [ModelRunner(b, provider="cpu", threads=1) for b in (src, dst)]
    for path in audio:
        a, b = (encode_file(r, path) for r in runners)
        gap = max(gap, float(np.abs(a - b).max()))
    if not gap <= CARRY_LATENT_TOLERANCE:
        raise PriorExportError(f"{bundle_dir}: its encoder differs from {shown}'s by {gap:.2e} on "
                               f"{len(audio)} files; train its prior again")  # fmt: skip
    log(f"prior kept from {shown}: the encoders agree within {gap:.1e} on {len(audio)} files")
    with tempfile.TemporaryDirectory(dir=bundle_dir.parent) as tmp:
        tmp_path = Path(tmp) / PRIOR_FILE
        shutil.copyfile(source_dir / spec.file, tmp_path)  # checked against its checksum when src was loaded
        return _put_prior(bundle_dir, tmp_path, spec)
