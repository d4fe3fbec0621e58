"""The README's walkthrough runs exactly as written, and its set-up commands are the ones CI uses."""

import os
import re
import subprocess
import sys
from pathlib import Path

import soundfile as sf

from conftest import ROOT


def walkthrough_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough:start -->\s*```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_walkthrough_runs_verbatim(tmp_path):
    (tmp_path / "tests").symlink_to(ROOT / "tests")  # the commands read tests/data; outputs stay in tmp
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    commands = walkthrough_commands()
    assert len(commands) >= 4
    for cmd in commands:
        proc = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{cmd}\n{proc.stderr[-3000:]}"
    assert (tmp_path / "bundles" / "demo" / "manifest.json").is_file()
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
