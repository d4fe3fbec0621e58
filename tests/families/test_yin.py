"""YIN's pick (models/yin.py): the octave cost's balance, and continuity (a frame's lone octave jump is held at the
previous pitch, and only then)."""

import torch

from models.yin import HISTORY, YinPitch

SR = 22050


def _difference(lags: int, troughs: dict[int, float]) -> torch.Tensor:
    """d' float32[1, lags, 1]: 1 everywhere but V-shaped troughs of the given depths at the given lags."""
    dp = torch.ones(1, lags, 1)
    for lag, depth in troughs.items():
        for k in range(-3, 4):
            dp[0, lag + k, 0] = depth + abs(k) * 0.05
    return dp


def _pick_lag(yin: YinPitch, dp: torch.Tensor, history: torch.Tensor | None) -> float:
    out = yin.pick(dp.clone(), dp, history=history)
    return SR / 440.0 / 2.0 ** out[0].item()


def test_an_octave_jump_is_held_where_the_previous_frames_agreed():
    yin = YinPitch(SR, 256, 1024)
    # this frame alone: the half period (lag 100) dips below YIN's threshold first, so YIN reads an octave up
    dp = _difference(yin.lags, {100: 0.10, 200: 0.30})
    assert abs(_pick_lag(yin, dp, None) - 100) < 1
    none = torch.zeros(1, 2, HISTORY)
    assert abs(_pick_lag(yin, dp, none) - 100) < 1  # no history: as before
    steady = torch.tensor([[[200.0, 201.0], [0.2, 0.2]]])  # two periodic frames at lag ~200
    assert abs(_pick_lag(yin, dp, steady) - 200) < 1
    aperiodic = torch.tensor([[[200.0, 201.0], [0.2, 0.9]]])  # the previous frame was not periodic
    assert abs(_pick_lag(yin, dp, aperiodic) - 100) < 1
    disagreeing = torch.tensor([[[120.0, 201.0], [0.2, 0.2]]])  # the two previous frames disagreed
    assert abs(_pick_lag(yin, dp, disagreeing) - 100) < 1
    shallow = _difference(yin.lags, {100: 0.05, 200: 0.80})  # the held trough is far shallower: the jump is real
    assert abs(_pick_lag(yin, shallow, steady) - 100) < 1


def test_a_period_deeper_than_its_half_wins_where_no_trough_is_below_the_threshold():
    """No trough under YIN's threshold: the octave cost prefers the shorter lag, but only by 0.1 per octave, so a
    true period 0.15 deeper than its half (creaky or breathy speech) keeps it; a half far deeper wins."""
    yin = YinPitch(SR, 256, 1024)
    assert abs(_pick_lag(yin, _difference(yin.lags, {100: 0.45, 200: 0.30}), None) - 200) < 1
    assert abs(_pick_lag(yin, _difference(yin.lags, {100: 0.30, 200: 0.45}), None) - 100) < 1
    assert abs(_pick_lag(yin, _difference(yin.lags, {100: 0.35, 200: 0.30}), None) - 100) < 1


def test_the_history_carries_the_frames_own_picks():
    yin = YinPitch(SR, 256, 1024)
    dp = torch.cat([_difference(yin.lags, {150: 0.1}), _difference(yin.lags, {180: 0.1})], dim=-1)
    *_, history = yin.pick(dp.clone(), dp, history=torch.zeros(1, 2, HISTORY))
    assert history.shape == (1, 2, HISTORY)
    assert history[0, 0].tolist() == [150.0, 180.0]
    assert torch.allclose(history[0, 1], torch.tensor([0.1, 0.1]))
