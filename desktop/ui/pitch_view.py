"""The PITCH panel: a tuner (note name and cents) for the input and the output, and their pitch and loudness over
the last seconds against the range the model was trained on (the manifest's ``extra.trained_range``: 5th-95th
percentile band, median line; pyqtgraph, items created once). Fed from the GUI timer's snapshot; the analysis is
``core.pitch_track``'s, a small YIN on the newest 2048 samples."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core import pitch_track

from . import theme
from .panel import Panel

SECONDS = 5.0
RATE_HZ = 30  # readings per second: the GUI timer's
NOTE_RANGE = (36, 84)  # C2..C6 on the pitch plot
DB_RANGE = (-60.0, 0.0)
LOUDNESS_PX = 46  # the loudness plot's most: -40 and -20 dB labelled; the rest of the height is the notes'
AXIS_PX = 48  # '-40 dB' fits (at 42 pyqtgraph left the dB labels out)
TUNER_PX = 124  # the tuner column: 'OUT A#3 -49 ct' in its font


def _note(midi: float) -> str:
    n = int(round(midi))
    return f"{pitch_track.NAMES[n % 12]}{n // 12 - 1}"


def note_ticks(lo: int, hi: int) -> list[tuple[int, str]]:
    return [(m, f"{pitch_track.NAMES[m % 12]}{m // 12 - 1}") for m in range(lo, hi + 1) if m % 12 == 0]


class PitchView(Panel):
    """``update_from(snapshot)`` on every GUI tick; ``input`` and ``output`` hold the readings' histories."""

    def __init__(self, parent=None):
        super().__init__("PITCH · LOUDNESS · LAST 5 S", parent)  # (no plot titles: the height is the notes')
        n = int(SECONDS * RATE_HZ)
        self.input, self.output = pitch_track.History(n), pitch_track.History(n)
        # the tuner in a column left of the plots, so the plots get the panel's whole height (a row above them and
        # a title over each plot left the pitch plot 30 px tall at the start size; a caption inside hid the curves)
        row = QHBoxLayout()
        row.setSpacing(6)
        tuner = QVBoxLayout()
        tuner.setContentsMargins(0, 4, 0, 0)
        tuner.setSpacing(2)
        self.in_note = QLabel("IN  —\n")
        self.out_note = QLabel("OUT —\n")
        for label, colour in ((self.in_note, theme.ACCENT2), (self.out_note, theme.ACCENT)):
            label.setStyleSheet(
                f"color: {colour}; font-size: 14px; font-weight: bold; font-family: 'DejaVu Sans Mono';"
            )
            label.setToolTip("The pitch as the nearest note and how many cents (1/100 semitone) off it, and in Hz")
            tuner.addWidget(label)
        self.range_label = QLabel("")  # "band: trained on\nA1 to A#5" (no word wrap: it would make the window's
        # layout ask every widget for its height at each width, and the views grew at the panels' expense)
        self.range_label.setObjectName("facts")
        tuner.addWidget(self.range_label)
        tuner.addStretch(1)
        holder = QWidget()
        holder.setStyleSheet("background: transparent;")
        holder.setLayout(tuner)
        holder.setFixedWidth(TUNER_PX)
        row.addWidget(holder)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground(theme.PANEL)
        self.plots.ci.setContentsMargins(0, 0, 0, 0)
        self.plots.ci.setSpacing(2)
        t = np.linspace(-SECONDS, 0, n, dtype=np.float32)
        self.t = t
        self.pitch_plot = self._plot(0, NOTE_RANGE)
        self.pitch_plot.getAxis("left").setTicks([note_ticks(*NOTE_RANGE)])
        self.db_plot = self._plot(1, DB_RANGE)
        self.db_plot.getAxis("left").setTicks([[(v, f"{v:.0f} dB") for v in (-60, -40, -20, 0)]])
        self.db_plot.setMaximumHeight(LOUDNESS_PX)
        self.curves = {}
        for name, colour in (("input", theme.ACCENT2), ("output", theme.ACCENT)):
            pitch = pg.PlotCurveItem(pen=pg.mkPen(colour, width=2), connect="finite")
            loud = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1), skipFiniteCheck=True)
            self.pitch_plot.addItem(pitch)
            self.db_plot.addItem(loud)
            self.curves[name] = (pitch, loud)
        row.addWidget(self.plots, 1)
        self.body.addLayout(row, 1)
        self.range_text = ""  # "trained on A1 to A#5", under the tuner
        self.plots.setToolTip(
            "Pitch (note names on the axis) and loudness of the input (amber) and the output (teal) over the last "
            "5 s. The grey band: where the model's training audio lay (5th to 95th percentile, the dashed line its "
            "median), recorded at export. An input outside it is outside what the model learned."
        )
        self.bands = {}
        for key, plot in (("pitch", self.pitch_plot), ("loudness", self.db_plot)):
            band = pg.LinearRegionItem(
                (0, 1), orientation="horizontal", movable=False, brush=pg.mkBrush(255, 255, 255, 28), pen=pg.mkPen(None)
            )
            median = pg.InfiniteLine(angle=0, pen=pg.mkPen(theme.DIM, width=1, style=Qt.DashLine))
            for item in (band, median):
                item.setZValue(-10)
                item.hide()
                plot.addItem(item)
            self.bands[key] = (band, median)
        self.trained: dict[str, tuple[float, float, float]] = {}
        self.setMinimumWidth(TUNER_PX + 220)

    def set_trained_range(self, trained_range: dict | None) -> None:
        """Draw the manifest's ``extra.trained_range`` (``pitch_hz`` and ``loudness_db``: 5th, 50th, 95th
        percentile), or nothing for a bundle that records none. ``trained``: what is drawn, in MIDI notes and dB."""
        self.trained = {}
        ranges = trained_range or {}
        for key, field, convert in (
            ("pitch", "pitch_hz", pitch_track.midi_of),
            ("loudness", "loudness_db", float),
        ):
            values = ranges.get(field)
            band, median = self.bands[key]
            ok = (
                isinstance(values, (list, tuple))
                and len(values) == 3
                and all(float(v) > (0 if key == "pitch" else -200) for v in values)
            )
            band.setVisible(ok)
            median.setVisible(ok)
            if ok:
                lo, mid, hi = (float(convert(float(v))) for v in values)
                band.setRegion((lo, hi))
                median.setValue(mid)
                self.trained[key] = (lo, mid, hi)
        self.range_text, shown = "", ""
        if "pitch" in self.trained:
            lo, _, hi = self.trained["pitch"]
            self.range_text = f"trained on {_note(lo)} to {_note(hi)}"
            shown = f"band: trained on\n{_note(lo)} to {_note(hi)}"
        self.range_label.setText(shown)

    def _plot(self, row: int, yrange: tuple[float, float]) -> pg.PlotItem:
        plot = self.plots.addPlot(row=row, col=0)
        plot.setYRange(*yrange, padding=0)
        plot.setXRange(-SECONDS, 0, padding=0)
        plot.hideAxis("bottom")
        plot.getAxis("left").setWidth(AXIS_PX)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.showGrid(y=True, alpha=0.15)
        return plot

    def update_from(self, snap) -> None:
        """Read the newest samples of the snapshot's input and output, and draw."""
        if not snap.running:
            return
        for name, wave, label, prefix in (
            ("input", snap.in_wave, self.in_note, "IN "),
            ("output", snap.out_wave, self.out_note, "OUT"),
        ):
            history = getattr(self, name)
            reading = pitch_track.read(wave, snap.device_rate)
            history.push(reading)
            hz = f"\n{reading.f0:9.1f} Hz" if reading.f0 > 0 else "\n"  # two lines always: the column never jumps
            label.setText(f"{prefix} {reading.note}{hz}")
            pitch, loud = self.curves[name]
            pitch.setData(self.t, history.midi)
            loud.setData(self.t, np.maximum(history.db, DB_RANGE[0]))
