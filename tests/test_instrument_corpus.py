"""scripts/build_instrument_corpus.py: a tiny corpus per split, labels that agree with the audio, a manifest that
export/provenance.py reads, and one-line refusals of bad input."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from export.provenance import read_corpus_manifest, training_data_record
from scripts import build_instrument_corpus as bic
from scripts.instrument_corpus import catalogue, phrases

ROOT = Path(__file__).resolve().parent.parent

HAVE_SYNTHS = (
    shutil.which("fluidsynth") is not None
    and shutil.which("stk-demo") is not None
    and Path(catalogue.FLUID_SF2).is_file()
    and Path(bic.find_musescore(None)).is_file()
    and Path(catalogue.TIMGM_SF2).is_file()
)
needs_synths = pytest.mark.skipif(
    not HAVE_SYNTHS,
    reason="needs Debian fluidsynth, fluid-soundfont-gm, musescore-general-soundfont, timgm6mb-soundfont, stk",
)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scripts.build_instrument_corpus", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("instruments") / "corpus"
    r = run("--out", str(out), "--minutes", "0.2", "--instruments", "violin,clarinet", "--check-seconds", "0")
    assert r.returncode == 0, r.stderr
    return out


@needs_synths
@pytest.mark.slow
def test_files_per_split_and_durations(corpus):
    rows = read_corpus_manifest(corpus / "manifest.csv")
    for name in ("violin", "clarinet"):
        mine = [r for r in rows if r["category"] == name]
        assert {r["split"] for r in mine} == {"train", "heldout", "second_source"}
        assert {r["source"] for r in mine if r["split"] == "second_source"} == {"musescore_general", "stk", "timgm6mb"}
        assert {r["room"] for r in mine if r["split"] == "train"} >= {"dry", "room"}
        dry_train = sum(float(r["duration_s"]) for r in mine if r["split"] == "train" and r["room"] == "dry")
        assert dry_train >= 0.2 * 60
        for r in mine:
            wav = corpus / r["file"]
            assert wav.parent == corpus / name / r["split"]
            info = sf.info(wav)
            assert info.samplerate == 22050 and info.channels == 1 and info.subtype == "FLOAT"
            assert abs(info.frames / 22050 - float(r["duration_s"])) < 1e-3
            f0, loud = np.load(corpus / r["f0_file"]), np.load(corpus / r["loudness_file"])
            assert len(f0) == len(loud) == 1 + info.frames // 256
            assert np.all(np.isfinite(f0)) and np.all(f0 >= 0) and np.all(np.isfinite(loud))
            assert float(r["voiced_s"]) > 0
            assert r["license"] and r["debian_package"] and r["generator"] == catalogue.GENERATOR
        # the per-instrument manifest lists the same files, relative to its own folder
        own = read_corpus_manifest(corpus / name / "manifest.csv")
        assert sorted((corpus / name / r["file"]).resolve() for r in own) == sorted(
            (corpus / r["file"]).resolve() for r in mine
        )


@needs_synths
@pytest.mark.slow
def test_f0_labels_agree_with_the_audio(corpus):
    from desktop.evaluation.pitch import track

    rows = read_corpus_manifest(corpus / "manifest.csv")
    for r in rows:
        if r["room"] != "dry":
            continue
        x, sr = sf.read(corpus / r["file"], dtype="float32")
        x = x[: 8 * sr]
        ref = np.load(corpus / r["f0_file"])[: 1 + len(x) // 256]
        p = track(x, sr)
        n = min(len(ref), len(p.f0))
        lab = (ref[:n] > 60) & (ref[:n] < 1300)  # inside the tracker's range
        both = lab & p.voiced[:n]
        assert both.sum() >= 0.7 * lab.sum(), r["file"]
        err = np.abs(1200 * np.log2(p.f0[:n][both] / ref[:n][both]))
        assert np.mean(err <= 50) >= 0.75, (r["file"], np.median(err))
        # where the labels say nothing sounds, the audio is quiet
        loud = np.load(corpus / r["loudness_file"])[:n]
        assert np.median(loud[ref[:n] == 0]) < np.median(loud[ref[:n] > 0]) - 20


@needs_synths
@pytest.mark.slow
def test_provenance_reads_the_instrument_manifest(corpus):
    train = corpus / "violin" / "train"
    record = training_data_record({"root": str(train), "files": 3, "minutes": 0.3}, audio_root=train)
    assert record.manifest == str((corpus / "violin" / "manifest.csv").resolve())
    assert record.unlisted_train_files == 0
    (src,) = record.sources
    assert (src.source, src.category, src.debian_package, src.license) == (
        "fluidr3_gm",
        "violin",
        "fluid-soundfont-gm",
        "MIT",
    )


@needs_synths
@pytest.mark.slow
def test_rebuild_replaces_one_instrument_and_keeps_the_others(corpus, tmp_path):
    out = tmp_path / "c"
    shutil.copytree(corpus, out)
    r = run("--out", str(out), "--minutes", "0.1", "--instruments", "clarinet", "--check-seconds", "0",
            "--second-sources", "stk")  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert {r["category"] for r in rows} == {"violin", "clarinet"}
    assert {r["source"] for r in rows if r["category"] == "clarinet" and r["split"] == "second_source"} == {"stk"}
    assert not list((out / "clarinet" / "second_source").glob("musescore_general__*"))
    for r in rows:
        assert (out / r["file"]).is_file()


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    a_file = tmp_path / "f"
    a_file.write_text("x")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    cases = {
        "unknown instrument oboe": ["--out", str(tmp_path / "a"), "--instruments", "violin,oboe"],
        "is a file": ["--out", str(a_file)],
        "refusing": ["--out", str(foreign)],
        "soundfont /nonexistent.sf2 is missing": ["--out", str(tmp_path / "b"), "--soundfont", "/nonexistent.sf2"],
        "must be a positive number": ["--out", str(tmp_path / "c"), "--minutes", "0"],
    }
    for needle, args in cases.items():
        assert bic.main(args) == 2, args
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1, err
    assert (foreign / "notes.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_labels_follow_the_timeline():
    """f0 from note + bend + tuning, stepped like the MIDI; loudness in dBFS."""
    note = phrases.Note(0.1, 0.6, 69, 90, bend=[(0.3, phrases._quantise_cents(100.0))])
    phrase = phrases.Phrase([note], [(0.0, 1.0)], 1.0, "test")
    n = int(1.0 * catalogue.SR)
    x = np.zeros(n, np.float32)
    x[int(0.1 * catalogue.SR) : int(0.6 * catalogue.SR)] = 0.5 * np.sin(
        2 * np.pi * 440 * np.arange(int(0.5 * catalogue.SR)) / catalogue.SR
    )
    loud = phrases.loudness_db(x)
    assert abs(loud[int(0.35 * catalogue.SR) // 256] - 20 * np.log10(0.5 / np.sqrt(2))) < 0.1
    f0 = phrases.f0_labels(phrase, n, loud, tuning={69: 10.0})
    t = np.arange(len(f0)) * 256 / catalogue.SR
    assert np.allclose(f0[(t > 0.12) & (t < 0.29)], 440 * 2 ** (10 / 1200), rtol=1e-4)
    assert np.allclose(f0[(t > 0.31) & (t < 0.59)], 440 * 2 ** (110 / 1200), rtol=1e-3)
    assert np.all(f0[t < 0.09] == 0) and np.all(f0[t > 0.7] == 0)


def test_labels_follow_a_jump_to_the_twelfth_and_nothing_else():
    """A physical model that overblows (STK's clarinet, now and then, as its noise is seeded from the clock) sounds
    three times its set frequency: those frames' labels move up; frames at the set pitch and a short glitch stay."""
    from scripts.instrument_corpus.catalogue import HOP, SR
    from scripts.instrument_corpus.phrases import follow_register

    n = 3 * SR
    f = np.full(n, 196.0)
    f[SR : 2 * SR] = 3 * 196.0  # a second in the twelfth
    f[int(2.5 * SR) : int(2.5 * SR) + 4 * HOP] = 3 * 196.0  # four frames: too short to be a register
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = sum(np.sin(k * phase) / k for k in (1, 3, 5, 7)).astype(np.float32) * 0.3
    labels = np.full(1 + n // HOP, 196.0, np.float32)
    out, moved = follow_register(labels, x)
    frame_t = np.arange(len(out)) * HOP / SR
    inside = (frame_t > 1.1) & (frame_t < 1.9)
    assert np.allclose(out[inside], 3 * 196.0)
    outside = (frame_t < 0.9) | (frame_t > 2.1)
    assert np.allclose(out[outside], 196.0)
    assert 60 <= moved <= 95
    assert np.all(out[(frame_t > 2.45) & (frame_t < 2.65)] == 196.0)
