"""Crash-safe recording: a SIGKILLed recorder loses at most the last second, and the next start repairs it."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT
from desktop.engine.files.recorder import CrashSafeWavWriter, recover_recordings

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time


def test_writer_round_trip(tmp_path):
    w = CrashSafeWavWriter(tmp_path / "a.wav", 44100, 1, journal_dir=tmp_path / "j")
    x = np.sin(np.arange(44100) * 0.01).astype(np.float32)
    for i in range(0, x.size, 512):
        w.write(x[i : i + 512])
    w.close()
    y, sr = sf.read(tmp_path / "a.wav", dtype="float32")
    assert sr == 44100 and np.array_equal(y, x)
    assert not list((tmp_path / "j").glob("*.json"))


def test_sigkill_loses_at_most_one_second(tmp_path):
    out = tmp_path / "killed.wav"
    journal = tmp_path / "journal"
    script = textwrap.dedent(f"""
        import sys, time, numpy as np
        sys.path.insert(0, {str(ROOT)!r})
        from desktop.engine.files.recorder import Recorder
        rec = Recorder({str(out)!r}, 8000, journal_dir={str(journal)!r})
        t0 = time.monotonic(); n = 0
        while True:  # real-time pace: 80-sample blocks every 10 ms
            rec.push(np.full(80, 0.25, np.float32)); n += 80
            print(n, flush=True)
            time.sleep(max(0, t0 + n / 8000 - time.monotonic()))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    written = 0
    t_end = time.monotonic() + 3.0
    while time.monotonic() < t_end:
        written = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    y, sr = sf.read(out, dtype="float32")  # readable as it is, before any repair
    assert sr == 8000 and y.size >= written - 8000 and np.allclose(y, 0.25)
    recovered = recover_recordings(journal)
    assert recovered and recovered[0][0] == out and recovered[0][1] >= y.size
    y2, _ = sf.read(out, dtype="float32")
    assert y2.size >= written - 8000 and np.allclose(y2, 0.25)
    assert not list(journal.glob("*.json"))
