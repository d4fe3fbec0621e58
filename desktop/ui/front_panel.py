"""The front panel: a few large knobs a musician meets first. The controls the bundle declares in its manifest
(transpose, formant, breath, ...: named, in their units), then the latent axes named by what they do ("Brighter",
"Noisier": the manifest's ``axis_effects``, measured at export; one of each name first, the strongest first), up to
FRONT_KNOBS in all; a bundle without measured effects shows its first axes. Only what the bundle declares is
shown; the full grid of axes is behind the LATENT panel's toggle."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QWidget

from core.bundle import Control, Manifest
from core.latent import LatentControls

from ..engine.parameters.params import PREFIX
from . import theme
from .knob import Knob

FRONT_KNOBS = 6  # declared controls first, then latent axes, up to this many knobs
KNOB_SIZE = 72
UNIT_FORMATS = {
    "semitones": "{:+.1f} st",
    "dB": "{:+.1f} dB",
    "cents": "{:+.0f} ct",
    "MIDI note": "{:.0f}",
    "%": "{:.0f} %",
}


def front_controls(manifest: Manifest) -> list[Control]:
    """The declared controls a knob can hold (``Control.is_knob``). A 'set' control (sf's 'pitch') overrides
    the input only while a MIDI note holds it, so it is played from a keyboard, not turned."""
    return [c for c in manifest.controls if c.is_knob][:FRONT_KNOBS]


def unit_format(unit: str) -> str:
    return UNIT_FORMATS.get(unit, "{:+.2f}" + (f" {unit}" if unit else ""))


def front_axes(manifest: Manifest, count: int) -> list[tuple[str, int, str]]:
    """Up to ``count`` (level, axis, label) for the front panel: named axes of the levels no declared control acts
    on (those knobs are the declared ones), one of each name before any name twice, strongest first, then the
    first axes of the first level as 'Axis N'. Labels repeat a name with a number: 'Brighter 2'."""
    effects = manifest.axis_effects
    taken = {c.level for c in manifest.controls}
    free = [lv.name for lv in manifest.levels if lv.name not in taken] or [manifest.levels[0].name]
    named = effects.strongest(free) if effects is not None else []
    seen: dict[str, int] = {}
    ordered = []
    for lv, e in named:  # the strongest of each name, then the rest
        seen[e.name] = seen.get(e.name, 0) + 1
        ordered.append((seen[e.name] > 1, len(ordered), lv, e))
    ordered.sort(key=lambda t: t[:2])
    counts: dict[str, int] = {}
    out = []
    for _, _, lv, e in ordered[:count]:
        counts[e.name] = counts.get(e.name, 0) + 1
        label = e.name.capitalize() + (f" {counts[e.name]}" if counts[e.name] > 1 else "")
        out.append((lv, e.axis, label))
    first = free[0]
    dim = next(lv.dim for lv in manifest.levels if lv.name == first)
    for i in range(dim):
        if len(out) >= count:
            break
        if (first, i) not in {(lv, a) for lv, a, _ in out}:
            out.append((first, i, f"Axis {i + 1}"))
    return out


def axis_tooltip(manifest: Manifest, level: str, axis: int) -> str:
    """What an axis's knob does, with the numbers export measured (or its share of the variance only)."""
    ratio = manifest.latent_stats[level].explained_variance_ratio[axis]
    where = f"latent axis {axis + 1} of level {level}, {100 * ratio:.1f}% of the variation the model saw"
    effects = manifest.axis_effects
    e = effects.effect(level, axis) if effects is not None else None
    if e is None:
        return (
            f"PC{axis + 1}: {where}. Moves the sound away from the input along it, in standard deviations "
            "(this bundle records no measured effects: python -m export.axis_effects BUNDLE --data DIR names them)."
        )
    head = f"Turn right: {e.name}." if e.name else "No change a listener notices at once: a subtle axis."
    return (
        f"{head} PC{axis + 1}: {where}.\n"
        f"Measured at export on {effects.seconds:.0f} s of the training audio:\n{e.describe(effects.sigma)}\n"
        "The level change is undone as you turn it: loudness is the OUT GAIN knob's."
    )


def control_tooltip(c: Control) -> str:
    fmt = unit_format(c.unit)
    return (
        f"{c.name}: {c.description or 'declared by the model'}\n"
        f"{fmt.format(c.minimum)} to {fmt.format(c.maximum)} ({c.unit or 'no unit'}); double-click: back to "
        f"{fmt.format(c.default)}"
    )


class FrontPanel(QWidget):
    """``set_controls(controls, key)`` writes the engine's new frozen controls (``key``: the knob's address, for the
    undo history); ``controls()`` reads the current ones."""

    def __init__(
        self, controls: Callable[[], LatentControls], set_controls: Callable[[LatentControls, str], None], parent=None
    ):
        super().__init__(parent)
        self.controls, self.set_controls = controls, set_controls
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(6)
        self.declared: list[tuple[Control, Knob]] = []
        self.axes: list[tuple[str, int, int, Knob]] = []  # (level, axis, level dim, knob)
        self._updating = False
        self.extra: QWidget | None = None  # kept across builds, after the declared knobs (the Fit to model button)

    def build(self, manifest: Manifest) -> None:
        while self.row.count():
            item = self.row.takeAt(0)
            if item.widget() is not None and item.widget() is not self.extra:
                item.widget().deleteLater()
        self.declared, self.axes = [], []
        for c in front_controls(manifest):
            bipolar = c.minimum < c.default < c.maximum
            knob = Knob(c.name.capitalize(), c.minimum, c.maximum, c.default, unit_format(c.unit), KNOB_SIZE, bipolar)
            knob.setToolTip(control_tooltip(c))
            knob.valueChanged.connect(lambda v, c=c: self._on_declared(c, v))
            self.declared.append((c, knob))
            self.row.addWidget(knob)
        if self.extra is not None:
            self.row.addWidget(self.extra, 0, Qt.AlignVCenter)
        dims = {lv.name: lv.dim for lv in manifest.levels}
        for level, i, label in front_axes(manifest, FRONT_KNOBS - len(self.declared)):
            knob = Knob(label, -3, 3, 0, "{:+.1f}σ", KNOB_SIZE, True, theme.ACCENT2)
            knob.setToolTip(axis_tooltip(manifest, level, i) + f"\nThe same knob as PC{i + 1} in the full grid.")
            knob.valueChanged.connect(lambda v, n=level, k=i, d=dims[level]: self._on_axis(n, k, d, v))
            self.axes.append((level, i, dims[level], knob))
            self.row.addWidget(knob)
        self.row.addStretch(1)

    def knob_addresses(self) -> dict[str, Knob]:
        """The declared controls' knobs by registry address (the latent axes' addresses belong to the grid)."""
        return {f"{PREFIX}/control/{c.name}": knob for c, knob in self.declared}

    def _on_declared(self, c: Control, value: float) -> None:
        if not self._updating:
            self.set_controls(self.controls().with_value(c, value), f"control/{c.name}")

    def _on_axis(self, level: str, axis: int, dim: int, value: float) -> None:
        if not self._updating:
            self.set_controls(self.controls().with_offset(level, axis, value, dim), f"latent/{level}/{axis}/offset")

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
