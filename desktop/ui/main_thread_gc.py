"""Python's cycle collector, run only on Qt's main thread.

The collector normally runs in whichever thread happens to allocate when a generation's count passes its threshold:
the export thread, the engine's worker, PortAudio's callback. When the garbage it finds holds a Qt object (a closed
dialog, a widget left in a reference cycle), that object is then destroyed off the GUI thread, and Qt may crash: the
full test suite segfaulted once in two runs that way ("Garbage-collecting" in the export thread, inside
``file_render``). In the audio callback a collection is also a pause of tens of milliseconds, an underrun.

``take_over()`` switches automatic collection off for the process; ``collect_due()`` does what the automatic
collector would have done (the same generation thresholds) and is called from the GUI timer, on the main thread.
Code without Qt (the render CLI, the trainer) never calls ``take_over`` and keeps Python's own collector.
"""

from __future__ import annotations

import gc
import threading
import time

FULL_EVERY_S = 10.0  # the oldest generation at most this often (Python's own collector defers it similarly: it
# waits until the objects surviving since the last full pass reach a quarter of all)
_last_full = [0.0]


def take_over() -> None:
    """Automatic collection off: from now on ``collect_due`` on the main thread collects. Idempotent."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("main_thread_gc.take_over must be called on the main thread")
    gc.disable()


def collect_due() -> int:
    """Collect the oldest generation whose count has passed its threshold, as the automatic collector would; a
    no-op while automatic collection is on or off the main thread. Returns the generation collected, or -1."""
    if gc.isenabled() or threading.current_thread() is not threading.main_thread():
        return -1
    counts, thresholds = gc.get_count(), gc.get_threshold()
    generation = -1
    for g in range(3):
        if thresholds[g] and counts[g] > thresholds[g]:
            generation = g
    if generation == 2 and time.monotonic() - _last_full[0] < FULL_EVERY_S:
        generation = 1
    if generation == 2:
        _last_full[0] = time.monotonic()
    if generation >= 0:
        gc.collect(generation)
    return generation
