"""latentsynth-eval: reconstruct every audio file under a folder through a bundle and report how close it is.

Writes REPORT_DIR/metrics.json (per file, mean over files, mean per top-level subfolder) and REPORT_DIR/report.md
with PNG spectrograms (input, reconstruction, the mel + Griffin-Lim baseline). Torch-free: numpy, onnxruntime
and librosa, like the rest of the playing side, so anyone with a bundle can evaluate it.

Metric definitions (docs/families.md has the details; the distances are the trainer's losses, in numpy):
  mel_distance       multi-scale log10-mel L1, n_fft 512/1024/2048 with 64/80/128 mels, hop n_fft/4
  stft_distance      multi-resolution STFT: spectral convergence + L1 of ln-magnitudes, n_fft 256..2048, hop n_fft/4
  si_sdr             scale-invariant SDR in dB (higher is better)
  mse, cosine_similarity   on the waveforms, the research's own two
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .engine.audiofile import AudioFileError, find_audio_files, load_audio, resample
from .engine.bundle import BundleError, load_bundle
from .engine.inversion import decoded_mel_to_audio, griffin_lim_from_mel, mel_magnitude
from .engine.overlap_add import process_offline
from .engine.render import hop_samples
from .engine.session import ModelRunner, WindowModel
from .pngwrite import colour_lut, to_index, write_png

METRICS = ("mel_distance", "stft_distance", "si_sdr", "mse", "cosine_similarity")
LOWER_IS_BETTER = {"mel_distance": True, "stft_distance": True, "si_sdr": False, "mse": True,
                   "cosine_similarity": False}
MEL_SCALES = ((512, 64), (1024, 80), (2048, 128))
STFT_SCALES = (256, 512, 1024, 2048)
# The research's inversion, applied to the TRUE mel of the input: what any mel model could at best give with it.
BASELINE = {"n_mels": 256, "n_fft": 1024, "hop": 256, "n_iter": 32}
ACTIVE_UNIT_THRESHOLD = 0.01


# ---- metrics (numpy versions of trainer/losses.py) ---------------------------------------------------------------

def _mag(x: np.ndarray, n_fft: int) -> np.ndarray:
    import librosa

    # torch.stft(center=True) pads by reflection; librosa's default is zeros
    spec = librosa.stft(x.astype(np.float32), n_fft=n_fft, hop_length=n_fft // 4, window="hann", center=True,
                        pad_mode="reflect")
    return np.maximum(np.abs(spec), 1e-7)


def _mel_fb(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa

    key = (sr, n_fft, n_mels)
    if key not in _FB:
        _FB[key] = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    return _FB[key]


_FB: dict = {}


def mel_distance(y: np.ndarray, x: np.ndarray, sr: int) -> float:
    total = 0.0
    for n_fft, n_mels in MEL_SCALES:
        fb = _mel_fb(sr, n_fft, n_mels)
        my = np.log10(np.maximum(fb @ _mag(y, n_fft), 1e-5))
        mx = np.log10(np.maximum(fb @ _mag(x, n_fft), 1e-5))
        total += float(np.abs(my - mx).mean())
    return total / len(MEL_SCALES)


def stft_distance(y: np.ndarray, x: np.ndarray) -> float:
    total = 0.0
    for n_fft in STFT_SCALES:
        sy, sx = _mag(y, n_fft), _mag(x, n_fft)
        conv = np.linalg.norm(sy - sx) / max(np.linalg.norm(sx), 1e-3)
        total += float(conv + np.abs(np.log(sy) - np.log(sx)).mean())
    return total / len(STFT_SCALES)


def si_sdr(y: np.ndarray, x: np.ndarray) -> float:
    x = x.astype(np.float64) - x.mean()
    y = y.astype(np.float64) - y.mean()
    alpha = np.dot(y, x) / max(np.dot(x, x), 1e-12)
    target = alpha * x
    noise = y - target
    return float(10 * np.log10(max(np.dot(target, target), 1e-12) / max(np.dot(noise, noise), 1e-12)))


def all_metrics(y: np.ndarray, x: np.ndarray, sr: int) -> dict[str, float]:
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    cos = float(np.dot(y64, x64) / max(np.linalg.norm(y64) * np.linalg.norm(x64), 1e-12))
    return {"mel_distance": mel_distance(y, x, sr), "stft_distance": stft_distance(y, x), "si_sdr": si_sdr(y, x),
            "mse": float(np.mean((y64 - x64) ** 2)), "cosine_similarity": cos}


def griffin_lim_baseline(x: np.ndarray, sr: int) -> np.ndarray:
    b = BASELINE
    mel = mel_magnitude(x, sr, b["n_fft"], b["hop"], b["n_mels"])
    return griffin_lim_from_mel(mel, sr, b["n_fft"], b["hop"], b["n_iter"], length=len(x))


# ---- latent statistics -----------------------------------------------------------------------------------------

def codebook_stats(codes: np.ndarray, codebook_size: int) -> dict:
    """codes int[N, G] -> perplexity exp(H) and usage (fraction of the codebook seen), mean over groups."""
    perp, usage = [], []
    for g in range(codes.shape[1]):
        counts = np.bincount(codes[:, g], minlength=codebook_size).astype(np.float64)
        p = counts / max(counts.sum(), 1)
        nz = p[p > 0]
        perp.append(float(np.exp(-(nz * np.log(nz)).sum())))
        usage.append(float((counts > 0).mean()))
    return {"codebook_perplexity": float(np.mean(perp)), "codebook_usage": float(np.mean(usage)),
            "codebook_size": int(codebook_size), "groups": int(codes.shape[1]), "frames": int(codes.shape[0]),
            "perplexity_per_group": perp, "usage_per_group": usage}


def active_units(frames: dict[str, np.ndarray]) -> dict:
    """Per level: units whose posterior mean varies over the data by more than ACTIVE_UNIT_THRESHOLD."""
    out = {}
    for name, z in frames.items():
        var = z.var(axis=0)
        out[name] = {"active": int((var > ACTIVE_UNIT_THRESHOLD).sum()), "dim": int(z.shape[1]),
                     "variance_per_unit": [round(float(v), 5) for v in var]}
    return out


# ---- one file --------------------------------------------------------------------------------------------------

@dataclass
class Recorder:
    """Wraps a WindowModel; keeps every window's latents (central frames) for active units and codes."""

    model: WindowModel

    def __post_init__(self):
        self.latents: dict[str, list[np.ndarray]] = {}

    def __call__(self, window: np.ndarray) -> np.ndarray:
        y = self.model(window)
        for name, z in (self.model.last_latents or {}).items():
            self.latents.setdefault(name, []).append(z[0].T)
        return y


def whole_file_model(runner: ModelRunner, x: np.ndarray) -> np.ndarray:
    """The bundle's decoder on the whole file at once: no windows, so no crossfades between windows whose
    phases the decoder chose independently (which the windowed path suffers from)."""
    return WindowModel(runner)(x)


def whole_file_mel_inversion(runner: ModelRunner, x: np.ndarray) -> np.ndarray:
    """Mel-VAE bundles: encode the whole file at once, decode the mel head, Griffin-Lim (the research's method)."""
    lat, gain = WindowModel(runner).encode_window(x)
    lat = runner.quantize(lat)
    mel = runner.sessions["decoder"].run(["mel"], {n: lat[n] for n in runner.level_names})[0][0]
    return decoded_mel_to_audio(mel, runner.manifest)[: len(x)] / gain


def spectrogram_png(path: Path, rows: list[np.ndarray], sr: int, max_frames: int = 500, colours: int = 64) -> Path:
    """Log-mel (128 bands, n_fft 1024, hop 256) of each signal, stacked top to bottom, low frequencies at the
    bottom of each panel, a shared colour scale (80 dB below the input's peak), separated by white lines."""
    panels, ref = [], None
    for sig in rows:
        db = 20 * np.log10(np.maximum(mel_magnitude(sig, sr, 1024, 256, 128), 1e-6))[::-1, :max_frames]
        ref = db.max() if ref is None else ref
        panels.append(db)
    width = max(p.shape[1] for p in panels)
    white = colours  # one extra palette entry
    parts = []
    for i, db in enumerate(panels):
        idx = to_index(np.pad(db, ((0, 0), (0, width - db.shape[1])), constant_values=ref - 80), ref - 80, ref,
                       colours)
        parts += ([np.full((2, width), white, np.uint8)] if i else []) + [idx]
    palette = np.concatenate([colour_lut(colours), np.full((1, 3), 255, np.uint8)])
    return write_png(path, np.concatenate(parts, 0), palette)


def _mean(records: list[dict]) -> dict:
    out = {}
    for method in records[0]["metrics"]:
        out[method] = {k: float(np.mean([r["metrics"][method][k] for r in records])) for k in METRICS}
    return out


# ---- the command -----------------------------------------------------------------------------------------------

def evaluate(bundle_dir: Path, data_dir: Path, out_dir: Path, hop_seconds: float = 0.25,
             max_seconds: float | None = None, images: int = 6, threads: int = 1, show_progress: bool = True) -> dict:
    t0 = time.perf_counter()
    bundle = load_bundle(bundle_dir)
    runner = ModelRunner(bundle, provider="cpu", threads=threads)
    m = bundle.manifest
    sr = m.sample_rate
    hop = hop_samples(hop_seconds, sr, m.window, m.pad_multiple)
    files = find_audio_files(data_dir)
    if not files:
        raise AudioFileError(f"{data_dir}: no audio files found")
    has_mel = "mel" in [o.name for o in runner.sessions["decoder"].get_outputs()] and "mel" in m.extra
    has_codes = "quantizer" in runner.sessions and "codes" in [o.name for o in runner.sessions["quantizer"].get_outputs()]
    out_dir.mkdir(parents=True, exist_ok=True)
    records, skipped = [], []
    latents: dict[str, list[np.ndarray]] = {}
    image_folders: dict[str, int] = {}
    for path in tqdm(files, desc="eval", unit="file", disable=not show_progress, file=sys.stderr):
        rel = path.relative_to(data_dir)
        try:
            audio = load_audio(path)
        except AudioFileError as exc:
            skipped.append({"file": str(rel), "reason": str(exc)})
            continue
        x = resample(audio.mono(), audio.sample_rate, sr)
        if max_seconds:
            x = x[: int(max_seconds * sr)]
        rec = Recorder(WindowModel(runner))
        y = process_offline(x, m.window, hop, rec)
        for name, zs in rec.latents.items():
            latents.setdefault(name, []).extend(zs)
        outputs = {"model": y, "model_whole_file": whole_file_model(runner, x), "griffin_lim": griffin_lim_baseline(x, sr)}
        if has_mel:
            outputs["model_griffin_lim"] = whole_file_mel_inversion(runner, x)
        folder = rel.parts[0] if len(rel.parts) > 1 else ""
        record = {"file": str(rel), "folder": folder, "seconds": round(len(x) / sr, 3),
                  "metrics": {k: all_metrics(v, x, sr) for k, v in outputs.items()}}
        if image_folders.get(folder, 0) < max(1, images // 4) and sum(image_folders.values()) < images:
            image_folders[folder] = image_folders.get(folder, 0) + 1
            png = out_dir / (str(rel.with_suffix("")).replace("/", "__") + ".png")
            spectrogram_png(png, [x] + list(outputs.values()), sr)
            record["image"] = png.name
        records.append(record)
    if not records:
        raise AudioFileError(f"{data_dir}: none of the audio files could be read")

    report: dict = {"bundle": str(bundle_dir), "name": bundle.name, "family": m.family,
                    "step": m.provenance.get("step"), "data": str(data_dir), "files": len(records),
                    "seconds": round(sum(r["seconds"] for r in records), 2), "hop_seconds": hop_seconds, "hop_samples": hop,
                    "max_seconds_per_file": max_seconds, "methods": list(records[0]["metrics"]),
                    "griffin_lim_baseline": BASELINE, "mean": _mean(records)}
    folders = sorted({r["folder"] for r in records if r["folder"]})
    if folders:
        report["by_folder"] = {f: {"files": sum(r["folder"] == f for r in records),
                                   **_mean([r for r in records if r["folder"] == f])} for f in folders}
    frames = {name: np.concatenate([z for z in zs], 0) for name, zs in latents.items()}
    if has_codes:
        flat = {n: f.T[None].astype(np.float32) for n, f in frames.items()}  # [1, D, N]
        codes = runner.sessions["quantizer"].run(["codes"], flat)[0][0].T  # [N, G]
        size = int(m.extra.get("quantizer", {}).get("codebook_size") or codes.max() + 1)
        report.update(codebook_stats(codes.astype(np.int64), size))
    else:
        report["active_units"] = active_units(frames)
        report["active_unit_threshold"] = ACTIVE_UNIT_THRESHOLD
    report["skipped"] = skipped
    report["runtime_seconds"] = round(time.perf_counter() - t0, 1)
    report["per_file"] = records
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    (out_dir / "report.md").write_text(markdown_report(report))
    return report


def _table(rows: dict[str, dict], methods: list[str]) -> list[str]:
    lines = ["| method | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    for method in methods:
        if method in rows:
            vals = rows[method]
            lines.append(f"| {method} | " + " | ".join(f"{vals[k]:.4g}" for k in METRICS) + " |")
    return lines


def markdown_report(r: dict) -> str:
    methods = r["methods"]
    arrows = ", ".join(f"{k} {'lower' if LOWER_IS_BETTER[k] else 'higher'}" for k in METRICS)
    lines = [f"# Evaluation: {r['name']} ({r['family']}, step {r['step']})", "",
             f"{r['files']} files, {r['seconds']:.1f} s of audio from `{r['data']}`; windowed resynthesis "
             f"(1 s windows, hop {r['hop_seconds']} s = {r.get('hop_samples', '?')} samples on the latent grid, "
             "exactly as `latentsynth-render`); "
             f"{r['runtime_seconds']} s to evaluate.", "",
             "Methods: `model` = the bundle's output as `latentsynth-render` plays it (windowed); "
             "`model_whole_file` = the same decoder run once on the whole file (no window crossfades); "
             "`griffin_lim` = baseline, 32 Griffin-Lim iterations "
             "from the TRUE 256-band mel (n_fft 1024, hop 256) of the input"
             + ("; `model_griffin_lim` = the bundle's predicted mel + the same Griffin-Lim, whole file (the "
                "research's method)" if "model_griffin_lim" in methods else "") + ".", "",
             f"Better: {arrows}.", "", "## Mean over all files", ""]
    lines += _table(r["mean"], methods)
    if "by_folder" in r:
        lines += ["", "## Mean per folder", ""]
        for folder, vals in r["by_folder"].items():
            lines += [f"### {folder} ({vals['files']} files)", ""] + _table(vals, methods) + [""]
    if "codebook_usage" in r:
        lines += ["", "## Codebook", "",
                  f"{r['groups']} group(s) of {r['codebook_size']} codes over {r['frames']} latent frames: usage "
                  f"{r['codebook_usage']:.3f} (fraction of codes used), perplexity {r['codebook_perplexity']:.1f} "
                  f"(mean over groups; per group usage {[round(u, 3) for u in r['usage_per_group']]}).", ""]
    if "active_units" in r:
        lines += ["", "## Active units", "",
                  f"A unit is active when the variance over the data of its posterior mean exceeds "
                  f"{r['active_unit_threshold']}.", ""]
        for name, au in r["active_units"].items():
            lines.append(f"- level `{name}`: {au['active']} of {au['dim']} active")
        lines.append("")
    images = [x for x in r["per_file"] if "image" in x]
    if images:
        lines += ["", "## Spectrograms", "",
                  "Log-mel, 80 dB range, time left to right (first 5.8 s). Panels top to bottom: input, "
                  + ", ".join(methods) + ".", ""]
        for x in images:
            lines += [f"**{x['file']}**", "", f"![{x['file']}]({x['image']})", ""]
    lines += ["", "## Per file", "", "| file | s | " + " | ".join(f"{m} mel / si_sdr" for m in methods) + " |",
              "|---" * (len(methods) + 2) + "|"]
    for x in r["per_file"]:
        cells = [f"{x['metrics'][m]['mel_distance']:.3f} / {x['metrics'][m]['si_sdr']:.1f}" for m in methods]
        lines.append(f"| {x['file']} | {x['seconds']:.1f} | " + " | ".join(cells) + " |")
    if r["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{s['file']} ({s['reason']})" for s in r["skipped"])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="latentsynth-eval", description="Reconstruct every audio file under --data "
                                "through a bundle; write metrics.json and report.md with spectrogram PNGs.")
    p.add_argument("--bundle", required=True, help="bundle folder")
    p.add_argument("--data", required=True, help="folder of audio files (subfolders become per-folder means)")
    p.add_argument("--out", required=True, help="report folder to write")
    p.add_argument("--hop", type=float, default=0.25, help="window hop in seconds, as latentsynth-render (0.25)")
    p.add_argument("--max-seconds", type=float, default=None, help="evaluate at most this much of each file")
    p.add_argument("--images", type=int, default=6, help="spectrogram pictures to write (default 6)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    try:
        r = evaluate(Path(args.bundle), Path(args.data), Path(args.out), args.hop, args.max_seconds, args.images,
                     args.threads, not args.no_progress)
    except (BundleError, AudioFileError, ValueError) as exc:
        print(f"latentsynth-eval: error: {exc}", file=sys.stderr)
        return 2
    summary = {"files": r["files"], "mean": r["mean"]}
    for key in ("codebook_usage", "codebook_perplexity"):
        if key in r:
            summary[key] = r[key]
    if "active_units" in r:
        summary["active_units"] = {k: v["active"] for k, v in r["active_units"].items()}
    print(json.dumps(summary))
    print(f"wrote {Path(args.out) / 'report.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
