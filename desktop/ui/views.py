"""Scrolling waveform and spectrogram views of input and output (pyqtgraph, items created once)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ..engine.model.spectral import colour_lut, db_column
from . import theme

pg.setConfigOptions(antialias=False, background=theme.PANEL, foreground=theme.DIM, imageAxisOrder="row-major")

N_FFT = 2048  # 21.5 Hz bins at 44.1 kHz: enough to resolve a voice's low harmonics on the log axis
N_COLS = 240
N_ROWS = 128  # log-spaced frequency rows from F_LOW to MAX_HZ
F_LOW = 40.0
MAX_HZ = 11025.0
LEVELS = (-90.0, -10.0)
FREQ_TICKS = (50, 100, 200, 500, 1000, 2000, 5000, 10000)


def envelope(x: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Min/max per bucket, interleaved, so peaks survive downsampling: (t, y) of 2 * buckets points."""
    if x.size < buckets * 2:
        return np.linspace(-x.size, 0, x.size, dtype=np.float32), x.astype(np.float32)
    n = (x.size // buckets) * buckets
    b = x[-n:].reshape(buckets, -1)
    y = np.empty(buckets * 2, np.float32)
    y[0::2] = b.min(axis=1)
    y[1::2] = b.max(axis=1)
    t = np.repeat(np.arange(buckets, dtype=np.float32) - buckets, 2)
    return t, y


class Spectrogram:
    """A scrolling log-magnitude spectrogram on a log-frequency axis (a voice's harmonics spread over the height, not
    its bottom tenth): one column per update from the newest ``N_FFT`` samples, read at ``N_ROWS`` log-spaced
    frequencies."""

    def __init__(self, plot: pg.PlotItem, title: str):
        self.plot = plot
        plot.setTitle(f"{title}  ·  log Hz, {LEVELS[0]:.0f} to {LEVELS[1]:.0f} dB", color=theme.DIM, size="8pt")
        plot.hideAxis("bottom")
        plot.getAxis("left").setWidth(34)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        self.image = pg.ImageItem()
        plot.addItem(self.image)
        # the colours are looked up here, once per new column, and the image is handed over as RGBA: pyqtgraph
        # would otherwise rescale every pixel and build a colour table on each of the 30 redraws a second
        lut = colour_lut()
        self.lut = np.concatenate([lut, np.full((lut.shape[0], 1), 255, np.uint8)], axis=1)
        self.rgba = np.zeros((1, N_COLS, 4), np.uint8)  # [rows, columns, RGBA], lowest row first, newest column last
        self.rate = 0
        self.freqs = np.zeros(0)  # Hz of each row
        self.bin_pos = np.zeros(0)  # each row's fractional FFT bin
        self.bins = np.arange(N_FFT // 2 + 1, dtype=np.float64)

    def _colours(self, db: np.ndarray) -> np.ndarray:
        """dB float32[rows] -> uint8[rows, 4]: the colour map over LEVELS (clipped at both ends)."""
        n = self.lut.shape[0]
        idx = np.clip((db - LEVELS[0]) * ((n - 1) / (LEVELS[1] - LEVELS[0])), 0, n - 1).astype(np.intp)
        return self.lut[idx]

    def _configure(self, rate: int) -> None:
        self.rate = rate
        top = min(MAX_HZ, rate / 2)
        self.freqs = np.geomspace(F_LOW, top, N_ROWS)
        self.bin_pos = self.freqs * N_FFT / rate
        self.rgba = np.repeat(self._colours(np.full(N_ROWS, LEVELS[0], np.float32))[:, None, :], N_COLS, axis=1)
        lo, hi = np.log10(F_LOW), np.log10(top)
        self.image.setImage(self.rgba, autoLevels=False)
        self.image.setRect(0, lo, N_COLS, hi - lo)
        self.plot.setYRange(lo, hi, padding=0)
        self.plot.setXRange(0, N_COLS, padding=0)
        label = lambda f: f"{f // 1000}k" if f >= 1000 else str(f)  # noqa: E731
        self.plot.getAxis("left").setTicks([[(np.log10(f), label(f)) for f in FREQ_TICKS if F_LOW <= f <= top]])

    def column(self, samples: np.ndarray) -> np.ndarray:
        """dB at each row's frequency for the newest ``N_FFT`` samples (the floor when there are fewer)."""
        if samples.size < N_FFT:
            return np.full(N_ROWS, LEVELS[0], np.float32)
        return np.interp(self.bin_pos, self.bins, db_column(samples[-N_FFT:])).astype(np.float32)

    def push(self, samples: np.ndarray, rate: int) -> None:
        if rate <= 0:
            return
        if rate != self.rate:
            self._configure(rate)
        self.rgba[:, :-1] = self.rgba[:, 1:]
        self.rgba[:, -1] = self._colours(self.column(samples))
        self.image.setImage(self.rgba, autoLevels=False)


class ScopeView(pg.GraphicsLayoutWidget):
    """Top: 2 s of input (amber) and output (teal) waveform; bottom: input and output spectrograms."""

    BUCKETS = 500

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(theme.PANEL)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.wave = self.addPlot(row=0, col=0, colspan=2)
        self.wave.setTitle("waveform  (input amber, output teal, last 2 s)", color=theme.DIM, size="8pt")
        self.wave.setYRange(-1, 1, padding=0)
        self.wave.setXRange(-self.BUCKETS, 0, padding=0)
        self.wave.hideAxis("bottom")
        self.wave.getAxis("left").setWidth(34)
        self.wave.setMouseEnabled(False, False)
        self.wave.hideButtons()
        # bare curves, not PlotDataItems: the envelope is already 2 x BUCKETS points in view, and a PlotDataItem's
        # setData (downsampling, clipping, scatter bookkeeping) cost more than drawing them, 60 times a second
        self.in_curve = pg.PlotCurveItem(pen=pg.mkPen(theme.ACCENT2, width=1), skipFiniteCheck=True)
        self.out_curve = pg.PlotCurveItem(pen=pg.mkPen(theme.ACCENT, width=1), skipFiniteCheck=True)
        self.wave.addItem(self.in_curve)
        self.wave.addItem(self.out_curve)
        self.spec_in = Spectrogram(self.addPlot(row=1, col=0), "input spectrogram")
        self.spec_out = Spectrogram(self.addPlot(row=1, col=1), "output spectrogram")
        self.ci.layout.setRowStretchFactor(0, 2)
        self.ci.layout.setRowStretchFactor(1, 3)
        self.frames_drawn = 0

    def update_from(self, snap) -> None:
        if snap.in_wave.size:
            self.in_curve.setData(*envelope(snap.in_wave, self.BUCKETS))
            self.out_curve.setData(*envelope(snap.out_wave, self.BUCKETS))
        self.spec_in.push(snap.in_wave, snap.device_rate)
        self.spec_out.push(snap.out_wave, snap.device_rate)
        self.frames_drawn += 1
