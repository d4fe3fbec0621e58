"""Issue 23 (ugly): `latentsynth-eval --peers` on digital silence scored the model perfect (mel 0.000, level +0.00)
and Opus at "+81.5 dB level". Against a silent input those metrics have no meaning: they are None in metrics.json with
the reason, n/a in the report, and left out of the means over other files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES, ROOT
from desktop.evaluation import aggregate, perceptual, report, spectral, systems
from desktop.evaluation.spectral import SILENCE

SR = 22050
UNDEFINED = ("mel_distance", "stft_distance", "si_sdr", "cosine_similarity", "level_change_db")


def test_metrics_against_a_silent_input_are_undefined_with_the_reason():
    x = np.zeros(SR, np.float32)
    hiss = (1e-3 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)
    for y in (x, hiss):  # silence out (it read as perfect) and noise out (+60 dB, -inf SI-SDR)
        m = spectral.all_metrics(y, x, SR)
        assert all(m[k] is None for k in UNDEFINED), m
        assert m["mse"] == float(np.mean(y.astype(np.float64) ** 2))  # what the system added is still a number
        assert spectral.level_change_db(y, x) is None
        for metric in (perceptual.visqol, perceptual.pesq_wb, perceptual.stoi):
            assert metric(x, y, SR) is None, metric.__name__
        rec = systems.score(y, x, SR, "speech", None)
        assert rec["undefined"] == {k: SILENCE for k in (*UNDEFINED, "visqol", "pesq_wb", "stoi")}
    quiet_speech = 10 ** (-60 / 20) * sf.read(FIXTURES / "speech_arctic_a0007.wav", dtype="float32")[0]
    assert spectral.level_change_db(2 * quiet_speech, quiet_speech) > 6.0  # quiet is not silent
    assert "undefined" not in systems.score(quiet_speech, quiet_speech, SR, "speech", None, full=False)


@pytest.mark.slow  # launches the evaluation with its peers (53 s under load)
def test_eval_with_peers_on_silence_says_n_a_and_why(tmp_path):
    data = tmp_path / "data"
    (data / "speech").mkdir(parents=True)
    sf.write(data / "speech" / "silence.wav", np.zeros(2 * SR, np.float32), SR, subtype="PCM_16")
    shutil.copy(FIXTURES / "speech_arctic_a0007.wav", data / "speech" / "talk.wav")
    out = tmp_path / "report"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "desktop.evaluation.cli",
            "--bundle",
            str(ROOT / "desktop" / "factory" / "default"),
            "--data",
            str(data),
            "--out",
            str(out),
            "--peers",
            "--no-cache",
            "--no-probes",
            "--images",
            "0",
            "--max-seconds",
            "2",
            "--no-progress",
        ],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Warning" not in proc.stderr, proc.stderr  # PESQ's divide-by-zero on silence is no longer reached
    r = json.loads((out / "metrics.json").read_text())
    silent = next(f for f in r["per_file"] if f["file"] == "speech/silence.wav")
    talk = next(f for f in r["per_file"] if f["file"] == "speech/talk.wav")
    for system, rec in silent["metrics"].items():
        assert rec["level_change_db"] is None and rec["mel_distance"] is None, system
        assert rec["undefined"]["level_change_db"] == SILENCE, system
    for system, row in r["overall"].items():  # the means are over the speech file alone
        rec = talk["metrics"][system]
        assert row["level_change_db"] == rec["level_change_db"], system
        assert row["undefined"]["level_change_db"] == 1, system
    assert abs(r["overall"]["opus_6k"]["level_change_db"]) < 3.0  # not +81.5 dB
    md = (out / "report.md").read_text()
    overall = md.split("## Overall")[1].split("## Per category")[0]
    opus_row = next(line for line in overall.splitlines() if line.startswith("| opus_6k |"))
    assert "n/a" not in opus_row, opus_row  # one file defined: the overall shows its mean
    assert f"- `speech/silence.wav`: mel, stft, SI-SDR dB, level dB, ViSQOL, PESQ-WB, STOI {SILENCE}" in md
    only_silence = aggregate.summarise([{"category": "speech", "metrics": silent["metrics"]}], ["opus_6k"])
    row = report.table(only_silence, {}, ["opus_6k"])[-1]
    assert row == "| opus_6k | 1 | - | n/a | n/a | n/a | n/a | n/a | n/a | n/a | - | - | - |", row
