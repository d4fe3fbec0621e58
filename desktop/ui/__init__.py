"""PySide6 + pyqtgraph widgets for the live app; they only talk to the engine's public API."""
