"""The first-run hint: one line above the panels on the app's first start (what plays, which knobs to turn, the keys),
closed with 'Got it'. Shown once: the settings remember it (``hints/first_run``), so later starts do not show it."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from . import theme

KEY = "hints/first_run"


def hint_text(recordings: str, microphone: bool = True) -> str:
    source = "your microphone plays" if microphone else "the file plays"
    return (
        f"First start: {source} through the model (with a microphone, wear headphones: speakers feed back). "
        "Turn the big knobs to change the sound (Ctrl+Z undoes a turn); Space stops and starts the audio, "
        f"R records to {recordings}, F1 lists the keys."
    )


class FirstRunHint(QFrame):
    """Visible only when ``show_if_new(settings, recordings, microphone)`` finds no mark in ``settings``; it marks them."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("hint")
        self.setStyleSheet(f"#hint {{ border: 1px solid {theme.ACCENT2}; border-radius: 3px; }}")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 2, 4, 2)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setStyleSheet(f"color: {theme.ACCENT2};")
        row.addWidget(self.label, 1)
        self.ok_btn = QPushButton("Got it")
        self.ok_btn.clicked.connect(self.hide)
        row.addWidget(self.ok_btn)
        self.hide()

    def show_if_new(self, settings: QSettings, recordings: str, microphone: bool = True) -> bool:
        """Show the hint when these settings have never shown it, and remember that they have. True: shown.
        ``microphone``: the source playing is the microphone (else a file)."""
        if str(settings.value(KEY, "")) == "shown":
            return False
        self.label.setText(hint_text(recordings, microphone))
        self.show()
        settings.setValue(KEY, "shown")
        settings.sync()
        return True
