"""The desktop tests' fixtures (the one place for them; offscreen Qt and the fixture clips come from tests/conftest.py):
a private PulseAudio with virtual devices, the factory bundle and its runner, settings in INI, an impulse train."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from desktop.ui import main_thread_gc

from .pulse import pulse_available, start_pulse, stop_pulse


@pytest.fixture(autouse=True)
def _collect_on_the_main_thread():
    """As in the app (desktop/ui/main_thread_gc.py): no garbage collection in a worker thread, where it would
    destroy the Qt objects a test left in reference cycles off Qt's thread (the suite segfaulted so); what is due is
    collected here, after each test, on the main thread."""
    main_thread_gc.take_over()
    yield
    main_thread_gc.collect_due()


@pytest.fixture(scope="session")
def default_bundle():
    from core.bundle_io import load_bundle
    from desktop.engine.model.factory import default_bundle_path

    return load_bundle(default_bundle_path())


@pytest.fixture(scope="session")
def default_runner(default_bundle):
    from core.session import ModelRunner

    return ModelRunner(default_bundle, provider="cpu", threads=1)


@pytest.fixture(scope="session")
def pulse(tmp_path_factory):
    """A private PulseAudio daemon: default sink ``speaker``, default source ``virtual_mic`` fed by sink
    ``micfeed``. Sets this process's environment so PortAudio (via ALSA's pulse plugin) talks to it."""
    if not pulse_available():
        pytest.skip("pulseaudio/pactl are not installed (Debian: pulseaudio pulseaudio-utils libasound2-plugins)")
    runtime = Path(tempfile.mkdtemp(prefix="ls-pulse-"))
    proc, env = start_pulse(runtime)
    saved = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH")}
    os.environ["XDG_RUNTIME_DIR"] = env["XDG_RUNTIME_DIR"]
    os.environ["PULSE_RUNTIME_PATH"] = env["PULSE_RUNTIME_PATH"]
    if "sounddevice" in sys.modules:  # it read the device list at import: read it again now the server runs
        sd = sys.modules["sounddevice"]
        sd._terminate()
        sd._initialize()
    yield env
    stop_pulse(proc)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def settings_path(tmp_path) -> Path:
    return tmp_path / "settings.ini"


def impulse_train(rate: int, seconds: float, at: list[float], amp: float = 0.5) -> np.ndarray:
    x = np.zeros(int(rate * seconds), np.float32)
    for t in at:
        x[int(t * rate)] = amp
    return x
