"""Regenerate docs/screenshot.png: the app on the factory default, a speech clip playing, under Xvfb on
PulseAudio's virtual devices (a private daemon, as the tests start it). Re-run whenever the default or the window
changes:

    .venv/bin/python scripts/make_screenshot.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "desktop"))

from pulse import start_pulse, stop_pulse  # noqa: E402


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="latentsynth-shot-"))
    proc, env = start_pulse(tmp / "runtime")
    env = {
        **env,
        "LATENTSYNTH_SETTINGS": str(tmp / "settings.ini"),
        "LATENTSYNTH_STATE_DIR": str(tmp / "state"),
        "QT_QPA_PLATFORM": "xcb",
    }
    try:
        r = subprocess.run(
            [
                "xvfb-run",
                "-a",
                "-s",
                "-screen 0 1400x900x24",
                sys.executable,
                "-m",
                "desktop.app",
                "--input-file",
                "tests/data/speech_arctic_a0007.wav",
                "--screenshot",
                "docs/screenshot.png",
                "--quit-after",
                "6",
            ],
            env=env,
            cwd=str(ROOT),
            capture_output=True,
            text=True,
        )
    finally:
        stop_pulse(proc)
    print("wrote docs/screenshot.png" if r.returncode == 0 else r.stderr[-2000:])
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
