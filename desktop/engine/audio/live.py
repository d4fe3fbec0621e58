"""The live engine: audio callback -> ring buffer -> one inference worker -> ring buffer -> audio callback.

Threads: the PortAudio callback (``_callback``) only copies samples between preallocated ring
buffers, applies a precomputed start/stop fade and counts xruns. One worker thread resamples to the model
rate, runs the streaming overlap-add (onnxruntime releases the GIL while it computes), mixes dry/wet, applies
gains and the limiter, and hands blocks to the recorder thread. The GUI calls ``snapshot()`` from a timer and
swaps in new frozen parameter objects (``set_params``, ``set_controls``); nothing it does can block audio. The
readouts are built in live_report.py, the start/stop fade in fade.py, the worker's wake-up pipe in wake_pipe.py;
stream_watch.py says when a silent stream has stalled.

Latency bookkeeping is by stream position, not by timing: the output ring starts ``prefill`` samples ahead
of the input, every input sample yields exactly one output sample, and a reader that runs dry plays silence
whose positions the writer later skips. So an input sample at position i is heard at output position
i + prefill + dry_delay, always; the reported latency adds the device buffers PortAudio reports.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import replace

import numpy as np

from core.latent import LatentControls

from ..files.recorder import Recorder
from ..model.slot import ModelSlot
from ..parameters.values import FALLBACKS, EngineParams, FileSource, Snapshot, StreamConfig
from . import live_report
from .chain import ChainStats, ProcessingChain
from .fade import StartStopFade
from .ring import RingBuffer
from .settle import SETTLE_S, StreamSettle
from .stream_watch import NOT_STARTED, REOPEN_FAILED, STALL_MESSAGE, stall_error, wants_reopen
from .wake_pipe import WakePipe

FADE_S = 0.15
SWITCH_FADE_S = 0.03  # a rebuild (mode, hop, model) fades the queued audio out and the new chain's in over this
BURST_GAP_S = 0.002  # callbacks closer than this are one burst of the device's buffer
GIL_SWITCH_S = 0.001  # while playing: another thread running Python hands the GIL to the callback within ~1 ms
BURST_HITS = 8  # back-to-back callbacks within one second that make bursts the device's habit, not a hiccup


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
        self.file_source: FileSource | None = None
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
        self.frames_out = 0
        self.stats = ChainStats()  # late blocks, slot changes, compute estimate: kept across rebuilds
        self.chain: ProcessingChain | None = None
        self._last_callback = 0.0
        self._burst = self._burst_hits = self.underruns_before_burst_cover = 0
        self.xruns = live_report.XrunLog()
        self._underruns_seen = 0  # underruns the worker has answered (streaming: see ProcessingChain.cover_underrun)
        self._underrun_episode = False  # the output is still catching up after an underrun
        self._burst_t0 = 0.0
        self.burst_frames = 0  # the most frames the device asked for in one burst of back-to-back callbacks
        self._max_block = 8192
        self._wake = WakePipe()  # the callback writes a byte into it: the worker wakes on input
        self._rec_lock = threading.Lock()  # the GUI swaps the recorder while the worker may be pushing to it
        self._driver_lock = threading.Lock()  # the worker reopens a dead stream while stop() may be closing it
        self.stream_restarts = 0  # streams reopened after they died (sound server dropped them, device came back)
        self._next_reopen = 0.0
        self.record_error = ""  # the last recording's error, kept after it stopped (for the JSON line)
        self.started_at = 0.0  # time.monotonic() of start(), first callback and first audible block
        self.first_callback_at: float | None = None
        self.first_sound_at: float | None = None
        self._switch_interval: float | None = None  # Python's GIL switch interval before start() shortened it
        self.settle = StreamSettle()  # a device stream's first SETTLE_S (settle.py)

    # ---- configuration (any thread) -------------------------------------------------------------------
    def set_model(self, slot: ModelSlot) -> None:
        """Swap in a model; the worker picks it up at its next step and re-aligns the dry path."""
        if slot.window_model is not None and self.slot is not None and self.slot.window_model is not None:
            slot.window_model.controls = (
                self.slot.window_model.controls
                if (self.slot.window_model.runner.manifest.levels == slot.window_model.runner.manifest.levels)
                else LatentControls()
            )
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
        self.file_source = source

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
        self._file_dev = self.file_source.at_rate(self.device_rate) if self.file_source is not None else None
        self._file_pos = 0
        cap = self.device_rate * 8
        self.in_ring = RingBuffer(cap)
        self.out_ring = RingBuffer(cap)
        self.disp_in = RingBuffer(self.device_rate * 4)
        self.disp_out = RingBuffer(self.device_rate * 4)
        self._cb_buf = np.zeros(self._max_block, np.float32)
        self._fade = StartStopFade(max(1, int(FADE_S * self.device_rate)), self._max_block)
        self.device_xruns = self.underruns = self.stats.late_windows = self.frames_out = 0
        self._primed = False
        self._rebuild_needed = True
        self._rebuild()
        self.started_at = time.monotonic()
        self.first_callback_at = self.first_sound_at = None
        self._last_callback = 0.0  # 0 until the first callback: a stream that is still starting is not stalled
        self._burst = self.burst_frames = self._burst_hits = self.underruns_before_burst_cover = 0
        self._underruns_seen = 0
        self._underrun_episode = False
        self.xruns.clear()
        self.stream_restarts = 0
        self._next_reopen = 0.0
        self._burst_t0 = time.monotonic()
        self.settle.start(int(SETTLE_S * self.device_rate) if getattr(driver, "settles", False) else 0)
        self._stop_worker.clear()
        self._running = True
        # Python's default switch interval (5 ms) lets a thread running Python (the GUI drawing, the worker's numpy
        # glue) keep the GIL for up to 5 ms while the audio callback waits for it: most of a 5.8 ms device block
        if self._switch_interval is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, GIL_SWITCH_S))
        self._worker = threading.Thread(target=self._work, name="latentsynth-worker", daemon=True)
        self._worker.start()
        try:
            self._wake.open()
            driver.open(self._callback, input_needed=self._file_dev is None)
        except Exception:
            self._running = False
            self._stop_worker.set()
            self._worker.join(timeout=2)
            self._wake.close()
            self._restore_switch_interval()
            raise
        self.device_latency_s = float(driver.latency_s)

    def stop(self, fade: bool = True) -> None:
        """Fade out, then close the stream and the worker; a running recording is finished."""
        if not self._running:
            return
        if fade and self.driver is not None and self.driver.active:
            self._fade.fade_out()
            deadline = time.monotonic() + FADE_S + 0.4
            while self._fade.pos > 0 and time.monotonic() < deadline and self.driver.active:
                time.sleep(0.01)
            time.sleep(min(0.1, self.device_latency_s))  # let the silent tail leave the device buffer
        try:
            with self._driver_lock:
                self._running = False  # the worker no longer reopens the stream
                self.driver.close()
        finally:
            self._running = False
            self._stop_worker.set()
            if self._worker is not None:
                self._worker.join(timeout=5)
            self._wake.close()
            self._restore_switch_interval()
            self.stop_recording()

    def _restore_switch_interval(self) -> None:
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None

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
        now = time.monotonic()
        # callbacks that come back to back (a sound server moving its buffer in chunks) are one burst: the output
        # must run that far ahead, not one device block (the worker grows it, see _cover_bursts)
        if now - self._last_callback < BURST_GAP_S:
            self._burst += frames
            self._burst_hits += 1
            if self._burst > self.burst_frames:
                self.burst_frames = self._burst
        else:
            self.settle.burst_ended(self._burst)  # (0 before the first callback)
            self._burst = frames
        self._last_callback = now
        if self.first_callback_at is None:
            self.first_callback_at = self._last_callback
        if self.settle.active:
            if self.settle.take(outdata, frames):  # settled: the habit's count starts again with the playing stream
                self._burst_hits = self.burst_frames = 0
                self._burst_t0 = time.monotonic()
            return
        if xrun:
            self.device_xruns += 1
            self.xruns.log(now - self.first_callback_at, True)
        src = self._file_dev
        if src is not None:
            pos, n = self._file_pos, src.shape[0]
            first = min(frames, n - pos)
            self.in_ring.write(src[pos : pos + first])
            if first < frames:
                self.in_ring.write(src[: frames - first])
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
                self.xruns.log(now - self.first_callback_at, False)
        else:
            self._primed = True
        self._fade.apply(buf)
        outdata[:] = buf[:, None]
        self.frames_out += frames
        self._wake.wake()
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
        chain = ProcessingChain(
            self.slot,
            self.config,
            self.device_rate,
            self.block,
            self.margin_s,
            self.stats,
            headroom=self.out_ring.level,
            pad=self._pad_output,
        )
        chain.start_gains(self.params)
        pad = self.in_ring.read_count + chain.prefill - self.out_ring.written
        if switch:
            self.out_ring.fade_tail(int(SWITCH_FADE_S * self.device_rate))
            chain.fade_in(SWITCH_FADE_S)
        if pad > 0:
            self.out_ring.write(np.zeros(pad, np.float32))
        else:
            chain.drop = -pad
        self.chain = chain
        self._rebuild_needed = False

    def _pad_output(self, n: int) -> None:
        self.out_ring.write(np.zeros(n, np.float32))

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
                self.chain.cover_burst(self.settle.pop_cover())  # after the level: set before any input is written
                if avail < min(256, self.block):
                    self._check_stall()
                    self._reopen_dead_stream()
                    self._wake.wait(0.02)
                    continue
                if self.error in (STALL_MESSAGE, NOT_STARTED):
                    self.error = ""
                self._cover_bursts()
                self._cover_underruns()
                self._process(self.in_ring.read(min(avail, chunk_max)))
            except Exception as exc:  # never let the worker die silently: report, play dry
                self.error = f"engine error: {type(exc).__name__}: {exc}"
                self.params = replace(self.params, bypass=True)
                time.sleep(0.05)

    def _cover_bursts(self) -> None:
        """If the device took more than the chain covers in bursts of back-to-back callbacks, and did so habitually
        (``BURST_HITS`` times within the current second, as PulseAudio's ALSA plugin does every ~46 ms), the chain
        runs the output further ahead by the difference (a scheduling hiccup under load does not count)."""
        if self._burst_hits >= BURST_HITS and self.burst_frames > self.chain.burst_covered:
            self.underruns_before_burst_cover = self.underruns  # what the bursts cost before they were covered
            self.chain.cover_burst(self.burst_frames)
        now = time.monotonic()
        if now - self._burst_t0 >= 1.0:
            self._burst_hits = self.burst_frames = 0
            self._burst_t0 = now

    def _cover_underruns(self) -> None:
        """Underruns after the device's bursts were covered, and not while a start or switch is fading in, were
        hiccups: each one runs the streaming output one device block further ahead (up to a bound)."""
        n = self.underruns
        if n > self._underruns_seen:  # callbacks underran since the last look: one hiccup until the worker caught up
            if not self._underrun_episode and n > self.underruns_before_burst_cover and self._fade.done:
                self.chain.cover_underrun()
            self._underrun_episode = True
            self._underruns_seen = n
        elif self._underrun_episode and self.out_ring.level() >= self.block:
            self._underrun_episode = False

    def _check_stall(self) -> None:
        if self._running and not self.error:
            error = stall_error(time.monotonic(), self.started_at, self.first_callback_at, self._last_callback)
            if error:  # written only then: another thread may have set an error meanwhile
                self.error = error

    def _reopen_dead_stream(self) -> None:
        """A stream that died (the driver says so) or stalled is closed and opened again with the same settings,
        once a second while it fails: PulseAudio drops a stream when its ALSA plugin's poll fails, and a device
        that was unplugged may come back. What plays and records carries on after the gap."""
        drv = self.driver
        if not wants_reopen(drv, self.error):
            return
        now = time.monotonic()
        if now < self._next_reopen:
            return
        self._next_reopen = now + 1.0
        with self._driver_lock:
            if not self._running:
                return
            try:
                drv.reopen()
            except Exception as exc:
                self.error = REOPEN_FAILED + str(exc)
                return
        self.stream_restarts += 1
        self._last_callback = time.monotonic()  # the new stream gets the same start-up grace
        self.error = ""

    def _process(self, x: np.ndarray) -> None:
        shown, y, dry = self.chain.process(x, self.params)
        self.disp_in.write(shown)
        if not y.size:
            return
        self.disp_out.write(y)
        self.out_ring.write(y)
        with self._rec_lock:
            rec = self.recorder
            if rec is not None:
                rec.push(y, dry)

    # ---- the GUI side -------------------------------------------------------------------------------------
    # the playing chain's timing, read by the readouts, benchmarks and tests
    mode = property(
        lambda self: self.chain.mode if self.chain else self.config.mode,
        doc="the mode playing: 'streaming' falls back to 'low-latency' for window bundles",
    )
    prefill = property(lambda self: self.chain.prefill if self.chain else 0)
    dry_delay = property(lambda self: self.chain.dry_delay if self.chain else 0)
    hold = property(lambda self: self.chain.hold if self.chain else 0)
    hop_model = property(lambda self: self.chain.hop_model if self.chain else 0)
    margin_used_s = property(lambda self: self.chain.margin_used_s if self.chain else 0.0)
    ola = property(lambda self: self.chain.ola if self.chain else None)
    late_windows = property(lambda self: self.stats.late_windows)
    # the loaded bundle's Generate mode (generate.PriorGenerator, played in the streaming mode), or None
    generator = property(lambda self: getattr(self._pending_slot or self.slot, "generator", None))
    slot_changes = property(lambda self: self.stats.slot_changes)

    @property
    def algorithmic_latency_s(self) -> float:
        if not self.device_rate:
            return 0.0
        return (self.prefill + self.dry_delay) / self.device_rate

    def snapshot(self, wave_seconds: float = 2.0) -> Snapshot:
        return live_report.snapshot(self, wave_seconds)

    def latency_parts(self) -> dict:
        return live_report.latency_parts(self)

    def summary(self) -> dict:
        return live_report.summary(self)
