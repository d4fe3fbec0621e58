"""Issue 23, item 6: a bad value in the settings file (latentsynth.conf; $LATENTSYNTH_SETTINGS in tests) used to end
every launch in a traceback until the file was fixed by hand. Each saved value now passes the checks the other ways
in use; a bad one is said in one line on stderr, replaced in the file by its default, and the app starts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtCore import QSettings

from conftest import FIXTURES, ROOT
from desktop.ui.saved_values import CHECKS, saved_value

BAD = [  # (section, line as a hand edit leaves it, key, the problem said)
    ("stream", "hop=abc", "stream/hop", "'abc' is not a number"),
    ("stream", "hop=nan", "stream/hop", "not a finite number"),
    ("stream", "hop=9", "stream/hop", "out of range"),
    ("stream", "mode=turbo", "stream/mode", "not one of"),
    ("midi", "bindings={not json", "midi/bindings", "not valid JSON"),
    ("midi", 'bindings="{\\"channel\\": 1}"', "midi/bindings", "not a JSON list"),
    ("notes", "glide_s=slow", "notes/glide_s", "not a number"),
    ("notes", "glide_s=-1", "notes/glide_s", "out of range"),
    ("notes", "follow=sideways", "notes/follow", "not one of"),
    ("model", "provider=quantum", "model/provider", "not one of"),
    ("model", "user_bundles=[1, 2]", "model/user_bundles", "not JSON text"),
    ("audio", "output_device=Speakers, USB", "audio/output_device", "not one piece of text"),
]


@pytest.mark.parametrize("section,line,key,problem", BAD, ids=[b[1] for b in BAD])
def test_a_bad_saved_value_is_said_and_replaced_by_its_default(tmp_path, capsys, section, line, key, problem):
    ini = tmp_path / "s.ini"
    ini.write_text(f"[{section}]\n{line}\n")
    settings = QSettings(str(ini), QSettings.IniFormat)
    reported = []
    default, check = CHECKS[key]
    assert saved_value(settings, key, reported.append) == check(default)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err == reported, err
    name = key.split("/")[1]
    assert err[0].startswith(f"latentsynth: {ini}: [{section}] {name}=") and problem in err[0], err[0]
    assert "replaced by the default" in err[0]
    fresh = QSettings(str(ini), QSettings.IniFormat)  # what the next launch reads
    assert saved_value(fresh, key) == check(default) and not capsys.readouterr().err


def test_good_and_missing_saved_values_are_taken_quietly(tmp_path, capsys):
    ini = tmp_path / "s.ini"
    ini.write_text('[stream]\nhop=0.3\nmode=window\n[midi]\nbindings="[]"\n[notes]\nglide_s=0.5\n')
    s = QSettings(str(ini), QSettings.IniFormat)
    assert saved_value(s, "stream/hop") == 0.3 and saved_value(s, "stream/mode") == "window"
    assert saved_value(s, "midi/bindings") == [] and saved_value(s, "notes/glide_s") == 0.5
    assert saved_value(s, "model/provider") == "auto" and saved_value(s, "audio/output_device") == "default"
    assert not capsys.readouterr().err


def _launch(ini, tmp_path):
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "LATENTSYNTH_SETTINGS": str(ini),
        "LATENTSYNTH_STATE_DIR": str(tmp_path / "state"),
    }
    args = ["--input-file", str(FIXTURES / "music_rock_mix.wav"), "--quit-after", "1"]
    return subprocess.run(
        [sys.executable, "-m", "desktop.app", *args],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_the_app_starts_with_the_issues_settings_file_and_the_next_launch_is_quiet(tmp_path):
    ini = tmp_path / "latentsynth.conf"
    ini.write_text("[stream]\nhop=abc\n[midi]\nbindings=<not JSON>\n")
    first = _launch(ini, tmp_path)
    assert first.returncode == 0 and "Traceback" not in first.stderr, first.stderr[-3000:]
    said = [line for line in first.stderr.splitlines() if line.startswith(f"latentsynth: {ini}:")]
    assert len(said) == 2, first.stderr
    assert "[stream] hop=abc" in said[0] and "[midi] bindings=<not JSON>" in said[1], said
    assert "abc" not in ini.read_text() and "not JSON" not in ini.read_text()
    second = _launch(ini, tmp_path)
    assert second.returncode == 0 and str(ini) not in second.stderr, second.stderr[-3000:]
