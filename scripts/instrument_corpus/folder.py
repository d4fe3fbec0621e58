"""The corpus folder: refusing a folder this builder did not write, cleaning a previous build, the manifests,
SOURCES.md, and the check of the f0 labels against a pitch tracker."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

from .catalogue import FIELDS, GENERATOR, ROOMS, SOURCES, SR, CorpusError


def check_labels(out: Path, rows: list[dict], seconds_per_source: float) -> dict:
    """The f0 labels against desktop/evaluation/pitch.py's tracker on the first ``seconds_per_source`` of each
    instrument's dry audio per source: median |cents| and the share within 50 cents on frames both call voiced,
    and the share of labelled frames the tracker calls voiced; only frames labelled inside the tracker's range
    (it reads 50-1500 Hz: a flute's top octave is outside)."""
    from desktop.evaluation.pitch import FMAX, FMIN, track

    report: dict = {}
    for name in dict.fromkeys(r["instrument"] for r in rows):
        for src in dict.fromkeys(r["source"] for r in rows if r["instrument"] == name):
            errs, labelled, tracked, used = [], 0, 0, 0.0
            for r in rows:
                if r["instrument"] != name or r["source"] != src or r["room"] != "dry" or used >= seconds_per_source:
                    continue
                x, _ = sf.read(out / r["file"], dtype="float32")
                ref = np.load(out / r["f0_file"])
                p = track(x, SR)
                n = min(len(ref), len(p.f0))
                lab = (ref[:n] > FMIN * 1.1) & (ref[:n] < FMAX * 0.9)
                both = lab & p.voiced[:n]
                errs.append(np.abs(1200 * np.log2(p.f0[:n][both] / ref[:n][both])))
                labelled += int(lab.sum())
                tracked += int(both.sum())
                used += float(r["duration_s"])
            e = np.concatenate(errs) if errs else np.zeros(0)
            report[f"{name}/{src}"] = dict(
                seconds=round(used, 1),
                median_abs_cents=round(float(np.median(e)), 1) if len(e) else None,
                within_50_cents=round(float(np.mean(e <= 50)), 3) if len(e) else None,
                labelled_frames_tracked_voiced=round(tracked / max(labelled, 1), 3),
            )
    return report


def read_own_manifest(out: Path) -> list[dict] | None:
    """Rows of ``out/manifest.csv`` when this script wrote it, else None."""
    path = out / "manifest.csv"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows or any(r.get("generator") != GENERATOR for r in rows):
        return None
    return rows


def check_out(out: Path) -> list[dict] | None:
    """Refuse a file, or a non-empty folder that holds no corpus of this script; the previous rows when it does."""
    if out.exists() and not out.is_dir():
        raise CorpusError(f"--out {out} is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        return None
    old = read_own_manifest(out)
    if old is None:
        raise CorpusError(
            f"--out {out} is not empty and holds no corpus of this script (no manifest.csv written by it): "
            "refusing to write into it"
        )
    return old


def clean_out(out: Path, instruments: list[str], old: list[dict] | None) -> list[dict]:
    """Remove the files a previous build of these instruments wrote (only those); return the other rows."""
    if not old:
        return []
    for r in old:
        if r["instrument"] in instruments:
            for key in ("file", "f0_file", "loudness_file"):
                (out / r[key]).unlink(missing_ok=True)
    for name in instruments:
        for extra in ("manifest.csv", "tuning.json"):
            (out / name / extra).unlink(missing_ok=True)
        for split in ("train", "heldout", "second_source"):
            d = out / name / split
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
    return [r for r in old if r["instrument"] not in instruments]


def write_manifest(path: Path, rows: list[dict], relative_to: Path, out: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in rows:
            r = dict(r)
            for key in ("file", "f0_file", "loudness_file"):
                r[key] = (out / r[key]).relative_to(relative_to).as_posix()
            w.writerow(r)


def write_sources_md(path: Path, rows: list[dict], check: dict, build_s: float) -> None:
    lines = [
        "# Instrument corpora: sources and licences",
        "",
        f"Built by `{GENERATOR}` in {build_s:.0f} s. All audio is rendered here from generated phrases (no",
        "recording is copied); the synthesisers' samples and code come from Debian 12 packages: see",
        "/usr/share/doc/PACKAGE/copyright. Labels: `<name>.f0.npy` (Hz per 256-sample frame, 0 where silent) and",
        "`<name>.loudness.npy` (dBFS per frame) next to each WAV. Do not commit the audio.",
        "",
        "| instrument | split | source | room | package | licence | files | minutes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keys = dict.fromkeys((r["instrument"], r["split"], r["source"], r["room"]) for r in rows)
    for inst, split, src, room in keys:
        sel = [r for r in rows if (r["instrument"], r["split"], r["source"], r["room"]) == (inst, split, src, room)]
        minutes = sum(float(r["duration_s"]) for r in sel) / 60
        pkg, lic = sel[0]["debian_package"], sel[0]["license"]
        lines.append(f"| {inst} | {split} | {src} | {room} | {pkg} | {lic} | {len(sel)} | {minutes:.1f} |")
    lines += ["", "## Sources", ""]
    for s in SOURCES.values():
        lines.append(f"- `{s.name}` (Debian `{s.debian_package}`, {s.license}): {s.credit}.")
    lines += [
        "",
        "Rooms: `dry` is the synthesiser's output with its reverb and chorus off; "
        + "; ".join(
            f"`{k}` (RT60 {v['rt60']} s, direct-to-reverberant {v['drr_db']:+.0f} dB)" for k, v in ROOMS.items()
        )
        + " are convolutions with synthetic impulse responses (direct sound + exponentially decaying noise).",
    ]
    if check:
        lines += [
            "",
            "## f0 labels against a pitch tracker (desktop/evaluation/pitch.py, pYIN + refinement; labels 55-1350 Hz)",
            "",
            "| instrument/source | seconds | median abs cents | within 50 cents | labelled frames tracked voiced |",
            "|---|---|---|---|---|",
        ]
        for k, v in check.items():
            lines.append(
                f"| {k} | {v['seconds']} | {v['median_abs_cents']} | {v['within_50_cents']} | "
                f"{v['labelled_frames_tracked_voiced']} |"
            )
    path.write_text("\n".join(lines) + "\n")
