"""The window's bottom line: what is playing (mode, latency, CPU load, xruns), the recording indicator with its file,
and the last message coloured by its kind. Every part takes the width it is given and never widens the window."""

from __future__ import annotations

from typing import Callable

from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy

from ..engine.parameters.values import Snapshot
from . import theme

# a message's kind -> its colour: only errors are red
KIND_COLOURS = {"error": theme.WARN, "warn": theme.ACCENT2, "success": theme.ACCENT, "info": theme.TEXT}

SKIPPED_TIP = (
    "skipped: model blocks that would have reached the speakers too late, so the dry input (or silence) played in\n"
    "their place. A few at the start or when the machine is busy are normal; a count that keeps climbing means the\n"
    "model needs more time than it has: raise the hop or the device block, or close other programs."
)


def _fit(label: QLabel) -> QLabel:
    """A label whose text never sets the window's width: it gets what the layout gives and clips the rest."""
    label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
    label.setMinimumWidth(0)
    return label


def elide_words(text: str, fits: Callable[[str], bool]) -> str:
    """``text``, or as many of its first words as ``fits`` with an ellipsis after them: never a word cut in two."""
    if fits(text):
        return text
    words = text.split(" ")
    lo, hi = 0, len(words)  # the longest prefix of whole words that fits with its ellipsis
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(" ".join(words[:mid]).rstrip(" ,;:") + " …"):
            lo = mid
        else:
            hi = mid - 1
    return (" ".join(words[:lo]).rstrip(" ,;:") + " …").lstrip()


class WordElidedLabel(QLabel):
    """A one-line label that shows whole words and an ellipsis when its text is wider than the label (Qt's clipping
    cut the message mid-word); ``text()`` stays the whole line, the tooltip holds the whole message."""

    def shown_text(self) -> str:
        width, metrics = self.contentsRect().width(), self.fontMetrics()
        return elide_words(self.text(), lambda s: metrics.horizontalAdvance(s) <= width)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        shown = self.shown_text()
        if shown == self.text():
            super().paintEvent(event)
            return
        painter = QPainter(self)
        self.style().drawItemText(
            painter,
            self.contentsRect(),
            int(self.alignment()),
            self.palette(),
            self.isEnabled(),
            shown,
            self.foregroundRole(),
        )
        painter.end()


def khz(rate: int) -> str:
    return f"{rate / 1000:g} kHz"


def status_text(snap: Snapshot, parts: dict) -> tuple[str, str]:
    """(the status line, its tooltip) for a running engine's snapshot and its ``latency_parts``."""
    detail = " + ".join(
        f"{k.replace('_', ' ')} {v:.0f}" for k, v in parts.items() if k != "block_p99_compute" and v >= 0.5
    )
    line = (
        f"playing {snap.mode} · latency {snap.latency_ms:.0f} ms · CPU {100 * snap.rtf:.0f}%"
        f" · xruns {snap.xruns} · skipped {snap.late_windows}"
        f" · {khz(snap.device_rate)} → {khz(snap.model_rate)} · {snap.source}"
    )
    tip = (
        f"latency {snap.latency_ms:.0f} ms = {detail or 'algorithmic %.0f' % snap.algorithmic_ms} (ms)\n"
        "CPU: the model's compute time as a share of the time it has (100% = it only just keeps up)\n"
        f"xruns: the sound card's over/underflows ({snap.device_xruns}) + output underruns ({snap.underruns})\n"
        + SKIPPED_TIP
    )
    return line, tip


class StatusLine(QHBoxLayout):
    """``status`` (what plays), ``recording`` (shown only while recording) and ``message`` (the last message)."""

    def __init__(self):
        super().__init__()
        self.status = _fit(QLabel("stopped"))
        self.status.setObjectName("status")
        self.recording = _fit(QLabel(""))
        self.recording.setStyleSheet(f"color: {theme.WARN}; font-weight: bold;")
        self.recording.hide()
        self.message = _fit(WordElidedLabel(""))
        self.message.hide()
        self.kind = ""
        self.addWidget(self.status, 5)
        self.addWidget(self.recording, 3)
        self.addWidget(self.message, 4)

    def show_message(self, text: str, kind: str) -> None:
        self.kind = kind
        self.message.setStyleSheet(f"color: {KIND_COLOURS.get(kind, theme.TEXT)};")
        self.message.setText(text.splitlines()[0] if text else "")
        self.message.setToolTip(text)
        self.message.setVisible(bool(text))  # an empty message leaves its width to the status

    def clear_message_if(self, text: str) -> None:
        """Clear the message line when it still shows ``text`` (an engine error that has gone)."""
        if text and self.message.text() == text.splitlines()[0]:
            self.show_message("", "info")

    def show(self, snap: Snapshot, parts: dict) -> None:
        if snap.running:
            line, tip = status_text(snap, parts)
        else:
            line, tip = "stopped", ""
        if line != self.status.text():
            self.status.setText(line)
            self.status.setToolTip(tip)
        if snap.recording_path:
            self.recording.setText(f"● REC {snap.recording_s:.1f} s → {snap.recording_path}")
            self.recording.setToolTip(f"Recording to {snap.recording_path}")
            self.recording.show()
        elif self.recording.isVisible():
            self.recording.hide()
