"""Evaluating a bundle on a folder of audio: every file resynthesised as the renderer plays it (and whole-file), scored
beside peer codecs on the same files, with the information rate of every system and synthetic probes; writes
metrics.json, report.md and pictures. ``latentsynth-eval`` (desktop/evaluation/cli.py) is its command.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.audiofile import Audio, AudioFileError, find_audio_files, load_audio, resample
from core.bundle_io import load_bundle
from core.dsp import DcBlocker
from core.render import render_audio
from core.session import ModelRunner, WindowModel, pad_to_multiple

from ..engine.model.inversion import decoded_mel_to_audio
from . import aggregate, peers, probes, rate, report, systems
from .report import spectrogram_png

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


@dataclass
class _Pass:
    """What one pass over the files collects."""

    records: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    frames: dict[str, list[np.ndarray]] = field(default_factory=dict)  # latent frames per level
    kl_bits: dict[str, list[np.ndarray]] = field(default_factory=dict)  # per level with a posterior scale
    peer_bits: dict[str, list[float]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)


def _score_files(
    but: BundleUnderTest,
    data_dir: Path,
    files: list[Path],
    out_dir: Path,
    max_seconds: float | None,
    images: int,
    peer_names: list[str],
    equal_mels: int,
    cache: systems.ScoreCache,
    show_progress: bool,
) -> _Pass:
    """Every file through the bundle and the peers, scored; spectrogram pictures of the first few per category."""
    sr = but.m.sample_rate
    done = _Pass(peer_bits={p: [] for p in peer_names})
    image_cats: dict[str, int] = {}
    bar = tqdm(files, desc="eval", unit="file", disable=not show_progress, file=sys.stderr)
    for path in bar:
        rel = path.relative_to(data_dir)
        try:
            audio = load_audio(path)
        except AudioFileError as exc:
            done.skipped.append({"file": str(rel), "reason": str(exc)})
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
            done.frames.setdefault(name, []).append(z[0].T)
            if name in stds:
                done.kl_bits.setdefault(name, []).append(rate.kl_bits(z[0], stds[name][0]))
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
            done.peer_bits[p].append(bps * len(x) / sr)
            if yp is not None:
                outputs[p] = yp
        done.seconds.append(len(x) / sr)
        record = {"file": str(rel), "category": category, "seconds": round(len(x) / sr, 3), "metrics": metrics}
        if image_cats.get(category, 0) < max(1, images // 4) and sum(image_cats.values()) < images:
            image_cats[category] = image_cats.get(category, 0) + 1
            for p in ("opus_12k", "world"):
                if p in peer_names and p not in outputs:
                    outputs[p] = peers.run_peer(p, x, sr, equal_mels)[0]
            png = out_dir / (str(rel.with_suffix("")).replace("/", "__") + ".png")
            spectrogram_png(png, [x] + list(outputs.values()), sr, ["input"] + list(outputs))
            record["image"] = png.name
        done.records.append(record)
    return done


def _model_rate(but: BundleUnderTest, done: _Pass, r: dict) -> tuple[float | None, str]:
    """The bundle's information rate in bit/s and how it was measured: the entropy of the codes used (a quantised
    bundle, whose codebook statistics go into ``r``), else the KL of the posterior (the active units go into
    ``r``), plus what the manifest states."""
    m, sr = but.m, but.m.sample_rate
    model_rate, note = None, "unknown: the encoder exports no posterior scale (re-export the bundle)"
    frames_all = {name: np.concatenate(zs, 0) for name, zs in done.frames.items()}
    if done.kl_bits:
        bits = {n: float(np.concatenate(v).mean()) for n, v in done.kl_bits.items()}
        model_rate = sum(bits[lv.name] * sr / lv.hop for lv in m.levels if lv.name in bits)
        note = (
            "KL of the posterior from N(0, I) on these files ("
            + ", ".join(f"{n}: {b:.1f} bit/frame" for n, b in bits.items())
            + ")"
        )
    if but.has_codes:
        flat = {n: f.T[None].astype(np.float32) for n, f in frames_all.items()}
        codes = but.runner.sessions["quantizer"].run(["codes"], flat)[0][0].T
        size = int(m.extra.get("quantizer", {}).get("codebook_size") or codes.max() + 1)
        r.update(codebook_stats(codes.astype(np.int64), size))
        model_rate = rate.entropy_rate(r["perplexity_per_group"], sr / m.latent_hop)
        nominal = rate.code_rate(m)
        note = "entropy of the codes used" + (
            f" (nominal grid: {nominal['bits_per_second'] / 1000:.3g} kbit/s)" if nominal else ""
        )
    else:
        r["active_units"] = active_units(frames_all)
        r["active_unit_threshold"] = ACTIVE_UNIT_THRESHOLD
    if m.information_rate:
        note += (
            f"; manifest (export): {m.information_rate['bits_per_second'] / 1000:.3g} kbit/s "
            f"({m.information_rate.get('source')})"
        )
    return model_rate, note


def _peer_rate_notes(equal_mels: int) -> dict[str, str]:
    """How each peer's information rate is counted."""
    return {
        "opus_6k": "measured file size",
        "opus_12k": "measured file size",
        "griffin_lim": "256 float32 per 256 samples",
        "griffin_lim_equal": f"{equal_mels} float32 mel bands per 256 samples",
        "world": "float32 f0, envelope and aperiodicity per 5 ms frame",
        "world_harvest": "float32 f0, envelope and aperiodicity per 11.6 ms frame",
        "dsp": "float32 pitch, voicing, 80-point envelope and 6-band aperiodicity per 256 samples",
    }


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
    done = _score_files(
        but, data_dir, files, out_dir, max_seconds, images, peer_names, equal_mels, cache, show_progress
    )
    records = done.records
    if not records:
        raise AudioFileError(f"{data_dir}: none of the audio files could be read")

    system_order = [MODEL, "model_whole_file"] + (["model_griffin_lim"] if but.has_mel else []) + peer_names
    total_seconds = float(sum(done.seconds))
    rates: dict[str, float | None] = {p: float(sum(done.peer_bits[p]) / total_seconds) for p in peer_names}
    rate_notes = _peer_rate_notes(equal_mels)
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
    rates[MODEL], rate_notes[MODEL] = _model_rate(but, done, r)
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
    r["skipped"] = done.skipped
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
