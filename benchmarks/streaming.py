"""Streaming numbers for a streaming bundle; prints them (docs/streaming.md and docs/desktop.md quote its output).

    .venv/bin/python -m benchmarks.streaming --bundle desktop/factory/default [--live-seconds 30] [--render-minutes 5]

1. parity: onnxruntime block by block (N = 256, 512, 1024) against one call over the whole signal, on real audio
   (the fixture clips, 5 s) and on an impulse: max abs error.
2. latency: the bundle's algorithmic latency (block + lookahead) and the live engine's parts at a 256-frame
   device block (NullDriver at 44.1 kHz: no sound server, so 'device' is 0 here; PulseAudio adds its buffers).
3. compute: one 256-sample block (encoder step + knobs + decoder step) on one onnxruntime thread: median, p99, max,
   and the share of one core that streaming needs at that rate.
4. live CPU: the engine in streaming mode for --live-seconds at real time (NullDriver, 256-frame blocks): process
   CPU time / wall time (% of one core: engine worker + callback thread + resamplers), xruns and late blocks.
5. render: `latentsynth-render` as a whole process on --render-minutes of audio pinned to one core (taskset),
   wall time -> x real time, and its CPU time (user + system; what it takes on an unloaded core);
   --compare-window: the same for the window mel VAE.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from core.bundle_io import load_bundle
from core.session import ModelRunner
from core.streaming import StreamingModel
from desktop.engine.audio.devices import NullDriver
from desktop.engine.audio.live import LiveEngine
from desktop.engine.model.factory import default_bundle_path
from desktop.engine.model.slot import ModelSlot
from desktop.engine.parameters.values import EngineParams, StreamConfig

ROOT = Path(__file__).resolve().parent.parent


FIXTURES = ROOT / "tests" / "data"


def fixture_audio(seconds: float, rate: int = 22050) -> np.ndarray:
    clips = []
    for p in sorted(FIXTURES.glob("*.wav")):
        x, sr = sf.read(p, dtype="float32", always_2d=True)
        if sr == rate:
            clips.append(x.mean(1))
    audio = np.concatenate(clips)
    reps = int(np.ceil(seconds * rate / audio.shape[0]))
    return np.tile(audio, reps)[: int(seconds * rate)]


def parity(runner: ModelRunner) -> dict:
    out = {}
    real = fixture_audio(5.0)
    imp = np.zeros(22050 * 2, np.float32)
    imp[12345] = 0.9
    for name, x in (("real 5 s", real), ("impulse", imp)):
        x = x[: x.shape[0] - x.shape[0] % 1024]
        offline = runner.decode(runner.encode(x[None, None, :]))[0, 0]
        for n in (256, 512, 1024):
            sm = StreamingModel(runner)
            y = np.concatenate([sm.process(x[i : i + n]) for i in range(0, x.shape[0], n)])
            out[f"{name}, N={n}"] = float(np.abs(y - offline).max())
    return out


def block_times(runner: ModelRunner, seconds: float = 30.0) -> dict:
    sm = StreamingModel(runner)
    n = sm.block
    x = fixture_audio(seconds)
    times = []
    for i in range(0, x.shape[0] - n, n):
        t0 = time.perf_counter()
        sm.process(x[i : i + n])
        times.append(time.perf_counter() - t0)
    t = np.array(times[50:]) * 1000
    period = 1000 * n / runner.manifest.sample_rate
    return {
        "block_ms": round(period, 2),
        "median_ms": round(float(np.median(t)), 3),
        "p99_ms": round(float(np.percentile(t, 99)), 3),
        "max_ms": round(float(t.max()), 3),
        "share_of_one_core": round(float(np.mean(t)) / period, 4),
    }


def live(runner: ModelRunner, seconds: float, device_block: int = 256) -> dict:
    slot = ModelSlot.from_runner(runner)
    rate = 44100
    src = np.repeat(fixture_audio(seconds + 1.0), 2)  # 22.05 -> 44.1 kHz by repetition: level and rhythm, not fidelity
    eng = LiveEngine(block=device_block)
    eng.set_model(slot)
    eng.set_stream_config(StreamConfig("streaming", 0.1))
    eng.set_params(EngineParams())
    drv = NullDriver(rate, device_block, src, loop=True, speed=1.0, max_blocks=int(seconds * rate / device_block))
    c0, w0 = time.process_time(), time.perf_counter()
    eng.start(drv)
    while drv.active:
        time.sleep(0.05)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    eng.stop(fade=False)
    s = eng.summary()
    return {
        "seconds": round(wall, 1),
        "cpu_percent_of_one_core": round(100 * cpu / wall, 1),
        "xruns": s["xruns"],
        "late_blocks": s["late_windows"],
        "latency_ms": s["latency_ms"],
        "latency_parts_ms": s["latency_parts_ms"],
        "mode": s["mode"],
    }


def render_speed(bundle: Path, minutes: float, tmp: Path) -> dict:
    src = tmp / "in.wav"
    if not src.exists():
        sf.write(src, fixture_audio(minutes * 60.0), 22050, subtype="FLOAT")
    exe = ROOT / ".venv" / "bin" / "latentsynth-render"
    cmd = [str(exe), str(src), "-o", str(tmp / "out.wav"), "--bundle", str(bundle), "--quiet", "--threads", "1"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0"] + cmd
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    # CPU time (user + system) is what the process would take on a core of its own; wall time under load is longer
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {
        "bundle": bundle.name,
        "audio_s": minutes * 60.0,
        "wall_s": round(wall, 2),
        "x_real_time": round(minutes * 60.0 / wall, 1),
        "cpu_s": round(cpu, 2),
        "x_real_time_cpu": round(minutes * 60.0 / cpu, 1),
        "command": " ".join(cmd),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, type=Path)
    p.add_argument("--live-seconds", type=float, default=30.0)
    p.add_argument("--render-minutes", type=float, default=5.0)
    p.add_argument("--device-block", type=int, default=256, help="live: device frames per callback (the app: 512)")
    p.add_argument(
        "--compare-window",
        action="store_true",
        help="also render with the window (non-causal) mel VAE, desktop/factory/mel-vae",
    )
    p.add_argument("--skip", nargs="*", default=[], choices=["parity", "compute", "live", "render"])
    args = p.parse_args()
    runner = ModelRunner(load_bundle(args.bundle), "cpu", threads=1)
    st = runner.manifest.streaming
    if st is None:
        raise SystemExit(f"{args.bundle}: not a streaming bundle")
    sr = runner.manifest.sample_rate
    load = os.getloadavg()
    report = {
        "bundle": str(args.bundle),
        "load_average_at_start": [round(v, 2) for v in load],
        "algorithmic_latency": {
            "block_samples": st.block,
            "lookahead_samples": st.delay,
            "samples": st.latency,
            "ms": round(1000 * st.latency / sr, 2),
        },
    }
    if "parity" not in args.skip:
        report["parity_max_abs_error"] = parity(runner)
    if "compute" not in args.skip:
        report["block_compute"] = block_times(runner)
    if "live" not in args.skip:
        report["live"] = live(runner, args.live_seconds, args.device_block)
    if "render" not in args.skip:
        with tempfile.TemporaryDirectory() as tmp:
            report["render"] = [render_speed(args.bundle, args.render_minutes, Path(tmp))]
            window = default_bundle_path().parent / "mel-vae"  # the non-causal window model, for comparison
            if args.compare_window and window.exists():
                report["render"].append(render_speed(window, args.render_minutes, Path(tmp)))
    report["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
