"""Issue 23 (ugly): a remembered bundle damaged after it was saved. The app used to fall back to the factory model
without a word on stderr or in the JSON line, and its message line cut the explanation mid-word. Now the fallback is
said in one line on stderr, in the JSON ``error``, and on the message line in whole words."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from PySide6.QtCore import QSettings

from conftest import FIXTURES, ROOT
from desktop.engine.audio.devices import NullDriver
from desktop.engine.audio.live import LiveEngine
from desktop.engine.model.factory import default_bundle_path
from desktop.ui.main_window import AppOptions, MainWindow
from desktop.ui.status_line import elide_words

FALLBACK = "Playing the factory model: the last model cannot be loaded: "


def _damaged_last_bundle(tmp_path):
    """A copy of a factory bundle with one byte of its encoder flipped, saved as the last model with restoring on."""
    bundle = tmp_path / "my model"
    shutil.copytree(default_bundle_path().parent / "mel-vae", bundle)
    enc = bundle / "encoder.onnx"
    data = bytearray(enc.read_bytes())
    data[len(data) // 2] ^= 0xFF
    enc.write_bytes(bytes(data))
    ini = tmp_path / "s.ini"
    ini.write_text(f'[session]\nrestore=true\n[model]\nlast_bundle="{bundle}"\n')
    return bundle, ini


def test_the_window_says_it_fell_back_to_the_factory_model_in_whole_words(qtbot, tmp_path, capsys):
    bundle, ini = _damaged_last_bundle(tmp_path)
    opts = AppOptions(list_devices=False, modal_errors=False, driver_factory=lambda i, o: NullDriver(44100, 512))
    w = MainWindow(LiveEngine(), QSettings(str(ini), QSettings.IniFormat), opts)
    qtbot.addWidget(w)
    assert w.bundle is not None and w.bundle.path == default_bundle_path()
    message = w.messages[-1]
    assert message.startswith(FALLBACK + str(bundle / "encoder.onnx") + ": checksum mismatch"), message
    assert w.browser.load_error == message
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"latentsynth: {message}"], err
    w.show()
    qtbot.waitExposed(w)
    label = w.message_label
    shown = label.shown_text()
    assert label.text() == message and label.toolTip() == message
    assert shown != message, "the message fits whole: the test no longer tests the cut"
    assert shown.endswith(" …"), shown
    kept = shown[: -len(" …")]
    assert message.startswith(kept) and message[len(kept)] in " ,;:", f"cut mid-word: {shown!r}"
    assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()


def test_elide_words_keeps_whole_words():
    def fits(n):
        return lambda s: len(s) <= n

    text = "Playing the factory model: the last model cannot be loaded"
    assert elide_words(text, fits(100)) == text
    assert elide_words(text, fits(30)) == "Playing the factory model …"
    assert elide_words(text, fits(5)) == "…"


@pytest.mark.slow  # launches the app
def test_the_app_says_so_on_stderr_and_in_its_json_line(tmp_path):
    bundle, ini = _damaged_last_bundle(tmp_path)
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "LATENTSYNTH_SETTINGS": str(ini),
        "LATENTSYNTH_STATE_DIR": str(tmp_path / "state"),
    }
    args = ["--input-file", str(FIXTURES / "music_rock_mix.wav"), "--quit-after", "1"]
    proc = subprocess.run(
        [sys.executable, "-m", "desktop.app", *args],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    said = [line for line in proc.stderr.splitlines() if "factory model" in line]
    assert len(said) == 1 and said[0].startswith(f"latentsynth: {FALLBACK}{bundle}"), proc.stderr
    assert "checksum mismatch" in said[0]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["error"] == said[0][len("latentsynth: ") :]
    assert summary["model"] == json.loads((default_bundle_path() / "manifest.json").read_text())["provenance"]["name"]
