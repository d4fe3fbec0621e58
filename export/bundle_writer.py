"""Build a bundle from a checkpoint: ONNX parts, latent statistics, parity check, manifest; all or nothing."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnxruntime as ort
import torch
from tqdm import tqdm

from core.bundle import STREAMING_FORMAT_VERSION, Control, LatentLevel, LatentStats, Manifest, Normalization
from core.bundle_io import load_bundle, sha256_file, write_manifest
from core.output_path import OutputPathError, replaceable_bundle
from core.session import open_session
from models.registry import build_model
from trainer.checkpoint import component_states, load_checkpoint, model_from_checkpoint
from trainer.config import RunConfig
from trainer.data import AudioFolder, ChunkDataset

from .axis_effects import excerpts, measure
from .onnx_parts import export_parts, scale_outputs
from .provenance import ProvenanceError, run_data_summary, training_data_record
from .streaming import (
    STREAM_PARITY_TOLERANCE,
    export_streaming_parts,
    parity_audio,
    streaming_parity,
    streaming_parity_by_part,
    streaming_section,
)

PARITY_TOLERANCE = 1e-3
VERSION = "0.1.0"


class ExportError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[export] {msg}", file=sys.stderr, flush=True)


def latent_statistics(
    model: torch.nn.Module, chunks: torch.Tensor, show_progress: bool = True
) -> dict[str, LatentStats]:
    """Mean, std and PCA (descending explained variance) of each level's latent frames over ``chunks``."""
    frames: dict[str, list[np.ndarray]] = {name: [] for name, _, _ in model.levels}
    with torch.no_grad():
        for start in tqdm(
            range(0, chunks.shape[0], 16), desc="latent statistics", disable=not show_progress, file=sys.stderr
        ):
            x = chunks[start : start + 16]
            x = torch.nn.functional.pad(x, (0, (-x.shape[-1]) % max(h for _, _, h in model.levels)))
            for name, z in model.encode(x).items():
                frames[name].append(z.permute(0, 2, 1).reshape(-1, z.shape[1]).double().numpy())
    stats = {}
    for name, parts in frames.items():
        z = np.concatenate(parts, 0)
        mean = z.mean(0)
        cov = np.cov(z - mean, rowvar=False)
        evals, evecs = np.linalg.eigh(np.atleast_2d(cov))
        order = np.argsort(evals)[::-1]
        evals = np.maximum(evals[order], 0.0)
        comps = evecs[:, order].T
        # a deterministic sign per axis: the largest-magnitude entry is positive
        signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(1)])
        comps = comps * np.where(signs == 0, 1, signs)[:, None]
        total = evals.sum() if evals.sum() > 0 else 1.0
        stats[name] = LatentStats(
            mean=tuple(mean.tolist()),
            std=tuple(z.std(0).tolist()),
            components=tuple(tuple(r) for r in comps.tolist()),
            explained_variance=tuple(evals.tolist()),
            explained_variance_ratio=tuple((evals / total).tolist()),
        )
    return stats


def information_rate(model: torch.nn.Module, chunks: torch.Tensor, sample_rate: int) -> dict[str, Any] | None:
    """The latent's rate in bits per second over ``chunks``: Gaussian models, the posterior's KL from N(0, I) (mean
    over frames, summed over dims and levels); FSQ models, the nominal code rate. None for other models."""
    if model.gaussian:
        per_level = {}
        with torch.no_grad():
            for start in range(0, chunks.shape[0], 16):
                x = chunks[start : start + 16]
                x = torch.nn.functional.pad(x, (0, (-x.shape[-1]) % max(h for _, _, h in model.levels)))
                for name, (mean, std) in model.posterior(x).items():
                    kl = 0.5 * (mean * mean + std * std - torch.log(std * std) - 1.0)  # nats [B, D, F]
                    per_level.setdefault(name, []).append(kl.sum(1).flatten().double())
        hops = {name: hop for name, _, hop in model.levels}
        bits = {n: float(torch.cat(v).mean()) / float(np.log(2.0)) for n, v in per_level.items()}
        bps = sum(b * sample_rate / hops[n] for n, b in bits.items())
        return {
            "bits_per_second": round(bps, 2),
            "source": "kl",
            "bits_per_frame": {n: round(b, 3) for n, b in bits.items()},
            "note": "KL of the posterior from N(0, I) over the export's statistics chunks",
        }
    q = model.extra_manifest().get("quantizer")
    if q and q.get("type") == "fsq":
        per_frame = float(np.sum(np.log2(q["levels"]))) * int(q.get("groups", 1))
        return {
            "bits_per_second": round(per_frame * sample_rate / model.levels[0][2], 2),
            "source": "codes",
            "bits_per_frame": {model.levels[0][0]: per_frame},
            "note": "nominal: every code of the grid equally likely (the evaluation reports the entropy used)",
        }
    return None


def parity_check(
    model: torch.nn.Module, bundle_dir: Path, parts: dict[str, str], audio: torch.Tensor
) -> dict[str, float]:
    """Max abs difference between onnxruntime (CPU) and torch on real audio, per part and end to end (the encoder's
    divided by max(1, max |latent|)); 'codes': fraction of quantizer codes that differ; 'mel': the mel output's."""
    sess = {p: open_session(bundle_dir / f, threads=None) for p, f in parts.items()}
    names = [name for name, _, _ in model.levels]
    with torch.no_grad():
        lt = model.encode(audio)
        qt = model.quantize(lt)
        yt = model.decode(qt)
    lo = dict(zip(names, sess["encoder"].run(names, {"audio": audio.numpy()})))
    # latents: error relative to the latent's scale when that exceeds 1 (an unregularised mel-VAE latent reaches
    # |z| ~ 10, and a log-mel front end turns float32 rounding in near-silent frames into ~1e-4 relative error)
    err = {
        "encoder": max(
            float(np.abs(lo[n] - lt[n].numpy()).max()) / max(1.0, float(np.abs(lt[n].numpy()).max())) for n in names
        )
    }
    q_in = {n: lt[n].numpy() for n in names}
    if "quantizer" in sess:
        qo = dict(zip(names, sess["quantizer"].run([f"{n}_q" for n in names], q_in)))
        err["quantizer"] = max(float(np.abs(qo[n] - qt[n].numpy()).max()) for n in names)
    yo = sess["decoder"].run(["audio"], {n: qt[n].numpy() for n in names})[0]
    err["decoder"] = float(np.abs(yo - yt.numpy()).max())
    lo_q = dict(zip(names, sess["quantizer"].run([f"{n}_q" for n in names], lo))) if "quantizer" in sess else lo
    ye = sess["decoder"].run(["audio"], lo_q)[0]
    err["end_to_end"] = float(np.abs(ye - yt.numpy()).max())
    if "quantizer" in sess and "codes" in [o.name for o in sess["quantizer"].get_outputs()]:
        with torch.no_grad():
            ct = model.codes(lt).numpy()
        co = sess["quantizer"].run(["codes"], q_in)[0]
        err["codes"] = float(np.mean(co != ct))  # fraction of codes that differ; expected exactly 0
    if "mel" in [o.name for o in sess["decoder"].get_outputs()]:
        with torch.no_grad():
            mt = model.decode_extra(qt)["mel"].numpy()
        mo = sess["decoder"].run(["mel"], {n: qt[n].numpy() for n in names})[0]
        err["mel"] = float(np.abs(mo - mt).max())
    return err


STREAM_PARITY_SECONDS = 5.0
STREAM_PARITY_BLOCKS = (256,)  # the default block; tests/test_streaming.py covers 512 and 1024 too


def _export_streaming(ckpt: dict[str, Any], tmp: Path, signals: list[np.ndarray], sample_rate: int):
    """Causal models: the streaming parts, then two gates on 5 s of real training audio: the graphs over the whole
    signal against torch (PARITY_TOLERANCE) and block by block against the whole signal (1e-4)."""
    ref = model_from_checkpoint(ckpt)[0]
    _, specs = export_streaming_parts(ref, tmp)  # folds and rounds `ref`: it is now exactly what the graphs hold
    parts = {"encoder": "encoder.onnx", "decoder": "decoder.onnx"}
    audio = parity_audio(signals, int(STREAM_PARITY_SECONDS * sample_rate))
    if ref.integrates_phase:  # an oscillator: parts on identical inputs (see the function)
        errors, reported = streaming_parity_by_part(ref, tmp, parts, specs, audio, STREAM_PARITY_BLOCKS)
        what = "output of a part differs from its"
    else:
        errors, reported = streaming_parity(ref, tmp, parts, specs, audio, STREAM_PARITY_BLOCKS), {}
        what = "output differs from the"
    block_error = max(v for k, v in errors.items() if k.startswith("block_"))
    if not block_error <= STREAM_PARITY_TOLERANCE:
        raise ExportError(
            f"block-by-block onnxruntime {what} whole-file output by {block_error:.3g} "
            f"(> {STREAM_PARITY_TOLERANCE}) on {STREAM_PARITY_SECONDS:g} s of real audio; bundle not "
            f"written ({errors})"
        )
    errors = {("end_to_end" if k == "torch" else k): v for k, v in errors.items()}
    return streaming_section(ref, specs, STREAM_PARITY_BLOCKS[0], block_error), {**errors, **reported}


def _replace_dir(tmp: Path, out: Path) -> None:
    """Put the new bundle ``tmp`` at ``out``. An existing ``out`` is checked again (the command line checked it
    before the slow work, and a file may have appeared since): only a bundle holding nothing but its own files is
    replaced, and only those files are deleted; anything that appears in it during the swap is kept and named."""
    if not out.exists():
        os.replace(tmp, out)
        return
    try:
        own = replaceable_bundle(out)
    except OutputPathError as exc:
        raise ExportError(f"{exc}; bundle not written") from None
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.replace(out, old)
    os.replace(tmp, out)
    for name in own:
        try:
            (old / name).unlink()
        except OSError:
            pass  # gone already, or no longer a file: then it is left below, not deleted
    try:
        old.rmdir()
    except OSError:
        log(f"{old}: the previous bundle's folder holds files export did not write; they are kept there")


def preset_checkpoint(preset: str) -> dict[str, Any]:
    """A checkpoint in memory for a preset whose model has no parameters (``dsp``): config and empty states."""
    from trainer.config import load_config

    try:
        cfg = load_config(preset, [])
    except (ValueError, OSError) as exc:
        raise ExportError(f"preset '{preset}': {exc}") from exc
    model = build_model(cfg.model)
    if any(True for _ in model.parameters()):
        raise ExportError(f"preset '{preset}' has weights to train: train it, then export the run folder")
    return {
        "config": cfg.to_dict(),
        "model": component_states(model),
        "ema": None,
        "step": 0,
        "data_summary": {},
        "path": f"preset:{preset}",
    }


def with_synthesis(checkpoint: str | Path | dict[str, Any], synthesis: str) -> dict[str, Any]:
    """The checkpoint with its source-filter synthesis swapped (the nets learn envelope and aperiodicity only; the
    synthesis has no weights), e.g. an older run's ``additive`` for ``stft-live``."""
    from models.sfvae import SYNTHESES

    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(Path(checkpoint))
    model_cfg = dict(ckpt["config"]["model"])
    if model_cfg.get("family") not in ("sf", "timbre"):
        raise ExportError(
            f"{ckpt['path']}: --synthesis applies to the source-filter families (sf, timbre), "
            f"not '{model_cfg.get('family')}'"
        )
    if synthesis not in SYNTHESES:
        raise ExportError(f"--synthesis must be one of {', '.join(SYNTHESES)}, not '{synthesis}'")
    model_cfg["synthesis"] = synthesis
    return dict(ckpt, config=dict(ckpt["config"], model=model_cfg))


def export_bundle(
    checkpoint: str | Path | dict[str, Any],
    out_dir: str | Path,
    data_dir: str | Path | None = None,
    stat_chunks: int = 256,
    name: str | None = None,
    show_progress: bool = True,
    extra_provenance: dict[str, Any] | None = None,
    provenance_csv: str | Path | None = None,
    finish: Callable[[Path], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """``provenance_csv``: the corpus manifest.csv naming the training audio's sources and licences (default:
    one found in the training data folder or its parent; see ``export.provenance``). ``finish``: called with the
    new bundle's folder before it replaces ``out_dir`` (an error there leaves ``out_dir`` as it was)."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(Path(checkpoint))
    model, cfg = model_from_checkpoint(ckpt)
    log(f"checkpoint {ckpt['path']} (step {ckpt['step']}, family {cfg.model.family})")
    signals, summary, training_data = _training_audio(ckpt, cfg, data_dir, provenance_csv, show_progress)
    dataset = ChunkDataset(signals, cfg.data)
    idx = np.linspace(0, len(dataset) - 1, min(stat_chunks, len(dataset))).astype(int)
    chunks = torch.stack([dataset[int(i)] for i in idx])
    stats = latent_statistics(model, chunks, show_progress)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        parts, errors, streaming = _export_graphs(model, ckpt, tmp, signals, cfg.model.sample_rate, chunks)
        provenance = {
            "name": name or out_dir.name,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "latentsynth_version": VERSION,
            "checkpoint": Path(ckpt["path"]).name,
            "step": int(ckpt["step"]),
            "config": RunConfig.from_dict(ckpt["config"]).to_dict(),
            "data": {k: v for k, v in summary.items() if k != "val_file_names"},
            "stat_chunks": int(len(chunks)),
            "parity_max_abs_error": errors,
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
            "python": platform.python_version(),
            **(extra_provenance or {}),
        }
        manifest = _manifest(model, cfg, tmp, parts, stats, provenance, training_data, chunks, streaming)
        write_manifest(tmp, manifest)
        bundle = load_bundle(tmp)  # the player's own reader must accept it
        manifest = _name_axes(bundle, manifest, tmp, signals, cfg.model.sample_rate)
        if finish is not None:
            finish(tmp)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report = {
        "bundle": str(out_dir),
        "parity_max_abs_error": errors,
        "seconds": round(time.perf_counter() - t0, 1),
        "compression_ratio": round(manifest.compression_ratio, 2),
        "bytes": sum((out_dir / f).stat().st_size for f in parts.values()),
    }
    log(
        f"wrote {out_dir} ({report['bytes'] / 1e6:.1f} MB, compression {report['compression_ratio']}x, "
        f"{report['seconds']} s)"
    )
    return out_dir, report


def _training_audio(
    ckpt: dict[str, Any], cfg: RunConfig, data_dir: str | Path | None, provenance_csv, show_progress: bool
) -> tuple[list[np.ndarray], dict[str, Any], Any]:
    """The training files (the run's split) read from ``data_dir`` or the folder the run recorded, the data
    summary, and the training data record (sources and licences)."""
    summary = ckpt["data_summary"] if "data_summary" in ckpt else None
    summary = summary if summary is not None else run_data_summary(ckpt["path"])
    data_dir = Path(data_dir) if data_dir else (Path(summary["root"]) if summary.get("root") else None)
    if data_dir is None or not data_dir.is_dir():
        raise ExportError(
            f"the training data folder '{data_dir}' is not available: pass --data DIR with audio like "
            "the training data (latent statistics for the knobs and the parity check need real audio)"
        )
    folder = AudioFolder.load(data_dir, cfg.model.sample_rate, show_progress=show_progress)
    train_idx, val_idx = folder.split(cfg.data.val_percent)
    if not summary.get("root"):  # nothing recorded: the folder given is the best description there is
        summary = folder.summary(train_idx, val_idx)
    recorded_root = Path(summary["root"])
    try:
        training_data = training_data_record(
            summary, recorded_root if recorded_root.is_dir() else data_dir, provenance_csv
        )
    except ProvenanceError as exc:
        raise ExportError(str(exc)) from exc
    log(
        f"training data: {training_data.train_minutes} min, {len(training_data.sources)} sources"
        + (f" ({training_data.note})" if training_data.note else "")
    )
    return [folder.signals[i] for i in train_idx], summary, training_data


def _export_graphs(
    model: torch.nn.Module, ckpt: dict[str, Any], tmp: Path, signals: list[np.ndarray], sample_rate: int, chunks
) -> tuple[dict[str, str], dict[str, float], Any]:
    """The ONNX parts written into ``tmp`` and checked against torch: (parts, parity errors, the streaming
    section for a causal model, else None). ExportError when onnxruntime and torch disagree."""
    streaming = None
    log("exporting ONNX parts (dynamo exporter, a few seconds each)")
    if model.causal:
        streaming, errors = _export_streaming(ckpt, tmp, signals, sample_rate)
        parts = {"encoder": "encoder.onnx", "decoder": "decoder.onnx"}
    else:
        parts = export_parts(model_from_checkpoint(ckpt)[0], tmp, has_quantizer=model.has_quantizer)
        pad = max(h for _, _, h in model.levels)
        probe = chunks[: min(4, len(chunks))]
        probe = torch.nn.functional.pad(probe, (0, (-probe.shape[-1]) % pad))
        errors = parity_check(model, tmp, parts, probe)
    worst = max(v for k, v in errors.items() if not k.startswith(("block_", "drift_")))
    log("parity (max abs error, onnxruntime vs torch): " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))
    if not worst <= PARITY_TOLERANCE:
        raise ExportError(
            f"onnxruntime output differs from torch by {worst:.3g} (> {PARITY_TOLERANCE}); "
            f"bundle not written ({errors})"
        )
    return parts, errors, streaming


def _manifest(model, cfg: RunConfig, tmp: Path, parts, stats, provenance, training_data, chunks, streaming) -> Manifest:
    """The bundle's manifest for the parts in ``tmp`` (their checksums), without the axis effects."""
    scales = scale_outputs(model)
    levels = tuple(LatentLevel(n, d, h, scales.get(n)) for n, d, h in model.levels)
    return Manifest(
        family=cfg.model.family,
        sample_rate=cfg.model.sample_rate,
        window=cfg.data.window,
        hop=cfg.data.chunk_hop,
        levels=levels,
        # a causal model has no per-window loudness normalisation (it would need the future): it was trained at
        # random levels instead (model.random_gain_db)
        normalization=(
            Normalization("none")
            if streaming is not None
            else Normalization("rms", cfg.data.target_dbfs, cfg.data.max_gain_db)
        ),
        latent_stats=stats,
        parts=parts,
        files={f: sha256_file(tmp / f) for f in parts.values()},
        provenance=provenance,
        training_data=training_data,
        # family-specific facts the player needs (mel normalisation, quantizer grid); absent for waveform-vae
        extra={
            **model.extra_manifest(),
            # pitch families: the range trained on (the player's range view and octave mapping)
            **({"trained_range": model.trained_range(chunks)} if hasattr(model, "trained_range") else {}),
        },
        information_rate=information_rate(model, chunks, cfg.model.sample_rate),
        streaming=streaming,
        # knobs with a meaning the model declares (sf: pitch, transpose, formant, breath); none for the others
        controls=tuple(Control(**c) for c in model.controls()),
        **({"format_version": STREAMING_FORMAT_VERSION} if streaming is not None else {}),
    )


def _name_axes(bundle, manifest: Manifest, tmp: Path, signals: list[np.ndarray], sample_rate: int) -> Manifest:
    """What each latent axis does, measured on excerpts of the training audio and written into the manifest in
    ``tmp`` (the knobs' names); the manifest as it stands."""
    clips = excerpts(signals, sample_rate)
    if clips:
        seconds = sum(c.size for c in clips) / sample_rate
        log(f"measuring what each latent axis does on {seconds:.0f} s of the training audio (the knobs' names)")
        manifest = dataclasses.replace(manifest, axis_effects=measure(bundle, clips))
        write_manifest(tmp, manifest)
        load_bundle(tmp)
    else:
        log("no training file is long enough to measure the latent axes on: the knobs stay unnamed")
    return manifest
