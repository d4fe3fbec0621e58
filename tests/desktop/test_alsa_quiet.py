"""alsa-lib's C-level error printing is silenced once the engine touches PortAudio (desktop/engine/audio/alsa_quiet.py)."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.util.find_library("asound") is None, reason="no alsa-lib here"
)

# an ALSA error on demand: opening a PCM that does not exist makes alsa-lib print "ALSA lib ...: Unknown PCM"
PROVOKE = """
import ctypes, ctypes.util, sys
{prelude}
lib = ctypes.CDLL(ctypes.util.find_library("asound"))
pcm = ctypes.c_void_p()
rc = lib.snd_pcm_open(ctypes.byref(pcm), b"latentsynth_no_such_pcm", 0, 0)
sys.exit(0 if rc < 0 else 3)
"""


def _stderr(prelude: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", PROVOKE.format(prelude=prelude)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_alsa_prints_its_errors_until_silenced_and_not_after():
    assert "ALSA lib" in _stderr("")  # the library does print (so the check below can fail)
    assert _stderr("from desktop.engine.audio.alsa_quiet import silence; assert silence()") == ""


def test_the_engine_silences_it_before_portaudio_starts():
    assert _stderr("from desktop.engine.audio.devices import _sd; _sd()") == ""
