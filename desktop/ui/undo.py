"""Undo and redo of the knobs' changes (Ctrl+Z / Ctrl+Shift+Z): a history of frozen ``LatentControls``. Qt-free.

Each step is the set of knob values before a change. A drag or wheel turn of one knob sends many values; the changes
of the same knob less than ``MERGE_S`` apart are one step, so one Ctrl+Z undoes the whole turn. Reset, Randomize and
a loaded preset are one step each. A new model clears the history (its knobs are others)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from core.latent import LatentControls

MERGE_S = 1.0
LIMIT = 200  # steps kept


def _same_knobs(a: LatentControls, b: LatentControls) -> bool:
    """Equal knob values (the glide is a playing setting, not a knob the history restores)."""
    return (a.offsets, a.scales, a.values) == (b.offsets, b.scales, b.values)


class ControlHistory:
    """``record(before, after, key)`` after every change (``key`` names the knob; None: a step of its own);
    ``undo(current)`` / ``redo(current)`` return the controls to apply, or None when there is nothing to do."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, limit: int = LIMIT):
        self.clock, self.limit = clock, limit
        self.undo_steps: list[LatentControls] = []
        self.redo_steps: list[LatentControls] = []
        self._last: tuple[str | None, float] = (None, -1e9)

    @property
    def can_undo(self) -> bool:
        return bool(self.undo_steps)

    @property
    def can_redo(self) -> bool:
        return bool(self.redo_steps)

    def record(self, before: LatentControls, after: LatentControls, key: str | None = None) -> None:
        if _same_knobs(before, after):
            return
        now = self.clock()
        last_key, last_t = self._last
        if not (key is not None and key == last_key and now - last_t < MERGE_S and self.undo_steps):
            self.undo_steps.append(before)
            del self.undo_steps[: -self.limit]
        self.redo_steps.clear()
        self._last = (key, now)

    def undo(self, current: LatentControls) -> LatentControls | None:
        return self._move(self.undo_steps, self.redo_steps, current)

    def redo(self, current: LatentControls) -> LatentControls | None:
        return self._move(self.redo_steps, self.undo_steps, current)

    def _move(self, source: list, target: list, current: LatentControls) -> LatentControls | None:
        if not source:
            return None
        target.append(current)
        self._last = (None, -1e9)  # the next change is a step of its own
        return replace(source.pop(), glide_s=current.glide_s)

    def clear(self) -> None:
        self.undo_steps.clear()
        self.redo_steps.clear()
        self._last = (None, -1e9)
