"""The first-run hint (issue 24 item 4): shown on the first start with a new settings file, closed with 'Got it', and
never again once the settings remember it; it fits the 1366x768 window with everything else."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt

from desktop.ui.first_run import KEY
from tests.desktop.test_gui import make_window


def test_the_hint_shows_once_and_the_settings_remember_it(qtbot, settings_path, tmp_path):
    w = make_window(qtbot, settings_path)
    w.transport.set_recordings_folder(str(tmp_path))
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    assert w.hint.isVisible()
    text = w.hint.label.text()
    assert "your microphone plays" in text and "F1" in text and "Ctrl+Z" in text
    assert w.hint.geometry().bottom() < w.latent.geometry().top()  # above the panels, not over them
    assert w.width() <= 1366 and w.height() <= 768
    qtbot.mouseClick(w.hint.ok_btn, Qt.LeftButton)
    assert not w.hint.isVisible()
    w.close()
    assert QSettings(str(settings_path), QSettings.IniFormat).value(KEY) == "shown"

    again = make_window(qtbot, settings_path)
    again.show()
    qtbot.waitExposed(again)
    assert not again.hint.isVisible()
    again.close()


def test_a_first_start_on_a_file_says_the_file_plays(qtbot, settings_path, fixtures_dir):
    w = make_window(qtbot, settings_path, input_file=str(fixtures_dir / "speech_arctic_a0007.wav"))
    assert w.hint.label.text().startswith("First start: the file plays through the model")
    w.close()
