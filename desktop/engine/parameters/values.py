"""The live engine's value types: the frozen parameter objects the GUI swaps in, the snapshot it reads back,
a looped file as input, and the mode list and hop range every front end (app, CLI, OSC) validates against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.cli_values import BOUNDS, in_range
from core.dsp import GATE_OFF_DB
from core.overlap_add import MODES

FALLBACKS = ("dry", "silence")
HOP_RANGE_S = (BOUNDS["app.hop"].lo, BOUNDS["app.hop"].hi)  # the app's --hop, OSC, presets, the settings file
# 'streaming': block by block through a streaming bundle's causal graphs (docs/streaming.md); the default, and
# played as 'low-latency' when the bundle cannot stream
LIVE_MODES = ("streaming",) + MODES


@dataclass(frozen=True)
class EngineParams:
    """What the knobs outside the latent section set. Swapped whole, never mutated."""

    input_gain_db: float = 0.0
    output_gain_db: float = 0.0
    dry_wet: float = 1.0  # 0 = dry only, 1 = wet only
    bypass: bool = False  # dry only, still delayed so switching keeps the timing
    limiter: bool = True
    fallback: str = "dry"  # what a window the model could not finish in time is replaced with
    gate_db: float = GATE_OFF_DB  # the model hears silence while the input is under this (core.dsp.Gate); -90: off


@dataclass(frozen=True)
class StreamConfig:
    mode: str = "streaming"
    hop_s: float = 0.2

    def validated(self) -> "StreamConfig":
        if self.mode not in LIVE_MODES:
            raise ValueError(f"unknown mode '{self.mode}' (use {' or '.join(LIVE_MODES)})")
        if not in_range(self.hop_s, *HOP_RANGE_S):
            raise ValueError(f"hop {self.hop_s} s is outside {HOP_RANGE_S[0]}..{HOP_RANGE_S[1]} s")
        return self


@dataclass(frozen=True)
class Snapshot:
    """Everything the GUI shows, copied out at one moment."""

    running: bool
    device_rate: int
    model_rate: int
    mode: str
    hop_s: float
    latency_ms: float
    algorithmic_ms: float
    device_ms: float
    rtf: float
    xruns: int
    device_xruns: int
    underruns: int
    late_windows: int
    frames_out: int
    provider: str
    model_name: str
    source: str
    in_wave: np.ndarray
    out_wave: np.ndarray
    in_peak: float
    out_peak: float
    limiter_db: float
    latent_positions: dict
    recording_s: float
    recording_path: str
    error: str


class FileSource:
    """An audio file played in real time, looped; resampled to the device rate when the stream opens."""

    def __init__(self, samples: np.ndarray, sample_rate: int, name: str = "file"):
        self.samples = np.asarray(samples, np.float32).reshape(-1)
        self.sample_rate = int(sample_rate)
        self.name = name

    def at_rate(self, rate: int) -> np.ndarray:
        from core.audiofile import resample

        return np.ascontiguousarray(resample(self.samples, self.sample_rate, rate), dtype=np.float32)
