"""latentsynth-eval: resynthesise every audio file under a folder through a bundle and score it as a listener would,
beside peer codecs on the same files.

    latentsynth-eval --bundle B --data DIR --out REPORT [--peers] [--max-seconds 10]

Writes REPORT/metrics.json and REPORT/report.md with pictures. The metrics (``desktop/evaluation``): spectral
distances, SI-SDR and level change; ViSQOL v3; PESQ-WB and STOI on speech; pitch fidelity on pitched material;
the information rate of every system; synthetic probes with a known pitch and level. ``--peers`` adds Opus 6 and
12 kbit/s, Griffin-Lim from the true and from an equal-size mel, and the WORLD vocoder, cached per file. Torch-free;
the metric packages come with the ``eval`` extra.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .engine.audiofile import Audio, AudioFileError, find_audio_files, load_audio, resample
from .engine.bundle import BundleError, load_bundle
from .engine.dsp import DcBlocker
from .engine.inversion import decoded_mel_to_audio
from .engine.render import render_audio
from .engine.session import ModelRunner, WindowModel, pad_to_multiple
from .evaluation import aggregate, peers, probes, rate, report, systems
from .evaluation.report import spectrogram_png
from .evaluation.spectral import all_metrics, mel_distance, si_sdr, stft_distance

__all__ = [
    "all_metrics",
    "codebook_stats",
    "evaluate",
    "main",
    "mel_distance",
    "si_sdr",
    "spectrogram_png",
    "stft_distance",
]

ACTIVE_UNIT_THRESHOLD = 0.01
MODEL = "model"
NOTES = {
    "model": "the bundle, windowed or streamed exactly as `latentsynth-render` plays it",
    "model_whole_file": "the same decoder run once over the whole file (spectral metrics only)",
    "model_griffin_lim": "the bundle's predicted mel + 32 Griffin-Lim iterations (spectral metrics only)",
    "opus_6k": "libopus at 6 kbit/s (ffmpeg, 24 kHz), delay removed",
    "opus_12k": "libopus at 12 kbit/s (ffmpeg, 24 kHz), delay removed",
    "griffin_lim": "32 Griffin-Lim iterations from the TRUE 256-band mel: the uncompressed ceiling",
    "griffin_lim_equal": "Griffin-Lim from a mel with as many numbers per second as the bundle's latent",
    "world": "the WORLD vocoder (pyworld), full analysis and synthesis, nothing quantised",
    "world_harvest": "WORLD with Harvest's f0 at the models' 256-sample hop (11.6 ms), nothing quantised",
    "dsp": "the source-filter analysis and synthesis with nothing learned (the dsp bundle, streamed)",
}


class EvalError(Exception):
    """The evaluation cannot run (missing package or tool); the message says what to install."""


def check_packages(with_peers: bool) -> None:
    import warnings

    missing = []
    for module, package in (
        ("visqol", "visqol-python"),
        ("pesq", "pesq"),
        ("pystoi", "pystoi"),
        ("matplotlib", "matplotlib"),
    ) + ((("pyworld", "pyworld"),) if with_peers else ()):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pyworld imports the deprecated pkg_resources
                __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise EvalError(f"missing packages: {', '.join(missing)}; install the eval extra: pip install '.[eval]'")
    if with_peers:
        try:
            peers._ffmpeg()
        except peers.PeerError as exc:
            raise EvalError(str(exc)) from exc


def codebook_stats(codes: np.ndarray, codebook_size: int) -> dict:
    """codes int[N, G] -> perplexity exp(H) and usage (fraction of the codebook seen), mean over groups."""
    perp, usage = [], []
    for g in range(codes.shape[1]):
        counts = np.bincount(codes[:, g], minlength=codebook_size).astype(np.float64)
        p = counts / max(counts.sum(), 1)
        nz = p[p > 0]
        perp.append(float(np.exp(-(nz * np.log(nz)).sum())))
        usage.append(float((counts > 0).mean()))
    return {
        "codebook_perplexity": float(np.mean(perp)),
        "codebook_usage": float(np.mean(usage)),
        "codebook_size": int(codebook_size),
        "groups": int(codes.shape[1]),
        "frames": int(codes.shape[0]),
        "perplexity_per_group": perp,
        "usage_per_group": usage,
    }


def active_units(frames: dict[str, np.ndarray]) -> dict:
    """Per level: units whose posterior mean varies over the data by more than ACTIVE_UNIT_THRESHOLD."""
    return {
        name: {
            "active": int((z.var(axis=0) > ACTIVE_UNIT_THRESHOLD).sum()),
            "dim": int(z.shape[1]),
            "variance_per_unit": [round(float(v), 5) for v in z.var(axis=0)],
        }
        for name, z in frames.items()
    }


class BundleUnderTest:
    """The bundle's outputs for one signal: as the renderer plays it, whole-file, and its whole-file latents."""

    def __init__(self, bundle_dir: Path, hop_seconds: float, threads: int):
        self.bundle = load_bundle(bundle_dir)
        self.runner = ModelRunner(self.bundle, provider="cpu", threads=threads)
        self.m = self.bundle.manifest
        self.hop_seconds = hop_seconds
        dec_out = [o.name for o in self.runner.sessions["decoder"].get_outputs()]
        self.has_mel = "mel" in dec_out and "mel" in self.m.extra
        q = self.runner.sessions.get("quantizer")
        self.has_codes = q is not None and "codes" in [o.name for o in q.get_outputs()]
        enc_out = [o.name for o in self.runner.sessions["encoder"].get_outputs()]
        self.scales = {lv.name: lv.scale_output for lv in self.m.levels if lv.scale_output in enc_out}

    def render(self, x: np.ndarray) -> np.ndarray:
        audio = Audio(x[None], self.m.sample_rate)  # x is DC-blocked already (evaluate): not blocked twice
        return render_audio(audio, WindowModel(self.runner), self.hop_seconds, dc_block=False)[0]

    def whole_file(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray], float]:
        """(decoded audio, latents {level: float32[1, D, F]}, posterior stds (levels with a scale output), gain)."""
        wm = WindowModel(self.runner)
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        gain = self.m.normalization.gain_for(rms)
        # a streaming (causal) bundle: `delay` zeros after the signal (its output lags by that much) and zero states
        xin = np.concatenate([(x * gain).astype(np.float32), np.zeros(wm.delay, np.float32)])
        xin = pad_to_multiple(xin[None, None, :], self.m.pad_multiple)
        names = self.runner.level_names + [self.scales[n] for n in self.runner.level_names if n in self.scales]
        outs = dict(
            zip(
                names,
                self.runner.sessions["encoder"].run(names, {"audio": xin, **self.runner.zero_states("encoder", 1)}),
            )
        )
        lat = {n: outs[n] for n in self.runner.level_names}
        stds = {n: outs[self.scales[n]] for n in self.scales}
        y = wm.decode_window(lat, gain, len(x))
        return y, lat, stds, gain

    def mel_inversion(self, lat: dict[str, np.ndarray], gain: float, n: int) -> np.ndarray:
        q = self.runner.quantize(lat)
        mel = self.runner.sessions["decoder"].run(["mel"], {k: q[k] for k in self.runner.level_names})[0][0]
        return decoded_mel_to_audio(mel, self.m)[:n] / gain


def _peer_record(
    name: str, x: np.ndarray, sr: int, category: str, track, equal_mels: int, cache: systems.ScoreCache
) -> tuple[dict, float, np.ndarray | None]:
    key = systems.signal_key(
        x, sr, "peer", name, equal_mels if name == "griffin_lim_equal" else 0, category, peers.version(name)
    )
    hit = cache.get(key)
    if hit is not None:
        return hit["metrics"], hit["bps"], None
    y, bps = peers.run_peer(name, x, sr, equal_mels)
    rec = systems.score(y, x, sr, category, track)
    cache.put(key, {"metrics": rec, "bps": bps})
    return rec, bps, y


def _probe_records(but: BundleUnderTest, peer_names: list[str], equal_mels: int, cache: systems.ScoreCache) -> dict:
    sr = but.m.sample_rate
    out: dict[str, dict] = {MODEL: {}}
    for name, (x, f0) in probes.probe_signals(sr).items():
        out[MODEL][name] = probes.score(name, x, but.render(x), f0, sr)
        for p in peer_names:
            key = systems.signal_key(x, sr, "probe", p, equal_mels if p == "griffin_lim_equal" else 0)
            hit = cache.get(key)
            if hit is None:
                hit = probes.score(name, x, peers.run_peer(p, x, sr, equal_mels)[0], f0, sr)
                cache.put(key, hit)
            out.setdefault(p, {})[name] = hit
    return out


def evaluate(
    bundle_dir: Path,
    data_dir: Path,
    out_dir: Path,
    hop_seconds: float = 0.25,
    max_seconds: float | None = None,
    images: int = 6,
    threads: int = 1,
    show_progress: bool = True,
    with_peers: bool = False,
    cache_dir: Path | None = None,
    with_probes: bool = True,
) -> dict:
    t0 = time.perf_counter()
    check_packages(with_peers)
    but = BundleUnderTest(bundle_dir, hop_seconds, threads)
    m = but.m
    sr = m.sample_rate
    files = find_audio_files(data_dir)
    if not files:
        raise AudioFileError(f"{data_dir}: no audio files found")
    cache = systems.ScoreCache(cache_dir)
    latent_fps = sum(lv.dim * sr / lv.hop for lv in m.levels)
    equal_mels = peers.equal_size_mels(latent_fps, sr)
    peer_names = list(peers.PEERS) if with_peers else []
    out_dir.mkdir(parents=True, exist_ok=True)
    records, skipped = [], []
    frames: dict[str, list[np.ndarray]] = {}
    kl_bits: dict[str, list[np.ndarray]] = {}
    peer_bits: dict[str, list[float]] = {p: [] for p in peer_names}
    seconds_seen: list[float] = []
    image_cats: dict[str, int] = {}
    bar = tqdm(files, desc="eval", unit="file", disable=not show_progress, file=sys.stderr)
    for path in bar:
        rel = path.relative_to(data_dir)
        try:
            audio = load_audio(path)
        except AudioFileError as exc:
            skipped.append({"file": str(rel), "reason": str(exc)})
            continue
        # every system gets, and is scored against, the input as the engine feeds a model: its DC blocked (a 10 Hz
        # high-pass whose phase alone would cap SI-SDR near 22 dB if only the model's side had it)
        x = DcBlocker(sr).process(resample(audio.mono(), audio.sample_rate, sr))
        if max_seconds:
            x = x[: int(max_seconds * sr)]
        category = systems.category_of(rel)
        track = systems.input_track(x, sr, cache) if category in systems.PITCHED else None
        bar.set_postfix_str(f"{category}: model")
        y = but.render(x)
        y_whole, lat, stds, gain = but.whole_file(x)
        for name, z in lat.items():
            frames.setdefault(name, []).append(z[0].T)
            if name in stds:
                kl_bits.setdefault(name, []).append(rate.kl_bits(z[0], stds[name][0]))
        metrics = {
            MODEL: systems.score(y, x, sr, category, track),
            "model_whole_file": systems.score(y_whole, x, sr, category, None, full=False),
        }
        outputs = {MODEL: y}
        if but.has_mel:
            metrics["model_griffin_lim"] = systems.score(
                but.mel_inversion(lat, gain, len(x)), x, sr, category, None, full=False
            )
        for p in peer_names:
            bar.set_postfix_str(f"{category}: {p}")
            rec, bps, yp = _peer_record(p, x, sr, category, track, equal_mels, cache)
            metrics[p] = rec
            peer_bits[p].append(bps * len(x) / sr)
            if yp is not None:
                outputs[p] = yp
        seconds_seen.append(len(x) / sr)
        record = {"file": str(rel), "category": category, "seconds": round(len(x) / sr, 3), "metrics": metrics}
        if image_cats.get(category, 0) < max(1, images // 4) and sum(image_cats.values()) < images:
            image_cats[category] = image_cats.get(category, 0) + 1
            for p in ("opus_12k", "world"):
                if p in peer_names and p not in outputs:
                    outputs[p] = peers.run_peer(p, x, sr, equal_mels)[0]
            png = out_dir / (str(rel.with_suffix("")).replace("/", "__") + ".png")
            spectrogram_png(png, [x] + list(outputs.values()), sr, ["input"] + list(outputs))
            record["image"] = png.name
        records.append(record)
    if not records:
        raise AudioFileError(f"{data_dir}: none of the audio files could be read")

    system_order = [MODEL, "model_whole_file"] + (["model_griffin_lim"] if but.has_mel else []) + peer_names
    total_seconds = float(sum(seconds_seen))
    rates: dict[str, float | None] = {p: float(sum(peer_bits[p]) / total_seconds) for p in peer_names}
    rate_notes = {
        "opus_6k": "measured file size",
        "opus_12k": "measured file size",
        "griffin_lim": "256 float32 per 256 samples",
        "griffin_lim_equal": f"{equal_mels} float32 mel bands per 256 samples",
        "world": "float32 f0, envelope and aperiodicity per 5 ms frame",
        "world_harvest": "float32 f0, envelope and aperiodicity per 11.6 ms frame",
        "dsp": "float32 pitch, voicing, 80-point envelope and 6-band aperiodicity per 256 samples",
    }
    r: dict = {
        "bundle": str(bundle_dir),
        "name": but.bundle.name,
        "family": m.family,
        "step": m.provenance.get("step"),
        "data": str(data_dir),
        "files": len(records),
        "seconds": round(total_seconds, 2),
        "hop_seconds": hop_seconds,
        "max_seconds_per_file": max_seconds,
        "model_path": "streamed block by block" if m.streaming is not None else f"1-s windows, hop {hop_seconds} s",
        "systems": system_order,
        "system_notes": {s: NOTES[s] for s in system_order},
        "equal_size_mels": equal_mels,
    }
    frames_all = {name: np.concatenate(zs, 0) for name, zs in frames.items()}
    if kl_bits:
        bits = {n: float(np.concatenate(v).mean()) for n, v in kl_bits.items()}
        rates[MODEL] = sum(bits[lv.name] * sr / lv.hop for lv in m.levels if lv.name in bits)
        rate_notes[MODEL] = (
            "KL of the posterior from N(0, I) on these files ("
            + ", ".join(f"{n}: {b:.1f} bit/frame" for n, b in bits.items())
            + ")"
        )
    if but.has_codes:
        flat = {n: f.T[None].astype(np.float32) for n, f in frames_all.items()}
        codes = but.runner.sessions["quantizer"].run(["codes"], flat)[0][0].T
        size = int(m.extra.get("quantizer", {}).get("codebook_size") or codes.max() + 1)
        r.update(codebook_stats(codes.astype(np.int64), size))
        rates[MODEL] = rate.entropy_rate(r["perplexity_per_group"], sr / m.latent_hop)
        nominal = rate.code_rate(m)
        rate_notes[MODEL] = "entropy of the codes used" + (
            f" (nominal grid: {nominal['bits_per_second'] / 1000:.3g} kbit/s)" if nominal else ""
        )
    else:
        r["active_units"] = active_units(frames_all)
        r["active_unit_threshold"] = ACTIVE_UNIT_THRESHOLD
    if MODEL not in rates:
        rates[MODEL] = None
        rate_notes[MODEL] = "unknown: the encoder exports no posterior scale (re-export the bundle)"
    if m.information_rate:
        rate_notes[MODEL] += (
            f"; manifest (export): {m.information_rate['bits_per_second'] / 1000:.3g} kbit/s "
            f"({m.information_rate.get('source')})"
        )
    rates["model_whole_file"] = rates[MODEL]
    if but.has_mel:
        rates["model_griffin_lim"] = rates[MODEL]
    r["rates_bps"] = rates
    r["rate_notes"] = rate_notes
    r["overall"] = aggregate.summarise(records, system_order)
    r["by_category"] = aggregate.by_category(records, system_order)
    if with_probes:
        if show_progress:
            print("[eval] probes", file=sys.stderr)
        r["probes"] = _probe_records(but, peer_names, equal_mels, cache)
    r["skipped"] = skipped
    report.rate_plane_png(out_dir / "rate_plane.png", r["overall"], rates, MODEL)
    r["runtime_seconds"] = round(time.perf_counter() - t0, 1)
    r["per_file"] = [
        {
            **rec,
            "metrics": {
                s: {k: v for k, v in vals.items() if k != "pitch_counts"} for s, vals in rec["metrics"].items()
            },
        }
        for rec in records
    ]
    (out_dir / "metrics.json").write_text(json.dumps(r, indent=1) + "\n")
    (out_dir / "report.md").write_text(report.markdown(r))
    return r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="latentsynth-eval",
        description="Resynthesise every audio file under --data "
        "through a bundle; write metrics.json and report.md (perceptual, pitch, rate).",
    )
    p.add_argument("--bundle", help="bundle folder")
    p.add_argument("--data", help="folder of audio files (first subfolder = category)")
    p.add_argument("--out", help="report folder to write")
    t = p.add_argument_group("transfer (instrument bundles; desktop/evaluation/transfer.py)")
    t.add_argument("--transfer", metavar="BUNDLE", help="evaluate an instrument bundle on --inputs (not --bundle)")
    t.add_argument("--inputs", help="folder of inputs that are not the instrument (speech, singing, ...)")
    t.add_argument("--second-source", help="the instrument from another source (default: beside its corpus)")
    t.add_argument("--heldout", help="the instrument's held-out phrases (default: beside its corpus)")
    t.add_argument("--voices", help="non-instrument audio for the timbre classifier (default: the inputs)")
    t.add_argument("--default-bundle", help="the peer on the held-out phrases (default: the factory default)")
    t.add_argument("--max-heldout", type=int, default=8, help="held-out phrases to score (default 8)")
    t.add_argument("--sources", help="second-source files from these sources only (name prefix, e.g. stk)")
    p.add_argument(
        "--peers",
        action="store_true",
        help="also run Opus 6k/12k, Griffin-Lim (true and equal-size mel) and WORLD on every file (cached per file)",
    )
    p.add_argument("--cache", default=None, help="peer cache folder (default ~/.cache/latentsynth/eval)")
    p.add_argument("--no-cache", action="store_true", help="recompute the peers")
    p.add_argument("--no-probes", action="store_true", help="skip the synthetic probes")
    p.add_argument("--hop", type=float, default=0.25, help="window hop in seconds, as latentsynth-render (0.25)")
    p.add_argument("--max-seconds", type=float, default=None, help="evaluate at most this much of each file")
    p.add_argument("--images", type=int, default=6, help="spectrogram pictures to write (default 6)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.transfer is not None:
        from .evaluation import transfer

        return transfer.run_cli(args)
    if args.bundle is None or args.data is None or args.out is None:
        p.error("the following arguments are required: --bundle, --data, --out (or --transfer BUNDLE --inputs DIR)")
    if args.max_seconds is not None and not args.max_seconds > 0:
        print(f"latentsynth-eval: error: --max-seconds must be > 0 (got {args.max_seconds})", file=sys.stderr)
        return 2
    cache = None if args.no_cache else Path(args.cache) if args.cache else systems.default_cache_dir()
    try:
        r = evaluate(
            Path(args.bundle),
            Path(args.data),
            Path(args.out),
            args.hop,
            args.max_seconds,
            args.images,
            args.threads,
            not args.no_progress,
            args.peers,
            cache,
            not args.no_probes,
        )
    except (BundleError, AudioFileError, EvalError, ValueError, OSError) as exc:
        print(f"latentsynth-eval: error: {exc}", file=sys.stderr)
        return 2
    summary = {
        "files": r["files"],
        "seconds": r["seconds"],
        "runtime_seconds": r["runtime_seconds"],
        "rate_bps": r["rates_bps"],
        "overall": r["overall"],
    }
    print(json.dumps(summary))
    print(f"wrote {Path(args.out) / 'report.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
