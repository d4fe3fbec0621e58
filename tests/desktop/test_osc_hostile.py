"""Issue 23 (ugly): one OSC packet whose address is not valid UTF-8 printed a 27-line traceback (the server lived on),
and a flood of NaN printed 1,937 lines. Now the packet is one line, and a repeated message is said at most once a
second with how many like it were held back; good messages keep working throughout."""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from conftest import FIXTURES, ROOT
from core.bundle_io import load_bundle
from desktop.control.osc import OscServer, RateLimitedLog
from desktop.engine.model.factory import default_bundle_path
from desktop.engine.parameters.params import PREFIX, ParamRegistry, StaticTarget
from desktop.engine.parameters.values import LIVE_MODES, EngineParams, StreamConfig
from tests.waits import wait_for

DRY_WET = f"{PREFIX}/mix/dry_wet"


def _bad_utf8_packet() -> bytes:
    dgram = OscMessageBuilder(DRY_WET).build().dgram  # address, padding, ',' type tags
    return dgram.replace(b"dry_wet", b"dry\xff\xfewe")  # same length: only the bytes are not UTF-8


def _flood(port: int, n: int) -> None:
    client = SimpleUDPClient("127.0.0.1", port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.sendto(_bad_utf8_packet(), ("127.0.0.1", port))
    for _ in range(n):
        client.send_message(DRY_WET, math.nan)


@pytest.fixture()
def registry():
    manifest = load_bundle(default_bundle_path()).manifest
    return ParamRegistry(StaticTarget(EngineParams(), StreamConfig()), manifest, LIVE_MODES)


def test_a_bad_packet_is_one_line_and_a_nan_flood_a_few(registry, capfd):
    log, good = [], []
    registry.add_listener(lambda address, value: good.append(value))
    server = OscServer(registry, port=0, log=log.append).start()
    try:
        _flood(server.port, 2000)
        client = SimpleUDPClient("127.0.0.1", server.port)

        def landed() -> bool:  # a good one after the flood (sent again while UDP drops what the server cannot take)
            if registry.target.params.dry_wet == 0.25:
                return True
            client.send_message(DRY_WET, 0.25)
            return False

        wait_for(landed, "a good message after the flood", timeout=10, every=0.05)
    finally:
        server.stop()
    assert registry.target.params.dry_wet == 0.25
    assert "Traceback" not in capfd.readouterr().err
    utf8 = [line for line in log if "not valid UTF-8" in line]
    assert utf8 == ["OSC: ignored a packet from 127.0.0.1: its address or a text argument is not valid UTF-8"], log
    nan = [line for line in log if "not valid UTF-8" not in line]
    assert 1 <= len(nan) <= 5, nan  # the flood took well under 5 s
    held = [int(n) for line in nan for n in re.findall(r"(\d+) more like it", line)]
    arrived = server.received - len(good)  # the NaN the flood delivered (UDP may drop some on a busy machine)
    assert len(nan) + sum(held) == arrived, (nan, arrived)
    assert all(line.startswith(f"OSC: ignored {DRY_WET}") for line in nan), nan


def test_the_rate_limit_passes_each_message_once_a_second_and_counts_the_rest():
    now = [0.0]
    out = []
    limit = RateLimitedLog(out.append, interval=1.0, burst=3, clock=lambda: now[0])
    for _ in range(5):
        limit("a")
    limit("b")
    now[0] = 0.5
    limit("c")
    limit("d")  # past the burst of 3 lines in this second
    now[0] = 1.2
    limit("a")
    limit("d")
    limit.flush()
    assert out == ["a", "b", "c", "a (and 4 more like it)", "d (and 1 more like it)"]


@pytest.mark.slow  # launches the app
def test_the_app_prints_one_line_for_the_packet_and_a_few_for_the_flood(tmp_path):
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "LATENTSYNTH_SETTINGS": str(tmp_path / "s.ini"),
        "LATENTSYNTH_STATE_DIR": str(tmp_path / "state"),
    }
    args = ["--input-file", str(FIXTURES / "music_rock_mix.wav"), "--osc-port", "0", "--quit-after", "4"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop.app", *args],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        for line in proc.stderr:
            lines.append(line)
            found = re.search(r"OSC on udp://127\.0\.0\.1:(\d+)", line)
            if found:
                _flood(int(found.group(1)), 2000)
                break
        out, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(lines) + rest
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    osc = [line for line in err.splitlines() if "OSC: ignored" in line]
    assert sum("not valid UTF-8" in line for line in osc) == 1, osc
    assert 2 <= len(osc) <= 6, osc  # one for the packet, a few for 2,000 NaN
