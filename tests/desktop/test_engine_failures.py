"""What the live engine does when things fail: a model that raises, a device that stops, a disk that fills up,
a device name that does not exist. Each is reported in one line and the audio keeps going where it can."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ROOT
from desktop.engine.audio.devices import DeviceError, NullDriver, list_devices, resolve_device
from desktop.engine.audio.live import LiveEngine
from desktop.engine.audio.stream_watch import STALL_MESSAGE
from desktop.engine.model.slot import ModelSlot
from desktop.engine.parameters.values import EngineParams, StreamConfig
from tests.waits import wait_for

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time

RATE = 44100


def test_an_exception_in_the_worker_bypasses_and_says_so():
    calls = []

    def broken(w):
        calls.append(1)
        raise RuntimeError("weights are gone")

    slot = ModelSlot(broken, 22050, 22050, "broken", "cpu", compute_s=0.001)
    t = np.arange(RATE * 2) / RATE
    src = (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    eng = LiveEngine()
    eng.set_model(slot)
    eng.set_stream_config(StreamConfig("low-latency", 0.1))
    eng.set_params(EngineParams(limiter=False))
    drv = NullDriver(RATE, 512, src, loop=False, speed=2.0, capture=True, max_blocks=src.size // 512)
    eng.start(drv)
    wait_for(lambda: not drv.active, "the driver to play its source", timeout=60)
    summary = eng.summary()
    eng.stop(fade=False)
    y = drv.captured()
    assert calls, "the worker never ran the model"
    assert summary["error"] == "engine error: RuntimeError: weights are gone"
    assert eng.params.bypass  # the dry signal plays instead
    assert np.abs(y[-RATE // 2 :]).max() > 0.1  # and it is heard


def test_a_device_that_stops_calling_back_is_reported_as_stalled():
    src = np.zeros(RATE, np.float32)
    eng = LiveEngine()
    eng.set_model(ModelSlot.identity())
    drv = NullDriver(RATE, 512, src, loop=False, speed=8.0, capture=True, max_blocks=40)
    eng.start(drv)
    wait_for(lambda: not drv.active, "the driver's 40 blocks")  # then it never calls back again
    assert eng.first_callback_at is not None and eng.error == ""
    # the stream ran for a while before it went silent: as if 6 s had passed since its last callback
    eng.first_callback_at -= 10.0
    eng._last_callback -= 6.0
    wait_for(lambda: eng.error == STALL_MESSAGE, "the stall message", timeout=2.0)  # the worker notices it waiting
    error = eng.snapshot(0.0).error
    eng.stop(fade=False)
    assert error == STALL_MESSAGE


def test_a_full_disk_ends_the_recording_with_a_message_and_keeps_what_fit(tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse writes past 200 kB, as a full disk would (EFBIG instead of ENOSPC)."""
    out = tmp_path / "take.wav"
    code = textwrap.dedent(f"""
        import resource, signal
        import numpy as np
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get the error instead of the signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        from desktop.engine.files.recorder import Recorder
        rec = Recorder({str(out)!r}, 44100)
        for _ in range(40):  # 40 x 0.1 s of float32: 705 kB
            rec.push(np.full(4410, 0.25, np.float32))
        rec.close()  # the writer drains the queue before it stops
        print("ERROR", rec.error)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith(f"ERROR recording to {out} failed:") and "\n" not in line
    import soundfile as sf

    y, sr = sf.read(out)  # the header covers what reached the disk: a readable file, not a broken one
    assert sr == 44100 and 0 < y.size <= 200_000 // 4 and np.allclose(y, 0.25)


def test_device_names_resolve_exactly_by_fragment_or_index_and_unknown_ones_fail(pulse):
    devs = list_devices()
    out = [d for d in devs if d.outputs > 0]
    assert out
    first = out[0]
    assert resolve_device(first.name, "output") == first.index
    assert resolve_device(str(first.index), "output") == first.index
    assert resolve_device(None, "output") is None and resolve_device("default", "output") is None
    fragment = first.name[: max(3, len(first.name) // 2)].upper()
    assert resolve_device(fragment, "output") in [d.index for d in out if fragment.lower() in d.name.lower()]
    with pytest.raises(DeviceError, match="no input device named 'no such mic'"):
        resolve_device("no such mic", "input")
