"""torchrun with two gloo processes on CPU: lock-step DDP, rank-0-only files, a checkpoint that exports."""

import json

import pytest
import torch

from conftest import FIXTURES, TINY_OVERRIDES, run_cli
from trainer.checkpoint import load_checkpoint, model_from_checkpoint
from trainer.distributed import ResumableSampler

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time

# 42 training chunks in the fixtures; 8 per process x 2 processes: 2 steps per epoch and 5 chunks per epoch
# dropped, so 5 steps cross two epoch boundaries with a short last batch to drop.
DDP_OVERRIDES = [*TINY_OVERRIDES, "train.batch_size=8", "train.ema_decay=0.5"]
STEPS = 5


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    proc = run_cli(
        [
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "trainer",
            "waveform-vae",
            "--data",
            str(FIXTURES.relative_to(FIXTURES.parent.parent)),
            "--out",
            str(run_dir),
            "--steps",
            str(STEPS),
            "--logger",
            "none",
            "--no-progress",
            *DDP_OVERRIDES,
        ],
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return run_dir, proc


def test_two_processes_train_in_lock_step(ddp_run):
    run_dir, proc = ddp_run
    summaries = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1, proc.stdout  # rank 0 alone reports
    assert summaries[0]["step"] == STEPS and summaries[0]["world_size"] == 2 and summaries[0]["global_batch"] == 16
    assert "training on 2 processes (gloo, cpu); global batch 16 = 8 x 2" in proc.stderr

    # Only rank 0 writes: one file set, each step logged exactly once.
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoints",
        "config.yaml",
        "data_summary.json",
        "train_log.jsonl",
    ]
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["last.pt"]
    train = [r for r in map(json.loads, (run_dir / "train_log.jsonl").read_text().splitlines()) if "loss/mel" in r]
    assert [r["step"] for r in train] == list(range(1, STEPS + 1))
    assert train[-1]["stats/epoch"] == pytest.approx(2.5)
    assert len(train[-1]["stats/kl_per_dim"]) == 4

    ckpt = load_checkpoint(run_dir)
    assert ckpt["step"] == STEPS and (ckpt["epoch"], ckpt["epoch_step"]) == (2, 1)
    assert ckpt["world_size"] == 2 and ckpt["global_batch"] == 16 and len(ckpt["rng"]) == 2
    assert ckpt["scheduler"]["last_epoch"] == STEPS
    assert all(int(s["step"]) == STEPS for s in ckpt["optimizer"]["state"].values())
    assert ckpt["data_summary"]["root"] == str(FIXTURES)  # absolute, though --data was relative


def test_ema_weights_are_saved_and_exported(ddp_run):
    run_dir, _ = ddp_run
    ckpt = load_checkpoint(run_dir)
    assert ckpt["ema"] is not None
    model, _ = model_from_checkpoint(ckpt)  # what export uses
    key = next(iter(ckpt["ema"]["decoder"]))
    assert torch.equal(model.decoder.state_dict()[key], ckpt["ema"]["decoder"][key])
    assert not torch.equal(ckpt["ema"]["decoder"][key], ckpt["model"]["decoder"][key])


def test_ddp_checkpoint_exports(ddp_run, tmp_path):
    run_dir, _ = ddp_run
    out = tmp_path / "bundle"
    proc = run_cli(["-m", "export", str(run_dir), "--out", str(out), "--stat-chunks", "8", "--no-progress"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["bundle"] == str(out)
    assert (out / "manifest.json").is_file()


def test_sampler_gives_ranks_disjoint_equal_batches_and_resumes_mid_epoch():
    data = list(range(21))
    samplers = [ResumableSampler(data, 2, r, seed=3) for r in range(2)]
    for s in samplers:
        s.set_epoch(1)
    full = [list(s) for s in samplers]
    assert len(full[0]) == len(full[1]) == 11  # padded to equal length
    assert set(full[0]) | set(full[1]) == set(data)
    assert samplers[0].batches_per_epoch(4, drop_last=True) == 2
    samplers[0].set_start(8)
    assert list(samplers[0]) == full[0][8:] and len(samplers[0]) == 3
    samplers[0].set_epoch(2)
    samplers[0].set_start(0)
    assert list(samplers[0]) != full[0]  # a new epoch reshuffles
