"""The prior's training crops (trainer/prior_train.py): files joined in a crop, the frames after a join not trained.

Each synthetic file's frames are (file number, frame index), so a crop says where every frame came from.
"""

from __future__ import annotations

import numpy as np
import torch

from trainer.prior_data import LatentCorpus
from trainer.prior_train import PriorConfig, PriorTrainer, crops

SILENCE = np.array([-1.0, -1.0], np.float32)


def files(lengths) -> list[np.ndarray]:
    return [np.stack([np.full(n, k), np.arange(n)], 1).astype(np.float32) for k, n in enumerate(lengths)]


def follows(prev: np.ndarray, cur: np.ndarray) -> bool:
    """``cur`` is the frame right after ``prev`` in the same file."""
    return prev[0] == cur[0] and cur[1] == prev[1] + 1 and prev[0] >= 0


def test_joins_stay_in_the_crop_but_their_first_frames_are_not_trained():
    seqs = files([20, 35, 12, 50, 27])
    z, trained = crops(seqs, 64, 120, np.random.default_rng(0), SILENCE, frame_rate=40.0, join_mask=3)
    z, trained = z.numpy(), trained.numpy()
    assert z.shape == (64, 120, 2) and trained.shape == (64, 120) and trained.dtype == bool
    joins = after_join_trained = 0
    for row, keep in zip(z, trained):
        for t in range(1, len(row)):
            if follows(row[t - 1], row[t]):
                continue
            joins += 1  # a file's end: silence or another file follows
            assert not keep[t]
        # every trained prediction continues the file its previous frame came from ...
        assert all(follows(row[t - 1], row[t]) for t in range(1, len(row)) if keep[t])
        # ... and only the join's silence and the next file's first 3 frames are left out
        for t in range(1, len(row)):
            if not keep[t]:
                assert row[t][0] < 0 or row[t][1] < 3
        ids = row[:, 0]
        after_join_trained += int(np.sum(keep[1:] & (ids[1:] >= 0) & (row[1:, 1] >= 3) & (ids[1:] != ids[0])))
    assert joins > 64 and after_join_trained > 0  # the joins are kept: later files are trained on, in context


def test_join_mask_0_trains_every_frame_of_the_same_crops():
    seqs = files([20, 35, 12])
    z0, t0 = crops(seqs, 16, 80, np.random.default_rng(3), SILENCE, join_mask=0)
    z1, t1 = crops(seqs, 16, 80, np.random.default_rng(3), SILENCE, join_mask=4)
    assert torch.equal(z0, z1) and bool(t0.all()) and not bool(t1.all())


def test_the_training_loss_leaves_the_masked_frames_out(tmp_path):
    seqs = [np.random.default_rng(k).standard_normal((n, 2)).astype(np.float32) * (k + 1) for k, n in
            enumerate([30, 18, 25, 40])]  # fmt: skip
    corpus = LatentCorpus(seqs, seqs[:1], [f"f{k}" for k in range(4)], ["v"], 40.0, SILENCE)
    cfg = PriorConfig(hidden=8, layers=1, mixtures=2, seq_frames=90, batch_size=8, input_noise=0.0, join_mask=4)
    trainer = PriorTrainer(corpus, np.zeros(2), np.ones(2), tmp_path, cfg)
    state = trainer.rng.bit_generator.state
    loss = trainer.batch_loss()
    trainer.rng.bit_generator.state = state
    z, trained = crops(seqs, 8, 90, trainer.rng, SILENCE, trainer.groups, 40.0, 4)
    assert not bool(trained.all())
    with torch.no_grad():
        assert torch.allclose(loss, trainer.model.nll(z, 0.0, trained))
        assert not torch.allclose(loss, trainer.model.nll(z))


def test_onset_gap_trains_a_start_after_a_long_silence_and_still_masks_the_short_joins():
    seqs = files([20, 35, 12, 50, 27])
    z0, t0 = crops(seqs, 64, 120, np.random.default_rng(1), SILENCE, frame_rate=40.0, join_mask=3)
    z, trained = crops(seqs, 64, 120, np.random.default_rng(1), SILENCE, frame_rate=40.0, join_mask=3, onset_gap=0.25)
    assert torch.equal(z0, z)  # the same crops; only what is trained differs
    z, trained = z.numpy(), trained.numpy()
    long_onsets = short_joins = 0
    for row, keep in zip(z, trained):
        for t in range(1, len(row)):
            if row[t][0] < 0 or row[t][1] != 0 or row[t - 1][0] >= 0:
                continue  # not the first frame of a file after silence
            gap = next(g for g in range(1, t + 1) if g == t or row[t - 1 - g][0] >= 0)
            if gap >= 10 and t - gap > 0:  # 0.25 s at 40 frames/s: the onset and the silence after 3 frames trained
                long_onsets += 1
                assert keep[t] and keep[t - gap + 3 : t].all() and not keep[t - gap : t - gap + 3].any()
            elif t - gap > 0:
                short_joins += 1
                assert not keep[t : t + 3].any() and not keep[t - gap : t].any()
    assert long_onsets > 20 and short_joins > 20


def test_the_rollout_loss_scores_the_recording_after_the_priors_own_draws(tmp_path):
    torch.manual_seed(0)
    seqs = [np.random.default_rng(k).standard_normal((n, 2)).astype(np.float32) * (k + 1) for k, n in
            enumerate([30, 18, 25, 40])]  # fmt: skip
    corpus = LatentCorpus(seqs, seqs[:1], [f"f{k}" for k in range(4)], ["v"], 40.0, SILENCE)
    cfg = PriorConfig(hidden=8, layers=1, mixtures=2, seq_frames=60, batch_size=8, input_noise=0.0, rollout=10)
    trainer = PriorTrainer(corpus, np.zeros(2), np.ones(2), tmp_path, cfg)
    model = trainer.model
    z, _ = crops(seqs, 8, 60, np.random.default_rng(2), SILENCE, join_mask=0)
    teacher = torch.ones(8, 60, dtype=torch.bool)
    teacher[:, -10:] = False  # the frames predicted from the prior's own draws left out: teacher forcing remains
    with torch.no_grad():
        assert torch.equal(model.rollout_nll(z, 0, 0.0, None), model.nll(z))
        assert torch.allclose(model.rollout_nll(z, 10, 0.0, teacher), model.nll(z, 0.0, teacher))
        assert not torch.allclose(model.rollout_nll(z, 10, 0.0, None), model.nll(z))
    loss = trainer.batch_loss()  # the config's rollout is the trainer's loss, and it trains the weights
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
