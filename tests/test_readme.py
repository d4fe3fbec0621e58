"""The README's walkthrough runs exactly as written, and its set-up commands are the ones CI uses."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from conftest import ROOT

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time


def walkthrough_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough:start -->\s*```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_walkthrough_runs_verbatim(tmp_path):
    """From a shell where the venv is not activated: its bin is not on PATH, the commands name ``.venv/bin/``."""
    (tmp_path / "tests").symlink_to(ROOT / "tests")  # the commands read tests/data; outputs stay in tmp
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the repository's venv, as scripts/setup.sh makes it
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    env = {
        **os.environ,
        "PATH": path,
        "VIRTUAL_ENV": "",
        "LATENTSYNTH_SETTINGS": str(tmp_path / "settings.ini"),  # the app's line: never the user's settings
        "LATENTSYNTH_STATE_DIR": str(tmp_path / "state"),
        "QT_QPA_PLATFORM": "offscreen",
    }
    commands = walkthrough_commands()
    assert len(commands) >= 5 and all(cmd.startswith(".venv/bin/") for cmd in commands)
    app = [cmd for cmd in commands if cmd.startswith(".venv/bin/latentsynth ")]
    assert app == [".venv/bin/latentsynth --bundle bundles/demo --input-file tests/data/speech_arctic_a0007.wav"]
    outputs = {}
    for cmd in commands:
        run = cmd + " --quit-after 4" if cmd in app else cmd  # the app would play until closed
        proc = subprocess.run(["bash", "-c", run], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{cmd}\n{proc.stderr[-3000:]}"
        outputs[cmd.split()[0]] = proc
    assert "torchvision" not in outputs[".venv/bin/latentsynth-export"].stderr  # no alarming noise from torch.onnx
    render = outputs[".venv/bin/latentsynth-render"].stderr
    assert "%/s" not in render and "-hop samples" not in render and "times faster than real time" in render
    assert (tmp_path / "bundles" / "demo" / "manifest.json").is_file()
    played = json.loads(outputs[".venv/bin/latentsynth"].stdout.strip().splitlines()[-1])  # it played the new bundle
    assert played["model"] == "demo" and played["frames_out"] > 0
    x, sr = sf.read(ROOT / "tests" / "data" / "speech_arctic_a0007.wav")
    for name in ("demo.wav", "default.wav"):
        y, ysr = sf.read(tmp_path / "renders" / name)
        assert ysr == sr and y.shape == x.shape


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = "bash scripts/setup.sh && .venv/bin/python -m pytest -q -rs"
    assert f"```bash\n{test_cmd}\n```" in readme
    assert test_cmd in ci
