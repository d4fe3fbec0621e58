"""A bundle's ``training_data`` record: data folder, minutes and, from a corpus manifest.csv, sources and licences."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from core.audiofile import AudioFileError, find_audio_files
from core.bundle import DataSource, TrainingData

MANIFEST_CSV = "manifest.csv"
# build_train_corpus.py writes more (split, kind, original, credit, ...); these are the ones read here
REQUIRED_COLUMNS = ("category", "source", "debian_package", "license", "duration_s", "file")
NO_MANIFEST_NOTE = "no corpus manifest.csv found: licences unknown"


class ProvenanceError(Exception):
    """A manifest.csv given explicitly cannot be used; the message names the file."""


def run_data_summary(checkpoint_path: str | Path) -> dict[str, Any]:
    """``data_summary.json`` of the run folder holding ``checkpoints/<name>.pt``; {} when there is none."""
    path = Path(checkpoint_path)
    for run_dir in (path.parent.parent, path.parent):
        summary = run_dir / "data_summary.json"
        if summary.is_file():
            try:
                data = json.loads(summary.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def find_corpus_manifest(data_root: str | Path) -> Path | None:
    """The corpus ``manifest.csv`` in the data folder or its parent (the corpus builder puts the audio in
    ``<corpus>/train`` and the manifest in ``<corpus>``)."""
    root = Path(data_root)
    for folder in (root, root.parent):
        if (folder / MANIFEST_CSV).is_file():
            return folder / MANIFEST_CSV
    return None


def read_corpus_manifest(path: str | Path) -> list[dict[str, str]]:
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ProvenanceError(
                    f"{path}: not a corpus manifest (no column {', '.join(missing)}; "
                    f"needs {', '.join(REQUIRED_COLUMNS)})"
                )
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ProvenanceError(f"{path}: cannot read ({exc})") from exc
    for line, row in enumerate(rows, start=2):
        try:
            seconds = float(row["duration_s"])
        except (TypeError, ValueError):
            raise ProvenanceError(f"{path}: line {line}: duration_s {row['duration_s']!r} is not a number") from None
        if not seconds >= 0:
            raise ProvenanceError(f"{path}: line {line}: duration_s {row['duration_s']!r} is negative")
    return rows


def _relative(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def training_data_record(
    summary: dict[str, Any], audio_root: str | Path | None = None, manifest_csv: str | Path | None = None
) -> TrainingData:
    """Build the record from a trainer data summary (``AudioFolder.summary``: root, files, minutes, the split
    and ``val_file_names``).

    ``audio_root``: where that audio is now (default: the summary's root); when it is a folder, the trained files
    are the audio files in it less the held-out and skipped ones, otherwise the manifest rows under it less those.
    ``manifest_csv``: a corpus manifest given explicitly (errors raise ``ProvenanceError``); by default one is
    looked for in ``audio_root`` and its parent, and one that is not a corpus manifest is noted, not fatal.
    """
    root = Path(str(summary.get("root") or audio_root or ""))
    audio_root = Path(audio_root) if audio_root else root
    record = dict(
        root=str(root),
        files=int(summary.get("files", 0)),
        minutes=float(summary.get("minutes", 0.0)),
        train_files=int(summary.get("train_files", 0)),
        train_minutes=float(summary.get("train_minutes", 0.0)),
        heldout_files=int(summary.get("val_files", 0)),
        heldout_minutes=float(summary.get("val_minutes", 0.0)),
    )
    csv_path = Path(manifest_csv) if manifest_csv else find_corpus_manifest(audio_root)
    if csv_path is None:
        return TrainingData(**record, note=NO_MANIFEST_NOTE)
    try:
        rows = read_corpus_manifest(csv_path)
    except ProvenanceError as exc:
        if manifest_csv:
            raise
        return TrainingData(**record, note=f"{exc}: licences unknown")

    trained, listed = _trained_and_listed(summary, audio_root.resolve(), csv_path, rows)
    unlisted = len(trained - set(listed))
    sources = _sources(trained, listed)
    if not sources:
        return TrainingData(**record, note=f"{csv_path} lists none of the trained files: licences unknown")
    note = f"{unlisted} trained files are not listed in {MANIFEST_CSV}: their licences are unknown" if unlisted else ""
    return TrainingData(
        **record, sources=sources, manifest=str(csv_path.resolve()), unlisted_train_files=unlisted, note=note
    )


def _trained_and_listed(
    summary: dict[str, Any], base: Path, csv_path: Path, rows: list[dict[str, str]]
) -> tuple[set[str], dict[str, dict[str, str]]]:
    """(the trained files, the manifest's rows by file), both as paths relative to ``base``: the audio files in
    ``base`` (or, when it is gone, the manifest's rows under it) less the held-out and skipped ones."""
    excluded = set(summary.get("val_file_names") or [])
    for item in summary.get("skipped") or []:
        rel = _relative(Path(str(item.get("file", ""))).resolve(), base) if isinstance(item, dict) else None
        if rel:
            excluded.add(rel)
    listed: dict[str, dict[str, str]] = {}
    corpus = csv_path.resolve().parent
    for row in rows:
        rel = _relative((corpus / row["file"]).resolve(), base)
        if rel is not None:
            listed[rel] = row
    if base.is_dir():
        try:
            on_disk = {p.relative_to(base).as_posix() for p in find_audio_files(base)}
        except AudioFileError:
            on_disk = set()
        trained = on_disk - excluded
    else:
        trained = set(listed) - excluded
    return trained, listed


def _sources(trained: set[str], listed: dict[str, dict[str, str]]) -> tuple[DataSource, ...]:
    """The trained files the manifest lists, summed per source (categories, packages, licences, clips, minutes),
    the largest first."""
    per_source: dict[str, dict[str, Any]] = {}
    for rel in sorted(trained & set(listed)):
        row = listed[rel]
        s = per_source.setdefault(
            row["source"], {"category": [], "debian_package": [], "license": [], "clips": 0, "seconds": 0.0}
        )
        for key in ("category", "debian_package", "license"):
            if row[key] and row[key] not in s[key]:
                s[key].append(row[key])
        s["clips"] += 1
        s["seconds"] += float(row["duration_s"])
    sources = tuple(
        sorted(
            (
                DataSource(
                    source=name,
                    category="; ".join(s["category"]),
                    debian_package="; ".join(s["debian_package"]),
                    license="; ".join(s["license"]),
                    clips=s["clips"],
                    minutes=round(s["seconds"] / 60, 2),
                )
                for name, s in per_source.items()
            ),
            key=lambda d: (-d.minutes, d.source),
        )
    )
    return sources
