"""The front panel: a few large knobs a musician meets first. The controls the bundle declares in its manifest
(transpose, formant, breath, ...: named, in their units), then the first latent axes, up to FRONT_KNOBS in all.
Only what the bundle declares is shown; the full grid of axes is behind the LATENT panel's toggle."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QHBoxLayout, QWidget

from ..engine.bundle import Control, Manifest
from ..engine.latent import LatentControls
from ..engine.params import PREFIX
from . import theme
from .knob import Knob

FRONT_KNOBS = 6  # declared controls first, then latent axes, up to this many knobs
KNOB_SIZE = 72
UNIT_FORMATS = {"semitones": "{:+.1f} st", "dB": "{:+.1f} dB", "cents": "{:+.0f} ct", "MIDI note": "{:.0f}"}


def front_controls(manifest: Manifest) -> list[Control]:
    """The declared controls a knob can hold: the 'add' ones. A 'set' control (hpn's and sf's 'pitch') overrides
    the input only while a MIDI note holds it, so it is played from a keyboard, not turned."""
    return [c for c in manifest.controls if c.transform == "add"][:FRONT_KNOBS]


def unit_format(unit: str) -> str:
    return UNIT_FORMATS.get(unit, "{:+.2f}" + (f" {unit}" if unit else ""))


def control_tooltip(c: Control) -> str:
    fmt = unit_format(c.unit)
    return (
        f"{c.name}: {c.description or 'declared by the model'}\n"
        f"{fmt.format(c.minimum)} to {fmt.format(c.maximum)} ({c.unit or 'no unit'}); double-click: back to "
        f"{fmt.format(c.default)}"
    )


class FrontPanel(QWidget):
    """``set_controls(controls)`` writes the engine's new frozen controls; ``controls()`` reads the current ones."""

    def __init__(
        self, controls: Callable[[], LatentControls], set_controls: Callable[[LatentControls], None], parent=None
    ):
        super().__init__(parent)
        self.controls, self.set_controls = controls, set_controls
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(6)
        self.declared: list[tuple[Control, Knob]] = []
        self.axes: list[tuple[str, int, int, Knob]] = []  # (level, axis, level dim, knob)
        self._updating = False

    def build(self, manifest: Manifest) -> None:
        while self.row.count():
            item = self.row.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.declared, self.axes = [], []
        for c in front_controls(manifest):
            bipolar = c.minimum < c.default < c.maximum
            knob = Knob(c.name.capitalize(), c.minimum, c.maximum, c.default, unit_format(c.unit), KNOB_SIZE, bipolar)
            knob.setToolTip(control_tooltip(c))
            knob.valueChanged.connect(lambda v, c=c: self._on_declared(c, v))
            self.declared.append((c, knob))
            self.row.addWidget(knob)
        level = manifest.levels[0]
        ratios = manifest.latent_stats[level.name].explained_variance_ratio
        for i in range(min(level.dim, FRONT_KNOBS - len(self.declared))):
            knob = Knob(f"Axis {i + 1}", -3, 3, 0, "{:+.1f}σ", KNOB_SIZE, True, theme.ACCENT2)
            knob.setToolTip(
                f"Latent axis {i + 1} of level {level.name} ({100 * ratios[i]:.1f}% of the variation the model "
                "saw): moves the sound away from the input along it, in standard deviations.\n"
                "The same knob as PC{0} in the full grid ('All axes').".format(i + 1)
            )
            knob.valueChanged.connect(lambda v, n=level.name, k=i, d=level.dim: self._on_axis(n, k, d, v))
            self.axes.append((level.name, i, level.dim, knob))
            self.row.addWidget(knob)
        self.row.addStretch(1)

    def knob_addresses(self) -> dict[str, Knob]:
        """The declared controls' knobs by registry address (the latent axes' addresses belong to the grid)."""
        return {f"{PREFIX}/control/{c.name}": knob for c, knob in self.declared}

    def _on_declared(self, c: Control, value: float) -> None:
        if not self._updating:
            self.set_controls(self.controls().with_value(c, value))

    def _on_axis(self, level: str, axis: int, dim: int, value: float) -> None:
        if not self._updating:
            self.set_controls(self.controls().with_offset(level, axis, value, dim))

    def sync_from(self, controls: LatentControls) -> None:
        """Move the knobs to ``controls`` without writing back."""
        self._updating = True
        try:
            for c, knob in self.declared:
                knob.setValue(controls.values.get(c.name, c.default), emit=False)
            for level, axis, _, knob in self.axes:
                offs = controls.offsets.get(level) or ()
                knob.setValue(offs[axis] if axis < len(offs) else 0.0, emit=False)
        finally:
            self._updating = False

    def show_positions(self, positions: dict) -> None:
        for level, axis, _, knob in self.axes:
            pos = positions.get(level)
            knob.setMarker(float(pos[axis]) if pos is not None and axis < len(pos) else None)
