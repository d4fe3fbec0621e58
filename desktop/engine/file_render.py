"""Rendering a file to a file through a streaming bundle with bounded memory: the input is read in blocks, each
channel is resampled to the model rate by a soxr stream, played through its own ``StreamingModel`` in blocks at the
same positions as ``render_stream``, its delay dropped, resampled back by a second soxr stream and written in
blocks (``AudioWriter``: a temporary file renamed over the output at the end). Peak memory is the model's and a few
blocks', whatever the length; the output equals ``render_audio`` of the whole file (soxr's streams give its one-shot
samples exactly, and the model sees the same blocks).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from core.audiofile import AudioFileInfo, AudioWriter, read_blocks
from core.formats import clipped_samples
from core.session import WindowModel
from core.streaming import RENDER_BLOCKS, StreamingModel

GUARD = 64  # model-rate samples held back until the input ends: the end's crop or padding happens among them


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


class _Channel:
    """One channel's way through the model: ``feed`` it the file's samples, ``finish`` once they end; both return
    the output samples now ready, at the file's rate."""

    def __init__(self, model: WindowModel, in_rate: int, block: int):
        runner = model.runner
        self.rate = runner.manifest.sample_rate
        self.in_rate = in_rate
        self.stream = StreamingModel(runner, controls_of=lambda: model.controls, blend=model.streaming_blend())
        self.block = block
        self.to_model = _Resampler(in_rate, self.rate)
        self.from_model = _Resampler(self.rate, in_rate)
        self.pending = np.zeros(0, np.float32)  # model-rate input not yet through the model
        self.fed = 0  # model-rate samples through the model (a multiple of ``block`` until the end)
        self.dropped = 0  # model output dropped: the first ``delay`` samples
        self.passed = 0  # model output passed on
        self.limit: int | None = None  # model output to pass on in all: the signal's length (known at the end)

    def _run(self, x: np.ndarray) -> np.ndarray:
        y = self.stream.process(x)
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
) -> int:
    """Render ``info``'s file through ``model`` (a streaming bundle's) into ``output`` (format ``fmt``) block by
    block; returns how many samples were beyond full scale (clipped unless the format is float). ``output`` is
    replaced only once the whole render is written; an error or an interruption leaves it as it was."""
    hop = model.runner.manifest.latent_hop
    block = int(block or model.runner.streaming.block * RENDER_BLOCKS)
    block = max(hop, block - block % hop)
    channels = [_Channel(model, info.sample_rate, block) for _ in range(info.channels)]
    out = _Output(output, info, fmt)
    with out.writer:
        read = 0
        for data in read_blocks(info):
            out.add([ch.feed(np.ascontiguousarray(data[:, c])) for c, ch in enumerate(channels)])
            read += data.shape[0]
            out.limit = max(info.frames, read)  # a decoder may find more frames than the header said
            if progress is not None:
                progress(read, info.frames)
        out.limit = read  # the output has the input's length, as the whole-file render's (fit_length)
        out.add([ch.finish(read) for ch in channels])
        out.close(read)
    return out.clipped
