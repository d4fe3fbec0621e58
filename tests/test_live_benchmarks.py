"""The live-CPU and machine-jitter benchmarks run and report consistent figures (docs/streaming.md and
docs/desktop.md quote them; the figures themselves are measured there, not asserted here)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test launches a benchmark; live_breakdown plays 3 s in real time

ROOT = Path(__file__).resolve().parent.parent


def run(module: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_machine_jitter_reports_wakeups_and_rejects_bad_arguments():
    r = run("machine_jitter", "--seconds", "0.3")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["wakeups"] > 50  # 1 ms naps for 0.3 s
    late = rep["late_ms"]
    assert 0.0 <= late["50"] <= late["99"] <= late["99.9"] <= late["max"]
    counts = [rep["late_over_ms"][k] for k in ("2", "4", "5.8", "10")]
    assert counts == sorted(counts, reverse=True) and counts[0] <= rep["wakeups"]
    bad = run("machine_jitter", "--seconds", "0")
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "--seconds" in bad.stderr and "Traceback" not in bad.stderr


def test_machine_jitter_at_normal_priority_stops_on_sigterm_and_still_reports():
    """How the audio tests measure the machine beside them: normal priority, ended by SIGTERM, one JSON line."""
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.machine_jitter", "--seconds", "600", "--priority", "normal"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.0)
    t0 = time.perf_counter()
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert time.perf_counter() - t0 < 10 and proc.returncode == 0
    rep = json.loads(out.strip().splitlines()[-1])
    assert rep["priority"] == "normal" and rep["wakeups"] > 100 and rep["seconds"] < 60


def test_live_breakdown_parts_nest_inside_their_callers():
    r = run("live_breakdown", "--seconds", "3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    whole = re.match(r"whole process: ([\d.]+) % of one core", lines[0])
    assert whole, lines[0]
    parts, calls = {}, {}
    for line in lines[1:]:
        m = re.match(r"\s*(.+?)\s{2,}([\d.]+) %(?:\s+([\d.]+) us/call,\s+(\d+) calls/s)?", line)
        assert m, line
        parts[m.group(1)] = float(m.group(2))
        if m.group(4):
            calls[m.group(1)] = int(m.group(4))
    chain = [
        "worker thread",
        "_process (one wake)",
        "chain.process",
        "streaming push",
        "model block",
    ]
    for outer, inner in zip(chain, chain[1:]):  # thread CPU time of a call includes its callees'
        assert parts[inner] <= parts[outer] + 0.01, (outer, inner, parts)
    assert parts["encoder step"] + parts["decoder step"] <= parts["model block"] + 0.01
    assert parts["audio callback"] <= parts["driver thread (pacing + callback)"] + 0.01
    assert parts["model block"] > 0.0 and parts["worker thread"] <= float(whole.group(1)) + 0.5
    # 256-sample model blocks at 22.05 kHz: 86 a second; 256-frame device callbacks at 44.1 kHz: 172 a second
    assert abs(calls["model block"] - 86) <= 9 and abs(calls["audio callback"] - 172) <= 17
