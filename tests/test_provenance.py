"""Data provenance: each bundle's manifest records the training minutes and, from a corpus manifest.csv, sources
and licences; bundles without the field still load."""

import csv
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli
from core.bundle import BundleError, Manifest
from core.bundle_io import load_bundle, read_manifest, training_data_from_json
from export.provenance import NO_MANIFEST_NOTE, training_data_record

COLUMNS = [
    "split",
    "category",
    "source",
    "debian_package",
    "license",
    "kind",
    "original",
    "original_sr",
    "duration_s",
    "file",
    "credit",
]


def write_manifest_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow({c: row.get(c, "") for c in COLUMNS})


def corpus_row(category, source, package, licence, seconds, file):
    return {
        "split": "train",
        "category": category,
        "source": source,
        "debian_package": package,
        "license": licence,
        "kind": "test",
        "original": file,
        "original_sr": 22050,
        "duration_s": seconds,
        "file": file,
    }


def test_tiny_bundle_records_folders_and_minutes_without_licences(tiny_bundle, fixtures_dir):
    """The fixture folder has a LICENSES.md but no manifest.csv: minutes only, sources [] and a note."""
    data = json.loads((tiny_bundle / "manifest.json").read_text())
    td = data["training_data"]
    assert td["root"] == str(fixtures_dir) and td["manifest"] is None
    assert td["files"] == 9 and td["train_files"] + td["heldout_files"] == 9 and td["heldout_files"] >= 1
    assert td["minutes"] > 0.4 and td["train_minutes"] + td["heldout_minutes"] == pytest.approx(td["minutes"], abs=0.02)
    assert td["sources"] == [] and td["note"] == NO_MANIFEST_NOTE
    bundle = load_bundle(tiny_bundle)  # checksums still hold
    assert bundle.manifest.training_data == training_data_from_json(td, tiny_bundle)


def test_synthetic_manifest_records_licences_and_minutes_of_the_training_split(tmp_path):
    corpus = tmp_path / "corpus"
    clips = {
        "speech/a.wav": 30.0,
        "speech/b.wav": 60.0,
        "music/c.wav": 90.0,
        "music/d.wav": 12.0,
        "mine/unlisted.wav": 6.0,
    }
    for rel, seconds in clips.items():
        (corpus / "train" / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(corpus / "train" / rel, np.zeros(100, np.float32), 22050)  # the CSV's duration_s is what counts
    write_manifest_csv(
        corpus / "manifest.csv",
        [
            corpus_row("speech", "voices", "voices-data", "GPL-2", 30.0, "train/speech/a.wav"),
            corpus_row("speech", "voices", "voices-data", "GPL-2", 60.0, "train/speech/b.wav"),
            corpus_row("music", "songs", "songs-pkg", "CC0-1.0", 90.0, "train/music/c.wav"),
            corpus_row("music", "stems", "stems-pkg", "Expat (MIT)", 12.0, "train/music/d.wav"),
            corpus_row("music", "stems", "stems-pkg", "Expat (MIT)", 40.0, "heldout/music/e.wav"),  # not under root
        ],
    )
    summary = {
        "root": str(corpus / "train"),
        "files": 5,
        "minutes": 3.3,
        "train_files": 4,
        "train_minutes": 2.3,
        "val_files": 1,
        "val_minutes": 1.0,
        "val_file_names": ["speech/b.wav"],
        "skipped": [],
    }
    td = training_data_record(summary)  # manifest.csv found in the data folder's parent
    assert td.manifest == str((corpus / "manifest.csv").resolve())
    assert (td.files, td.train_files, td.heldout_files) == (5, 4, 1)
    assert (td.minutes, td.train_minutes, td.heldout_minutes) == (3.3, 2.3, 1.0)
    got = [(s.source, s.category, s.debian_package, s.license, s.clips, s.minutes) for s in td.sources]
    assert got == [
        ("songs", "music", "songs-pkg", "CC0-1.0", 1, 1.5),  # largest first; b.wav is held out
        ("voices", "speech", "voices-data", "GPL-2", 1, 0.5),
        ("stems", "music", "stems-pkg", "Expat (MIT)", 1, 0.2),
    ]
    assert td.unlisted_train_files == 1 and "not listed" in td.note

    # the same CSV given explicitly (as --provenance does) from elsewhere; a root without one: minutes only
    moved = tmp_path / "elsewhere" / "any.csv"
    moved.parent.mkdir()
    write_manifest_csv(
        moved,
        [corpus_row("speech", "voices", "voices-data", "GPL-2", 30.0, str(corpus / "train" / "speech" / "a.wav"))],
    )
    assert [s.clips for s in training_data_record(summary, manifest_csv=moved).sources] == [1]
    (corpus / "manifest.csv").unlink()
    bare = training_data_record(summary)
    assert bare.sources == () and bare.manifest is None and bare.note == NO_MANIFEST_NOTE

    # the record survives the schema's JSON round trip
    assert training_data_from_json(json.loads(json.dumps(td.to_json())), tmp_path) == td


def test_export_with_provenance_option_records_sources(tiny_run, fixtures_dir, tmp_path):
    """--provenance points at a manifest.csv elsewhere (its file column may hold absolute paths)."""
    licences = {
        "speech": "BSD-3-Clause",
        "music": "Expat (MIT)",
        "instrument": "CC0-1.0",
        "drums": "CC0-1.0",
        "ambience": "CC0-1.0",
    }
    rows = [
        corpus_row(
            p.name.split("_")[0],
            f"fixture_{p.name.split('_')[0]}",
            "fixture-pkg",
            licences[p.name.split("_")[0]],
            sf.info(p).duration,
            str(p),
        )
        for p in sorted(fixtures_dir.glob("*.wav"))
        if p.name != "speech_arctic_a0007.wav"
    ]  # one unlisted
    write_manifest_csv(tmp_path / "sources.csv", rows)
    out = tmp_path / "bundle"
    proc = run_cli(
        [
            "-m",
            "export",
            str(tiny_run),
            "--out",
            str(out),
            "--stat-chunks",
            "8",
            "--no-progress",
            "--provenance",
            str(tmp_path / "sources.csv"),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    td = load_bundle(out).manifest.training_data
    assert td.manifest == str((tmp_path / "sources.csv").resolve())
    assert {s.category: s.license for s in td.sources}.items() <= licences.items() and td.sources
    listed_trained = sum(s.clips for s in td.sources)
    assert listed_trained + td.unlisted_train_files == td.train_files
    assert sum(s.minutes for s in td.sources) <= td.train_minutes + 0.02

    bad = tmp_path / "bad.csv"
    bad.write_text("name,licence\nx,GPL\n")
    proc = run_cli(
        [
            "-m",
            "export",
            str(tiny_run),
            "--out",
            str(tmp_path / "b2"),
            "--stat-chunks",
            "8",
            "--no-progress",
            "--provenance",
            str(bad),
        ]
    )
    assert proc.returncode == 2 and "bad.csv: not a corpus manifest" in proc.stderr
    assert not (tmp_path / "b2").exists()


@pytest.fixture()
def bundle_copy(tiny_bundle, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(tiny_bundle, dst)
    return dst


def edit_manifest(bundle_dir, change):
    path = bundle_dir / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_manifest_without_training_data_still_loads(bundle_copy):
    edit_manifest(bundle_copy, lambda d: d.pop("training_data"))
    m = load_bundle(bundle_copy).manifest
    assert m.training_data is None and "training_data" not in m.to_json()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda td: td.update(train_minutes=-1), "'training_data.train_minutes' must be a number of minutes >= 0"),
        (
            lambda td: td.update(sources=[{"source": "x", "license": "GPL-2", "clips": "3", "minutes": 1.0}]),
            "'training_data.sources[0].clips' must be a count >= 0",
        ),
        (
            lambda td: td.update(sources=[{"source": "x", "clips": 3, "minutes": 1.0}]),
            "missing field 'training_data.sources[0].license'",
        ),
        (lambda td: td.pop("root"), "missing field 'training_data.root'"),
    ],
)
def test_malformed_training_data_names_the_file(bundle_copy, change, message):
    edit_manifest(bundle_copy, lambda d: change(d["training_data"]))
    with pytest.raises(BundleError, match="manifest.json") as err:
        read_manifest(bundle_copy)
    assert message in str(err.value)


def test_model_facts_show_minutes_per_category_with_licences(bundle_copy):
    from desktop.ui.model_browser import manifest_facts

    assert "trained on" in manifest_facts(bundle_copy) and "(licences unknown)" in manifest_facts(bundle_copy)
    sources = [
        {
            "source": "voices",
            "category": "speech",
            "debian_package": "v",
            "license": "GPL-2",
            "clips": 3,
            "minutes": 25.1,
        },
        {
            "source": "songs",
            "category": "music",
            "debian_package": "s",
            "license": "GPL-3+",
            "clips": 2,
            "minutes": 12.4,
        },
        {
            "source": "stems",
            "category": "music",
            "debian_package": "t",
            "license": "Expat (MIT)",
            "clips": 1,
            "minutes": 8.7,
        },
    ]
    edit_manifest(bundle_copy, lambda d: d["training_data"].update(sources=sources, train_minutes=46.2))
    assert isinstance(read_manifest(bundle_copy), Manifest)
    line = manifest_facts(bundle_copy).splitlines()[-1]
    assert line.startswith("trained on 46.2 min: speech 25.1 (GPL-2), music 21.1 (GPL-3+, Expat) · step ")
