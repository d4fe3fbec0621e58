"""The live engine: audio callback -> ring buffer -> one inference worker -> ring buffer -> audio callback.

Threads (STYLE.md): the PortAudio callback (``_callback``) only copies samples between preallocated ring
buffers, applies a precomputed start/stop fade and counts xruns. One worker thread resamples to the model
rate, runs the streaming overlap-add (onnxruntime releases the GIL while it computes), mixes dry/wet, applies
gains and the limiter, and hands blocks to the recorder thread. The GUI calls ``snapshot()`` from a timer and
swaps in new frozen parameter objects (``set_params``, ``set_controls``); nothing it does can block audio.

Latency bookkeeping is by stream position, not by timing: the output ring starts ``prefill`` samples ahead
of the input, every input sample yields exactly one output sample, and a reader that runs dry plays silence
whose positions the writer later skips. So an input sample at position i is heard at output position
i + prefill + dry_delay, always; the reported latency adds the device buffers PortAudio reports.
"""
from __future__ import annotations

import math
import os
import select
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .dsp import Limiter, SmoothedValue, db_to_gain
from .latent import LatentControls
from .overlap_add import MODES, make_overlap_add
from .recorder import Recorder
from .render import hop_samples
from .resample import StreamResampler
from .ring import RingBuffer
from .session import ModelRunner, WindowModel
from .streaming import StreamingModel, StreamingProcessor

FALLBACKS = ("dry", "silence")
HOP_RANGE_S = (0.05, 0.5)
FADE_S = 0.15
SWITCH_FADE_S = 0.03  # a rebuild (mode, hop, model) fades the queued audio out and the new chain's in over this
STALL_MESSAGE = "the audio device stopped delivering audio (disconnected or blocked?)"
# 'streaming': block by block through a streaming bundle's causal graphs (docs/streaming.md); the default, and
# played as 'low-latency' when the bundle cannot stream
LIVE_MODES = ("streaming",) + MODES
STREAM_MARGIN_S = 0.004  # streaming: the compute slot is 2 x the measured p99 block time plus this
ADAPT_BLOCKS = 256  # streaming: every 256 blocks (3 s) the compute slot is re-sized from the p99 of the last 512


@dataclass(frozen=True)
class EngineParams:
    """What the knobs outside the latent section set. Swapped whole, never mutated."""

    input_gain_db: float = 0.0
    output_gain_db: float = 0.0
    dry_wet: float = 1.0  # 0 = dry only, 1 = wet only
    bypass: bool = False  # dry only, still delayed so switching keeps the timing
    limiter: bool = True
    fallback: str = "dry"  # what a window the model could not finish in time is replaced with


@dataclass(frozen=True)
class StreamConfig:
    mode: str = "streaming"
    hop_s: float = 0.2

    def validated(self) -> "StreamConfig":
        if self.mode not in LIVE_MODES:
            raise ValueError(f"unknown mode '{self.mode}' (use {' or '.join(LIVE_MODES)})")
        if not HOP_RANGE_S[0] - 1e-9 <= self.hop_s <= HOP_RANGE_S[1] + 1e-9:
            raise ValueError(f"hop {self.hop_s} s is outside {HOP_RANGE_S[0]}..{HOP_RANGE_S[1]} s")
        return self


@dataclass
class ModelSlot:
    """A window function plus what the engine needs to schedule it. ``window_model`` is set for real bundles
    (knobs and live latents); tests may pass any float32[W] -> float32[W] function."""

    fn: Callable[[np.ndarray], np.ndarray]
    sample_rate: int
    window: int
    name: str = "custom"
    provider: str = "cpu"
    window_model: WindowModel | None = None
    compute_s: float = 0.0
    info: dict = field(default_factory=dict)
    grid: int = 1  # the window hop is kept a multiple of this (the bundle's coarsest latent hop)
    streaming_model: StreamingModel | None = None  # streaming bundles: the block-by-block path
    block_p99_s: float = 0.0  # streaming: p99 compute time of one block, measured at load

    @classmethod
    def from_runner(cls, runner: ModelRunner, controls: LatentControls | None = None) -> "ModelSlot":
        wm = WindowModel(runner, controls or LatentControls())
        m = runner.manifest
        slot = cls(wm, m.sample_rate, m.window, runner.bundle.name, runner.short_provider, wm, grid=m.pad_multiple)
        slot.measure()
        if runner.streaming is not None:
            slot.streaming_model = StreamingModel(runner, controls_of=lambda: wm.controls)
            slot.measure_blocks()
        wm.last_latents = None
        return slot

    def measure_blocks(self, blocks: int = 200) -> float:
        """Streaming: p99 of the time one block takes (after a warm-up), over ``blocks`` blocks of a tone."""
        sm = self.streaming_model
        n = sm.block
        x = (0.05 * np.sin(np.arange(n * (blocks + 20)) * 0.05)).astype(np.float32)
        times = []
        for k in range(blocks + 20):
            t0 = time.perf_counter()
            sm.process(x[k * n:(k + 1) * n])
            times.append(time.perf_counter() - t0)
        sm.reset()
        self.block_p99_s = float(np.percentile(times[20:], 99))
        return self.block_p99_s

    @classmethod
    def identity(cls, sample_rate: int = 22050, window: int = 22050) -> "ModelSlot":
        return cls(lambda w: w, sample_rate, window, "identity", "cpu")

    def measure(self, runs: int = 3) -> float:
        """Time one window (after a warm-up): the engine sizes its safety margin from it."""
        x = (0.05 * np.sin(np.arange(self.window) * 0.05)).astype(np.float32)
        self.fn(x)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self.fn(x)
            times.append(time.perf_counter() - t0)
        self.compute_s = float(np.median(times))
        return self.compute_s


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
        from .audiofile import resample

        return np.ascontiguousarray(resample(self.samples, self.sample_rate, rate), dtype=np.float32)


class LiveEngine:
    def __init__(self, block: int = 512, journal_dir: str | None = None, margin_s: float = 0.1):
        self.block = int(block)
        self.journal_dir = journal_dir
        self.margin_s = float(margin_s)
        self.params = EngineParams()
        self.config = StreamConfig()
        self.slot: ModelSlot | None = None
        self._pending_slot: ModelSlot | None = None
        self._rebuild_needed = True
        self._file: FileSource | None = None
        self._file_dev: np.ndarray | None = None
        self._file_pos = 0
        self.driver = None
        self.device_rate = 0
        self.device_latency_s = 0.0
        self._running = False
        self._worker: threading.Thread | None = None
        self._stop_worker = threading.Event()
        self.recorder: Recorder | None = None
        self.error = ""
        self.device_xruns = 0
        self.underruns = 0
        self.late_windows = 0
        self.frames_out = 0
        self._rtf = 0.0
        self.mode = self.config.mode  # the mode playing: 'streaming' falls back to 'low-latency' for window bundles
        self._block_est = 0.0
        self.margin_used_s = 0.0
        self.hold = 0
        self.slot_changes = 0  # streaming: times the compute slot was re-sized while playing
        self._compute_est = 0.0
        self.prefill = 0
        self.dry_delay = 0
        self._last_callback = 0.0
        self._max_block = 8192
        self._wake_r: int | None = None  # a pipe the callback writes a byte into: the worker wakes on input
        self._wake_w: int | None = None
        self._rec_lock = threading.Lock()  # the GUI swaps the recorder while the worker may be pushing to it
        self.record_error = ""  # the last recording's error, kept after it stopped (for the JSON line)
        self._switch_fade: np.ndarray | None = None  # fade-in of the new chain's input and output after a switch
        self._switch_pos = [0, 0]
        self.started_at = 0.0  # time.monotonic() of start(), first callback and first audible block
        self.first_callback_at: float | None = None
        self.first_sound_at: float | None = None

    # ---- configuration (any thread) -------------------------------------------------------------------
    def set_model(self, slot: ModelSlot) -> None:
        """Swap in a model; the worker picks it up at its next step and re-aligns the dry path."""
        if slot.window_model is not None and self.slot is not None and self.slot.window_model is not None:
            slot.window_model.controls = self.slot.window_model.controls if (
                self.slot.window_model.runner.manifest.levels == slot.window_model.runner.manifest.levels
            ) else LatentControls()
        if self._running:
            self._pending_slot = slot
        else:
            self.slot = slot
            self._rebuild_needed = True

    def set_controls(self, controls: LatentControls) -> None:
        slot = self._pending_slot or self.slot
        if slot is not None and slot.window_model is not None:
            slot.window_model.controls = controls

    @property
    def controls(self) -> LatentControls:
        slot = self._pending_slot or self.slot
        if slot is not None and slot.window_model is not None:
            return slot.window_model.controls
        return LatentControls()

    def set_params(self, params: EngineParams) -> None:
        if params.fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}")
        self.params = params

    def set_stream_config(self, config: StreamConfig) -> None:
        self.config = config.validated()
        self._rebuild_needed = True

    def set_file_source(self, source: FileSource | None) -> None:
        """Use a looped file as the input (None: the input device). Takes effect at the next ``start``."""
        self._file = source

    # ---- transport ---------------------------------------------------------------------------------------
    def start(self, driver) -> None:
        """Open ``driver`` (a :class:`SoundDeviceDriver` or :class:`NullDriver`) and start playing."""
        if self._running:
            self.stop()
        if self.slot is None and self._pending_slot is None:
            raise RuntimeError("no model loaded")
        if self._pending_slot is not None:
            self.slot, self._pending_slot = self._pending_slot, None
        self.error = ""
        self.driver = driver
        self.device_rate = int(driver.sample_rate)
        self._file_dev = self._file.at_rate(self.device_rate) if self._file is not None else None
        self._file_pos = 0
        cap = self.device_rate * 8
        self.in_ring = RingBuffer(cap)
        self.out_ring = RingBuffer(cap)
        self.disp_in = RingBuffer(self.device_rate * 4)
        self.disp_out = RingBuffer(self.device_rate * 4)
        self._cb_buf = np.zeros(self._max_block, np.float32)
        n_fade = max(1, int(FADE_S * self.device_rate))
        self._fade_n = n_fade
        self._fade_up = np.concatenate([(np.arange(n_fade, dtype=np.float32) + 1) / n_fade,
                                        np.ones(self._max_block, np.float32)])
        self._fade_down = np.concatenate([1.0 - (np.arange(n_fade, dtype=np.float32) + 1) / n_fade,
                                          np.zeros(self._max_block, np.float32)])
        self._fade_pos = 0
        self._fade_target_up = True
        self.device_xruns = self.underruns = self.late_windows = self.frames_out = 0
        self._primed = False
        self._rebuild_needed = True
        self._rebuild()
        self.started_at = time.monotonic()
        self.first_callback_at = self.first_sound_at = None
        self._last_callback = 0.0  # 0 until the first callback: a stream that is still starting is not stalled
        self._stop_worker.clear()
        self._running = True
        self._worker = threading.Thread(target=self._work, name="latentsynth-worker", daemon=True)
        self._worker.start()
        try:
            self._open_wake_pipe()
            driver.open(self._callback, input_needed=self._file_dev is None)
        except Exception:
            self._running = False
            self._stop_worker.set()
            self._worker.join(timeout=2)
            self._close_wake_pipe()
            raise
        self.device_latency_s = float(driver.latency_s)

    def stop(self, fade: bool = True) -> None:
        """Fade out, then close the stream and the worker; a running recording is finished."""
        if not self._running:
            return
        if fade and self.driver is not None and self.driver.active:
            self._fade_target_up = False
            deadline = time.monotonic() + FADE_S + 0.4
            while self._fade_pos > 0 and time.monotonic() < deadline and self.driver.active:
                time.sleep(0.01)
            time.sleep(min(0.1, self.device_latency_s))  # let the silent tail leave the device buffer
        try:
            self.driver.close()
        finally:
            self._running = False
            self._stop_worker.set()
            if self._worker is not None:
                self._worker.join(timeout=5)
            self._close_wake_pipe()
            self.stop_recording()

    @property
    def running(self) -> bool:
        return self._running

    # ---- recording ---------------------------------------------------------------------------------------
    def start_recording(self, path: str, record_input: bool = False) -> Recorder:
        if not self._running:
            raise RuntimeError("start the audio before recording")
        # the new file first: a name that is refused (taken, locked, read-only) leaves the running take alone
        rec = Recorder(path, self.device_rate, record_input, journal_dir=self.journal_dir)
        self.stop_recording()
        self.record_error = ""
        with self._rec_lock:
            self.recorder = rec
        return rec

    def stop_recording(self) -> Recorder | None:
        """Detach the recorder, then close it: under the lock no block can be pushed to it after the swap,
        and close() writes every block pushed before it."""
        with self._rec_lock:
            rec, self.recorder = self.recorder, None
        if rec is not None:
            rec.close()
            if rec.error:
                self.record_error = rec.error
        return rec

    # ---- the audio callback (PortAudio thread): copies and counts only ------------------------------------
    def _callback(self, indata, outdata, frames: int, xrun: bool) -> None:
        self._last_callback = time.monotonic()
        if self.first_callback_at is None:
            self.first_callback_at = self._last_callback
        if xrun:
            self.device_xruns += 1
        src = self._file_dev
        if src is not None:
            pos, n = self._file_pos, src.shape[0]
            first = min(frames, n - pos)
            self.in_ring.write(src[pos:pos + first])
            if first < frames:
                self.in_ring.write(src[:frames - first])
            self._file_pos = (pos + frames) % n
        elif indata is not None:
            self.in_ring.write(indata[:, 0])
        else:
            self.in_ring.write(self._cb_buf[:0])
        buf = self._cb_buf[:frames]
        missing = self.out_ring.read_into(buf)
        if missing:
            if self._primed:
                self.underruns += 1
        else:
            self._primed = True
        if self._fade_target_up:
            if self._fade_pos < self._fade_n:
                buf *= self._fade_up[self._fade_pos:self._fade_pos + frames]
                self._fade_pos = min(self._fade_n, self._fade_pos + frames)
        else:
            start = self._fade_n - self._fade_pos
            buf *= self._fade_down[start:start + frames]
            self._fade_pos = max(0, self._fade_pos - frames)
        outdata[:] = buf[:, None]
        self.frames_out += frames
        try:  # wake the worker: a syscall, no Python lock (threading.Event.set would take one)
            os.write(self._wake_w, b"\0")
        except (OSError, TypeError):  # pipe full (the worker is behind anyway) or closed
            pass
        if self.first_sound_at is None and missing < frames and buf.any():
            self.first_sound_at = time.monotonic()

    # ---- the worker thread --------------------------------------------------------------------------------
    def _rebuild(self, switch: bool = False) -> None:
        """(Re)create the processing chain for the current model and config, and re-align the output.

        ``switch``: the stream is playing (a mode, hop or model change). The new chain's timing differs, so the
        queued audio ends where the old chain stopped and the new one starts somewhere else: the queued tail
        fades out, and the new chain fades in twice over (``SWITCH_FADE_S``): its input, so its first sound
        starts from silence wherever its latency puts it, and its output after the samples it must drop to
        keep the timing, so a shorter latency does not start mid-waveform either. A short dip, not a click."""
        slot = self.slot
        cfg = self.config
        dev, mr = self.device_rate, slot.sample_rate
        self.mode = cfg.mode if cfg.mode != "streaming" or slot.streaming_model is not None else "low-latency"
        if self.mode == "streaming":
            self.ola = StreamingProcessor(slot.streaming_model, is_late=self._block_late)
            hop = self.ola.block
            self._block_est = slot.block_p99_s
        else:
            hop = hop_samples(cfg.hop_s, mr, slot.window, slot.grid)
            margin = 0
            crossfade = None
            if self.mode == "low-latency":
                crossfade = min(hop // 2, int(0.02 * mr))
            self.ola = make_overlap_add(self.mode, slot.window, hop, self._guarded_fn, crossfade=crossfade,
                                        margin=margin)
        self.hop_model = hop
        self.res_in = StreamResampler(dev, mr)
        self.res_out = StreamResampler(mr, dev)
        self.dry_delay = int(round(self.ola.latency * dev / mr))
        self._dry_fifo = np.zeros(self.dry_delay, np.float32)
        self._wet_fifo = np.zeros(0, np.float32)
        self._compute_est = max(self._compute_est, slot.compute_s) if self._compute_est else slot.compute_s
        hold = int(math.ceil(self.res_in.hold * dev / mr)) + self.res_out.hold
        margin_s = max(2.0 * slot.compute_s, slot.compute_s + self.margin_s)
        if self.mode == "streaming":  # the compute slot follows the measured tail of one block's time
            margin_s = 2.0 * slot.block_p99_s + STREAM_MARGIN_S
        self.margin_used_s = margin_s
        self.hold = hold
        self.prefill = int(math.ceil(hop * dev / mr)) + self.block + hold + int(margin_s * dev)
        self._drop = 0
        target = self.in_ring.read_count + self.prefill
        pad = target - self.out_ring.written
        if switch:
            self.out_ring.fade_tail(int(SWITCH_FADE_S * dev))
        if pad > 0:
            self.out_ring.write(np.zeros(pad, np.float32))
        else:
            self._drop = -pad
        n_switch = int(SWITCH_FADE_S * dev)
        self._switch_fade = (np.arange(n_switch, dtype=np.float32) + 1) / n_switch if switch else None
        self._switch_pos = [0, 0]
        p = self.params
        self._in_gain = SmoothedValue(db_to_gain(p.input_gain_db), dev)
        self._out_gain = SmoothedValue(db_to_gain(p.output_gain_db), dev)
        self._wet = SmoothedValue(0.0 if p.bypass else p.dry_wet, dev)
        self._limiter = Limiter(dev)
        self._rebuild_needed = False

    def _block_late(self) -> bool:
        """Streaming: would this block's output reach the device after its time? (It is computed anyway.)"""
        self._adapt_slot()
        level_s = self.out_ring.level() / self.device_rate
        late = level_s < self._block_est * 1.2 + 0.001
        if late:
            self.late_windows += 1
        return late

    def _adapt_slot(self) -> None:
        """Streaming: every ADAPT_BLOCKS blocks, the compute slot follows 2 x the p99 of the recent block times +
        4 ms: it grows when blocks got slower (a gap of that many samples is written ahead of the output) and
        shrinks when the slot is more than twice what is needed (that many output samples are skipped). Either
        way the stream positions stay exact and the reported latency follows; each change is counted."""
        proc = self.ola
        if proc.count < ADAPT_BLOCKS or proc.count % ADAPT_BLOCKS:
            return
        want = 2.0 * proc.p99_s + STREAM_MARGIN_S
        have = self.margin_used_s
        if want > have + 0.002:
            extra = int(round((want - have) * self.device_rate))
            self.out_ring.write(np.zeros(extra, np.float32))
            self.prefill += extra
        elif want < 0.5 * have - 0.002:
            extra = int(round((have - want) * self.device_rate))
            self._drop += extra
            self.prefill -= extra
        else:
            return
        self.margin_used_s = want
        self._block_est = proc.p99_s
        self.slot_changes += 1

    def _guarded_fn(self, window: np.ndarray) -> np.ndarray:
        """Runs the model unless its output would arrive too late; then the fallback is used instead."""
        level_s = self.out_ring.level() / self.device_rate
        slot = self.slot
        if level_s < self._compute_est * 1.2 + 0.004:
            self.late_windows += 1
            return window if self.params.fallback == "dry" else np.zeros_like(window)
        t0 = time.perf_counter()
        y = slot.fn(window)
        dt = time.perf_counter() - t0
        self._compute_est = 0.9 * self._compute_est + 0.1 * dt if self._compute_est else dt
        self._rtf = 0.9 * self._rtf + 0.1 * dt / (self.hop_model / slot.sample_rate)
        return y

    def _work(self) -> None:
        chunk_max = self.block * 4
        while not self._stop_worker.is_set():
            try:
                if self._pending_slot is not None:
                    self.slot, self._pending_slot = self._pending_slot, None
                    self._rebuild_needed = True
                if self._rebuild_needed:
                    self._rebuild(switch=True)
                avail = self.in_ring.level()
                if avail < min(256, self.block):
                    self._check_stall()
                    self._wait_for_input(0.02)
                    continue
                if self.error == STALL_MESSAGE or self.error.startswith("the audio device has not started"):
                    self.error = ""
                self._process(self.in_ring.read(min(avail, chunk_max)))
            except Exception as exc:  # never let the worker die silently: report, play dry
                self.error = f"engine error: {type(exc).__name__}: {exc}"
                self.params = replace(self.params, bypass=True)
                time.sleep(0.05)

    def _open_wake_pipe(self) -> None:
        self._close_wake_pipe()
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self._wake_r, self._wake_w = r, w

    def _close_wake_pipe(self) -> None:
        r, w, self._wake_r, self._wake_w = self._wake_r, self._wake_w, None, None
        for fd in (w, r):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _wait_for_input(self, timeout: float) -> None:
        """Sleep until the callback delivers input (it writes into the wake pipe) or ``timeout`` passes."""
        r = self._wake_r
        if r is None:
            time.sleep(0.002)
            return
        try:
            if select.select([r], [], [], timeout)[0]:
                os.read(r, 4096)
        except (OSError, ValueError):  # closed while stopping
            time.sleep(0.002)

    def _check_stall(self) -> None:
        # PulseAudio may take a second or two to start a stream, and a GUI thread busy at start-up can hold the
        # callback back as long: only a stream that ran for a while and then went silent has stopped.
        now = time.monotonic()
        if not self._running or self.error:
            return
        if self.first_callback_at is None:
            if now - self.started_at > 10.0:
                self.error = "the audio device has not started after 10 s (busy, or blocked by another program?)"
            return
        grace = 2.0 if now - self.first_callback_at > 5.0 else 6.0
        if now - self._last_callback > grace:
            self.error = STALL_MESSAGE

    def _fade_in(self, y: np.ndarray, which: int) -> np.ndarray:
        """Apply the switch fade-in to ``y`` (0: the new chain's input, 1: its output), continuing across calls."""
        fade, pos = self._switch_fade, self._switch_pos[which]
        if fade is None or pos >= fade.size or not y.size:
            return y
        k = min(y.size, fade.size - pos)
        y = y.copy()
        y[:k] *= fade[pos:pos + k]
        self._switch_pos[which] = pos + k
        if min(self._switch_pos) >= fade.size:
            self._switch_fade = None
        return y

    def _process(self, x: np.ndarray) -> None:
        p = self.params
        n = x.shape[0]
        self._in_gain.target = db_to_gain(p.input_gain_db)
        x = self._fade_in(x * self._in_gain.next(n), 0)
        self.disp_in.write(x)
        self._dry_fifo = np.concatenate([self._dry_fifo, x])
        wet = self.res_out.process(self.ola.push(self.res_in.process(x)))
        self._wet_fifo = np.concatenate([self._wet_fifo, wet]) if self._wet_fifo.size else wet
        m = min(self._dry_fifo.shape[0], self._wet_fifo.shape[0])
        if m == 0:
            return
        dry, wet = self._dry_fifo[:m], self._wet_fifo[:m]
        self._dry_fifo, self._wet_fifo = self._dry_fifo[m:], self._wet_fifo[m:]
        self._wet.target = 0.0 if p.bypass else float(min(1.0, max(0.0, p.dry_wet)))
        w = self._wet.next(m)
        self._out_gain.target = db_to_gain(p.output_gain_db)
        y = (dry + w * (wet - dry)) * self._out_gain.next(m)
        if p.limiter:
            y = self._limiter.process(y)
        else:
            self._limiter.reduction_db = 0.0
        if self._drop:
            k = min(self._drop, m)
            self._drop -= k
            y = y[k:]
            dry = dry[k:]
        y = self._fade_in(y, 1)
        self.disp_out.write(y)
        self.out_ring.write(y)
        with self._rec_lock:
            rec = self.recorder
            if rec is not None:
                rec.push(y, dry)

    # ---- the GUI side -------------------------------------------------------------------------------------
    @property
    def algorithmic_latency_s(self) -> float:
        if not self.device_rate:
            return 0.0
        return (self.prefill + self.dry_delay) / self.device_rate

    def snapshot(self, wave_seconds: float = 2.0) -> Snapshot:
        running = self._running
        slot = self.slot
        n = int(wave_seconds * self.device_rate) if running else 0
        in_wave = self.disp_in.latest(n) if running else np.zeros(0, np.float32)
        out_wave = self.disp_out.latest(n) if running else np.zeros(0, np.float32)
        peak_n = max(1, self.device_rate // 20)
        in_peak = float(np.abs(in_wave[-peak_n:]).max()) if in_wave.size else 0.0
        out_peak = float(np.abs(out_wave[-peak_n:]).max()) if out_wave.size else 0.0
        positions = {}
        streaming = isinstance(getattr(self, "ola", None), StreamingProcessor)
        latest = (slot.streaming_model.last_latents if streaming else
                  slot.window_model.last_latents if slot is not None and slot.window_model is not None else None)
        if latest is not None:
            wm = slot.window_model
            frames = max(1, int(round(self.config.hop_s * slot.sample_rate / wm.runner.manifest.latent_hop)))
            for name, z in latest.items():
                coords = wm.runner.axes[name].project(z[:, :, -frames - 1:-1] if z.shape[2] > frames + 1 else z)
                positions[name] = coords[0].mean(axis=1)
        algo = self.algorithmic_latency_s
        rec = self.recorder
        return Snapshot(
            running=running, device_rate=self.device_rate, model_rate=slot.sample_rate if slot else 0,
            mode=self.mode, hop_s=self.config.hop_s,
            latency_ms=1000.0 * (algo + self.device_latency_s), algorithmic_ms=1000.0 * algo,
            device_ms=1000.0 * self.device_latency_s, rtf=self._stream_rtf() if streaming else self._rtf,
            xruns=self.device_xruns + self.underruns, device_xruns=self.device_xruns, underruns=self.underruns,
            late_windows=self.late_windows, frames_out=self.frames_out,
            provider=slot.provider if slot else "", model_name=slot.name if slot else "",
            source=("file: " + self._file.name) if self._file is not None else "microphone",
            in_wave=in_wave, out_wave=out_wave, in_peak=in_peak, out_peak=out_peak,
            limiter_db=self._limiter.reduction_db if running else 0.0,
            latent_positions=positions, recording_s=rec.seconds if rec else 0.0,
            recording_path=str(rec.path) if rec else "",
            error=self.error or (rec.error if rec and rec.error else "") or self.record_error or (
                self.driver.error if self.driver is not None and getattr(self.driver, "error", "") else ""),
        )

    def _stream_rtf(self) -> float:
        proc = self.ola
        n = min(proc.count, len(proc.times))
        return float(np.mean(proc.times[:n])) / (proc.block / self.slot.sample_rate) if n else 0.0

    def latency_parts(self) -> dict:
        """Where the latency comes from, in ms: block (waiting for the model's input: the hop in window modes),
        compute slot (the safety margin for computing it), model_delay (a streaming bundle's lookahead; the
        crossfade in low-latency mode), device block, resampler, device (PortAudio's reported buffers). They add
        up to ``latency_ms``."""
        if not self.device_rate or self.slot is None or not hasattr(self, "ola"):
            return {}
        dev, mr = self.device_rate, self.slot.sample_rate
        block = int(math.ceil(self.hop_model * dev / mr))
        margin = int(self.margin_used_s * dev)
        ms = lambda samples: round(1000.0 * samples / dev, 2)  # noqa: E731
        parts = {"block": ms(block), "compute_slot": ms(margin), "model_delay": ms(self.dry_delay),
                 "device_block": ms(self.block), "resampler": ms(self.hold),
                 "other": ms(self.prefill - block - margin - self.block - self.hold),
                 "device": round(1000.0 * self.device_latency_s, 2)}
        if isinstance(self.ola, StreamingProcessor):
            parts["block_p99_compute"] = round(1000.0 * self.ola.p99_s, 3)
        return parts

    def summary(self) -> dict:
        s = self.snapshot(0.0)
        return {"xruns": s.xruns, "device_xruns": s.device_xruns, "underruns": s.underruns,
                "late_windows": s.late_windows, "latency_ms": round(s.latency_ms, 2),
                "algorithmic_latency_ms": round(s.algorithmic_ms, 2), "device_latency_ms": round(s.device_ms, 2),
                "rtf": round(s.rtf, 4), "provider": s.provider, "frames_out": s.frames_out,
                "device_rate": s.device_rate, "model_rate": s.model_rate, "mode": s.mode, "hop": s.hop_s,
                "model": s.model_name, "error": s.error, "latency_parts_ms": self.latency_parts(),
                "slot_changes": self.slot_changes}
