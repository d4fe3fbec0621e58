"""Issue 23 (ugly): every app launch printed 'ALSA lib seq_hw.c:...: open /dev/snd/seq failed' on a machine without an
ALSA sequencer: rtmidi, asked for the port list that nobody had asked for, printed it from C. Where there is no
sequencer, rtmidi is not asked: a launch is quiet, and asking for MIDI says in one line why there is none."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT
from desktop.control import midi

pytestmark = pytest.mark.slow  # each test launches the app

NO_SEQUENCER = sys.platform.startswith("linux") and not os.path.exists(midi.ALSA_SEQUENCER)


def _app(tmp_path, *args):
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "LATENTSYNTH_SETTINGS": str(tmp_path / "s.ini"),
        "LATENTSYNTH_STATE_DIR": str(tmp_path / "state"),
    }
    return subprocess.run(
        [sys.executable, "-m", "desktop.app", *args],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_launch_prints_nothing_from_the_midi_system(tmp_path):
    proc = _app(tmp_path, "--input-file", str(FIXTURES / "music_rock_mix.wav"), "--quit-after", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "seq" not in proc.stderr and "ALSA lib" not in proc.stderr, proc.stderr


@pytest.mark.skipif(not NO_SEQUENCER, reason="this machine has an ALSA sequencer")
def test_asking_for_midi_without_a_sequencer_says_why_in_one_line(tmp_path):
    listed = _app(tmp_path, "--list-midi")
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    assert listed.stdout.strip() == (
        f"no MIDI input ports: no ALSA sequencer here: {midi.ALSA_SEQUENCER} is missing "
        "(the snd-seq kernel module is not loaded)"
    )
    opened = _app(tmp_path, "--midi-in", "My Keys", "--input-file", str(FIXTURES / "music_rock_mix.wav"))
    err = [line for line in opened.stderr.splitlines() if "propagateSizeHints" not in line]  # offscreen Qt's own
    assert opened.returncode == 2, opened.stderr
    assert err[-1] == (
        f"latentsynth: error: MIDI input 'My Keys': cannot open it: no ALSA sequencer here: {midi.ALSA_SEQUENCER} "
        "is missing (the snd-seq kernel module is not loaded)"
    ), err
    assert not any("ALSA lib" in line for line in err), err
