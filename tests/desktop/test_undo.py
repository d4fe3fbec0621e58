"""Undo and redo of the knobs (issue 24 item 6), driven through the real widgets offscreen: mouse drags on the front
panel's knobs, the Reset button, Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y on the window; and the history's own rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt

from core.latent import LatentControls
from desktop.engine.model.factory import default_bundle_path
from desktop.ui.undo import MERGE_S, ControlHistory
from tests.desktop.test_gui import make_window

DSP = Path(__file__).resolve().parents[2] / "desktop" / "evaluation" / "dsp_bundle"  # sf: transpose, formant, breath


def drag(qtbot, knob, pixels: int) -> None:
    """A mouse turn of ``knob``: press, move up ``pixels`` in steps of 10, release (many values, one gesture)."""
    centre = knob.rect().center()
    qtbot.mousePress(knob, Qt.LeftButton, pos=centre)
    for dy in range(10, pixels + 1, 10):
        qtbot.mouseMove(knob, QPoint(centre.x(), centre.y() - dy))
    qtbot.mouseRelease(knob, Qt.LeftButton, pos=QPoint(centre.x(), centre.y() - pixels))


def test_ctrl_z_undoes_a_whole_knob_turn_and_ctrl_shift_z_redoes_it(qtbot, settings_path):
    w = make_window(qtbot, settings_path, bundle=str(DSP))
    w.show()
    w.activateWindow()
    qtbot.waitUntil(lambda: w.isActiveWindow(), timeout=5000)
    front = w.latent.front
    transpose, axis = front.declared[0][1], front.axes[0][3]
    level, index = front.axes[0][0], front.axes[0][1]
    assert not w.menus.undo_action.isEnabled()

    def offset_of(w):
        offsets = w.engine.controls.offsets.get(level) or ()
        return offsets[index] if index < len(offsets) else 0.0

    drag(qtbot, transpose, 60)
    turned = w.engine.controls.values["transpose"]
    assert turned > 1.0 and transpose.value() == turned
    drag(qtbot, axis, 40)
    offset = offset_of(w)
    assert offset > 0.5 and w.latent_knobs[level][index][0].value() == offset  # the grid's knob follows
    assert w.menus.undo_action.isEnabled() and len(w.latent.history.undo_steps) == 2  # two turns, two steps

    qtbot.keyClick(w, Qt.Key_Z, Qt.ControlModifier)  # the axis turn, all of it
    assert offset_of(w) == 0.0 and axis.value() == 0.0
    assert w.engine.controls.values["transpose"] == turned
    qtbot.keyClick(w, Qt.Key_Z, Qt.ControlModifier)
    assert w.engine.controls.values.get("transpose", 0.0) == 0.0 and transpose.value() == 0.0
    assert not w.menus.undo_action.isEnabled() and w.menus.redo_action.isEnabled()
    qtbot.keyClick(w, Qt.Key_Z, Qt.ControlModifier)  # nothing left: nothing moves
    assert transpose.value() == 0.0

    qtbot.keyClick(w, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert w.engine.controls.values["transpose"] == turned and transpose.value() == turned
    qtbot.keyClick(w, Qt.Key_Y, Qt.ControlModifier)
    assert offset_of(w) == offset and axis.value() == offset
    assert not w.menus.redo_action.isEnabled()

    reset = next(b for b in w.latent.findChildren(type(w.latent.grid_btn)) if b.text() == "Reset")
    reset.click()
    assert w.engine.controls.values.get("transpose", 0.0) == 0.0 and axis.value() == 0.0
    qtbot.keyClick(w, Qt.Key_Z, Qt.ControlModifier)  # Reset is one step
    assert transpose.value() == turned and axis.value() == offset

    qtbot.keyClick(w, Qt.Key_Z, Qt.ControlModifier)
    drag(qtbot, transpose, 20)  # a new change after an undo: the redo is gone
    assert not w.menus.redo_action.isEnabled()
    assert w.load_bundle_path(str(default_bundle_path()))  # another model's knobs: a fresh history
    assert not w.menus.undo_action.isEnabled() and not w.latent.history.can_undo
    assert "Ctrl+Z" in w.menus.shortcuts_text()
    w.close()


def test_the_history_merges_one_knobs_quick_changes_only():
    now = [0.0]
    h = ControlHistory(clock=lambda: now[0])
    a = LatentControls()
    b = a.with_offset("z", 0, 1.0, 4)
    c = b.with_offset("z", 0, 2.0, 4)
    d = c.with_offset("z", 1, 1.0, 4)
    h.record(a, b, "z/0")
    now[0] += MERGE_S / 2
    h.record(b, c, "z/0")  # the same knob, soon after: the same step
    h.record(c, d, "z/1")  # another knob: a step of its own
    h.record(d, d, "z/1")  # no change: no step
    assert len(h.undo_steps) == 2
    assert h.undo(d) == c and h.undo(c) == a and h.undo(a) is None
    assert h.redo(a) == c
    now[0] += 2 * MERGE_S
    h.record(c, b, "z/0")
    assert not h.can_redo and h.undo_steps[-1] == c
    assert h.undo(b.with_glide(0.2)).glide_s == pytest.approx(0.2)  # the glide is a playing setting: kept
