"""Issue 23 ("Nothing lost, round two") where the right answer is not a refusal: what the commands do write, they
write where the path says, and only what they were asked to; features that used to be silently off now act."""

from __future__ import annotations

import shutil

import numpy as np
import soundfile as sf

from conftest import FIXTURES, run_cli

CLIP = FIXTURES / "music_rock_mix.wav"


def render(*args):
    return run_cli(["-m", "desktop.render_cli", "--quiet", *map(str, args)])


def test_render_through_a_missing_folder_and_back_creates_no_folder(tmp_path):
    """-o sub/../new.wav (no sub/): the file lands beside the input, as the kernel would resolve the path once the
    folders existed, and no sub/ is left behind."""
    src = tmp_path / "in.wav"
    shutil.copy(CLIP, src)
    proc = render(src, "-o", tmp_path / "sub" / ".." / "new.wav")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "new.wav"]
    assert src.read_bytes() == CLIP.read_bytes()
    y, sr = sf.read(tmp_path / "new.wav")
    assert sr == sf.info(CLIP).samplerate and np.isfinite(y).all()
