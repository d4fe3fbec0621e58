"""A stream the sound server drops (PulseAudio's kill-sink-input, as when its ALSA plugin's poll fails) is reopened by
the engine: the sound comes back after a short gap, on real PortAudio streams and PulseAudio's virtual devices."""

import subprocess
import time

import numpy as np
import soundfile as sf

from tests.waits import wait_for

from .test_devices_pulse import parec


def sink_inputs(env) -> list[str]:
    out = subprocess.run(["pactl", "list", "short", "sink-inputs"], env=env, capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def test_dropped_stream_is_reopened_and_sound_comes_back(pulse, default_runner, fixtures_dir, tmp_path):
    from desktop.engine.audio.devices import SoundDeviceDriver
    from desktop.engine.audio.live import LiveEngine
    from desktop.engine.model.slot import ModelSlot
    from desktop.engine.parameters.values import FileSource

    eng = LiveEngine()
    eng.set_model(ModelSlot.from_runner(default_runner))
    x, sr = sf.read(fixtures_dir / "music_rock_guitar.wav", dtype="float32", always_2d=True)
    eng.set_file_source(FileSource(x.mean(axis=1), sr, "guitar"))
    eng.start(SoundDeviceDriver())
    try:
        wait_for(lambda: eng.first_callback_at is not None, "the stream to start", timeout=10)
        before = sink_inputs(pulse)
        assert before, "no stream on the virtual speaker"
        for idx in before:  # what the server does to a stream whose client failed: it is gone
            subprocess.run(["pacmd", "kill-sink-input", idx], env=pulse, check=True)
        wait_for(lambda: eng.stream_restarts >= 1, "the dropped stream to be reopened", timeout=8)
        cap = tmp_path / "after.raw"
        rec = parec(pulse, cap)
        time.sleep(3.0)
        rec.terminate()
        rec.wait(timeout=5)
        snap = eng.snapshot()
    finally:
        eng.stop()
    y = np.fromfile(cap, dtype="<f4")
    assert y.size > 44100
    loud = np.sqrt(np.mean(np.square(y[: (y.size // 4410) * 4410].reshape(-1, 4410)), axis=1))
    assert loud.max() > 0.01, "no sound after the stream was reopened"
    assert snap.error == "", snap.error
    assert eng.summary()["stream_restarts"] == eng.stream_restarts
