"""Launch the real app N times under Xvfb with PulseAudio's virtual devices; count crashes and time the start-up.

    .venv/bin/python -m benchmarks.app_exits --runs 200

Each run is ``xvfb-run -a latentsynth --input-file tests/data/music_rock_mix.wav --quit-after Q`` with its own
settings and journal. A run counts as a crash when it exits non-zero, prints no JSON line, or its stderr shows
Qt's or glibc's last words (``QObject:``, ``malloc``, ``Aborted``, ``Segmentation``, ``double free``). From the
JSON line's ``startup`` block it reports, in seconds since launch, when the window was shown, the model and the
device list were ready, the first audio callback came and the first audible sample left the callback, and the
one the issue asks for: first sound after the window was shown. ``--cold`` drops the page cache before every
run (root only) to time cold launches; ``--sink-awake`` keeps a silent stream on the virtual speaker, as on a
desktop whose sound server is already running (an idle null sink sleeps in 2-s blocks, see devices.WakeStream). Prints one JSON line at the end; ``--json PATH`` also writes it there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.desktop.pulse import keep_sink_awake, start_pulse, stop_pulse

ROOT = Path(__file__).resolve().parent.parent

CRASH_WORDS = (
    "QObject:",
    "malloc",
    "Aborted",
    "Segmentation",
    "double free",
    "core dumped",
    "Traceback",
    "Fatal Python error",
)
MARKS = (
    "wake_stream_open",
    "devices_ready",
    "qt_ready",
    "model_ready",
    "window_built",
    "window_shown",
    "stream_open",
    "first_callback",
    "first_sound",
    "sound_after_window_s",
)


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def run_once(env: dict, tmp: Path, i: int, quit_after: float, clip: Path, app_args: list[str] = ()) -> dict:
    cmd = [
        "xvfb-run",
        "-a",
        sys.executable,
        "-m",
        "desktop.app",
        "--input-file",
        str(clip),
        "--quit-after",
        str(quit_after),
        *app_args,
    ]
    run_env = {
        **env,
        "LATENTSYNTH_SETTINGS": str(tmp / f"s{i}.ini"),
        "LATENTSYNTH_STATE_DIR": str(tmp / "state"),
        "QT_QPA_PLATFORM": "xcb",
    }
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, env=run_env, cwd=str(ROOT), capture_output=True, text=True, timeout=quit_after + 90)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = -999, exc.stdout or "", (exc.stderr or "") + "\n(timed out)"
        out, err = (out.decode() if isinstance(out, bytes) else out), (err.decode() if isinstance(err, bytes) else err)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    stats = json.loads(lines[-1]) if lines else None
    words = [w for w in CRASH_WORDS if w in err]
    crashed = rc != 0 or stats is None or bool(words)
    return {
        "run": i,
        "rc": rc,
        "crashed": crashed,
        "words": words,
        "seconds": round(time.monotonic() - t0, 2),
        "stats": stats,
        "stderr_tail": err[-600:] if crashed else "",
    }


def summarise(results: list[dict]) -> dict:
    ok = [r["stats"] for r in results if r["stats"]]
    timing = {}
    for mark in MARKS:
        values = [s["startup"][mark] for s in ok if mark in s.get("startup", {})]
        if values:
            timing[mark] = {
                "median": round(statistics.median(values), 3),
                "max": round(max(values), 3),
                "min": round(min(values), 3),
                "n": len(values),
            }
    return {
        "runs": len(results),
        "crashes": sum(r["crashed"] for r in results),
        "crashed_runs": [{k: r[k] for k in ("run", "rc", "words", "stderr_tail")} for r in results if r["crashed"]],
        "xruns_total": sum(s.get("xruns", 0) for s in ok),
        "errors": sorted({s["error"] for s in ok if s.get("error")}),
        "startup_s": timing,
        "sound_after_window_over_1s": sum(1 for s in ok if s.get("startup", {}).get("sound_after_window_s", 99) > 1.0),
        "load_before": os.getloadavg(),
        "per_run_startup": [s.get("startup", {}) for s in ok],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--quit-after", type=float, default=2.0)
    p.add_argument("--clip", default=str(ROOT / "tests" / "data" / "music_rock_mix.wav"))
    p.add_argument("--cold", action="store_true", help="drop the page cache before each run (root)")
    p.add_argument("--json", default=None, help="also write the summary here")
    p.add_argument(
        "--sink-awake",
        action="store_true",
        help="keep a silent stream playing on the virtual speaker during the runs, as on a desktop where "
        "the sound server is already running; PulseAudio's idle null sink otherwise sleeps in 2-s blocks",
    )
    p.add_argument("--app-args", default="", help="more arguments for the app, e.g. '--device-block 512'")
    args = p.parse_args(argv)
    load = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="ls-exits-"))
    pulse, env = start_pulse(tmp / "pulse-runtime")
    keeper = keep_sink_awake(env) if args.sink_awake else None
    results = []
    try:
        for i in range(args.runs):
            if args.cold and not drop_caches():
                print("cannot drop the page cache (not root?): the runs are warm", file=sys.stderr)
                args.cold = False
            r = run_once(env, tmp, i, args.quit_after, Path(args.clip), args.app_args.split())
            results.append(r)
            s = r["stats"] or {}
            print(
                f"run {i:3d}: rc {r['rc']:4d} {'CRASH ' + ','.join(r['words']) if r['crashed'] else 'ok':<12}"
                f" sound after window {s.get('startup', {}).get('sound_after_window_s', '-')} s"
                f" xruns {s.get('xruns', '-')}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        if keeper is not None:
            keeper.terminate()
            keeper.wait(timeout=10)
        stop_pulse(pulse)
    summary = {
        **summarise(results),
        "load_at_start": load,
        "cold": args.cold,
        "quit_after": args.quit_after,
        "sink_awake": args.sink_awake,
        "app_args": args.app_args,
    }
    line = json.dumps(summary)
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")
    return 1 if summary["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
