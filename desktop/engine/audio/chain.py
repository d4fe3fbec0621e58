"""The processing chain, without threads: input samples at the device rate -> resampler -> model (windowed
overlap-add or block streaming) -> resampler -> dry/wet, gains, limiter -> output samples, with the timing
bookkeeping (how far ahead of the input the output must run) that the live engine aligns its rings by.

One chain serves one model, one stream config and one device rate; a change builds a new chain. It can be
driven offline (tests push samples and read what comes out); the live engine drives it from its worker thread.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from core.dsp import DcBlocker, Gate, Limiter, SmoothedValue, db_to_gain
from core.overlap_add import make_overlap_add
from core.render import hop_samples
from core.streaming import StreamingProcessor

from ..model.slot import ModelSlot
from ..parameters.values import EngineParams, StreamConfig
from .resample import StreamResampler

STREAM_MARGIN_S = 0.004  # streaming: the compute slot is 2 x the measured p99 block time plus this
ADAPT_BLOCKS = 256  # streaming: every 256 blocks (3 s) the compute slot is re-sized from the p99 of the last 512
UNDERRUN_COVER_MAX_S = 0.03  # streaming: at most this much latency is added in answer to underruns
LATENCY_LOG = 256  # latency changes kept per chain (covers and slot changes: a few per session)


@dataclass
class ChainStats:
    """What outlives one chain (kept by the engine across rebuilds): late blocks, compute-slot changes, the
    running estimate of one window's compute time and the real-time factor of window modes."""

    late_windows: int = 0
    slot_changes: int = 0
    compute_est: float = 0.0
    rtf: float = 0.0


class ProcessingChain:
    """``process(x, params)`` takes any number of input samples and returns ``(out, dry)`` of equal length (maybe
    zero). Input sample i comes out at output position i + ``prefill`` + ``dry_delay`` once the caller keeps the
    output ``prefill`` samples ahead of the input (``headroom()`` is how far ahead it is now, in samples), writes
    ``pad(n)`` zeros when asked to grow and drops ``drop`` samples when asked to shrink. The latency can change
    while playing (covers, the compute slot): ``latency_log`` lists (first input sample, latency in samples)."""

    def __init__(
        self,
        slot: ModelSlot,
        config: StreamConfig,
        device_rate: int,
        device_block: int,
        margin_s: float,
        stats: ChainStats,
        headroom=None,
        pad=None,
    ):
        self.slot = slot
        self.stats = stats
        self.device_rate = dev = int(device_rate)
        self.device_block = int(device_block)
        self._headroom = headroom or (lambda: 1 << 30)
        self._pad = pad or (lambda n: None)
        mr = slot.sample_rate
        self.mode = config.mode if config.mode != "streaming" or slot.streaming_model is not None else "low-latency"
        if self.mode == "streaming":
            self.ola = StreamingProcessor(slot.streaming_model, is_late=self._block_late)
            hop = self.ola.block
            self._block_est = slot.block_p99_s
        else:
            hop = hop_samples(config.hop_s, mr, slot.window, slot.grid)
            crossfade = min(hop // 2, int(0.02 * mr)) if self.mode == "low-latency" else None
            self.ola = make_overlap_add(self.mode, slot.window, hop, self._guarded_fn, crossfade=crossfade, margin=0)
            self._block_est = 0.0
        self.hop_model = hop
        # the window modes block the input's DC here, before the windows (as a render does); a streaming model
        # blocks its own, inside StreamingModel.process
        self._dc = DcBlocker(mr) if self.mode != "streaming" else None
        self.res_in = StreamResampler(dev, mr)
        self.res_out = StreamResampler(mr, dev)
        self.dry_delay = int(round(self.ola.latency * dev / mr))
        self._dry_fifo = np.zeros(self.dry_delay, np.float32)
        self._wet_fifo = np.zeros(0, np.float32)
        stats.compute_est = max(stats.compute_est, slot.compute_s) if stats.compute_est else slot.compute_s
        self.hold = int(math.ceil(self.res_in.hold * dev / mr)) + self.res_out.hold
        margin = max(2.0 * slot.compute_s, slot.compute_s + margin_s)
        if self.mode == "streaming":  # the compute slot follows the measured tail of one block's time
            margin = 2.0 * slot.block_p99_s + STREAM_MARGIN_S
        self.margin_used_s = margin
        self.prefill = int(math.ceil(hop * dev / mr)) + self.device_block + self.hold + self.margin_samples
        self.drop = 0
        self._mixed = 0  # output samples mixed so far, dropped ones included (output k is input k - dry_delay)
        self.latency_log: list[tuple[int, int]] = [(0, self.prefill + self.dry_delay)]
        self.burst_covered = self.device_block  # the prefill covers the device taking one block at a time
        self.burst_extra = 0
        self.underrun_extra = 0  # streaming: samples added ahead of the output after underruns (see cover_underrun)
        self._fade: np.ndarray | None = None
        self._fade_pos = [0, 0]
        self.params = EngineParams()
        self._in_gain = self._out_gain = self._wet = None
        self._limiter = Limiter(dev)
        self._gate = Gate(dev)  # on the model's input only: the dry signal is never gated

    def start_gains(self, params: EngineParams) -> None:
        """Start the smoothed gains at ``params`` (no ramp from defaults on the first block)."""
        dev = self.device_rate
        self.params = params
        self._in_gain = SmoothedValue(db_to_gain(params.input_gain_db), dev)
        self._out_gain = SmoothedValue(db_to_gain(params.output_gain_db), dev)
        self._wet = SmoothedValue(0.0 if params.bypass else params.dry_wet, dev)

    def fade_in(self, seconds: float) -> None:
        """After a switch: fade the new chain's input and output in over ``seconds`` (a dip, not a click)."""
        n = max(1, int(seconds * self.device_rate))
        self._fade = (np.arange(n, dtype=np.float32) + 1) / n
        self._fade_pos = [0, 0]

    def cover_burst(self, frames: int) -> None:
        """The device takes ``frames`` at once (back-to-back callbacks: a sound server moving its buffer in chunks).
        Streaming: run the output that much further ahead (zeros written; positions stay exact, the reported latency
        grows by it). The window modes' compute margin (0.1 s or more) already covers such bursts."""
        if self.mode == "streaming" and frames > self.burst_covered:
            extra = frames - self.burst_covered
            moved = min(extra, self.underrun_extra)  # what underruns already put ahead (bursts not yet seen) counts
            self.underrun_extra -= moved
            self.burst_extra += extra
            if extra > moved:
                self._run_ahead(extra - moved)
        self.burst_covered = max(self.burst_covered, frames)

    def cover_underrun(self) -> bool:
        """Streaming: the output ran dry although blocks were computed in time (the worker was held back: the GIL,
        the scheduler, a page fault). Run the output one device block further ahead, as PulseAudio raises its
        watermark after an underrun, so a hiccup of the same size is covered next time; at most
        ``UNDERRUN_COVER_MAX_S`` in all (past that the machine is overloaded, and more latency would not help).
        Positions stay exact and the reported latency grows by it. Returns whether it grew."""
        if (
            self.mode != "streaming"
            or self.underrun_extra + self.device_block > UNDERRUN_COVER_MAX_S * self.device_rate
        ):
            return False
        self._run_ahead(self.device_block)
        self.underrun_extra += self.device_block
        return True

    def _run_ahead(self, n: int) -> None:
        """Put the output ``n`` samples further ahead of the input: zeros written, the prefill grows by them."""
        self._pad(n)
        self.prefill += n
        self._log_latency(self._mixed)

    def _log_latency(self, first_output: int) -> None:
        """The latency changed for output samples from ``first_output`` (mixed count) on; the first entries kept."""
        if len(self.latency_log) < LATENCY_LOG:
            self.latency_log.append((first_output - self.dry_delay, self.prefill + self.dry_delay))

    @property
    def margin_samples(self) -> int:
        """The compute slot as the prefill holds it, in whole samples (the latency parts report it)."""
        return int(self.margin_used_s * self.device_rate)

    @property
    def limiter_db(self) -> float:
        return self._limiter.reduction_db

    # ---- lateness: what the model may still compute in time ----------------------------------------------
    def _headroom_s(self) -> float:
        return self._headroom() / self.device_rate

    def _block_late(self) -> bool:
        """Streaming: would this block's output reach the device after its time? (It is computed anyway.)"""
        self._adapt_slot()
        late = self._headroom_s() < self._block_est * 1.2 + 0.001
        if late:
            self.stats.late_windows += 1
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
        want_samples = int(want * self.device_rate)  # rounded like ``margin_samples``: the parts add up exactly
        if want > have + 0.002:
            self._run_ahead(want_samples - self.margin_samples)
        elif want < 0.5 * have - 0.002:
            extra = self.margin_samples - want_samples
            self.drop += extra
            self.prefill -= extra
            self._log_latency(self._mixed + self.drop)  # the samples up to there are dropped
        else:
            return
        self.margin_used_s = want
        self._block_est = proc.p99_s
        self.stats.slot_changes += 1

    def _guarded_fn(self, window: np.ndarray) -> np.ndarray:
        """Runs the model unless its output would arrive too late; then the fallback is used instead."""
        stats = self.stats
        if self._headroom_s() < stats.compute_est * 1.2 + 0.004:
            stats.late_windows += 1
            return window if self.params.fallback == "dry" else np.zeros_like(window)
        t0 = time.perf_counter()
        y = self.slot.fn(window)
        dt = time.perf_counter() - t0
        stats.compute_est = 0.9 * stats.compute_est + 0.1 * dt if stats.compute_est else dt
        stats.rtf = 0.9 * stats.rtf + 0.1 * dt / (self.hop_model / self.slot.sample_rate)
        return y

    def stream_rtf(self) -> float:
        """Streaming: mean compute time of the recent blocks over their duration."""
        proc = self.ola
        n = min(proc.count, len(proc.times))
        return float(np.mean(proc.times[:n])) / (proc.block / self.slot.sample_rate) if n else 0.0

    # ---- the samples ---------------------------------------------------------------------------------------
    def _faded(self, y: np.ndarray, which: int) -> np.ndarray:
        """Apply the switch fade-in to ``y`` (0: the input, 1: the output), continuing across calls."""
        fade, pos = self._fade, self._fade_pos[which]
        if fade is None or pos >= fade.size or not y.size:
            return y
        k = min(y.size, fade.size - pos)
        y = y.copy()
        y[:k] *= fade[pos : pos + k]
        self._fade_pos[which] = pos + k
        if min(self._fade_pos) >= fade.size:
            self._fade = None
        return y

    def process(self, x: np.ndarray, p: EngineParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Input samples -> (input after gain, for the display; output; the dry signal aligned with it)."""
        if self._in_gain is None:
            self.start_gains(p)
        self.params = p
        n = x.shape[0]
        self._in_gain.target = db_to_gain(p.input_gain_db)
        x = self._faded(x * self._in_gain.next(n), 0)
        self._dry_fifo = np.concatenate([self._dry_fifo, x])
        model_in = self.res_in.process(self._gate.process(x, p.gate_db))
        if self._dc is not None:
            model_in = self._dc.process(model_in)
        wet = self.res_out.process(self.ola.push(model_in))
        self._wet_fifo = np.concatenate([self._wet_fifo, wet]) if self._wet_fifo.size else wet
        m = min(self._dry_fifo.shape[0], self._wet_fifo.shape[0])
        if m == 0:
            empty = np.zeros(0, np.float32)
            return x, empty, empty
        dry, wet = self._dry_fifo[:m], self._wet_fifo[:m]
        self._mixed += m
        self._dry_fifo, self._wet_fifo = self._dry_fifo[m:], self._wet_fifo[m:]
        self._wet.target = 0.0 if p.bypass else float(min(1.0, max(0.0, p.dry_wet)))
        w = self._wet.next(m)
        self._out_gain.target = db_to_gain(p.output_gain_db)
        y = (dry + w * (wet - dry)) * self._out_gain.next(m)
        if p.limiter:
            y = self._limiter.process(y)
        else:
            self._limiter.reduction_db = 0.0
        if self.drop:
            k = min(self.drop, m)
            self.drop -= k
            y = y[k:]
            dry = dry[k:]
        return x, self._faded(y, 1), dry
