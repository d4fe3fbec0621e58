"""A causal pitch filter over YIN's difference function: each frame's period chosen by a forward pass of a hidden
Markov model over the last ``frames`` frames, not by the frame alone.

YIN picks each frame's period on its own (the first trough of d' below a threshold, else the deepest with an
octave cost), and one frame in ten of fast, creaky or breathy speech lands an octave or more away from where pYIN
(with its Viterbi over the whole file) puts it. pYIN's cure needs the future; this one does not. The states are
pitches a quarter semitone apart from fmin to fmax; a frame's evidence for a state is exp(-(d' + octave cost) /
TEMPERATURE) at that state's lag, half of it, and the state of YIN's own pick for the frame, the other half
(OWN_WEIGHT); pitch moves from frame to frame by a Gaussian step of STEP_OCT octaves or, now
and then (JUMP), leaps anywhere: one odd frame is not enough to leave a pitch, two or three are. For frame
t the forward probabilities start from frame t - frames + 1's evidence and run to frame t (a window, not a recursion
from the file's start, so whole-file graphs compute every frame at once and a streaming call carries the last
frames - 1 frames' evidence as state); the period is then the lowest d' within the chosen state's quarter semitone,
refined by YIN's parabola.

Measured on 20 outside Dutch speech clips against pYIN, the live analysis (docs/notes/2026-12-07-source-filter.md):
frames more than 300 c off 9.7 % -> 7.0 %, an octave or more off 5.2 % -> 2.2 %; a leap of an octave is followed a
frame later than without the filter, a fifth as soon.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

BIN_CENTS = 25.0  # the states: pitches this far apart
STEP_OCT = 0.05  # the Gaussian step of pitch between frames (std, octaves)
JUMP = 0.01  # ... or, with this probability, a leap to any pitch (a new note: taken within a frame or two)
TEMPERATURE = 0.1  # evidence exp(-(d' + octave cost) / this)
OWN_WEIGHT = 0.5  # ... mixed with this share on the state of YIN's own pick for the frame


class PitchFilter(nn.Module):
    """(d' float32[B, lags, F], the evidence of the ``frames`` - 1 frames before, float32[B, states, frames - 1])
    -> (lag int64[B, 1, F], the evidence to carry). ``lag_cost`` float32[lags]: YIN's octave cost per lag."""

    def __init__(self, sample_rate: int, fmin: float, fmax: float, lags: int, lag_cost: torch.Tensor, frames: int):
        super().__init__()
        if frames < 2:
            raise ValueError(f"pitch filter: frames {frames} must be >= 2")
        self.frames = int(frames)
        count = int(math.floor(1200.0 * math.log2(fmax / fmin) / BIN_CENTS)) + 1
        hz = fmin * 2.0 ** (np.arange(count) * BIN_CENTS / 1200.0)
        lag = sample_rate / hz  # float lags, longest first
        self.states = count
        # evidence at each state: d' read linearly between the lags around the state's lag
        lo = np.clip(np.floor(lag).astype(int), 0, lags - 2)
        w = lag - lo
        read = np.zeros((count, lags))
        read[np.arange(count), lo] = 1.0 - w
        read[np.arange(count), lo + 1] = w
        self.register_buffer("read", torch.from_numpy(read).float(), persistent=False)
        cost = torch.from_numpy(read).float() @ lag_cost.float()[:, None]  # [states, 1]
        self.register_buffer("cost", cost, persistent=False)
        # the step as a convolution along the states (they are evenly spaced in octaves), 3 std each side: a dense
        # states x states product per frame and step was a quarter of a render's encoder
        half = int(math.ceil(3.0 * STEP_OCT * 1200.0 / BIN_CENTS))
        g = np.exp(-0.5 * (np.arange(-half, half + 1) * BIN_CENTS / 1200.0 / STEP_OCT) ** 2)
        self.register_buffer("step", torch.from_numpy((1.0 - JUMP) * g / g.sum()).float()[None, None], persistent=False)
        self.register_buffer("state_lag", torch.from_numpy(lag).float()[None, :, None], persistent=False)
        every = np.maximum(np.arange(lags), 1)[:, None]  # lag 0 (never a pick) read as lag 1
        nearest = np.abs(np.log2(every / lag[None, :])).argmin(axis=1)  # each lag's state
        self.register_buffer("state_of_lag", torch.from_numpy(nearest).long(), persistent=False)
        self.register_buffer("state_index", torch.arange(count).float()[None, :, None], persistent=False)
        self.half_width = 2.0 ** (0.5 * BIN_CENTS / 1200.0) - 1.0  # a state's half width, as a share of its lag

    def evidence(self, dp: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
        """d' float32[B, lags, F], YIN's own pick int64[B, 1, F] -> each frame's evidence over the states, summing
        to 1, float32[B, states, F]."""
        soft = torch.softmax(-(torch.matmul(self.read, dp) + self.cost) / TEMPERATURE, dim=1)
        pick = (self.state_index == self.state_of_lag[own].float()).float()
        return (1.0 - OWN_WEIGHT) * soft + OWN_WEIGHT * pick

    def forward(self, dp, own, tau, in_range, history):
        """d' float32[B, lags, F], YIN's own pick int64[B, 1, F], ``tau`` float32[1, lags, 1] (0, 1, 2, ...),
        ``in_range`` float32[1, lags, 1] (1 inside fmin..fmax), the history -> (lag, the new history)."""
        b, frames = dp.shape[0], dp.shape[-1]
        # floored: a frame's evidence vetoes a state at most a million to one, and zeros (a stream's start) are no
        # evidence at all
        seq = torch.cat([history, self.evidence(dp, own)], dim=-1).clamp(min=1e-6)  # [B, states, frames - 1 + F]
        rows = seq.transpose(1, 2)  # [B, frames - 1 + F, states]: the steps convolve along the last axis
        alpha = rows[:, :frames]  # each frame's forward pass starts frames - 1 frames back
        for k in range(1, self.frames):
            moved = F.conv1d(alpha.reshape(b * frames, 1, self.states), self.step, padding=self.step.shape[-1] // 2)
            alpha = (moved.reshape(b, frames, self.states) + JUMP / self.states) * rows[:, k : k + frames]
            alpha = alpha / alpha.sum(dim=-1, keepdim=True).clamp(min=1e-30)
        best = torch.argmax(alpha, dim=-1)[:, None]  # [B, 1, F]
        centre = torch.gather(self.state_lag.expand(b, -1, frames), 1, best)
        near = (tau - centre).abs() <= (self.half_width * centre).clamp(min=1.0)
        lag = torch.argmin(dp + (1.0 - (near & (in_range > 0)).float()) * 1e3, dim=1, keepdim=True)
        return lag, seq[..., seq.shape[-1] - (self.frames - 1) :]

    def state_shape(self) -> tuple[int, int]:
        return self.states, self.frames - 1


__all__ = ["PitchFilter"]
