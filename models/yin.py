"""YIN pitch in tensor ops (exports to ONNX, streams with explicit state): frames of audio -> f0 in octaves re A4
and YIN's aperiodicity, for the families that carry pitch explicitly (``sf``, ``timbre``).

Continuity (``pick`` with a history, causal): speech and song hold a pitch for many frames, and YIN's octave errors
come one frame at a time. Where the two previous frames agreed on a periodic pitch and this frame's own pick is more
than a quarter octave away from it, the trough of d' next to the previous pitch is taken instead, if it is nearly as
deep. The history is the previous frames' own picks, not their corrected ones, so whole-file graphs compute every
frame at once (no recursion) and a streaming call carries two frames of it as state.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .fft import EvenIRFFT, FrameRFFT, frames_of
from .pitch_filter import PitchFilter

PITCH_FMIN, PITCH_FMAX = 50.0, 1500.0
YIN_THRESHOLD = 0.15  # the first trough of YIN's normalised difference below this is the period
# else the trough lowest in d' + this x octaves of lag above the shortest (Praat's octave cost). 0.1: at 0.2 a period
# whose trough was up to 0.2 deeper than its half's lost to the half (measured on 20 outside Dutch clips, frames where
# Harvest and pYIN agree: errors over 300 c 3.5 -> 2.7 %, voiced frames read unvoiced 2.1 -> 1.2 %; voice-live
# PESQ-WB 1.86 -> 1.91; docs/notes/2026-12-06-source-filter.md, "The octave cost")
OCTAVE_COST = 0.1
# continuity (measured on 20 outside Dutch clips against pYIN: octave errors 8.1 % -> 5.1 % of voiced frames)
HOLD_AGREE_OCT = 0.2  # the two previous picks within this many octaves of each other...
HOLD_PERIODIC = 0.6  # ...and the previous one periodic (its d' below this)...
HOLD_FAR_OCT = 0.25  # ...and this frame's pick further than this from it...
HOLD_WINDOW = 0.06  # ...then the deepest trough within +-6 % of the previous period...
HOLD_SLACK = 0.5  # ...is taken if its d' is at most this much above the frame's own pick's
HISTORY = 2  # frames of picks carried (state: float32[B, 2, HISTORY]: lag, d' at it)


def octaves(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|log2(a / b)| for lags (0 = none, read as 1)."""
    return torch.log2(a.clamp(min=1.0) / b.clamp(min=1.0)).abs()


def refine_period(d: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """d float32[B, lags, F], a lag per frame int64[B, 1, F] (1 .. lags - 2) -> the period float32[B, 1, F]: the
    vertex of the parabola through d at the three lags around it (at most a lag away)."""
    a = torch.gather(d, 1, idx - 1)
    b = torch.gather(d, 1, idx)
    c = torch.gather(d, 1, idx + 1)
    den = a - 2.0 * b + c
    shift = torch.where(
        den.abs() > 1e-9,
        0.5 * (a - c) / torch.where(den.abs() > 1e-9, den, torch.ones_like(den)),
        torch.zeros_like(den),
    ).clamp(-1.0, 1.0)
    return idx.float() + shift


class YinPitch(nn.Module):
    """Frames of the last ``window`` samples (float32[B, 1, n] holding F frames ending at each hop) ->
    (pitch in octaves re A4 float32[B, 1, F], aperiodicity float32[B, 1, F]): a YIN estimator in tensor ops, so it
    runs inside encoder.onnx and needs no training.

    The Hann-windowed frame's autocorrelation r (from its power spectrum zero-padded to ``n_dft`` points, so no
    lag below ``n_dft - window`` wraps) is divided by the window's own (Boersma 1993), which gives a normalised
    difference d(tau) = 1 - r(tau) / (r(0) r_w(tau)); YIN's cumulative-mean normalisation d'(tau) = d(tau) tau /
    sum_{j<=tau} d(j); the period is the first trough of d' below ``threshold`` in the lag range of
    [fmin, fmax] (else the lowest d'), refined by a parabola through d at the three lags around it. The
    aperiodicity is d' there. All frames go through the same per-frame ops (the spectrum and its inverse by
    models/fft.py's four-step FFTs, in training, eval and export alike)."""

    def __init__(
        self,
        sample_rate: int,
        hop: int,
        window: int = 1024,
        fmin: float = PITCH_FMIN,
        fmax: float = PITCH_FMAX,
        threshold: float = YIN_THRESHOLD,
        octave_cost: float = OCTAVE_COST,
        filter_frames: int = 0,
    ):
        super().__init__()
        self.sample_rate, self.hop, self.window = int(sample_rate), int(hop), int(window)
        self.n_dft = 1 << int(math.ceil(math.log2(2 * window)))
        self.lo = int(math.floor(sample_rate / fmax))
        self.hi = int(math.ceil(sample_rate / fmin))
        if self.hi + 2 >= self.window:
            raise ValueError(f"pitch window {window} too short for fmin {fmin} Hz")
        self.threshold, self.octave_cost = float(threshold), float(octave_cost)
        lags = self.hi + 2  # lags 0 .. hi + 1
        self.lags = lags
        w = torch.hann_window(window, periodic=False, dtype=torch.float64)
        self.register_buffer("win", w.float(), persistent=False)
        self.rfft = FrameRFFT(window, self.n_dft, w)
        self.to_lags = EvenIRFFT(self.n_dft, lags)  # power -> autocorrelation at lags 0 .. hi + 1
        tau = torch.arange(lags, dtype=torch.float64)
        rw = torch.stack([(w[: window - t] * w[t:]).sum() for t in range(lags)])
        self.register_buffer("win_acf", (rw / rw[0]).float()[None, :, None], persistent=False)
        self.register_buffer("tau", tau.float()[None, :, None], persistent=False)
        rng = torch.zeros(lags)
        rng[self.lo : self.hi + 1] = 1.0
        self.register_buffer("in_range", rng[None, :, None], persistent=False)
        # Praat's octave cost: a longer candidate period must be this much more periodic per octave
        cost = torch.log2(tau.clamp(min=1.0) / self.lo) * self.octave_cost
        self.register_buffer("lag_cost", cost.float()[None, :, None], persistent=False)
        # > 0: with a history, the period comes from models/pitch_filter.py over this many frames, not the pick + hold
        self.filter = PitchFilter(sample_rate, fmin, fmax, lags, cost, filter_frames) if filter_frames else None

    def history_shape(self) -> tuple[int, int]:
        """The streaming state of ``pick``'s history: (rows, frames)."""
        return self.filter.state_shape() if self.filter is not None else (2, HISTORY)

    def _acf(self, frames_src: torch.Tensor) -> torch.Tensor:
        """float32[B, 1, n] -> autocorrelation float32[B, lags, F]."""
        re, im = self.rfft(frames_of(frames_src[:, 0], self.window, self.hop))  # [B, F, bins] each
        return self.to_lags(re * re + im * im).transpose(1, 2)

    def forward(self, frames_src: torch.Tensor):
        return self.from_acf(self._acf(frames_src))

    def from_acf(self, r: torch.Tensor, history: torch.Tensor | None = None):
        """autocorrelation float32[B, lags, F] (``_acf``) -> (pitch, aperiodicity) float32[B, 1, F] each; with a
        ``history`` (float32[B, 2, HISTORY], zeros at the start) also the new history (see ``pick``)."""
        return self.pick(*self.differences(r), history=history)

    def differences(self, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """autocorrelation float32[B, lags, F] -> (normalised difference d, its cumulative-mean normalisation d'),
        each float32[B, lags, F]."""
        r0 = r[:, :1]
        # a clamp, not "+ 1e-9": the ONNX exporter drops an added constant float16 cannot hold, and silence
        # (r0 = 0) then gave 0 / 0 = NaN in the graphs
        d = (1.0 - r / (r0 * self.win_acf).clamp(min=1e-9)).clamp(min=0.0)  # [B, L, F]
        cum = torch.cumsum(d, dim=1)  # d(0) = 0: sum_{1 <= j <= tau} d(j), along the lags of each frame
        dp = torch.where(self.tau > 0, d * self.tau / cum.clamp(min=1e-6), torch.ones_like(d))
        return d, dp

    def pick(self, d: torch.Tensor, dp: torch.Tensor, history: torch.Tensor | None = None):
        """(d, d') float32[B, lags, F] -> (pitch in octaves re A4, aperiodicity) float32[B, 1, F]: the first trough
        of d' below the threshold (else the lowest, with the octave cost), refined by a parabola through d.
        With a ``history`` (the two frames before these: float32[B, 2, HISTORY], rows lag and d' there; zeros =
        none), continuity as the module says, and the new history is returned third. With a pitch filter the
        history is its evidence (``history_shape``) and the filter picks the period."""
        prev = torch.cat([dp[:, :1], dp[:, :-1]], dim=1)
        nxt = torch.cat([dp[:, 1:], dp[:, -1:]], dim=1)
        trough = (dp < prev) & (dp <= nxt) & (self.in_range > 0)
        below = (trough & (dp < self.threshold)).float()
        first = torch.argmax(below, dim=1, keepdim=True)  # the first such lag (0 where there is none)
        masked = dp + self.lag_cost + (1.0 - trough.float()) * 1e3  # troughs in range only
        best = torch.argmin(masked, dim=1, keepdim=True)
        idx = torch.where(below.amax(dim=1, keepdim=True) > 0, first, best).clamp(self.lo, self.hi)
        new_history = None
        if history is not None and self.filter is not None:
            idx, new_history = self.filter(dp, idx, self.tau, self.in_range, history)
        elif history is not None:
            idx, new_history = self._hold(dp, trough, idx, history)
        pitch = torch.log2(self.sample_rate / refine_period(d, idx) / 440.0)
        aper = torch.gather(dp, 1, idx)
        return (pitch, aper) if history is None else (pitch, aper, new_history)

    def _hold(self, dp: torch.Tensor, trough: torch.Tensor, idx: torch.Tensor, history: torch.Tensor):
        """Continuity: each frame's pick ``idx`` (int64[B, 1, F]) replaced by the trough next to the previous
        frame's pick where the module's rule says so; (new idx, the history after these frames)."""
        frames = idx.shape[-1]
        own = torch.cat([idx.float(), torch.gather(dp, 1, idx)], dim=1)  # [B, 2, F]: lag, d' there
        seq = torch.cat([history, own], dim=-1)  # [B, 2, HISTORY + F]
        p2, p1 = seq[:, :1, :frames], seq[:, :1, 1 : frames + 1]
        q1 = seq[:, 1:, 1 : frames + 1]
        hold = (p1 > 0) & (p2 > 0) & (octaves(p1, p2) < HOLD_AGREE_OCT) & (q1 < HOLD_PERIODIC)
        hold = hold & (octaves(idx.float(), p1) > HOLD_FAR_OCT)
        near = (self.tau - p1).abs() <= HOLD_WINDOW * p1  # [B, lags, F]
        score = dp + (1.0 - (trough & near).float()) * 1e3
        cand = torch.argmin(score, dim=1, keepdim=True)
        cand_dp = torch.gather(score, 1, cand)
        take = hold & (cand_dp < torch.gather(dp, 1, idx) + HOLD_SLACK)
        return torch.where(take, cand, idx), seq[..., seq.shape[-1] - HISTORY :]
