"""Regenerate docs/screenshot.png: the app on the factory default, a speech clip playing, under Xvfb on
PulseAudio's virtual devices (a private daemon, as the tests start it). Re-run whenever the default or the window
changes:

    .venv/bin/python -m scripts.make_screenshot
    .venv/bin/python -m scripts.make_screenshot --bundle desktop/factory/voice --out docs/voice.png
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.desktop.pulse import start_pulse, stop_pulse

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    import argparse

    p = argparse.ArgumentParser(description="the app's screenshot at 1366x768, a speech clip playing")
    p.add_argument("--bundle", default=None, help="bundle to play (default: the factory default)")
    p.add_argument("--out", default="docs/screenshot.png")
    args = p.parse_args()
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
                "-screen 0 1366x768x24",
                sys.executable,
                "-m",
                "desktop.app",
                "--input-file",
                "tests/data/speech_arctic_a0007.wav",
                "--screenshot",
                args.out,
                "--quit-after",
                "6",
                *(["--bundle", args.bundle] if args.bundle else []),
            ],
            env=env,
            cwd=str(ROOT),
            capture_output=True,
            text=True,
        )
    finally:
        stop_pulse(proc)
    print(f"wrote {args.out}" if r.returncode == 0 else r.stderr[-2000:])
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
