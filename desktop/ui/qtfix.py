"""Work around a PySide6 6.12 refcount bug: void QPainter methods drop one reference to ``None`` per call
(and some bool-returning ones one to ``True``/``False``).

On Python < 3.12 ``None`` is not immortal, so a window repainting 30 times a second drives its count to zero
within a minute and the process aborts ("none_dealloc: deallocating None"). ``keep_none_alive`` tops the
count up whenever it runs low; the GUI timer calls it every frame. Harmless where the bug is absent.
"""

from __future__ import annotations

import ctypes
import sys

_FLOOR = 1 << 24
_TOP_UP = 1 << 28


def keep_none_alive() -> None:
    if sys.version_info >= (3, 12):  # None is immortal there
        return
    for obj in (None, True, False):
        if sys.getrefcount(obj) < _FLOOR:
            ctypes.c_ssize_t.from_address(id(obj)).value += _TOP_UP
