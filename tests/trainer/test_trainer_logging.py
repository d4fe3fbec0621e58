"""TensorBoard: every loss term, lr, steps/s, per-dimension KL, audio and spectrograms; aux keys logged generically;
the mixed-precision and EMA paths of the step."""

import json

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import FIXTURES, TINY_OVERRIDES
from models import build_model
from trainer.checkpoint import load_checkpoint
from trainer.config import load_config
from trainer.loop import Trainer
from trainer.run_log import RunLog, spectrogram_image
from trainer.schedule import amp_dtype_for, lr_factor


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Trainer applies train.threads=1 process-wide; later tests in the session get their threads back."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _events(folder):
    acc = EventAccumulator(str(folder), size_guidance={"audio": 0, "images": 0, "scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


@pytest.mark.slow  # trains
def test_tensorboard_run_has_scalars_histograms_audio_and_spectrograms(tmp_path):
    run_dir = tmp_path / "run"
    cfg = load_config("waveform-vae", [*TINY_OVERRIDES, "train.audio_every=2"])
    Trainer(cfg, FIXTURES, run_dir, logger="tensorboard", show_progress=False).fit(2)
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    tags = _events(run_dir / "tensorboard").Tags()
    for tag in (
        "loss/mel",
        "loss/stft",
        "loss/mse",
        "loss/kl",
        "loss/total",
        "stats/beta",
        "stats/grad_norm",
        "stats/lr",
        "stats/steps_per_s",
        "stats/samples_per_s",
        "stats/epoch",
        "val/mel",
        "val/kl",
        "stats/kl_per_dim/0",
        "stats/kl_per_dim/3",
    ):
        assert tag in tags["scalars"], tag
    assert "stats/kl_per_dim" in tags["histograms"]
    assert {"audio/0_input", "audio/0_reconstruction", "audio/1_input", "audio/1_reconstruction"} <= set(tags["audio"])
    assert {"spectrogram/0_input", "spectrogram/0_reconstruction"} <= set(tags["images"])
    audio = _events(run_dir / "tensorboard").Audio("audio/0_reconstruction")
    assert [a.step for a in audio] == [2] and audio[0].sample_rate == 22050  # once at step 2, not again at the end


def test_unknown_aux_keys_are_logged_without_special_cases(tmp_path):
    """A later family's statistics (VQ perplexity, codebook usage) need no change to the logger."""
    log = RunLog(tmp_path, "tensorboard")
    usage = torch.tensor([0.5, 0.25, 0.25, 0.0])
    log.metrics(3, {"vq/perplexity": torch.tensor(2.8), "vq/usage": usage, "loss/kl/z2": torch.tensor(0.1)})
    log.close()
    tags = _events(tmp_path / "tensorboard").Tags()
    assert {"vq/perplexity", "vq/usage/0", "vq/usage/3", "loss/kl/z2"} <= set(tags["scalars"])
    assert "vq/usage" in tags["histograms"]
    row = json.loads((tmp_path / "train_log.jsonl").read_text())
    assert row == {
        "step": 3,
        "vq/perplexity": pytest.approx(2.8),
        "vq/usage": [0.5, 0.25, 0.25, 0.0],
        "loss/kl/z2": pytest.approx(0.1),
    }


def test_resumed_log_drops_entries_after_the_checkpoint(tmp_path):
    lines = [json.dumps({"step": s, "loss/mel": 1.0}) for s in range(1, 6)] + ['{"step": 6, "loss/m']  # cut by a kill
    (tmp_path / "train_log.jsonl").write_text("\n".join(lines))
    RunLog(tmp_path, "none", resume_step=3)
    assert [json.loads(x)["step"] for x in (tmp_path / "train_log.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_spectrogram_image_is_rgb_low_frequencies_at_the_bottom():
    t = np.arange(22050) / 22050
    img = spectrogram_image(np.sin(2 * np.pi * 100 * t).astype(np.float32))
    assert img.dtype == np.uint8 and img.shape == (513, 83, 3)
    brightness = img.astype(float).sum(axis=(1, 2))
    assert brightness.argmax() > 500  # 100 Hz is near bin 5, drawn near the last row


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    cfg = load_config(
        "waveform-vae", ["train.lr_warmup_steps=10", "train.max_steps=110", "train.lr_min_ratio=0.1"]
    ).train
    assert lr_factor(0, cfg) == pytest.approx(0.1) and lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(60, cfg) == pytest.approx(0.55)
    assert lr_factor(110, cfg) == pytest.approx(0.1) and lr_factor(500, cfg) == pytest.approx(0.1)


def test_autocast_dtype_choice():
    assert amp_dtype_for(torch.device("cpu"), True) is None
    assert amp_dtype_for(torch.device("cuda", 0), False, bf16_supported=True) is None
    assert amp_dtype_for(torch.device("cuda", 0), True, bf16_supported=True) is torch.bfloat16
    assert amp_dtype_for(torch.device("cuda", 0), True, bf16_supported=False) is torch.float16


@pytest.mark.slow
def test_bf16_autocast_step_and_ema_on_cpu(tmp_path):
    """The CUDA mixed-precision code path, exercised with CPU autocast: finite fp32 losses, fp32 weights, an EMA
    that trails the weights."""
    cfg = load_config("waveform-vae", [*TINY_OVERRIDES, "train.ema_decay=0.9", "train.val_every=1000"])
    t = Trainer(cfg, FIXTURES, tmp_path / "run", logger="none", show_progress=False)
    t.amp_dtype = torch.bfloat16
    summary = t.fit(3)
    assert np.isfinite(summary["loss/total"]) and all(p.dtype == torch.float32 for p in t.model.parameters())
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt["ema"] is not None

    def flat(states):
        return torch.cat([v.float().reshape(-1) for part in ("encoder", "decoder") for v in states[part].values()])

    ema, raw = flat(ckpt["ema"]), flat(ckpt["model"])
    assert not torch.equal(ema, raw)
    # The EMA sits between the initial and the current weights.
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model)
    init = flat({"encoder": model.encoder.state_dict(), "decoder": model.decoder.state_dict()})
    assert 0 < (ema - raw).norm() < (init - raw).norm()
