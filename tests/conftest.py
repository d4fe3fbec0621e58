"""Shared test set-up: offscreen Qt, a writable numba cache, the fixture clips and a tiny trained bundle."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "latentsynth-numba"))

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "data"

# A model small enough to train a few steps and export in seconds on one CPU core.
TINY_OVERRIDES = [
    "model.latent_dim=4",
    "model.enc_channels=4",
    "model.enc_max_channels=16",
    "model.dec_channels=16",
    "model.dec_blocks=1",
    "train.batch_size=2",
    "train.log_every=1",
    "train.ckpt_every=2",
    "train.val_every=2",
    "train.audio_every=1000",
    "train.threads=1",
]


def tiny_overrides(preset: str) -> list[str]:
    """TINY_OVERRIDES for ``preset``'s family: only the model settings that family has."""
    from models.configs import config_fields
    from trainer.config import load_config

    own = config_fields(load_config(preset).model.family)
    return [o for o in TINY_OVERRIDES if not o.startswith("model.") or o.split("=")[0][6:] in own]


# The everyday subset is `pytest -m "not slow"` (under a minute); CI runs everything. A test is slow when it trains
# or exports a model, opens audio devices, drives the GUI or launches a process. It says so where it is defined:
# `@pytest.mark.slow` on the test, `pytestmark = pytest.mark.slow` on a module whose every test is slow, or by asking
# for one of these fixtures (each trains, exports, starts a sound server or a GUI):
SLOW_FIXTURES = {
    "tiny_run",
    "tiny_bundle",
    "pulse",
    "qtbot",
    "causal_run",
    "causal_bundle",
    "family_root",
    "default_runner",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


def run_cli(args: list[str], env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a console entry point as ``python -m`` in a subprocess, capturing output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=full_env, cwd=str(ROOT)
    )


def main_in_process(main, args: list[str]) -> subprocess.CompletedProcess:
    """A command's ``main(args)`` run in this process and reported as ``run_cli`` reports a process (returncode,
    stdout, stderr): the same code from argument parsing to exit code, without an interpreter start-up (a second or
    more each, where torch loads). argparse's ``SystemExit`` is the exit code. Tests of what only a process shows
    (start-up, signals, what reaches the terminal) use ``run_cli``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return subprocess.CompletedProcess(args, code or 0, out.getvalue(), err.getvalue())


def render_with(runner, src: Path, out: Path, *controls: str, subtype: str = "FLOAT") -> None:
    """What ``latentsynth-render SRC -o OUT --subtype SUBTYPE --control NAME=VALUE ...`` does with the bundle whose
    ``runner`` (a ``ModelRunner``) is already open: the CLI's control parsing and its disk-to-disk block render. A
    test that renders one bundle many times opens its sessions once (the dsp bundle's take 0.35 s each); the CLI's
    own options are tested through ``main_in_process``."""
    from core.audiofile import audio_info
    from core.formats import output_format
    from core.latent import LatentControls
    from core.session import WindowModel
    from desktop.engine.files.file_render import render_file
    from desktop.render_cli import parse_controls

    model = WindowModel(runner, parse_controls(list(controls), runner, LatentControls()))
    render_file(audio_info(src), str(out), model, output_format(out, subtype))


def train_cli(
    config: str | Path, run_dir: Path, steps: int, *overrides: str, tiny: bool = True
) -> subprocess.CompletedProcess:
    """``config`` (a preset name or a YAML file) trained ``steps`` steps on the fixture clips from the CLI, with no
    logger and no progress bar: the one way a test trains a model. ``tiny``: first the TINY_OVERRIDES its family
    has (``tiny_overrides``), then ``overrides`` (options such as --init-from may be among them). Fails the test
    with the CLI's stderr when the run fails."""
    args = ["-m", "trainer", str(config), "--data", str(FIXTURES), "--out", str(run_dir), "--steps", str(steps)]
    extra = tiny_overrides(str(config)) if tiny else []
    proc = run_cli([*args, "--logger", "none", "--no-progress", *extra, *overrides])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def export_cli(run_dir: Path, out: Path, stat_chunks: int = 16) -> Path:
    """The run in ``run_dir`` exported to the bundle ``out`` from the CLI (``stat_chunks`` chunks of latent
    statistics); fails the test with the CLI's stderr when the export fails."""
    args = ["-m", "export", str(run_dir), "--out", str(out), "--stat-chunks", str(stat_chunks), "--no-progress"]
    proc = run_cli(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A tiny waveform VAE trained 4 steps on the fixture clips, from the CLI."""
    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    train_cli("waveform-vae", run_dir, 4)
    return run_dir


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run, tmp_path_factory) -> Path:
    """The tiny run exported to a bundle, from the CLI."""
    return export_cli(tiny_run, tmp_path_factory.mktemp("tinybundle") / "bundle")


TINY_PRIOR = ["hidden=8", "mixtures=2", "seq_frames=32", "batch_size=2", "val_every=2", "log_every=1"]


def train_tiny_prior(root: Path, source: Path, *settings: str) -> tuple[Path, Path]:
    """A copy of bundle ``source`` in ``root`` with a tiny prior trained into it on the fixture clips by the real
    command (``TINY_PRIOR`` and ``settings``); returns (the bundle, the run folder)."""
    import shutil

    bundle, run = root / source.name, root / "run"
    shutil.copytree(source, bundle)
    args = ["--bundle", str(bundle), "--data", str(FIXTURES), "--out", str(run), *TINY_PRIOR, *settings, "--quiet"]
    proc = run_cli(["-m", "trainer", "prior", *args])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["installed"] == str(bundle / "prior.onnx")
    return bundle, run
