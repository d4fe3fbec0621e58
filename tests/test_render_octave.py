"""latentsynth-render --octave: N octaves, or 'auto' into the bundle's trained range (manifest extra.trained_range),
on the dsp bundle (source-filter, declares transpose; trained median about 155 Hz); bad values are one-line errors."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, main_in_process
from desktop.engine.model.octave import file_pitch_and_loudness
from desktop.render_cli import main as render_main

BUNDLE = ROOT / "desktop" / "evaluation" / "dsp_bundle"
SR = 22050
TRAINED = json.loads((BUNDLE / "manifest.json").read_text())["extra"]["trained_range"]["pitch_hz"][1]


def _render(tmp_path, f0: float, *extra: str) -> tuple[subprocess.CompletedProcess, float | None]:
    t = np.arange(2 * SR) / SR
    x = sum(0.1 * np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)).astype(np.float32)
    src, out = tmp_path / f"in_{f0:.0f}.wav", tmp_path / "out.wav"
    sf.write(src, x, SR)
    out.unlink(missing_ok=True)
    proc = main_in_process(render_main, [str(src), "-o", str(out), "--bundle", str(BUNDLE), *extra])
    hz = file_pitch_and_loudness(out)[0] if out.exists() else None
    return proc, hz


@pytest.mark.parametrize("octaves,shift", [(1.3, -1), (-0.8, 1)])
def test_auto_moves_the_input_into_the_trained_range(tmp_path, octaves, shift):
    """A tone 1.3 octaves above the trained median comes back an octave down, one 0.8 below an octave up."""
    f0 = TRAINED * 2.0**octaves
    expect = f0 * 2.0**shift
    proc, hz = _render(tmp_path, f0, "--octave", "auto")
    assert proc.returncode == 0, proc.stderr
    assert "octave" in proc.stderr
    assert hz is not None and abs(1200 * np.log2(hz / expect)) < 20, hz


def test_whole_octaves_add_to_transpose(tmp_path):
    proc, hz = _render(tmp_path, 200.0, "--octave", "1", "--transpose", "-12")
    assert proc.returncode == 0, proc.stderr
    assert hz is not None and abs(1200 * np.log2(hz / 200.0)) < 20, hz


@pytest.mark.parametrize("value", ["up", "3"])
def test_bad_octave_is_one_line(tmp_path, value):
    proc, _ = _render(tmp_path, 200.0, "--octave", value)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--octave" in lines[0], proc.stderr
