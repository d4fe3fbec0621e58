"""The window on a 1366x768 laptop screen (an offscreen screen of that size, in its own process): it opens inside
the screen and every control stays on it at start, while playing and recording, after "Recorded..." and a long
error, and after an export; success is not shown in red; the pitch plot keeps a readable size all along."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time

HERE = Path(__file__).resolve().parent
PITCH_PLOT_MIN_PX = (200, 100)  # the pitch plot's width and height: C3, C4 and C5 labelled, a semitone 2 px


def run_probe(tmp_path: Path, fixtures_dir: Path, width: int, height: int) -> list[dict]:
    screen = {"screens": [{"name": "laptop", "x": 0, "y": 0, "width": width, "height": height, "logicalDpi": 96}]}
    config = tmp_path / "screen.json"
    config.write_text(json.dumps(screen))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}"}
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "window_fit_probe.py"),
            str(tmp_path / "settings.ini"),
            str(fixtures_dir / "speech_arctic_a0007.wav"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_every_control_stays_on_a_1366x768_screen(tmp_path, fixtures_dir):
    stages = run_probe(tmp_path, fixtures_dir, 1366, 768)
    assert [s["stage"] for s in stages] == [
        "start",
        "playing",
        "recording",
        "recorded",
        "error message",
        "exported",
    ]
    for s in stages:
        assert s["screen"] == [0, 0, 1366, 768]
        assert s["window_on_screen"], s
        assert s["controls"] > 20, s  # the buttons, menus, knobs and meters were all looked at
        assert s["outside"] == [], s
        assert s["squashed"] == [], s
        w, h = s["pitch_plot_px"]
        assert w >= PITCH_PLOT_MIN_PX[0] and h >= PITCH_PLOT_MIN_PX[1], s  # it was 30 px tall before
        assert {"C3", "C4", "C5"} <= set(s["pitch_labels"]), s  # note names on its axis, none left out
        assert {"-40 dB", "-20 dB"} <= set(s["loudness_labels"]), s
    assert len({tuple(s["frame"][2:]) for s in stages}) == 1  # the window never grew
    rec = next(s for s in stages if s["stage"] == "recording")
    assert rec["recording_text"].startswith("● REC") and "a-rather-long-recording-name" in rec["recording_text"]
    done = next(s for s in stages if s["stage"] == "recorded")
    assert done["message"].startswith("Recorded") and done["message_kind"] == "success"
    assert done["recording_text"] == ""
    exported = stages[-1]
    assert exported["message"].startswith("Exported") and exported["message_kind"] == "success"
