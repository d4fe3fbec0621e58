"""Latency from an OSC message to the change in the engine's output, over loopback UDP.

    python -m benchmarks.osc_latency [--trials 20] [--mode low-latency|streaming]

The engine plays a 330 Hz tone through an identity model (a mix parameter acts after the model, so the model does
not matter and a steady tone makes the change unambiguous; ``streaming`` uses the tests' streaming identity
bundle, a real bundle with state tensors, so the engine runs its streaming path) on a NullDriver clocked at real time (no device
buffers); a second socket sends ``/latentsynth/mix/output_gain_db -12`` at a random moment and
back to 0 dB a second later. For each change the script finds the first output sample whose level moved
(64-sample RMS more than 0.5 dB from the level before) and prints the delay from the send to that sample at the
output position that was being played when the message left. What a listener hears adds the device's output
latency (docs/desktop.md: PulseAudio's virtual devices) on top. Latent knobs go through the model: their change
also waits for the mode's algorithmic latency, which the engine reports.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from desktop.control.osc import OscServer
from desktop.engine.audio.devices import NullDriver
from desktop.engine.audio.live import LiveEngine
from desktop.engine.model.slot import ModelSlot
from desktop.engine.parameters.params import PREFIX, ParamRegistry
from desktop.engine.parameters.values import LIVE_MODES, EngineParams, StreamConfig

RATE = 44100
BLOCK = 256


def first_change(y: np.ndarray, start: int, win: int = 64) -> int | None:
    ref = np.sqrt(np.mean(y[start - 4 * RATE // 10 : start - win] ** 2))
    for i in range(start, len(y) - win, 16):
        level = np.sqrt(np.mean(y[i : i + win] ** 2))
        if abs(20 * np.log10(max(level, 1e-9) / max(ref, 1e-9))) > 0.5:
            return i
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--mode", default="low-latency", choices=LIVE_MODES)
    a = p.parse_args(argv)
    from pythonosc.udp_client import SimpleUDPClient

    eng = LiveEngine(block=BLOCK)
    if a.mode == "streaming":
        import tempfile

        from core.bundle_io import load_bundle
        from core.session import ModelRunner
        from tests.streaming_identity_bundle import build_streaming_identity_bundle

        path = build_streaming_identity_bundle(Path(tempfile.mkdtemp(prefix="osc-latency-")) / "identity")
        eng.set_model(ModelSlot.from_runner(ModelRunner(load_bundle(path), provider="cpu", threads=1)))
    else:
        eng.set_model(ModelSlot.identity())
    eng.set_stream_config(StreamConfig(a.mode, 0.1))
    eng.set_params(EngineParams(limiter=False))
    registry = ParamRegistry(eng, None, LIVE_MODES)
    server = OscServer(registry, port=0).start()
    client = SimpleUDPClient("127.0.0.1", server.port)
    seconds = 2.0 * a.trials + 4
    t = np.arange(int(RATE * seconds)) / RATE
    source = (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    drv = NullDriver(RATE, BLOCK, source, loop=False, speed=1.0, capture=True)
    rng = np.random.default_rng(0)
    sends = []
    eng.start(drv)
    try:
        time.sleep(2.0)
        for k in range(a.trials):
            time.sleep(0.5 + 0.5 * rng.random())
            pos = drv.blocks_done * BLOCK  # the output sample being handed to the "device" now
            client.send_message(f"{PREFIX}/mix/output_gain_db", -12.0 if k % 2 == 0 else 0.0)
            sends.append(pos)
    finally:
        time.sleep(1.0)
        eng.stop(fade=False)
        server.stop()
    y = drv.captured()
    delays = []
    for pos in sends:
        i = first_change(y, pos)
        if i is not None:
            delays.append(1000.0 * (i - pos) / RATE)
    out = {
        "mode": eng.mode,
        "trials": len(sends),
        "detected": len(delays),
        "median_ms": round(float(np.median(delays)), 1),
        "p95_ms": round(float(np.percentile(delays, 95)), 1),
        "max_ms": round(float(np.max(delays)), 1),
        "block": BLOCK,
        "device_rate": RATE,
        "algorithmic_ms": round(1000.0 * eng.algorithmic_latency_s, 1),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
