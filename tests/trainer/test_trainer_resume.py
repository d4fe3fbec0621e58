"""Kill-and-resume: a run killed at any moment continues from its last checkpoint with the same step, optimizer
and schedule; a crash during a save leaves the previous checkpoint loadable; resume is exact on CPU."""

import json
import math
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import FIXTURES, ROOT, TINY_OVERRIDES
from tests.waits import wait_for
from trainer import checkpoint as ckpt_mod
from trainer.checkpoint import CheckpointError, load_checkpoint
from trainer.config import load_config
from trainer.loop import Trainer
from trainer.resume import config_for_resume
from trainer.schedule import lr_factor

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Trainer applies train.threads=1 process-wide; later tests in the session get their threads back."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _train_cmd(run_dir, *extra):
    return [
        sys.executable,
        "-m",
        "trainer",
        "waveform-vae",
        "--data",
        str(FIXTURES),
        "--out",
        str(run_dir),
        "--logger",
        "none",
        "--no-progress",
        *extra,
    ]


def _start(run_dir, steps, *overrides):
    return subprocess.Popen(
        _train_cmd(run_dir, "--steps", str(steps), *TINY_OVERRIDES, *overrides),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_checkpoint(proc, run_dir, min_step, timeout=120):
    path = run_dir / "checkpoints" / "last.pt"

    def saved() -> bool:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        try:
            return path.exists() and load_checkpoint(path)["step"] >= min_step
        except CheckpointError:
            return False  # never happens with atomic saves; tolerated so the timeout names the problem

    try:
        wait_for(saved, f"a checkpoint at step >= {min_step}", timeout=timeout, every=0.05)
    except AssertionError:
        proc.kill()
        raise


def _train_steps(run_dir):
    rows = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    return [r["step"] for r in rows if "loss/mel" in r]


def test_sigkill_then_resume_continues_with_saved_step_optimizer_and_schedule(tmp_path):
    run_dir = tmp_path / "run"
    proc = _start(run_dir, 100000, "train.ckpt_every=3")
    _wait_for_checkpoint(proc, run_dir, min_step=6)  # at least one checkpoint has been replaced by another
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    saved = load_checkpoint(run_dir)
    s = saved["step"]
    assert s % 3 == 0 and s >= 6

    # The state a resumed trainer starts from is exactly the saved one (checked on a copy of the run).
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    t = Trainer(load_config("waveform-vae"), FIXTURES, copy, resume=True, logger="none", show_progress=False)
    assert t.step == s and t.sched.last_epoch == s and t.sched.get_last_lr() == saved["scheduler"]["_last_lr"]
    opt = t.opt.state_dict()
    assert opt["param_groups"][0]["lr"] == saved["optimizer"]["param_groups"][0]["lr"]
    for i, state in saved["optimizer"]["state"].items():
        for name in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(opt["state"][i][name], state[name]), (i, name)
    assert (t.epoch, t.epoch_step) == (saved["epoch"], saved["epoch_step"])

    # Resume through the CLI with a new total (and a changed checkpoint cadence, which is allowed).
    target = s + 4
    done = subprocess.run(
        _train_cmd(run_dir, "--resume", "--steps", str(target), "train.ckpt_every=1000"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed at step {s}" in done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["step"] == target
    final = load_checkpoint(run_dir)
    cfg = load_config("waveform-vae", TINY_OVERRIDES).train
    assert final["step"] == target and final["scheduler"]["last_epoch"] == target
    # Adam's per-parameter step counts on from the saved optimizer (a fresh one would say 4).
    assert all(int(st["step"]) == target for st in final["optimizer"]["state"].values())
    assert math.isclose(final["optimizer"]["param_groups"][0]["lr"], cfg.lr * lr_factor(target, cfg), rel_tol=1e-9)
    # Steps logged after the checkpoint by the killed run were dropped, so the log has each step once.
    assert _train_steps(run_dir) == list(range(1, target + 1))
    assert final["config"]["train"]["ckpt_every"] == 1000


def test_sigterm_stops_at_a_step_and_saves(tmp_path):
    run_dir = tmp_path / "run"
    proc = _start(run_dir, 100000, "train.ckpt_every=2")
    _wait_for_checkpoint(proc, run_dir, min_step=2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["interrupted"] is True
    assert load_checkpoint(run_dir)["step"] == summary["step"] >= 2


@pytest.mark.parametrize("fail_at", ["torch.save", "os.replace"])
def test_crash_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, fail_at):
    path = tmp_path / "checkpoints" / "last.pt"
    ckpt_mod.save_checkpoint(path, {"step": 1, "weights": torch.ones(3)})

    def crash(*args, **kwargs):
        if fail_at == "torch.save":  # die half-way through writing
            args[1].write(b"PK\x03\x04 half a checkpoint")
        raise OSError("simulated crash")

    if fail_at == "torch.save":
        monkeypatch.setattr(ckpt_mod.torch, "save", crash)
    else:
        monkeypatch.setattr(ckpt_mod.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        ckpt_mod.save_checkpoint(path, {"step": 2, "weights": torch.zeros(3)})
    monkeypatch.undo()
    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 1 and torch.equal(ckpt["weights"], torch.ones(3))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # the temporary is gone too


def test_checkpoint_permissions_follow_the_umask(tmp_path):
    path = ckpt_mod.save_checkpoint(tmp_path / "last.pt", {"step": 0})
    assert path.stat().st_mode & 0o777 == 0o666 & ~ckpt_mod._UMASK  # not mkstemp's 0600


def test_temporaries_of_a_killed_save_are_removed_on_resume(tmp_path):
    run_dir = tmp_path / "run"
    cfg = load_config("waveform-vae", TINY_OVERRIDES)
    Trainer(cfg, FIXTURES, run_dir, logger="none", show_progress=False).fit(2)
    junk = run_dir / "checkpoints" / ".tmp-killed.pt"
    junk.write_bytes(b"half")
    Trainer(cfg, FIXTURES, run_dir, resume=True, logger="none", show_progress=False)
    assert not junk.exists() and load_checkpoint(run_dir)["step"] == 2


def _states(run_dir):
    c = load_checkpoint(run_dir)
    return c["model"], c["optimizer"]["state"]


def test_resume_is_exact_across_an_epoch_boundary(tmp_path):
    # batch 8: 5 steps per epoch; stop at 3, resume to 8 (the uninterrupted run crosses the boundary at 5).
    cfg = load_config("waveform-vae", [*TINY_OVERRIDES, "train.batch_size=8", "train.ckpt_every=1000"])
    Trainer(cfg, FIXTURES, tmp_path / "a", logger="none", show_progress=False).fit(8)
    Trainer(cfg, FIXTURES, tmp_path / "b", logger="none", show_progress=False).fit(3)
    Trainer(cfg, FIXTURES, tmp_path / "b", resume=True, logger="none", show_progress=False).fit(8)
    (ma, oa), (mb, ob) = _states(tmp_path / "a"), _states(tmp_path / "b")
    for part in ma:
        for k in ma[part]:
            assert torch.equal(ma[part][k], mb[part][k]), (part, k)
    for i in oa:
        assert torch.equal(oa[i]["exp_avg_sq"], ob[i]["exp_avg_sq"])


def test_checkpoint_without_newer_keys_still_resumes(tmp_path):
    """Checkpoints written before epoch/rng/scaler were recorded (e.g. a run training now) resume."""
    run_dir = tmp_path / "run"
    cfg = load_config("waveform-vae", TINY_OVERRIDES)
    Trainer(cfg, FIXTURES, run_dir, logger="none", show_progress=False).fit(4)
    path = run_dir / "checkpoints" / "last.pt"
    old = torch.load(path, weights_only=True)
    for key in ("epoch", "epoch_step", "world_size", "global_batch", "rng", "scaler"):
        del old[key]
    torch.save(old, path)
    t = Trainer(cfg, FIXTURES, run_dir, resume=True, logger="none", show_progress=False)
    assert (t.step, t.epoch, t.epoch_step) == (4, 0, 4)  # 21 steps per epoch
    assert t.fit(6)["step"] == 6 and load_checkpoint(run_dir)["step"] == 6


def test_resume_refuses_overrides_that_change_what_is_learned():
    stored = load_config("waveform-vae").to_dict()
    assert config_for_resume(stored, ["train.ckpt_every=7", "log_every=3"]).train.ckpt_every == 7
    with pytest.raises(ValueError, match=r"model\.latent_dim"):
        config_for_resume(stored, ["model.latent_dim=8"])
    assert config_for_resume(stored, ["model.latent_dim=16"]).model.latent_dim == 16  # same value is fine


def test_new_run_refuses_an_existing_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    cfg = load_config("waveform-vae", TINY_OVERRIDES)
    Trainer(cfg, FIXTURES, run_dir, logger="none", show_progress=False).fit(1)
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(cfg, FIXTURES, run_dir, logger="none", show_progress=False)
    with pytest.raises(CheckpointError, match="no checkpoints"):
        Trainer(cfg, FIXTURES, tmp_path / "empty", resume=True, logger="none", show_progress=False)


def test_auto_resume_starts_new_then_continues(tmp_path):
    """--auto-resume: the same command for the first start and every restart (torchrun --max-restarts, requeues)."""
    run_dir = tmp_path / "run"
    cfg = load_config("waveform-vae", TINY_OVERRIDES)
    assert Trainer(cfg, FIXTURES, run_dir, resume="auto", logger="none", show_progress=False).fit(2)["step"] == 2
    t = Trainer(cfg, FIXTURES, run_dir, resume="auto", logger="none", show_progress=False)
    assert t.step == 2 and t.fit(3)["step"] == 3


def test_second_signal_quits_but_an_immediate_repeat_does_not():
    import os

    from trainer.signals import StopFlag as _StopFlag

    # the handlers before: Python's default_int_handler in a terminal, SIG_IGN where the suite was started in the
    # background by a shell without job control (nohup ... &); restore() must give back whichever it was
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    flag = _StopFlag(grace_s=0.5)
    try:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)  # e.g. torchrun forwarding the same Ctrl-C
        assert flag.stop
        time.sleep(0.6)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
    finally:
        flag.restore()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
