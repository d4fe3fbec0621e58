"""Issue 23 ("Nothing lost, round two") where the right answer is not a refusal: what the commands do write, they
write where the path says, and only what they were asked to; features that used to be silently off now act."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES, ROOT, run_cli

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time

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


def test_morph_acts_on_a_streaming_bundle(tmp_path):
    """The default bundle streams: --morph B --amount 1 used to give the plain render byte for byte. Now B is
    encoded block by block beside A: amount 1 is B's own render, amount 0 is A's, and 0.5 is neither."""
    a, b = CLIP, FIXTURES / "speech_arctic_a0007.wav"  # both 4 s at 22.05 kHz: B is not looped
    outs = {}
    for name, args in {
        "a": [a],
        "b": [b],
        "to_b": [a, "--morph", b, "--amount", "1"],
        "none": [a, "--morph", b, "--amount", "0"],
        "half": [a, "--morph", b, "--amount", "0.5"],
    }.items():
        proc = render(*args, "-o", tmp_path / f"{name}.wav")
        assert proc.returncode == 0, proc.stderr
        outs[name] = sf.read(tmp_path / f"{name}.wav", dtype="int16")[0]
    assert np.array_equal(outs["to_b"], outs["b"]), "amount 1 must be B resynthesised"
    assert np.array_equal(outs["none"], outs["a"]), "amount 0 must be A resynthesised"
    rms = {k: float(np.sqrt(np.mean(np.square(v - outs["half"], dtype=np.float64)))) for k, v in outs.items()}
    assert rms["a"] > 100 and rms["b"] > 100, rms  # int16 units: the half-way morph is neither


def test_export_swap_deletes_only_the_old_bundles_own_files(tmp_path):
    """The last step of an export, checked again after the slow work: a README that appeared beside the old bundle
    stops the swap (nothing changes); without it the old bundle's files go and nothing is left behind."""
    from core.bundle_io import load_bundle
    from desktop.engine.model.factory import default_bundle_path
    from export.bundle_writer import ExportError, _replace_dir

    out, new = tmp_path / "b", tmp_path / ".b.tmp-1"
    shutil.copytree(default_bundle_path(), out)
    shutil.copytree(default_bundle_path(), new)
    (new / "manifest.json").write_text((new / "manifest.json").read_text().replace('"family"', '"family" '))
    (out / "README.txt").write_text("mine\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ExportError, match="README.txt, which is not part of the bundle"):
        _replace_dir(new, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (out / "README.txt").unlink()
    _replace_dir(new, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    assert '"family" ' in (out / "manifest.json").read_text() and load_bundle(out)


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_render_respects_the_umask_and_keeps_the_mode_of_a_file_it_replaces(tmp_path, umask, mode):
    """Every render used to be written 0600 (the temporary file's mode), and replacing a 0644 file made it 0600."""

    def run(out):
        return subprocess.run(
            [sys.executable, "-m", "desktop.render_cli", "--quiet", str(CLIP), "-o", str(out)],
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=lambda: os.umask(umask),
        )

    new, kept = tmp_path / "new.wav", tmp_path / "kept.wav"
    kept.write_bytes(b"an older result")
    kept.chmod(0o640)
    for out in (new, kept):
        proc = run(out)
        assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(new.stat().st_mode) == mode
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and sf.info(kept).frames > 0


def test_a_wav_cut_short_renders_what_is_there_and_says_so(tmp_path):
    """1.33 of 4 s present: the render used to write 1.33 s with exit 0 and no word."""
    cut = tmp_path / "cut.wav"
    data = CLIP.read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    proc = render(cut, "-o", tmp_path / "out.wav")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"latentsynth-render: warning: {cut}: "), proc.stderr
    assert "ends after 1.33 s of the 4.00 s its header declares" in lines[0]
    assert sf.info(tmp_path / "out.wav").frames == sf.info(cut).frames
    whole = render(CLIP, "-o", tmp_path / "whole.wav")
    assert whole.returncode == 0 and whole.stderr == "", whole.stderr


def test_an_app_without_any_audio_device_says_so_in_its_json_error(tmp_path):
    """No sound device (no PulseAudio server to talk to, and no sound card in the test machine): the app keeps
    running on a silent clock and says "running without audio output" on stderr; its JSON summary's ``error`` used
    to be empty, so a script reading it took the run for a good one."""
    env = {
        "QT_QPA_PLATFORM": "offscreen",
        "PULSE_SERVER": f"unix:{tmp_path / 'no-server'}",
        "LATENTSYNTH_SETTINGS": str(tmp_path / "s.ini"),
        "LATENTSYNTH_STATE_DIR": str(tmp_path / "state"),
    }
    proc = run_cli(["-m", "desktop.app", "--input-file", str(CLIP), "--quit-after", "1"], env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    said = [ln for ln in proc.stderr.splitlines() if ln.endswith("running without audio output")]
    assert len(said) == 1, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["error"] and summary["error"] in said[0], summary["error"]
