"""Transfer evaluation of an instrument (timbre) bundle, issue 25 item 4:

    latentsynth-eval --transfer BUNDLE --inputs DIR [--second-source DIR] [--heldout DIR] [--voices DIR] [--out R]

Every input (speech, singing, other instruments: not the bundle's instrument) is played through the bundle after the
range mapping the app applies (``desktop.engine.model.octave``): whole octaves from the input's median voiced pitch (pYIN,
``evaluation.pitch``) to the manifest's trained median, and a loudness offset from the input's median loudness (the
bundle's own meter: its encoder's loudness latent, else RMS dBFS) to the trained median, both through the bundle's
``transpose`` and ``loudness`` controls. Scored on the input's voiced frames: pitch (median cents, raw pitch and
chroma accuracy within 50 cents, outliers), dynamics (RMS-dB contours), target timbre (``timbre_embedding``: share of
segments an LDA on second-source audio assigns to the instrument, for outputs and raw inputs, and Frechet distances),
and the reconstruction of the instrument's held-out phrases beside the factory default. Writes report.json,
report.md and a spectrogram of one input and its output; prints a table. Torch-free.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import numpy as np

from core.audiofile import Audio, AudioFileError, find_audio_files, load_audio, resample
from core.bundle import BundleError
from core.bundle_io import load_bundle
from core.latent import LatentControls
from core.render import render_audio
from core.session import ModelRunner, WindowModel, pad_to_multiple
from desktop.engine.model.factory import default_bundle_path

from ..engine.model.octave import loudness_offset, octave_shift, voiced_median_hz
from . import pitch, spectral
from . import timbre_embedding as te
from .transfer_report import markdown, table, targets
from .transfer_scores import dynamics, label_pitch, pitch_scores, pitch_summary, pool, weighted

INPUT_CLASS = "inputs"  # the classifier's class of non-instrument audio (the inputs, or --voices)
SOURCE_FILES = 24  # second-source files per source in a class (evenly spaced over that source's sorted list)
# physical models, left out of the classifier's classes unless --sources names them: classes with the STK models in
# them recognised 44-59 % of the violin's own held-out phrases, the two sample sets 77-93 % (docs/transfer.md); they
# stay in the Frechet distances per source
PHYSICAL_SOURCES = ("stk",)


class TransferError(Exception):
    """The transfer evaluation cannot run; the message names what is missing."""


def _spread(files: list[Path], n: int | None) -> list[Path]:
    if n is None or len(files) <= n:
        return files
    return [files[i] for i in np.linspace(0, len(files) - 1, n).round().astype(int)]


def _mono(path: Path, sr: int, max_seconds: float | None) -> np.ndarray:
    a = load_audio(path)
    x = resample(a.mono(), a.sample_rate, sr)
    return x[: int(max_seconds * sr)] if max_seconds else x


class Player:
    """A bundle rendered offline as ``latentsynth-render`` plays it, with declared control values set."""

    def __init__(self, bundle_dir: Path, threads: int = 1):
        self.bundle = load_bundle(bundle_dir)
        self.m = self.bundle.manifest
        self.runner = ModelRunner(self.bundle, provider="cpu", threads=threads)

    def render(self, x: np.ndarray, sr: int, values: dict[str, float] | None = None) -> np.ndarray:
        controls = LatentControls().with_glide(0.0)
        for name, v in (values or {}).items():
            controls = controls.with_value(self.m.control(name), v)
        wm = WindowModel(self.runner, controls)
        return render_audio(Audio(np.asarray(x, np.float32)[None], sr), wm, 0.25)[0]

    def loudness_meter(self) -> tuple | None:
        """(control, ref dB) when the bundle's encoder measures loudness in the trained range's unit (the timbre
        family: 'z' = (dB - ref) / unit, the ``loudness`` control adds to it); else None."""
        c = self.m.control("loudness")
        text = str(self.m.extra.get("sf", {}).get("timbre", {}).get("z", ""))
        found = re.search(r"\(dB - (-?[\d.]+)\) / ([\d.]+)", text)
        if c is None or c.transform != "add" or not c.scale or found is None:
            return None
        return c, float(found.group(1))

    def encoder_track(self, x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """What the bundle's encoder hears in ``x``, per latent frame (delay removed): (loudness in the trained
        range's unit or None, voiced bool from its 'voicing' control channel or None)."""
        meter = self.loudness_meter()
        channels = list(self.m.extra.get("sf", {}).get("control_channels", []))
        if meter is None and "voicing" not in channels:
            return None, None
        d = self.m.streaming.delay if self.m.streaming is not None else 0
        xin = pad_to_multiple(
            np.concatenate([x, np.zeros(d, np.float32)]).astype(np.float32)[None, None], self.m.pad_multiple
        )
        lat = self.runner.encode(xin)
        k = d // self.m.latent_hop
        voiced = (
            lat["control"][0, channels.index("voicing"), k:] > 0.5
            if "voicing" in channels and "control" in lat
            else None
        )
        db = None
        if meter is not None:
            c, ref = meter
            db = lat[c.level][0, c.channel, k:] / c.scale + ref
        return db, voiced


def _resolve(bundle_dir: Path, inputs: Path, second: Path | None, heldout: Path | None, voices: Path | None):
    """Check every folder first (an error names the first missing one); the corpus folders default to the
    bundle's training corpus (``training_data.root``'s parent)."""
    if not (bundle_dir / "manifest.json").is_file():
        raise TransferError(f"{bundle_dir}: no bundle there (no manifest.json)")
    for label, d in (("--inputs", inputs), ("--second-source", second), ("--heldout", heldout), ("--voices", voices)):
        if d is not None and not d.is_dir():
            raise TransferError(f"{d}: no such folder ({label})")
    m = load_bundle(bundle_dir).manifest
    corpus = Path(m.training_data.root).parent if m.training_data is not None else None
    if second is None and corpus is not None and (corpus / "second_source").is_dir():
        second = corpus / "second_source"
    if heldout is None and corpus is not None and (corpus / "heldout").is_dir():
        heldout = corpus / "heldout"
    if second is None:
        raise TransferError(f"{bundle_dir}: no second-source audio found beside its corpus; give --second-source DIR")
    instrument = (second.parent.name if second.name == "second_source" else second.name) or "instrument"
    others = {}
    if second.name == "second_source":
        for d in sorted(second.parent.parent.glob("*/second_source")):
            if d != second and d.is_dir():
                others[d.parent.name] = d
    return instrument, second, heldout, others


def _source_of(path: Path) -> str:
    """A corpus file's source: its name before '__' (``stk__violin_003.wav`` -> stk); else 'all'."""
    return path.name.split("__", 1)[0] if "__" in path.name else "all"


def _class_embeddings(folder: Path, max_files: int | None, sources=None, tags: list | None = None) -> np.ndarray:
    """Segment embeddings of (at most ``max_files``, evenly spaced) audio files under ``folder``, from ``sources``
    only when given; ``tags`` collects each segment's source."""
    files = [p for p in find_audio_files(folder) if not sources or _source_of(p) in sources]
    es = []
    for p in _spread(files, max_files):
        es.append(te.embed(_mono(p, te.SR, 30.0))[0])
        if tags is not None:
            tags += [_source_of(p)] * len(es[-1])
    return np.concatenate(es) if es else np.zeros((0, te.DIM))


def _one_input(player: Player, x: np.ndarray, trained: dict):
    """One input through the range mapping and the bundle -> (record, pitch counts, output, (embeddings of the raw
    input's and the output's voiced segments, of the raw input's active segments))."""
    m, sr = player.m, player.m.sample_rate
    t_ctl, l_ctl = m.control("transpose"), m.control("loudness")
    ref = pitch.track(x, sr)
    med = voiced_median_hz(ref.f0)
    shift = octave_shift(med, trained)
    applied = float(np.clip(shift, t_ctl.minimum, t_ctl.maximum)) if t_ctl is not None else 0.0
    enc_db, enc_voiced = player.encoder_track(x)
    x_lv = te.frame_features(x, sr)[1]
    meter = "bundle" if enc_db is not None else "rms_dbfs"
    if enc_db is not None:
        in_db = enc_db[enc_voiced[: len(enc_db)]] if enc_voiced is not None else enc_db
    else:
        in_db = x_lv[: len(ref.voiced)][ref.voiced[: len(x_lv)]]
    enc_unvoiced = None  # input-voiced frames (pYIN) the bundle's own encoder calls unvoiced
    if enc_voiced is not None and sr == pitch.SR and m.latent_hop == pitch.HOP:
        n = min(len(enc_voiced), len(ref.voiced))
        enc_unvoiced = float((ref.voiced[:n] & ~enc_voiced[:n]).sum() / max(ref.voiced[:n].sum(), 1))
    in_med = float(np.median(in_db)) if len(in_db) else None
    offset = loudness_offset(in_med, trained)
    off_applied = float(np.clip(offset, l_ctl.minimum, l_ctl.maximum)) if l_ctl is not None else 0.0
    values = {k: v for k, v in (("transpose", applied), ("loudness", off_applied)) if v and m.control(k)}
    y = player.render(x, sr, values)
    c = pitch_scores(ref, pitch.track(y, sr), applied)
    e_out = te.embed(y, sr, ref.voiced)[0]
    rec = {
        "seconds": round(len(x) / sr, 2),
        "input_median_hz": None if med is None else round(med, 1),
        "octave_shift": shift,
        "transpose_applied": applied,
        "loudness_meter": meter,
        "input_median_db": None if in_med is None else round(in_med, 1),
        "loudness_offset_db": offset,
        "loudness_applied_db": off_applied,
        **pitch_summary(c),
        "encoder_unvoiced_share": enc_unvoiced,
        **dynamics(x_lv, te.frame_features(y, sr)[1], ref.voiced, off_applied),
        "segments": int(len(e_out)),
    }
    return rec, c, y, (te.embed(x, sr, ref.voiced)[0], e_out, te.embed(x, sr)[0])


def _per_source(folder: Path, sources: list[str], tags: list | None = None) -> np.ndarray:
    """Segment embeddings of up to SOURCE_FILES files of each of ``sources`` under ``folder``."""
    es = [_class_embeddings(folder, SOURCE_FILES, [s], tags) for s in sources]
    return np.concatenate(es) if es else np.zeros((0, te.DIM))


def _timbre_classes(instrument: str, second: Path, others: dict, sources: list[str] | None):
    """(the classifier's instrument classes: second-source audio from ``sources``, by default every source but the
    physical models; the instrument's segments from every source, each one's source; the sources in the classes)."""
    found = sorted({_source_of(p) for p in find_audio_files(second)})
    picked = sources or [s for s in found if s not in PHYSICAL_SOURCES] or found
    tags: list[str] = []
    every = _per_source(second, found, tags)
    mine = np.isin(np.asarray(tags), picked)
    classes = {instrument: every[mine]}
    if not len(classes[instrument]):
        raise TransferError(f"{second}: no audio" + (f" from sources {','.join(sources)}" if sources else ""))
    for name, d in others.items():
        classes[name] = _per_source(d, picked)
    return classes, every, tags, picked


def _play_inputs(player: Player, inputs_dir: Path, files: list[Path], max_seconds: float | None, trained: dict, say):
    """Every input through the bundle: (per-file records, pitch counts, raw / output / training-input timbre
    embeddings, the picture's (x, y, is speech, name, transpose), skipped files)."""
    records, counts, raw_e, out_e, train_e, picture, skipped = [], [], [], [], [], None, []
    for i, path in enumerate(files):
        say(f"[{i + 1}/{len(files)}] {path.name}")
        try:
            x = _mono(path, player.m.sample_rate, max_seconds)
        except AudioFileError as exc:
            skipped.append(str(exc))
            continue
        rec, c, y, embs = _one_input(player, x, trained)
        records.append({"file": str(path.relative_to(inputs_dir)), **rec})
        counts.append(c)
        for lst, e in zip((raw_e, out_e, train_e), embs):
            lst.append(e)
        speech = bool(re.search(r"speech|sing|voice|vocal", str(path), re.I))
        if picture is None or (speech and not picture[2]):
            picture = (x, y, speech, path.name, rec["transpose_applied"])
    return records, counts, raw_e, out_e, train_e, picture, skipped


def _raw_hits(classes: dict, raw_e: list, train_e: list, with_voices: bool, clf, instrument: str) -> list[bool]:
    """Each raw input's frames assigned to the instrument or not, by a classifier whose input class left that
    file out (with --voices the input class is the voices, which hold no input)."""
    all_train = np.concatenate(train_e)
    raw_hits = []
    for k, e in enumerate(raw_e):
        rest = [t for j, t in enumerate(train_e) if j != k]
        data = classes if with_voices else {**classes, INPUT_CLASS: np.concatenate(rest or [all_train[:0]])}
        try:
            raw_hits += [p == instrument for p in te.Classifier.fit(data).predict(e)]
        except ValueError:  # one input file and no --voices: no input class without it
            raw_hits += [p == instrument for p in clf.predict(e)]
    return raw_hits


def _summary(
    records: list[dict],
    counts: list[dict],
    clf,
    instrument: str,
    raw_hits: list[bool],
    out_all: np.ndarray,
    raw_all: np.ndarray,
    second_e: np.ndarray,
    by_source: tuple[np.ndarray, list[str]],
) -> dict:
    """The numbers the targets are read from: pooled pitch, loudness, timbre shares and Frechet distances."""
    pooled = pitch_summary(pool(counts))
    corrs = [r["loudness_correlation"] for r in records if r["loudness_correlation"] is not None]
    mads = [r["loudness_mad_db"] for r in records if r["loudness_mad_db"] is not None]
    assigned = clf.predict(out_all)
    every, tags = by_source
    return {
        **{f"transfer_{k}": v for k, v in pooled.items()},
        "transfer_within_50c": pooled["raw_pitch_accuracy"],
        "transfer_encoder_unvoiced_share": weighted(records, "encoder_unvoiced_share", "input_voiced_frames"),
        "loudness_correlation": float(np.mean(corrs)) if corrs else None,
        "loudness_mad_db": float(np.mean(mads)) if mads else None,
        "output_target_share": clf.share(out_all, instrument),
        "input_target_share": float(np.mean(raw_hits)) if raw_hits else None,
        "output_classes": {k: assigned.count(k) for k in clf.classes},
        "frechet_outputs_second_source": clf.frechet(out_all, second_e),
        "frechet_inputs_second_source": clf.frechet(raw_all, second_e),
        "frechet_outputs_by_source": {t: clf.frechet(out_all, every[np.asarray(tags) == t]) for t in sorted(set(tags))},
    }


def evaluate_transfer(
    bundle_dir: Path,
    inputs_dir: Path,
    out_dir: Path,
    second_source: Path | None = None,
    heldout_dir: Path | None = None,
    voices_dir: Path | None = None,
    default_bundle: Path | None = None,
    max_seconds: float | None = 30.0,
    max_heldout: int | None = 8,
    threads: int = 1,
    log=None,
    sources: list[str] | None = None,
) -> dict:
    t0 = time.perf_counter()
    say = log or (lambda s: None)
    instrument, second, heldout_dir, others = _resolve(bundle_dir, inputs_dir, second_source, heldout_dir, voices_dir)
    files = find_audio_files(inputs_dir)
    if not files:
        raise TransferError(f"{inputs_dir}: no audio files")
    player = Player(bundle_dir, threads)
    m, sr = player.m, player.m.sample_rate
    trained = dict(m.extra.get("trained_range") or {})

    say(f"timbre classes: {instrument} + {len(others)} other instruments + {INPUT_CLASS}")
    classes, every_e, tags, picked = _timbre_classes(instrument, second, others, sources)

    records, counts, raw_e, out_e, train_e, picture, skipped = _play_inputs(
        player, inputs_dir, files, max_seconds, trained, say
    )
    if voices_dir is not None:
        classes[INPUT_CLASS] = _class_embeddings(voices_dir, None)
    if not records:
        raise TransferError(f"{inputs_dir}: none of the audio files could be read ({skipped[0]})")
    all_train = np.concatenate(train_e)
    clf = te.Classifier.fit(classes if voices_dir is not None else {**classes, INPUT_CLASS: all_train})
    out_all, raw_all = np.concatenate(out_e), np.concatenate(raw_e)
    raw_hits = _raw_hits(classes, raw_e, train_e, voices_dir is not None, clf, instrument)
    for rec, e in zip(records, out_e):
        rec["output_target_share"] = clf.share(e, instrument)
    second_e = classes[instrument]
    r: dict = {
        "bundle": str(bundle_dir),
        "name": player.bundle.name,
        "family": m.family,
        "instrument": instrument,
        "inputs": str(inputs_dir),
        "second_source": str(second),
        "second_source_sources": sorted(set(tags)),
        "classifier_sources": picked,
        "trained_range": trained,
        "files": len(records),
        "timbre_embedding": te.__doc__.strip().split("\n\n")[1].replace("\n", " "),
        "timbre_classes": {k: int(len(v)) for k, v in classes.items()} | {INPUT_CLASS: int(len(all_train))},
        "summary": _summary(records, counts, clf, instrument, raw_hits, out_all, raw_all, second_e, (every_e, tags)),
        "per_file": records,
        "skipped": skipped,
    }
    if heldout_dir is not None:
        say("held-out phrases")
        r["heldout"] = heldout(player, heldout_dir, default_bundle or default_bundle_path(), max_heldout, threads)
        r["summary"]["heldout_pitch_median_cents"] = r["heldout"]["model"]["pitch_median_cents"]
        held_e = _class_embeddings(heldout_dir, max_heldout)
        r["summary"]["frechet_heldout_second_source"] = clf.frechet(held_e, second_e)
        # the classifier's own check: the training source's phrases (no model) assigned to the instrument
        r["summary"]["heldout_target_share"] = clf.share(held_e, instrument)
    r["targets"] = targets(r)
    out_dir.mkdir(parents=True, exist_ok=True)
    if picture is not None:
        from .report import spectrogram_png

        x, y, _, name, applied = picture
        spectrogram_png(out_dir / "transfer.png", [x, y], sr, [f"in: {name}", f"{instrument} ({applied:+.0f} st)"], 8.0)
        r["image"] = "transfer.png"
    r["runtime_seconds"] = round(time.perf_counter() - t0, 1)
    (out_dir / "report.json").write_text(json.dumps(r, indent=1, default=float) + "\n")
    (out_dir / "report.md").write_text(markdown(r))
    return r


def heldout(player: Player, folder: Path, default_dir: Path, max_files: int | None, threads: int) -> dict:
    """The instrument's own held-out phrases through the bundle and through the factory default: mel and STFT
    distance, level change, pitch against the phrase's f0 labels (``<name>.f0.npy``; else the input's track). The
    bundle plays them as its own recordings are played: each 'scale' control (``timbre``) at its maximum, the code
    following the input."""
    default = Player(default_dir, threads)
    own = {c.name: c.maximum for c in player.m.controls if c.transform == "scale"}
    rows: dict[str, list] = {"model": [], "default": []}
    pitches: dict[str, list] = {"model": [], "default": []}
    for path in _spread(find_audio_files(folder), max_files):
        a = load_audio(path)
        x = a.mono()
        lab_path = path.with_name(path.stem + ".f0.npy")
        if lab_path.is_file() and a.sample_rate == pitch.SR:
            labels = np.load(lab_path)
        else:
            tr = pitch.track(x, a.sample_rate)
            labels = np.where(tr.voiced, tr.f0, 0.0)
        for name, p in (("model", player), ("default", default)):
            y = p.render(x, a.sample_rate, own if name == "model" else None)
            d = (
                spectral.mel_distance(y, x, a.sample_rate),
                spectral.stft_distance(y, x),
                spectral.level_change_db(y, x),
            )
            rows[name].append(dict(zip(("mel_distance", "stft_distance", "level_change_db"), d)))
            pitches[name].append(label_pitch(y, a.sample_rate, labels))
    out = {"files": len(rows["model"]), "folder": str(folder), "default_bundle": str(default_dir), "controls": own}
    for name in rows:
        errs = np.concatenate([q["errors"] for q in pitches[name]]) if pitches[name] else np.zeros(0)
        lab = sum(q["labelled"] for q in pitches[name])
        vals = {k: [row[k] for row in rows[name] if row[k] is not None] for k in rows[name][0]} if rows[name] else {}
        out[name] = {k: float(np.mean(v)) if v else None for k, v in vals.items()}
        out[name]["pitch_median_cents"] = float(np.median(errs)) if errs.size else None
        out[name]["pitch_within_50c"] = sum(q["within"] for q in pitches[name]) / lab if lab else None
        out[name]["labelled_frames_voiced"] = sum(q["voiced"] for q in pitches[name]) / lab if lab else None
    return out


def run_cli(args) -> int:
    """``latentsynth-eval --transfer``: one error line and exit 2 when something is missing."""
    opt = lambda v: Path(v) if v else None  # noqa: E731
    if args.inputs is None:
        print("latentsynth-eval: error: --transfer needs --inputs DIR", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("reports") / f"transfer-{Path(args.transfer).name}"
    log = None if args.no_progress else (lambda s: print(f"[transfer] {s}", file=sys.stderr))
    try:
        dirs = [opt(v) for v in (args.second_source, args.heldout, args.voices, args.default_bundle)]
        r = evaluate_transfer(
            Path(args.transfer),
            Path(args.inputs),
            out,
            *dirs,
            args.max_seconds or 30.0,
            args.max_heldout,
            args.threads,
            log,
            [t for t in (args.sources or "").split(",") if t] or None,
        )
    except (TransferError, BundleError, AudioFileError, ValueError, OSError) as exc:
        print(f"latentsynth-eval: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(table(r)))
    print(json.dumps({"summary": r["summary"], "runtime_seconds": r["runtime_seconds"]}, default=float))
    print(f"wrote {out / 'report.md'}", file=sys.stderr)
    return 0
