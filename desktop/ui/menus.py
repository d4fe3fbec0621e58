"""The window's menu bar and keyboard: Edit (undo and redo the knobs' changes), Settings (restore the last session at
start, the recordings folder), Help (the shortcuts, the docs), and the shortcuts themselves (Space = audio on/off,
R = record, B = bypass, F = fit to model, G = generate, C = continue what I played, Ctrl+Z / Ctrl+Shift+Z = undo /
redo)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from .saved_values import saved_value

if TYPE_CHECKING:
    from .main_window import MainWindow

DOCS = Path(__file__).resolve().parents[2] / "docs"

# key -> what it does (the Help menu lists these; each is a window-wide shortcut)
SHORTCUTS = (
    ("Space", "audio on / off"),
    ("R", "record on / off"),
    ("B", "bypass on / off"),
    ("F", "fit to model: transpose by octaves into the range an instrument model was trained on"),
    ("G", "generate on / off: play the model's learned prior instead of the input"),
    ("C", "continue from what I just played: the prior carries on the input's last seconds"),
    ("Ctrl+Z", "undo the last knob change"),
    ("Ctrl+Shift+Z", "redo it (also Ctrl+Y)"),
    ("F1", "this list"),
)


class Menus:
    """Builds ``window``'s menu bar and shortcuts; the actions are attributes so tests can trigger them."""

    def __init__(self, window: "MainWindow"):
        self.w = window
        bar = window.menuBar()
        edit = bar.addMenu("&Edit")
        latent = window.latent
        self.undo_action = QAction("Undo knob change", window)
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.undo_action.triggered.connect(latent.undo)
        self.redo_action = QAction("Redo knob change", window)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.triggered.connect(latent.redo)
        for action in (self.undo_action, self.redo_action):
            action.setShortcutContext(Qt.WindowShortcut)
            edit.addAction(action)
        latent.history_changed = self._update_undo
        self._update_undo()
        settings = bar.addMenu("&Settings")
        self.restore_action = QAction("Restore the last session at start (model and file)", window)
        self.restore_action.setCheckable(True)
        self.restore_action.setChecked(saved_value(window.settings, "session/restore"))
        self.restore_action.setToolTip("Off: every start plays the microphone through the default model")
        self.restore_action.toggled.connect(self.set_restore_session)
        settings.addAction(self.restore_action)
        self.folder_action = QAction("Recordings folder…", window)
        self.folder_action.triggered.connect(self._choose_folder)
        settings.addAction(self.folder_action)

        help_menu = bar.addMenu("&Help")
        self.shortcuts_action = QAction("Keyboard shortcuts", window)
        self.shortcuts_action.setShortcut(QKeySequence(Qt.Key_F1))
        self.shortcuts_action.triggered.connect(self.show_shortcuts)
        help_menu.addAction(self.shortcuts_action)
        self.docs_action = QAction("Documentation (docs/desktop.md)", window)
        self.docs_action.triggered.connect(lambda: QDesktopServices.openUrl(docs_url()))
        self.docs_action.setEnabled(docs_url().isValid())  # an installed copy without the docs folder
        help_menu.addAction(self.docs_action)
        window.addAction(self.shortcuts_action)

        t, mix = window.transport, window.mix
        self.keys = {}
        for key, slot in (
            ("Space", lambda: t.power_btn.click()),
            ("R", lambda: t.record_btn.click()),
            ("B", lambda: mix.bypass_btn.click()),
            ("F", window.fit.fit),
            ("G", window.generate.switch),
            ("C", window.generate.continue_input),
        ):
            action = QAction(key, window)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.WindowShortcut)
            action.triggered.connect(slot)
            window.addAction(action)  # window-wide, not in a menu: typing in a text field still types
            self.keys[key] = action

    def _update_undo(self) -> None:
        history = self.w.latent.history
        self.undo_action.setEnabled(history.can_undo)
        self.redo_action.setEnabled(history.can_redo)

    def set_restore_session(self, on: bool) -> None:
        self.w.settings.setValue("session/restore", "true" if on else "false")
        self.w.settings.sync()

    def _choose_folder(self) -> None:
        t = self.w.transport
        folder = QFileDialog.getExistingDirectory(self.w, "Recordings folder", str(t.recordings_folder))
        if folder:
            t.set_recordings_folder(folder)
            self.w.show_message(f"Recordings go to {folder}", modal=False, kind="info")

    def shortcuts_text(self) -> str:
        rows = "\n".join(f"{key:>12}   {what}" for key, what in SHORTCUTS)
        docs = docs_url().toLocalFile() or "docs/desktop.md in the source"
        return f"{rows}\n\nRecordings go to {self.w.transport.recordings_folder}\nDocs: {docs}"

    def show_shortcuts(self) -> None:
        box = QMessageBox(QMessageBox.Information, "Keyboard shortcuts", self.shortcuts_text(), QMessageBox.Ok, self.w)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()


def docs_url() -> QUrl:
    local = DOCS / "desktop.md"
    return QUrl.fromLocalFile(str(local)) if local.is_file() else QUrl()
