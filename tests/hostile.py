"""The machinery of the hostile-input tables (tests/test_hostile_inputs*.py): a ``Case`` is one careless or hostile
command line; ``run_case`` runs the real command in a subprocess and checks that it ends with exactly one line on
stderr, ``PROG: error: ...`` naming the file (or the option) and the problem, exit code 2, no traceback, and every file
that existed before byte-for-byte unchanged, with nothing new left behind.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES, ROOT

CLIP = FIXTURES / "music_rock_mix.wav"  # 4 s, 22.05 kHz, 16-bit mono
MODULES = {"render": "desktop.render_cli", "train": "trainer", "export": "export", "app": "desktop.app"}
PROGS = {
    "render": "latentsynth-render",
    "train": "latentsynth-train",
    "export": "latentsynth-export",
    "app": "latentsynth",
}


@dataclass
class Case:
    id: str
    cmd: str  # render | train | export | app
    argv: Callable[["Work"], list[str]]
    expect: list[str]  # substrings of the error line (case-insensitive)
    names: Callable[["Work"], str] | None = None  # the file (or option) the message must name
    setup: Callable[["Work"], None] | None = None
    fsize_limit: int | None = None  # RLIMIT_FSIZE in bytes: the disk "fills up" at this file size
    protect: Callable[["Work"], list[Path]] | None = None  # compare only these (default: every file in the work dir)
    notes_ok: bool = False  # informational lines before the error line are allowed (the trainer's start line)
    needs: str = ""  # "run": a trained tiny run; "readonly": a folder that refuses writes


class Work:
    """A scratch folder with inputs; ``p(name)`` is a path in it (as a string)."""

    def __init__(self, root: Path, run: Path | None):
        self.root = root
        self.run_src = run
        self.inp = root / "in.wav"
        shutil.copy(CLIP, self.inp)
        self.out = root / "out.wav"
        sf.write(self.out, np.full(1000, 0.25, np.float32), 22050, subtype="PCM_16")  # an earlier result
        self.ro = root / "ro"

    def p(self, name: str) -> str:
        return str(self.root / name)

    @property
    def run(self) -> Path:
        dst = self.root / "run"
        if not dst.exists():
            shutil.copytree(self.run_src, dst)
        return dst


def bundle_copy(w: Work) -> Path:
    from desktop.engine.model.factory import default_bundle_path

    dst = w.root / "bundle"
    if not dst.exists():
        shutil.copytree(default_bundle_path(), dst)
    return dst


def corrupt_part(w: Work) -> None:
    enc = bundle_copy(w) / "encoder.onnx"
    data = bytearray(enc.read_bytes())
    data[len(data) // 2] ^= 0xFF
    enc.write_bytes(bytes(data))


def bad_manifest(w: Work) -> None:
    (bundle_copy(w) / "manifest.json").write_text('{"format_version": 99}')


def write_wav(name: str, x: np.ndarray, sr: int, subtype: str = "PCM_16") -> Callable[[Work], None]:
    return lambda w: sf.write(w.p(name), x, sr, subtype=subtype)


def text_file(name: str, text: str) -> Callable[[Work], None]:
    return lambda w: Path(w.p(name)).write_text(text)


def other_data(w: Work) -> None:
    d = w.root / "otherdata"
    d.mkdir()
    shutil.copy(CLIP, d / "clip.wav")


def nan_wav(w: Work) -> None:
    x = np.sin(np.arange(22050, dtype=np.float32) * 0.05)
    x[100:110] = np.nan
    sf.write(w.p("nan.wav"), x, 22050, subtype="FLOAT")


R = "render"
T = "train"
E = "export"
A = "app"
SINE = (0.5 * np.sin(np.arange(44100) * 2 * np.pi * 440 / 96000)).astype(np.float32)


def _snapshot(paths: list[Path]) -> dict[str, str]:
    out = {}
    for p in paths:
        if p.is_symlink():
            out[str(p)] = "link->" + os.readlink(p)
        elif p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            out[str(p)] = "dir"
    return out


def _all_files(root: Path) -> list[Path]:
    return [root] + sorted(root.rglob("*"))


def _make_readonly(folder: Path) -> Callable[[], None]:
    """A folder that refuses new files even for root (chattr +i); chmod 555 for other users."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0
    ):
        pytest.skip("running as root where chattr +i does not work: no read-only folder can be made")
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=False)


def _limit(fsize: int | None):
    if fsize is None:
        return None

    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return apply


def run_case(case: Case, tmp_path: Path, request) -> None:
    """Run ``case`` in a scratch folder under ``tmp_path`` and check everything the module docstring promises."""
    run = request.getfixturevalue("tiny_run") if "run" in case.needs else None
    (tmp_path / "w").mkdir()
    w = Work(tmp_path / "w", run)
    undo = _make_readonly(w.ro) if "readonly" in case.needs else None
    try:
        if "run" in case.needs:
            w.run  # noqa: B018 (copies the trained run into the work folder)
        if case.setup:
            case.setup(w)
        argv = [str(a) for a in case.argv(w)]
        watched = case.protect(w) if case.protect else _all_files(w.root)
        before = _snapshot(watched)
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "LATENTSYNTH_SETTINGS": str(tmp_path / "s.ini"),
            "LATENTSYNTH_STATE_DIR": str(tmp_path / "state"),
        }
        proc = subprocess.run(
            [sys.executable, "-m", MODULES[case.cmd], *argv],
            capture_output=True,
            text=True,
            cwd=str(ROOT),
            env=env,
            timeout=300,
            preexec_fn=_limit(case.fsize_limit),
        )
        after = _snapshot(case.protect(w) if case.protect else _all_files(w.root))
    finally:
        if undo:
            undo()
    err = proc.stderr.strip()
    lines = err.splitlines()
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout: {proc.stdout[-800:]}\nstderr: {err[-2000:]}"
    assert "Traceback" not in err, err
    assert lines, "no message at all"
    if not case.notes_ok:
        assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{err}"
    line = lines[-1]
    print(f"{case.id}: {line}")
    assert line.startswith(f"{PROGS[case.cmd]}: error: "), line
    for text in case.expect:
        assert text.lower() in line.lower(), f"{text!r} not in {line!r}"
    if case.names is not None:
        assert case.names(w) in line, f"the message does not name {case.names(w)}: {line}"
    if case.cmd == A:  # a refused start saves no settings (a bad device name kept would silence the next start)
        assert not (tmp_path / "s.ini").exists(), (tmp_path / "s.ini").read_text()
    assert after == before, "files changed: " + ", ".join(
        sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    )
