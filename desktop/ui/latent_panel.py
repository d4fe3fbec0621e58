"""The CONTROLS panel: the front panel's large knobs (the bundle's declared controls, the named latent axes) and,
behind 'All axes', an offset and a scale knob per PCA axis of the loaded bundle (named by its measured effect),
with the input's live position on each; Reset, Randomize and presets (save/load: knobs, mix settings, MIDI)."""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from core.bundle import Bundle
from core.latent import LatentControls

from ..engine.audio.live import LiveEngine
from ..engine.parameters.params import PREFIX
from ..engine.parameters.presets import PresetError, random_controls, read_preset, save_preset
from ..engine.parameters.values import EngineParams
from . import theme
from .front_panel import FrontPanel, axis_tooltip
from .knob import Knob
from .panel import Panel
from .undo import ControlHistory

COLUMNS = 8  # knob pairs per row


def percent(ratio: float) -> str:
    """Explained variance as a label: 62%, 3.8%, <0.1%."""
    pct = 100.0 * ratio
    if pct >= 9.95:
        return f"{pct:.0f}%"
    if pct >= 0.1:
        return f"{pct:.1f}%"
    return "<0.1%"


class LatentPanel(Panel):
    """Knobs write frozen ``LatentControls`` into the engine; ``sync_from`` moves the knobs without writing back.

    ``set_mix(params)`` applies a preset's mix settings (the window's mix controls); ``remote()`` returns the
    app's RemoteControl or None (presets carry its MIDI bindings)."""

    def __init__(
        self,
        engine: LiveEngine,
        show_message: Callable[..., None],
        set_mix: Callable[[EngineParams], None],
        remote: Callable[[], object | None],
        parent=None,
    ):
        super().__init__("CONTROLS  ·  the model's own controls, then its latent axes", parent)
        self.engine, self.show_message, self.set_mix, self.remote = engine, show_message, set_mix, remote
        self.bundle: Bundle | None = None
        self.knobs: dict[str, list[tuple[Knob, Knob]]] = {}  # level -> [(offset, scale)] per axis
        self.rng = np.random.default_rng()
        self._updating = False
        self.history = ControlHistory()  # Ctrl+Z / Ctrl+Shift+Z (the Edit menu's actions call undo / redo)
        self.history_changed: Callable[[], None] = lambda: None
        bar = QHBoxLayout()
        for text, slot in (
            ("Reset", self.reset_knobs),
            ("Randomize", self.randomize_knobs),
            ("Save preset…", self._save_preset_dialog),
            ("Load preset…", self._load_preset_dialog),
        ):
            b = QPushButton(text)
            b.clicked.connect(slot)
            bar.addWidget(b)
        self.grid_btn = QPushButton("All axes")
        self.grid_btn.setCheckable(True)
        self.grid_btn.setToolTip(
            "Show every latent axis: an offset and a scale knob each, ordered by explained variance"
        )
        self.grid_btn.toggled.connect(self._show_grid)
        bar.addWidget(self.grid_btn)
        bar.addStretch(1)
        legend = QLabel("● live position of the input")
        legend.setStyleSheet(f"color: {theme.ACCENT2};")
        bar.addWidget(legend)
        self.body.addLayout(bar)
        self.front = FrontPanel(lambda: self.engine.controls, self._write)
        self.body.addWidget(self.front)
        self.knob_area = QScrollArea()
        self.knob_area.setWidgetResizable(True)
        self.knob_holder = QWidget()
        self.knob_grid = QVBoxLayout(self.knob_holder)
        self.knob_grid.setContentsMargins(0, 0, 0, 0)
        self.knob_area.setWidget(self.knob_holder)
        self.knob_area.hide()  # behind 'All axes': the front panel first
        self.body.addWidget(self.knob_area, 1)
        self.body.addStretch(0)

    def _show_grid(self, on: bool) -> None:
        self.knob_area.setVisible(on)
        self.grid_btn.setText("Hide axes" if on else "All axes")

    def _write(self, controls: LatentControls, key: str | None = None) -> None:
        """A knob's new controls into the engine, and every other knob showing the same value follows; the change
        is a step of the undo history (``key``: the knob's address, so one turn of it is one step)."""
        self.history.record(self.engine.controls, controls, key)
        self.engine.set_controls(controls)
        self.sync_from(controls)
        self.history_changed()

    def undo(self) -> bool:
        """The knobs as they were before the last change (False: nothing to undo)."""
        return self._restore(self.history.undo(self.engine.controls))

    def redo(self) -> bool:
        return self._restore(self.history.redo(self.engine.controls))

    def _restore(self, controls: LatentControls | None) -> bool:
        if controls is not None:
            self.engine.set_controls(controls)
            self.sync_from(controls)
        self.history_changed()
        return controls is not None

    # ---- knobs --------------------------------------------------------------------------------------------
    def build(self, bundle: Bundle) -> None:
        """One offset and one scale knob per latent dimension of ``bundle`` (one group per level)."""
        self.bundle = bundle
        self.history.clear()
        self.history_changed()
        while self.knob_grid.count():
            item = self.knob_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.knobs = {}
        m = bundle.manifest
        for level in m.levels:
            group = QWidget()
            gl = QGridLayout(group)
            gl.setContentsMargins(0, 0, 0, 0)
            gl.setHorizontalSpacing(2)
            gl.setVerticalSpacing(0)
            ratios = m.latent_stats[level.name].explained_variance_ratio
            if len(m.levels) > 1:
                head = QLabel(f"level {level.name} · {level.dim} dims · one frame per {level.hop} samples")
                head.setObjectName("section")
                self.knob_grid.addWidget(head)
            pairs = []
            for i in range(level.dim):
                effect = m.axis_effects.effect(level.name, i) if m.axis_effects is not None else None
                name = effect.name if effect is not None and effect.name else f"PC{i + 1}"
                off = Knob(f"{name} {percent(ratios[i])}", -3, 3, 0, "{:+.2f}σ", size=48, bipolar=True)
                off.setToolTip(
                    axis_tooltip(m, level.name, i)
                    + "\nOffset in standard deviations; the amber dot is where the input sits now."
                )
                sc = Knob("scale", 0, 3, 1, "×{:.2f}", size=30, color=theme.DIM)
                sc.setToolTip(f"{level.name} PCA axis {i + 1}: scale of the input's movement along it")
                off.valueChanged.connect(lambda v, n=level.name, k=i, d=level.dim: self._on_offset(n, k, v, d))
                sc.valueChanged.connect(lambda v, n=level.name, k=i, d=level.dim: self._on_scale(n, k, v, d))
                cell = QVBoxLayout()
                cell.setSpacing(0)
                cell.addWidget(off, 0, Qt.AlignHCenter)
                cell.addWidget(sc, 0, Qt.AlignHCenter)
                gl.addLayout(cell, i // COLUMNS, i % COLUMNS)
                pairs.append((off, sc))
            self.knobs[level.name] = pairs
            self.knob_grid.addWidget(group)
        self.knob_grid.addStretch(1)
        self.front.build(m)

    def knob_addresses(self) -> dict[str, Knob]:
        """Every latent knob by its registry address (docs/remote-control.md)."""
        out = self.front.knob_addresses()
        for name, pairs in self.knobs.items():
            for i, (off, sc) in enumerate(pairs):
                out[f"{PREFIX}/latent/{name}/{i}/offset"] = off
                out[f"{PREFIX}/latent/{name}/{i}/scale"] = sc
        return out

    def _on_offset(self, level: str, axis: int, value: float, dim: int) -> None:
        if not self._updating:
            self._write(self.engine.controls.with_offset(level, axis, value, dim), f"latent/{level}/{axis}/offset")

    def _on_scale(self, level: str, axis: int, value: float, dim: int) -> None:
        if not self._updating:
            self._write(self.engine.controls.with_scale(level, axis, value, dim), f"latent/{level}/{axis}/scale")

    def sync_from(self, controls: LatentControls) -> None:
        """Move the knobs to ``controls`` without writing them back to the engine."""
        self._updating = True
        try:
            for name, pairs in self.knobs.items():
                offs = controls.offsets.get(name) or ()
                scs = controls.scales.get(name) or ()
                for i, (off, sc) in enumerate(pairs):
                    off.setValue(offs[i] if i < len(offs) else 0.0, emit=False)
                    sc.setValue(scs[i] if i < len(scs) else 1.0, emit=False)
        finally:
            self._updating = False
        self.front.sync_from(controls)

    def show_positions(self, positions: dict[str, np.ndarray]) -> None:
        """The amber dot on each offset knob: where the input sits on that axis now (a snapshot's positions)."""
        self.front.show_positions(positions)
        if not self.knob_area.isVisible():
            return
        for name, pairs in self.knobs.items():
            pos = positions.get(name)
            for i, (off, _) in enumerate(pairs):
                off.setMarker(float(pos[i]) if pos is not None and i < len(pos) else None)

    def set_controls(self, controls: LatentControls) -> None:
        """Swap ``controls`` into the engine (keeping its glide, a playing setting) and move the knobs to them."""
        self._write(controls.with_glide(self.engine.controls.glide_s))

    def reset_knobs(self) -> None:
        self.set_controls(LatentControls())

    def randomize_knobs(self) -> None:
        if self.bundle is not None:
            self.set_controls(random_controls(self.bundle.manifest, self.rng))

    # ---- presets ------------------------------------------------------------------------------------------
    def save_preset(self, path: str) -> None:
        remote = self.remote()
        midi = remote.midi.to_json() if remote is not None else None
        save_preset(path, self.engine.controls, self.bundle.manifest, self.engine.params, self.bundle.name, midi)

    def load_preset(self, path: str) -> bool:
        """Apply a preset whole, or nothing of it: every value is checked before the first is applied."""
        try:
            preset = read_preset(path, self.bundle.manifest, EngineParams)
        except PresetError as exc:
            self.show_message(str(exc))
            return False
        self.set_controls(preset.controls)
        if preset.params is not None:
            self.set_mix(preset.params)
        remote = self.remote()
        if remote is not None and preset.midi:
            for e in remote.midi.load_json(preset.midi):
                self.show_message(e, modal=False)
        return True

    def _save_preset_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save preset", "preset.json", "Presets (*.json)")
        if path:
            self.save_preset(path)

    def _load_preset_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load preset", "", "Presets (*.json)")
        if path:
            self.load_preset(path)
