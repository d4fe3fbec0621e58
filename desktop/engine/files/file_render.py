"""Rendering a file to a file with bounded memory, through any bundle: the input is read in blocks, each channel is
resampled to the model rate by a soxr stream, played through its own core (a streaming bundle's ``StreamingModel``
in blocks at the same positions as ``render_stream``; a window bundle's DC blocker and overlap-add, as
``render_audio`` runs them, morph and Griffin-Lim included), its delay dropped, resampled back by a second soxr
stream and written in blocks (``AudioWriter``: a temporary file renamed over the output at the end). Peak memory is
the model's and a few blocks', whatever the length; the output equals ``render_audio`` of the whole file (soxr's
streams give its one-shot samples exactly, and the model sees the same blocks and windows).
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from core.audiofile import AudioFileInfo, AudioWriter, read_blocks
from core.dsp import GATE_OFF_DB, DcBlocker, Gate
from core.formats import clipped_samples
from core.overlap_add import OverlapAdd
from core.render import streams
from core.session import WindowModel
from core.streaming import RENDER_BLOCKS, StreamingModel

GUARD = 64  # model-rate samples held back until the input ends: the end's crop or padding happens among them
WINDOW_HOPS = 8  # a window bundle's render block, in hops (``process_offline``'s)


class _Resampler:
    """soxr's HQ stream (``audiofile.resample``'s filter), or nothing when the rates match."""

    def __init__(self, in_rate: int, out_rate: int):
        self.stream = None
        if in_rate != out_rate:
            import soxr

            self.stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")

    def __call__(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        if self.stream is None:
            return x
        return np.asarray(self.stream.resample_chunk(np.ascontiguousarray(x, np.float32), last=last), np.float32)


class _WindowCore:
    """A window bundle's way, as ``render_audio`` takes it: the signal's DC blocked (its state carried), then the
    overlap-add of ``model``'s windows every ``hop``. ``process(x, signal)`` has ``StreamingModel.process``'s
    contract (``x``'s length a multiple of ``hop``; samples past ``signal`` are padding, zeros after the blocker);
    output sample t is the input sample t - ``delay``."""

    def __init__(self, model: WindowModel, hop: int, dc_block: bool = True):
        window = model.runner.manifest.window
        self.model = copy.copy(model)  # one per channel: a morph counts its windows
        self.model.reset()
        self.ola = OverlapAdd(window, hop, self.model)
        self.dc = DcBlocker(model.runner.manifest.sample_rate) if dc_block else None
        self.delay = self.ola.latency
        self.hop = hop

    def process(self, x: np.ndarray, signal: int | None = None) -> np.ndarray:
        if self.dc is not None:
            k = x.shape[0] if signal is None else min(max(signal, 0), x.shape[0])
            x = np.concatenate([self.dc.process(x[:k]), np.zeros(x.shape[0] - k, np.float32)])
        return self.ola.push(x)


class _Channel:
    """One channel's way through the model: ``feed`` it the file's samples, ``finish`` once they end; both return
    the output samples now ready, at the file's rate. ``hop``: the window hop in model samples (window bundles)."""

    def __init__(self, model: WindowModel, in_rate: int, block: int, hop: int | None = None, dc_block: bool = True):
        runner = model.runner
        self.rate = runner.manifest.sample_rate
        self.in_rate = in_rate
        if hop is None:
            self.stream = StreamingModel(
                runner, controls_of=lambda: model.controls, blend=model.streaming_blend(), dc_block=dc_block
            )
        else:
            self.stream = _WindowCore(model, hop, dc_block)
        self.block = block
        self.to_model = _Resampler(in_rate, self.rate)
        self.from_model = _Resampler(self.rate, in_rate)
        self.pending = np.zeros(0, np.float32)  # model-rate input not yet through the model
        self.fed = 0  # model-rate samples through the model (a multiple of ``block`` until the end)
        self.dropped = 0  # model output dropped: the first ``delay`` samples
        self.passed = 0  # model output passed on
        self.limit: int | None = None  # model output to pass on in all: the signal's length (known at the end)

    def _run(self, x: np.ndarray) -> np.ndarray:
        # past the signal's end (known once ``limit`` is): padding, which must not pass the DC blocker
        signal = None if self.limit is None else self.limit - self.fed
        y = self.stream.process(x, signal)
        self.fed += x.shape[0]
        cut = min(self.stream.delay - self.dropped, y.shape[0])
        self.dropped += cut
        y = y[cut:]
        if self.limit is not None:
            y = y[: max(0, self.limit - self.passed)]
        self.passed += y.shape[0]
        return self.from_model(y)

    def _take(self, x: np.ndarray, reserve: int) -> list[np.ndarray]:
        """Whole blocks of ``pending`` + ``x`` through the model, leaving at least ``reserve`` samples pending."""
        self.pending = np.concatenate([self.pending, x]) if self.pending.size else x
        n = max(0, (self.pending.shape[0] - reserve) // self.block)
        outs = [self._run(self.pending[k * self.block : (k + 1) * self.block]) for k in range(n)]
        if n:
            self.pending = self.pending[n * self.block :].copy()
        return outs

    def feed(self, x: np.ndarray) -> list[np.ndarray]:
        return self._take(self.to_model(x), GUARD)

    def finish(self, frames: int) -> list[np.ndarray]:
        """The input had ``frames`` samples. The model-rate signal is cut or padded to the length
        ``audiofile.resample`` gives it and followed by zeros for the delay and the last latent frame, as
        ``render_stream`` pads it; what the model gives for the signal is passed on, the rest dropped."""
        x = np.concatenate([self.pending, self.to_model(np.zeros(0, np.float32), last=True)])
        self.pending = np.zeros(0, np.float32)
        n_model = int(np.ceil(frames * float(self.rate) / self.in_rate)) if self.to_model.stream else frames
        own = n_model - self.fed
        x = x[:own] if x.shape[0] >= own else np.concatenate([x, np.zeros(own - x.shape[0], np.float32)])
        total = n_model + self.stream.delay
        total += (-total) % self.stream.hop
        self.limit = n_model
        outs = self._take(np.concatenate([x, np.zeros(total - n_model, np.float32)]), 0)
        if self.pending.size:  # the last, shorter block
            outs.append(self._run(self.pending))
            self.pending = np.zeros(0, np.float32)
        outs.append(self.from_model(np.zeros(0, np.float32), last=True))
        return outs


class _Output:
    """The channels' outputs gathered into frames, cut to the input's length (``fit_length``), written."""

    def __init__(self, path: str, info: AudioFileInfo, fmt):
        self.writer = AudioWriter(path, info.sample_rate, info.channels, fmt)
        self.limit = info.frames
        self.queues: list[np.ndarray] = [np.zeros(0, np.float32) for _ in range(info.channels)]
        self.written = 0
        self.clipped = 0

    def add(self, outs: list[list[np.ndarray]]) -> None:
        self.queues = [np.concatenate([q, *parts]) for q, parts in zip(self.queues, outs)]
        n = min(min(q.shape[0] for q in self.queues), self.limit - self.written)
        if n <= 0:
            return
        frames = np.stack([q[:n] for q in self.queues], axis=1)
        self.queues = [q[n:] for q in self.queues]
        self._write(frames)

    def _write(self, frames: np.ndarray) -> None:
        self.clipped += clipped_samples(frames)
        self.writer.write(frames)
        self.written += frames.shape[0]

    def close(self, frames: int) -> None:
        """The output padded with silence to ``frames`` if the model's came short, and put in place."""
        if self.written < frames:
            self._write(np.zeros((frames - self.written, len(self.queues)), np.float32))
        self.writer.commit()


def render_file(
    info: AudioFileInfo,
    output: str,
    model: WindowModel,
    fmt,
    progress: Callable[[int, int], None] | None = None,
    block: int | None = None,
    hop_seconds: float = 0.25,
    dc_block: bool = True,
    gate_db: float = GATE_OFF_DB,
) -> int:
    """Render ``info``'s file through ``model`` into ``output`` (format ``fmt``) block by block, as ``render_audio``
    renders it whole (a streaming bundle block by block, a window bundle in windows every ``hop_seconds``);
    returns how many samples were beyond full scale (clipped unless the format is float). ``output`` is replaced
    only once the whole render is written; an error or an interruption leaves it as it was. ``gate_db``: the
    model hears silence while a channel is quieter than this (``core.dsp.Gate``; the default is off)."""
    m = model.runner.manifest
    if streams(model.runner):
        hop, window_hop = m.latent_hop, None
        block = int(block or model.runner.streaming.block * RENDER_BLOCKS)
    else:
        from core.render import hop_samples

        hop = window_hop = hop_samples(hop_seconds, m.sample_rate, m.window, m.pad_multiple)
        block = int(block or hop * WINDOW_HOPS)
    block = max(hop, block - block % hop)
    channels = [_Channel(model, info.sample_rate, block, window_hop, dc_block) for _ in range(info.channels)]
    gates = [Gate(info.sample_rate) for _ in range(info.channels)]
    out = _Output(output, info, fmt)
    with out.writer:
        read = 0
        for data in read_blocks(info):
            out.add([ch.feed(gates[c].process(data[:, c], gate_db)) for c, ch in enumerate(channels)])
            read += data.shape[0]
            out.limit = max(info.frames, read)  # a decoder may find more frames than the header said
            if progress is not None:
                progress(read, info.frames)
        out.limit = read  # the output has the input's length, as the whole-file render's (fit_length)
        out.add([ch.finish(read) for ch in channels])
        out.close(read)
    return out.clipped


def read_mono(info: AudioFileInfo, rate: int) -> np.ndarray:
    """``info``'s file as float32[T] at ``rate``, its channels averaged: ``resample(load_audio(path).mono(), ...)``
    read in blocks, so only the result is held (a morph target: mono at the model rate, 5.3 MB a minute at
    22.05 kHz), never the file's samples at its own rate and channel count."""
    to_rate = _Resampler(info.sample_rate, rate)
    parts, read = [], 0
    for data in read_blocks(info):
        parts.append(to_rate(np.ascontiguousarray(data.mean(axis=1, dtype=np.float32))))
        read += data.shape[0]
    parts.append(to_rate(np.zeros(0, np.float32), last=True))
    y = np.concatenate(parts)
    n = int(np.ceil(read * float(rate) / info.sample_rate)) if to_rate.stream else read
    return y[:n] if y.shape[0] >= n else np.concatenate([y, np.zeros(n - y.shape[0], np.float32)])
