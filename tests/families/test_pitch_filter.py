"""The causal pitch filter (models/pitch_filter.py): a lone frame's octave error is not followed, a new note is
(within two frames), a tone leaping by a fifth and an octave is tracked, a stream of blocks equals the whole file,
and silence gives numbers, not NaN."""

import math

import numpy as np
import torch

from models.sourcefilter import SourceFilterAnalysis
from models.yin import YinPitch

SR = 22050


def _frames(lags: int, per_frame: list[dict[int, float]]) -> torch.Tensor:
    """d' float32[1, lags, F]: 1 everywhere but V-shaped troughs, per frame {lag: depth}."""
    dp = torch.ones(1, lags, len(per_frame))
    for f, troughs in enumerate(per_frame):
        for lag, depth in troughs.items():
            for k in range(-3, 4):
                dp[0, lag + k, f] = depth + abs(k) * 0.05
    return dp


def _lags(yin: YinPitch, dp: torch.Tensor, history: torch.Tensor) -> np.ndarray:
    pitch = yin.pick(dp.clone(), dp, history=history)[0]
    return (SR / 440.0 / 2.0 ** pitch[0, 0]).numpy()


def test_a_lone_octave_error_is_not_followed_and_a_new_note_is():
    yin = YinPitch(SR, 256, 1024, filter_frames=10)
    none = torch.zeros(1, *yin.history_shape())
    steady, octave_up = {100: 0.30, 200: 0.05}, {100: 0.05, 200: 0.30}
    # frame 8 alone: the half period is deeper, so YIN's own pick reads an octave up there
    lone = _frames(yin.lags, [steady] * 8 + [octave_up] + [steady] * 4)
    assert abs(YinPitch(SR, 256, 1024).pick(lone.clone(), lone)[0][0, 0, 8].item() - math.log2(SR / 100 / 440)) < 0.01
    assert np.all(np.abs(_lags(yin, lone, none)[2:] - 200) < 1.5)
    # from frame 8 on the half period stays deeper: a new note an octave up, followed within two frames
    moved = _lags(yin, _frames(yin.lags, [steady] * 8 + [octave_up] * 8), none)
    assert np.all(np.abs(moved[2:8] - 200) < 1.5)
    assert np.all(np.abs(moved[10:] - 100) < 1.0)


def _tone(hz: list[float], seconds: float) -> np.ndarray:
    f0 = np.concatenate([np.full(int(seconds * SR), f) for f in hz])
    phase = 2 * np.pi * np.cumsum(f0) / SR
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 8))).astype(np.float32)


def _analysis(pitch_filter: int) -> SourceFilterAnalysis:
    return SourceFilterAnalysis(
        SR,
        256,
        env_window=512,
        pitch_window=1024,
        lag=256,
        ap_estimate="valley",
        ap_power=1.0,
        pitch_filter=pitch_filter,
    )


def test_a_leaping_tone_is_tracked_within_a_frame_of_the_unfiltered_tracker():
    notes = [220.0, 330.0, 660.0, 220.0]
    x = torch.from_numpy(_tone(notes, 0.3))[None, None]
    frames = int(0.3 * SR) // 256
    delays = {}
    for pf in (0, 10):
        with torch.no_grad():
            hz = 440.0 * 2.0 ** _analysis(pf)(x)[0][0, 0].numpy()
        found = []
        for i, note in enumerate(notes):
            ok = np.abs(1200 * np.log2(hz[i * frames : (i + 1) * frames] / note)) <= 20
            settled = [k for k in range(len(ok)) if ok[k:].all()]
            assert settled, f"filter {pf}: note {i} ({note} Hz) never settles"
            found.append(settled[0])
        delays[pf] = found
    assert delays[10][0] <= 3  # from a zero state: no long wait for the first note
    assert all(f <= u + 1 for f, u in zip(delays[10], delays[0])), delays


def test_streaming_equals_the_whole_file_and_silence_is_finite():
    an = _analysis(10)
    x = torch.from_numpy(np.concatenate([_tone([180.0, 240.0], 0.2), np.zeros(4096, np.float32)]))[None, None]
    x = x[..., : x.shape[-1] - x.shape[-1] % 256]
    with torch.no_grad():
        whole = an(x)
        states = [torch.zeros(1, c, f) for _, c, f in an.state_shapes()]
        parts = []
        for start in range(0, x.shape[-1], 256 * 3):
            feats, states = an.stream(x[..., start : start + 256 * 3], states)
            parts.append(feats)
    for i in range(4):
        assert torch.allclose(torch.cat([p[i] for p in parts], dim=-1), whole[i], atol=1e-4)
    assert all(torch.isfinite(f).all() for f in whole)
    with torch.no_grad():
        silent = an(torch.zeros(1, 1, 256 * 20))
    assert all(torch.isfinite(f).all() for f in silent)
