"""The live engine's readouts: the GUI's snapshot, where the latency comes from, the JSON summary, and the log of
xrun times the summary lists (written by the audio callback, so preallocated).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from core.streaming import StreamingProcessor

from ..parameters.values import Snapshot

if TYPE_CHECKING:
    from .live import LiveEngine

XRUN_LOG = 32  # how many xruns' times the summary lists


class XrunLog:
    """When the first ``XRUN_LOG`` xruns came (seconds after the first callback) and whether the device reported each
    one or the output ran dry. Preallocated: the audio callback only writes into it."""

    def __init__(self, size: int = XRUN_LOG):
        self._t = np.zeros(size)
        self._device = np.zeros(size, bool)
        self.n = 0

    def clear(self) -> None:
        self.n = 0

    def log(self, t: float, device: bool) -> None:
        i = self.n
        if i < self._t.size:
            self._t[i] = t
            self._device[i] = device
            self.n = i + 1

    def times(self) -> list:
        """[[seconds after the first callback, 'device' or 'underrun'], ...]"""
        return [
            [round(float(t), 3), "device" if d else "underrun"]
            for t, d in zip(self._t[: self.n], self._device[: self.n])
        ]


def snapshot(engine: LiveEngine, wave_seconds: float = 2.0) -> Snapshot:
    """What the GUI shows now: waveforms, peaks, latency, xruns, latent positions, recording, the error."""
    running = engine._running
    slot = engine.slot
    n = int(wave_seconds * engine.device_rate) if running else 0
    in_wave = engine.disp_in.latest(n) if running else np.zeros(0, np.float32)
    out_wave = engine.disp_out.latest(n) if running else np.zeros(0, np.float32)
    peak_n = max(1, engine.device_rate // 20)
    in_peak = float(np.abs(in_wave[-peak_n:]).max()) if in_wave.size else 0.0
    out_peak = float(np.abs(out_wave[-peak_n:]).max()) if out_wave.size else 0.0
    positions = {}
    streaming = isinstance(engine.ola, StreamingProcessor)
    latest = (
        slot.streaming_model.last_latents
        if streaming
        else slot.window_model.last_latents
        if slot is not None and slot.window_model is not None
        else None
    )
    if latest is not None:
        wm = slot.window_model
        frames = max(1, int(round(engine.config.hop_s * slot.sample_rate / wm.runner.manifest.latent_hop)))
        for name, z in latest.items():
            coords = wm.runner.axes[name].project(z[:, :, -frames - 1 : -1] if z.shape[2] > frames + 1 else z)
            positions[name] = coords[0].mean(axis=1)
    algo = engine.algorithmic_latency_s
    rec = engine.recorder
    return Snapshot(
        running=running,
        device_rate=engine.device_rate,
        model_rate=slot.sample_rate if slot else 0,
        mode=engine.mode,
        hop_s=engine.config.hop_s,
        latency_ms=1000.0 * (algo + engine.device_latency_s),
        algorithmic_ms=1000.0 * algo,
        device_ms=1000.0 * engine.device_latency_s,
        rtf=engine.chain.stream_rtf() if streaming else engine.stats.rtf,
        xruns=engine.device_xruns + engine.underruns,
        device_xruns=engine.device_xruns,
        underruns=engine.underruns,
        late_windows=engine.late_windows,
        frames_out=engine.frames_out,
        provider=slot.provider if slot else "",
        model_name=slot.name if slot else "",
        source=("file: " + engine.file_source.name) if engine.file_source is not None else "microphone",
        in_wave=in_wave,
        out_wave=out_wave,
        in_peak=in_peak,
        out_peak=out_peak,
        limiter_db=engine.chain.limiter_db if running and engine.chain else 0.0,
        latent_positions=positions,
        recording_s=rec.seconds if rec else 0.0,
        recording_path=str(rec.path) if rec else "",
        error=engine.error
        or (rec.error if rec and rec.error else "")
        or engine.record_error
        or (engine.driver.error if engine.driver is not None and getattr(engine.driver, "error", "") else ""),
    )


def latency_parts(engine: LiveEngine) -> dict:
    """Where the latency comes from, in ms: block (waiting for the model's input: the hop in window modes),
    compute slot (the safety margin for computing it), model_delay (a streaming bundle's lookahead; the
    crossfade in low-latency mode), device block, device burst (streaming: how much more than one block the
    device takes at once), underrun cover (streaming: added after hiccups), resampler, device (PortAudio's reported buffers). They add up to ``latency_ms``."""
    if not engine.device_rate or engine.slot is None or engine.chain is None:
        return {}
    dev, mr = engine.device_rate, engine.slot.sample_rate
    block = int(math.ceil(engine.hop_model * dev / mr))
    margin = engine.chain.margin_samples
    ms = lambda samples: round(1000.0 * samples / dev, 2)  # noqa: E731
    parts = {
        "block": ms(block),
        "compute_slot": ms(margin),
        "model_delay": ms(engine.dry_delay),
        "device_block": ms(engine.block),
        "resampler": ms(engine.hold),
        "device_burst": ms(engine.chain.burst_extra),
        "underrun_cover": ms(engine.chain.underrun_extra),
        "other": ms(
            engine.prefill
            - block
            - margin
            - engine.block
            - engine.hold
            - engine.chain.burst_extra
            - engine.chain.underrun_extra
        ),
        "device": round(1000.0 * engine.device_latency_s, 2),
    }
    if isinstance(engine.ola, StreamingProcessor):
        parts["block_p99_compute"] = round(1000.0 * engine.ola.p99_s, 3)
    return parts


def summary(engine: LiveEngine) -> dict:
    """The engine's counters and timing as one JSON-ready dict (the app's and the benchmarks' report line)."""
    s = snapshot(engine, 0.0)
    return {
        "xruns": s.xruns,
        "device_xruns": s.device_xruns,
        "underruns": s.underruns,
        "late_windows": s.late_windows,
        "latency_ms": round(s.latency_ms, 2),
        "algorithmic_latency_ms": round(s.algorithmic_ms, 2),
        "device_latency_ms": round(s.device_ms, 2),
        "rtf": round(s.rtf, 4),
        "provider": s.provider,
        "frames_out": s.frames_out,
        "device_rate": s.device_rate,
        "model_rate": s.model_rate,
        "mode": s.mode,
        "hop": s.hop_s,
        "model": s.model_name,
        "error": s.error,
        "latency_parts_ms": latency_parts(engine),
        "slot_changes": engine.slot_changes,
        "underruns_before_burst_cover": engine.underruns_before_burst_cover,
        "stream_restarts": engine.stream_restarts,
        "xrun_times_s": engine.xruns.times(),  # after the first callback
        # the playing chain's latency over time: [from input second, algorithmic latency ms]
        "latency_changes": [
            [round(max(0, a) / engine.device_rate, 3), round(1000 * n / engine.device_rate, 2)]
            for a, n in (engine.chain.latency_log if engine.chain and engine.device_rate else [])
        ],
    }
