"""A titled panel: the plugin look's rounded box around one group of controls (INPUT, LATENT, OUTPUT)."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout


class Panel(QFrame):
    """A frame styled as ``#panel`` with a section title on top; add the group's widgets to ``body``."""

    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.setObjectName("panel")
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(8, 6, 8, 8)
        self.body.setSpacing(4)
        label = QLabel(title)
        label.setObjectName("section")
        self.body.addWidget(label)
