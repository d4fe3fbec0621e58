"""Scrolling waveform and spectrogram views of input and output (pyqtgraph, items created once)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ..engine.spectral import colour_lut, db_column
from . import theme

pg.setConfigOptions(antialias=False, background=theme.PANEL, foreground=theme.DIM, imageAxisOrder="row-major")

N_FFT = 1024
N_COLS = 240
MAX_HZ = 11025.0
LEVELS = (-90.0, -10.0)


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
    """A scrolling log-magnitude spectrogram: one column per update from the newest ``N_FFT`` samples."""

    def __init__(self, plot: pg.PlotItem, title: str):
        self.plot = plot
        plot.setTitle(title, color=theme.DIM, size="8pt")
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
        self.rgba = np.zeros((1, N_COLS, 4), np.uint8)  # [bins, columns, RGBA], newest column last
        self.rate = 0

    def _colours(self, db: np.ndarray) -> np.ndarray:
        """dB float32[bins] -> uint8[bins, 4]: the colour map over LEVELS (clipped at both ends)."""
        n = self.lut.shape[0]
        idx = np.clip((db - LEVELS[0]) * ((n - 1) / (LEVELS[1] - LEVELS[0])), 0, n - 1).astype(np.intp)
        return self.lut[idx]

    def _configure(self, rate: int) -> None:
        bins = int(MAX_HZ / (rate / N_FFT)) + 1
        self.rate = rate
        bins = min(bins, N_FFT // 2 + 1)
        self.rgba = np.repeat(self._colours(np.full(bins, LEVELS[0], np.float32))[:, None, :], N_COLS, axis=1)
        top = (bins - 1) * rate / N_FFT
        self.image.setImage(self.rgba, autoLevels=False)
        self.image.setRect(0, 0, N_COLS, top)
        self.plot.setYRange(0, top, padding=0)
        self.plot.setXRange(0, N_COLS, padding=0)
        self.plot.getAxis("left").setTicks(
            [[(f, f"{f // 1000}k") for f in (0, 2000, 4000, 6000, 8000, 10000) if f <= top]]
        )

    def push(self, samples: np.ndarray, rate: int) -> None:
        if rate <= 0:
            return
        if rate != self.rate:
            self._configure(rate)
        bins = self.rgba.shape[0]
        col = np.full(bins, LEVELS[0], np.float32)
        if samples.size >= N_FFT:
            col = db_column(samples[-N_FFT:])[:bins]
        self.rgba[:, :-1] = self.rgba[:, 1:]
        self.rgba[:, -1] = self._colours(col)
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
