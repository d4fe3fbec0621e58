"""Garbage cycles holding Qt objects are collected on the main thread only (desktop/ui/main_thread_gc.py)."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject

from desktop.ui import main_thread_gc


class _Cycle:
    def __init__(self):
        self.me = self
        self.qt = QObject()


def test_a_worker_that_allocates_never_collects_and_the_main_thread_does(qtbot):
    main_thread_gc.take_over()
    assert not gc.isenabled()
    gc.collect()
    cycle = _Cycle()
    alive = weakref.ref(cycle)
    del cycle
    seen = {}

    def worker():
        junk = [[i] for i in range(50 * gc.get_threshold()[0])]  # far past generation 0's threshold
        seen["generation"] = main_thread_gc.collect_due()
        seen["alive"] = alive() is not None
        del junk

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == {"generation": -1, "alive": True}
    for _ in range(30):  # what the GUI timer does, tick by tick, until the cycle's generation comes due
        held = [[i] for i in range(2 * gc.get_threshold()[0])]  # the count is of objects alive, not made
        main_thread_gc.collect_due()
        del held
        if alive() is None:
            break
    assert alive() is None


def test_take_over_refuses_a_worker_thread():
    errors = []

    def worker():
        try:
            main_thread_gc.take_over()
        except RuntimeError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert errors and "main thread" in errors[0]


def test_the_window_takes_over_collection(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from desktop.engine.audio.live import LiveEngine
    from desktop.ui.main_window import MainWindow

    gc.enable()
    engine = LiveEngine(block=256)
    window = MainWindow(engine, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert not gc.isenabled()
    engine.stop(fade=False)
