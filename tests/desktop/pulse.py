"""A private PulseAudio daemon with two null sinks: a virtual speaker and a virtual microphone.

``speaker`` is the default sink (capture what the app plays from ``speaker.monitor``); ``micfeed`` is a sink
whose monitor is remapped into the source ``virtual_mic``, the default source (play a file into ``micfeed``
and the app hears it). Everything runs under a private XDG_RUNTIME_DIR, so it never touches a user's session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.waits import wait_for

MODULES = [
    "load-module module-native-protocol-unix",
    "load-module module-null-sink sink_name=speaker sink_properties=device.description=VirtualSpeaker",
    "load-module module-null-sink sink_name=micfeed sink_properties=device.description=VirtualMicFeed",
    "load-module module-remap-source source_name=virtual_mic master=micfeed.monitor "
    "source_properties=device.description=VirtualMic",
    "set-default-sink speaker",
    "set-default-source virtual_mic",
]


def pulse_available() -> bool:
    return shutil.which("pulseaudio") is not None and shutil.which("pactl") is not None


def start_pulse(runtime_dir: Path) -> tuple[subprocess.Popen, dict]:
    runtime_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(runtime_dir, 0o700)
    script = runtime_dir / "latentsynth.pa"
    script.write_text("\n".join(MODULES) + "\n")
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime_dir),
        "PULSE_RUNTIME_PATH": str(runtime_dir / "pulse"),
        "HOME": os.environ.get("HOME", str(runtime_dir)),
    }
    env.pop("PULSE_SERVER", None)
    proc = subprocess.Popen(
        [
            "pulseaudio",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "-n",
            "--disallow-exit",
            "--log-target=stderr",
            "--log-level=error",
            "-F",
            str(script),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"pulseaudio exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        return subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0

    try:
        wait_for(answers, "pulseaudio to answer", timeout=15, every=0.2)
    except AssertionError:
        proc.kill()
        raise
    return proc, env


def stop_pulse(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


def keep_sink_awake(env: dict) -> subprocess.Popen:
    """A silent stream on the virtual speaker, as on a desktop whose sound server already plays something: an idle
    null sink sleeps in 2-s blocks, and a stream opened while it sleeps stalls its first callbacks (underruns at the
    start that a real device does not have). Returns the process once the sink is past its first sleep; the caller
    terminates it."""
    keeper = subprocess.Popen(
        ["pacat", "--device=speaker", "--raw", "--format=float32le", "--channels=1", "--rate=44100",
         "--latency-msec=20", "/dev/zero"],
        env=env,
    )  # fmt: skip
    time.sleep(2.5)  # past the sink's first 2-s sleep: nothing to observe from outside
    return keeper
