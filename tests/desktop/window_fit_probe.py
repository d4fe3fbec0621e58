"""Run by test_window_fits.py in its own process, on an offscreen screen of a given size (QT_QPA_PLATFORM's
configfile): builds the real window, plays a file on a silent clock, records, shows messages and exports, and after
each step prints where every control lies against the screen, as one JSON line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSettings
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QProgressBar,
    QWidget,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from desktop.engine.audio.devices import NullDriver  # noqa: E402
from desktop.engine.audio.live import LiveEngine  # noqa: E402
from desktop.ui.knob import Knob, Meter  # noqa: E402
from desktop.ui.main_window import AppOptions, MainWindow  # noqa: E402
from tests.waits import wait_for  # noqa: E402

CONTROLS = (QAbstractButton, QComboBox, QAbstractSpinBox, QProgressBar, Knob, Meter)


def name(w: QWidget) -> str:
    text = w.text() if hasattr(w, "text") and callable(w.text) else ""
    return f"{type(w).__name__}:{getattr(w, 'label', '') or text or w.objectName()}"


def in_scroll_area(w: QWidget, top: QWidget) -> bool:
    """Inside a scroll area's viewport: reached by scrolling, so only the area itself must be on screen."""
    p = w.parentWidget()
    while p is not None and p is not top:
        if isinstance(p, QAbstractScrollArea) and not isinstance(w, QAbstractScrollArea):
            return True
        p = p.parentWidget()
    return False


def drawn_labels(axis) -> list[str]:
    """The tick labels pyqtgraph draws on ``axis`` at its present size (it leaves out those that do not fit)."""
    image = QImage(8, 8, QImage.Format_ARGB32)
    painter = QPainter(image)
    try:
        return [text for _, _, text in axis.generateDrawSpecs(painter)[2]]
    finally:
        painter.end()


def report(app: QApplication, window: MainWindow, stage: str) -> dict:
    for _ in range(5):
        app.processEvents()
        window.tick()
        time.sleep(0.02)
    screen = window.screen().geometry()
    outside, squashed, checked = [], [], 0
    for w in window.findChildren(QWidget):
        if not isinstance(w, CONTROLS) or not w.isVisible() or in_scroll_area(w, window):
            continue
        checked += 1
        rect = QRect(w.mapToGlobal(QPoint(0, 0)), w.size())
        if not screen.contains(rect):
            outside.append(f"{name(w)} at {rect.getRect()}")
        hint = w.minimumSizeHint()
        if w.width() < hint.width() - 1:  # (heights: the stylesheet's min-height is not in the hint)
            squashed.append(f"{name(w)} {w.width()} px wide < {hint.width()}")
    frame = window.frameGeometry()
    line = getattr(window, "status_line", None)
    pitch_box = window.pitch_view.pitch_plot.getViewBox().sceneBoundingRect()  # the plotted area, axes excluded
    return {
        "stage": stage,
        "screen": screen.getRect(),
        "frame": frame.getRect(),
        "window_on_screen": screen.contains(frame),
        "controls": checked,
        "outside": outside,
        "squashed": squashed,
        "pitch_plot_px": [round(pitch_box.width()), round(pitch_box.height())],
        "pitch_labels": drawn_labels(window.pitch_view.pitch_plot.getAxis("left")),
        "loudness_labels": drawn_labels(window.pitch_view.db_plot.getAxis("left")),
        "message": window.message_label.text(),
        "message_kind": line.kind if line else "",
        "recording_text": line.recording.text() if line and line.recording.isVisible() else "",
    }


def main(settings_path: str, input_file: str, out_dir: str) -> None:
    app = QApplication.instance() or QApplication([])
    opts = AppOptions(
        list_devices=False,
        modal_errors=False,
        input_file=input_file,
        driver_factory=lambda i, o: NullDriver(44100, 512, source=None),
    )
    window = MainWindow(LiveEngine(), QSettings(settings_path, QSettings.IniFormat), opts)
    window.show()
    out = Path(out_dir)
    lines = [report(app, window, "start")]
    assert window.start_audio()
    lines.append(report(app, window, "playing"))
    assert window.start_recording(str(out / "a-rather-long-recording-name-that-a-user-might-give-it.wav"))
    lines.append(report(app, window, "recording"))
    window.stop_recording()
    lines.append(report(app, window, "recorded"))
    window.show_message("Cannot use the input file: " + "a very long reason, " * 20, modal=False, kind="error")
    lines.append(report(app, window, "error message"))
    assert window.export_to(str(out / "export.wav"))

    def exported() -> bool:
        app.processEvents()
        window.tick()
        return not window.exporting

    wait_for(exported, "the export", timeout=120, every=0.05)
    lines.append(report(app, window, "exported"))
    window.close()
    for line in lines:
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
