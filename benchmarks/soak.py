"""Soak: the real app for 10 minutes under Xvfb with PulseAudio's virtual devices, the window drawing at 30 fps.

    .venv/bin/python -m benchmarks.soak --seconds 600

Starts a private PulseAudio (tests/desktop/pulse.py) and an Xvfb display, runs
``latentsynth --input-file tests/data/music_rock_mix.wav --quit-after SECONDS`` on them, samples the app's
resident memory (VmRSS) every 5 s, and records what is playing from the virtual speaker's monitor (parec) to
check that the output never went silent. Prints one JSON line: xruns, underruns, late windows, the app's own
error, RSS at start (after a 60 s warm-up: caches, the first spectrogram frames, onnxruntime's arena) and at
the end, the growth and its linear trend in MB per 10 minutes, the longest silence in the captured output,
and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.desktop.pulse import start_pulse, stop_pulse

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def start_xvfb() -> tuple[subprocess.Popen, str]:
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    with os.fdopen(r) as f:
        display = f.readline().strip()
    return proc, f":{display}"


def longest_silence_s(raw: Path, rate: int = 44100, block: int = 441) -> float:
    """The longest run of 10 ms blocks below -80 dBFS between the first and the last sound in the capture."""
    y = np.fromfile(raw, dtype="<f4")
    if y.size < block:
        return float("inf")
    loud = np.abs(y[: y.size // block * block].reshape(-1, block)).max(axis=1) > 1e-4
    idx = np.flatnonzero(loud)
    if idx.size == 0:
        return float("inf")
    loud = loud[idx[0] : idx[-1] + 1]  # from the first sound to the last: start-up and exit are not dropouts
    longest = run = 0
    for ok in loud:
        run = 0 if ok else run + 1
        longest = max(longest, run)
    return longest * block / rate


def _play(args) -> tuple[subprocess.Popen, str, str, list[tuple[float, float]], Path]:
    """The app playing ``args.clip`` under its own PulseAudio and Xvfb for ``args.seconds``, the speaker recorded
    and the app's RSS sampled every 5 s: (the app's process, its stdout, its stderr, (seconds, MB) samples,
    the recording)."""
    tmp = Path(tempfile.mkdtemp(prefix="ls-soak-"))
    pulse, env = start_pulse(tmp / "pulse-runtime")
    xvfb, display = start_xvfb()
    cap = tmp / "speaker.raw"
    try:
        env = {
            **env,
            "DISPLAY": display,
            "QT_QPA_PLATFORM": "xcb",
            "LATENTSYNTH_SETTINGS": str(tmp / "s.ini"),
            "LATENTSYNTH_STATE_DIR": str(tmp / "state"),
        }
        app = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "desktop.app",
                "--input-file",
                args.clip,
                "--quit-after",
                str(args.seconds),
                "--screenshot",
                str(tmp / "end.png"),
            ],
            env=env,
            cwd=str(ROOT),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        parec = subprocess.Popen(
            [
                "parec",
                "--device=speaker.monitor",
                "--raw",
                "--format=float32le",
                "--channels=1",
                "--rate=44100",
                str(cap),
            ],
            env=env,
        )
        t0 = time.monotonic()
        samples = []  # (seconds, MB)
        while app.poll() is None:
            mb = rss_mb(app.pid)
            if mb is not None:
                samples.append((round(time.monotonic() - t0, 1), round(mb, 2)))
            time.sleep(5.0)
        out, err = app.communicate()
        parec.terminate()
        parec.wait(timeout=10)
    finally:
        xvfb.terminate()
        stop_pulse(pulse)
    return app, out, err, samples, cap


def _summary(args, returncode, stats: dict, samples: list, cap: Path, load_before, err: str) -> dict:
    """The app's statistics, the RSS at the start and end of the steady part and its trend, the longest silence."""
    steady = [(t, m) for t, m in samples if t >= args.warmup]
    start_mb = steady[0][1] if steady else None
    end_mb = steady[-1][1] if steady else None
    slope = None
    if len(steady) >= 3:
        t, m = np.array(steady).T
        slope = round(float(np.polyfit(t, m, 1)[0]) * 600, 2)
    summary = {
        "seconds": args.seconds,
        "exit_code": returncode,
        "xruns": stats.get("xruns"),
        "device_xruns": stats.get("device_xruns"),
        "underruns": stats.get("underruns"),
        "late_windows": stats.get("late_windows"),
        "rtf": stats.get("rtf"),
        "error": stats.get("error"),
        "frames_out": stats.get("frames_out"),
        "rss_first_mb": samples[0][1] if samples else None,
        "rss_start_mb": start_mb,
        "rss_end_mb": end_mb,
        "rss_peak_mb": max(m for _, m in samples) if samples else None,
        "rss_growth_mb": round(end_mb - start_mb, 2) if steady else None,
        "rss_trend_mb_per_10min": slope,
        "warmup_s": args.warmup,
        "longest_silence_s": round(longest_silence_s(cap), 3),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "stderr_tail": err[-500:],
        "rss_samples": samples,
    }
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--warmup", type=float, default=60.0, help="RSS 'at start' is taken after this long")
    p.add_argument("--clip", default=str(ROOT / "tests" / "data" / "music_rock_mix.wav"))
    p.add_argument("--json", default=None, help="also write the summary here")
    args = p.parse_args(argv)
    load_before = os.getloadavg()
    app, out, err, samples, cap = _play(args)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    stats = json.loads(lines[-1]) if lines else {}
    summary = _summary(args, app.returncode, stats, samples, cap, load_before, err)
    line = json.dumps(summary)
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")
    ok = (
        stats.get("xruns") == 0
        and summary["rss_growth_mb"] is not None
        and summary["rss_growth_mb"] <= 5
        and app.returncode == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
