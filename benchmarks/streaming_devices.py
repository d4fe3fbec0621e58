"""Streaming through real audio devices (a private PulseAudio with virtual devices; no hardware needed).

    .venv/bin/python -m benchmarks.streaming_devices --bundle desktop/factory/default [--seconds 60]
        [--device-block 256] [--device-latency low | IN,OUT] [--no-gui]

1. engine: the live engine in streaming mode on PulseAudio's virtual devices (PortAudio through ALSA's pulse
   plugin), a looped file as input, for --seconds: xruns, late blocks, the latency parts PortAudio and the engine
   report, and how long the Python audio callback takes (p50 / p99 / max: it holds the GIL while it copies) and one
   model block (p50 / p99 of the last 512). With --generate: in the app's Generate mode (docs/prior.md).
2. app: `latentsynth --quit-after SECONDS` under Xvfb (the GUI drawing at 30 Hz) at the same settings: its JSON
   line (xruns, latency).

3. impulse (--impulse): an end-to-end measurement through the devices. A harness process plays impulses into the
   virtual microphone's sink and records the virtual speaker's monitor in ONE duplex stream (one sample clock);
   the engine (streaming, microphone input, dry/wet 0 so the output is the input delayed by exactly the wet path's
   latency, limiter off) sits in between. The same harness with the speaker looped straight back (no engine) is the
   calibration: end to end = engine path - calibration. That difference includes one extra virtual-device hop
   (the microphone sink's monitor), which real hardware replaces by its converters.
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

ROOT = Path(__file__).resolve().parent.parent


def engine_run(bundle: str, seconds: float, block: int, latency, input_file: str, generate: bool = False) -> dict:
    import numpy as np

    from core.audiofile import load_audio
    from core.bundle_io import load_bundle
    from core.session import ModelRunner
    from desktop.engine.audio.devices import SoundDeviceDriver
    from desktop.engine.audio.live import LiveEngine
    from desktop.engine.model.generate import GenerateSettings
    from desktop.engine.model.slot import ModelSlot
    from desktop.engine.parameters.values import EngineParams, FileSource, StreamConfig

    eng = LiveEngine(block=block)
    eng.set_model(ModelSlot.from_runner(ModelRunner(load_bundle(bundle), "cpu", threads=1)))
    eng.set_stream_config(StreamConfig("streaming", 0.1))
    eng.set_params(EngineParams())
    audio = load_audio(input_file)
    eng.set_file_source(FileSource(audio.samples.mean(0), audio.sample_rate, Path(input_file).name))
    if generate:  # the app's Generate mode: the prior plays instead of the file's latents (the file still clocks it)
        eng.generator.set_settings(GenerateSettings(True, 1.0, 0))
    durations = np.zeros(1 << 17)
    count = [0]
    inner = eng._callback

    def timed(indata, outdata, frames, xrun):
        t0 = time.perf_counter()
        inner(indata, outdata, frames, xrun)
        durations[count[0] % durations.size] = time.perf_counter() - t0
        count[0] += 1

    eng._callback = timed  # the instance attribute is what start() hands PortAudio
    c0, w0 = time.process_time(), time.perf_counter()
    eng.start(SoundDeviceDriver(None, None, blocksize=block, latency=latency))
    time.sleep(seconds)
    s = eng.summary()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    blocks = eng.ola.times[: min(eng.ola.count, eng.ola.times.size)] * 1e6  # the last model blocks' compute times
    playing = bool(eng.generator is not None and eng.generator.playing)
    eng.stop(fade=False)
    d = durations[: min(count[0], durations.size)] * 1e6
    return {
        "generate": generate,
        "generator_playing_at_end": playing,
        "model_block_us": {
            "p50": round(float(np.median(blocks)), 1),
            "p99": round(float(np.percentile(blocks, 99)), 1),
        },
        "seconds": round(wall, 1),
        "device_block": block,
        "device_latency_setting": latency,
        "xruns": s["xruns"],
        "device_xruns": s["device_xruns"],
        "underruns": s["underruns"],
        "late_blocks": s["late_windows"],
        "xrun_times_s": s["xrun_times_s"],
        "latency_ms": s["latency_ms"],
        "latency_parts_ms": s["latency_parts_ms"],
        "cpu_percent_of_one_core": round(100 * cpu / wall, 1),
        "callbacks": int(count[0]),
        "callback_us": {
            "p50": round(float(np.median(d)), 1),
            "p99": round(float(np.percentile(d, 99)), 1),
            "max": round(float(d.max()), 1),
        },
        "device_rate": s["device_rate"],
    }


def harness_child(seconds: float, block: int, latency) -> dict:
    """Play impulses and record in one duplex stream; delays (samples) from each impulse to its recorded peak."""
    import numpy as np
    import sounddevice as sd

    sr = 44100
    n = int(seconds * sr)
    out = np.zeros((n, 1), np.float32)
    starts = np.arange(int(1.0 * sr), n - int(0.6 * sr), int(0.5 * sr))
    out[starts, 0] = 0.8
    rec = sd.playrec(out, samplerate=sr, channels=1, dtype="float32", blocksize=block, latency=latency, blocking=True)[
        :, 0
    ]
    delays, peaks = [], []
    for i in starts:
        seg = np.abs(rec[i : i + int(0.45 * sr)])
        delays.append(int(np.argmax(seg)))
        peaks.append(float(seg.max()))
    return {"delays": delays, "peaks": peaks, "rate": sr}


def engine_mic_child(bundle: str, seconds: float, block: int, latency) -> dict:
    from core.bundle_io import load_bundle
    from core.session import ModelRunner
    from desktop.engine.audio.devices import SoundDeviceDriver
    from desktop.engine.audio.live import LiveEngine
    from desktop.engine.model.slot import ModelSlot
    from desktop.engine.parameters.values import EngineParams, StreamConfig

    eng = LiveEngine(block=block)
    eng.set_model(ModelSlot.from_runner(ModelRunner(load_bundle(bundle), "cpu", threads=1)))
    eng.set_stream_config(StreamConfig("streaming", 0.1))
    eng.set_params(EngineParams(dry_wet=0.0, limiter=False))
    eng.start(SoundDeviceDriver(None, None, blocksize=block, latency=latency))
    print("STARTED", flush=True)
    time.sleep(seconds)
    s = eng.summary()
    eng.stop(fade=False)
    return {k: s[k] for k in ("xruns", "late_windows", "latency_ms", "latency_parts_ms", "mode", "device_rate")}


def impulse_measurement(args, env: dict) -> dict:
    import numpy as np

    def harness(sink: str, source: str) -> dict:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.streaming_devices",
                "--harness-child",
                "--bundle",
                args.bundle,
                "--seconds",
                "7",
                "--device-block",
                str(args.device_block),
                "--device-latency",
                args.device_latency,
            ],
            env={**env, "PULSE_SINK": sink, "PULSE_SOURCE": source},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
        if not lines:
            raise RuntimeError(out.stderr[-2000:])
        return json.loads(lines[-1])

    calib = harness("speaker", "speaker.monitor")
    engine = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.streaming_devices",
            "--engine-mic-child",
            "--bundle",
            args.bundle,
            "--seconds",
            str(max(20.0, args.seconds)),
            "--device-block",
            str(args.device_block),
            "--device-latency",
            args.device_latency,
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = engine.stdout.readline()
    if "STARTED" not in line:
        raise RuntimeError(engine.stderr.read()[-2000:])
    time.sleep(4.0)  # PulseAudio takes a moment to start streams; let the engine settle
    through = harness("micfeed", "speaker.monitor")
    rest, err = engine.communicate(timeout=max(20.0, args.seconds) + 120)
    lines = [l for l in rest.splitlines() if l.startswith("{")]
    eng = json.loads(lines[-1]) if lines else {"error": err[-2000:]}
    sr = calib["rate"]
    c = float(np.median(calib["delays"]))
    heard = [d for d, p in zip(through["delays"], through["peaks"]) if p > 0.2]
    t = float(np.median(heard)) if heard else float("nan")
    return {
        "calibration_ms": round(1000 * c / sr, 2),
        "through_engine_ms": round(1000 * t / sr, 2),
        "end_to_end_ms": round(1000 * (t - c) / sr, 2),
        "impulses_heard": f"{len(heard)}/{len(through['delays'])}",
        "spread_ms": round(1000 * (max(heard) - min(heard)) / sr, 2) if heard else None,
        "engine_reported": eng,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--device-block", type=int, default=256)
    p.add_argument("--device-latency", default="low")
    p.add_argument("--input-file", default=str(ROOT / "tests" / "data" / "music_rock_mix.wav"))
    p.add_argument("--no-gui", action="store_true")
    p.add_argument(
        "--pulse-latency-msec",
        type=int,
        default=None,
        help="set PULSE_LATENCY_MSEC for the engine and the app (PulseAudio's per-client latency cap)",
    )
    p.add_argument("--impulse", action="store_true", help="also measure end to end with impulses (section 3)")
    p.add_argument(
        "--generate",
        action="store_true",
        help="section 1 in the app's Generate mode (the bundle's learned prior, temperature 1, seed 0; sections 2 and "
        "3 are not run)",
    )
    p.add_argument(
        "--sink-awake",
        action="store_true",
        help="keep a silent stream on the virtual speaker, as on a desktop whose sound server already plays (the "
        "idle null sink otherwise makes every stream's first 1.4 s underrun)",
    )
    p.add_argument("--engine-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--engine-mic-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--harness-child", action="store_true", help=argparse.SUPPRESS)
    return p


def _engine_in_pulse(args, env: dict) -> dict:
    """The engine alone in a child process inside the PulseAudio environment: its JSON summary."""
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.streaming_devices",
            "--engine-child",
            "--bundle",
            args.bundle,
            "--seconds",
            str(args.seconds),
            "--device-block",
            str(args.device_block),
            "--device-latency",
            args.device_latency,
            "--input-file",
            args.input_file,
            *(["--generate"] if args.generate else []),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=args.seconds + 120,
    )
    lines = [l for l in child.stdout.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": child.stderr[-2000:]}


def _app_in_pulse(args, env: dict, runtime: Path) -> dict:
    """The app under Xvfb in the PulseAudio environment, --quit-after: its statistics and the command line."""
    cmd = [
        "xvfb-run",
        "-a",
        str(ROOT / ".venv" / "bin" / "latentsynth"),
        "--bundle",
        args.bundle,
        "--input-file",
        args.input_file,
        "--quit-after",
        str(args.seconds),
        "--mode",
        "streaming",
        "--device-block",
        str(args.device_block),
        "--device-latency",
        args.device_latency,
    ]
    app = subprocess.run(
        cmd,
        env={**env, "LATENTSYNTH_SETTINGS": str(runtime / "settings.ini")},
        capture_output=True,
        text=True,
        timeout=args.seconds + 120,
    )
    lines = [l for l in app.stdout.splitlines() if l.startswith("{")]
    keys = (
        "xruns",
        "device_xruns",
        "underruns",
        "late_windows",
        "xrun_times_s",
        "latency_ms",
        "algorithmic_latency_ms",
        "device_latency_ms",
        "rtf",
        "mode",
        "latency_parts_ms",
    )
    result = {k: json.loads(lines[-1]).get(k) for k in keys} if lines else {"error": app.stderr[-2000:]}
    result["command"] = " ".join(cmd[2:])
    return result


def main() -> int:
    args = build_parser().parse_args()
    # one value for both directions, or IN,OUT (e.g. low,0.08: the input side at PortAudio's lowest)
    parts = [v if v in ("low", "high") else float(v) for v in args.device_latency.split(",")]
    latency = parts[0] if len(parts) == 1 else tuple(parts)
    if args.engine_child:  # runs inside the PulseAudio environment (sounddevice reads the devices at import)
        print(
            json.dumps(
                engine_run(args.bundle, args.seconds, args.device_block, latency, args.input_file, args.generate)
            )
        )
        return 0
    if args.engine_mic_child:
        print(json.dumps(engine_mic_child(args.bundle, args.seconds, args.device_block, latency)))
        return 0
    if args.harness_child:
        print(json.dumps(harness_child(args.seconds, args.device_block, latency)))
        return 0
    from tests.desktop.pulse import keep_sink_awake, start_pulse, stop_pulse

    runtime = Path(tempfile.mkdtemp(prefix="ls-bench-pulse-"))
    proc, env = start_pulse(runtime)
    if args.pulse_latency_msec:
        env = {**env, "PULSE_LATENCY_MSEC": str(args.pulse_latency_msec)}
    report = {
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "pulse_latency_msec": args.pulse_latency_msec,
        "sink_awake": args.sink_awake,
    }
    keeper = keep_sink_awake(env) if args.sink_awake else None
    try:
        if args.impulse and not args.generate:
            report["impulse"] = impulse_measurement(args, env)
        report["engine"] = _engine_in_pulse(args, env)
        if not args.no_gui and not args.generate:
            report["app"] = _app_in_pulse(args, env, runtime)
    finally:
        if keeper is not None:
            keeper.terminate()
        stop_pulse(proc)
    report["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
