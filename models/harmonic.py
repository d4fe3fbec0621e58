"""Sources for the source-filter syntheses (models/sourcefilter.py, models/additive.py): a band-limited harmonic
oscillator whose phase is streaming state, and a noise source read from a fixed table at a carried position.

Both stream block by block with explicit float32 state tensors and give exactly their whole-signal output
from zero states (``stream`` == ``forward`` over the concatenated blocks, up to float32 rounding of the phase).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

A4 = 440.0
ADVANCE_GRID = float(1 << 14)
TAPER_HZ = 400.0  # harmonics fade out over this band below the oscillator's limit  # per-frame phase advances are multiples of 1 / ADVANCE_GRID cycles


def pitch_to_hz(pitch: torch.Tensor) -> torch.Tensor:
    """pitch in octaves re A4 (log2(f0 / 440 Hz)) -> Hz."""
    return A4 * torch.pow(2.0, pitch)


def powers(c: torch.Tensor, s: torch.Tensor, n: int, dim: int = -1, zeroth: bool = False):
    """(cos x, sin x) float32 with size 1 along ``dim`` -> (cos j x, sin j x) joined along ``dim``, j = 1..n (0..n-1
    with ``zeroth``), each power the last one times (cos x, sin x): one join, no trigonometry, and an error that
    grows by float32 rounding per step (7 steps: 1e-6, below the 3e-5 rad of rounding 2 pi j x itself)."""
    cs, ss = [c], [s]
    while len(cs) < n:
        cs, ss = cs + [cs[-1] * c - ss[-1] * s], ss + [ss[-1] * c + cs[-1] * s]
    if zeroth:
        cs, ss = [torch.ones_like(c)] + cs[: n - 1], [torch.zeros_like(s)] + ss[: n - 1]
    return torch.cat(cs[:n], dim=dim), torch.cat(ss[:n], dim=dim)


class HarmonicOscillator(nn.Module):
    """(pitch, gate) float32[B, F] each -> excitation float32[B, 1, F * hop].

    Harmonics 1..``harmonics`` of f0 below ``nyquist_fraction`` * sample_rate / 2 (band-limited: none aliases),
    each with amplitude sqrt(2 / K) (K of them present, so the sum has RMS 1 whatever f0 is), times the gate
    (voicing). f0 and the gate move linearly within each frame from the previous frame's value to this frame's
    (causal: block f ends at this frame's value). Each harmonic is cos(2 pi frac(k * phase)): summed one by one,
    not by the closed-form Dirichlet kernel, whose division near the pulse peaks turns float32 rounding of the
    phase into errors of 1e-3 (streamed and whole-signal runs must agree to 1e-4).

    The phase (in cycles) accumulates sample by sample: within a frame in float32 from the frame's start phase,
    across frames in float64 and wrapped to [0, 1), so it neither drifts nor loses precision over an hour. State:
    ``[B, 4, 1]`` = (start phase hi, start phase lo, previous pitch, previous gate); hi + lo carry the wrapped
    float64 phase in two float32s. Zero state: phase 0, pitch 0 (440 Hz) and gate 0 (silent), so the first frame
    fades in.
    """

    def __init__(self, sample_rate: int = 22050, hop: int = 256, nyquist_fraction: float = 0.95, harmonics: int = 100):
        super().__init__()
        self.sample_rate, self.hop = int(sample_rate), int(hop)
        self.register_buffer("k", torch.arange(1, harmonics + 1, dtype=torch.float32), persistent=False)
        self.register_buffer("two_pi_k", 2 * math.pi * self.k, persistent=False)  # models/additive.py's
        # harmonic k = m a + b (b = 1..m, a = 0..g-1): cos(k t) = cos(m a t) cos(b t) - sin(m a t) sin(b t), and
        # cos(b t) + i sin(b t) = (cos t + i sin t)^b by complex products: a sample needs one sine and one cosine
        # instead of H cosines (the cosines were a third of a decoder's time, 2 (m + g) of them a quarter)
        self.group = max(1, int(round(math.sqrt(harmonics))))
        self.groups = -(-harmonics // self.group)
        self.max_hz = nyquist_fraction * sample_rate / 2
        n = torch.arange(hop, dtype=torch.float64)
        ramp = (n + 1) / hop  # sample n of a frame: (n + 1) / hop of the way from the previous frame's value
        self.register_buffer("ramp", ramp.float()[None, None, :], persistent=False)
        # cycles after sample n of a frame whose f0 ramps from a to b: ((n+1) a + (n+1)(n+2)/(2 hop) (b - a)) / sr,
        # in closed form (a running sum's rounding would depend on the tensor's shape, and block != whole)
        self.register_buffer("sum_a", ((n + 1) / sample_rate).float()[None, None, :], persistent=False)
        self.register_buffer(
            "sum_ba", ((n + 1) * (n + 2) / (2 * hop) / sample_rate).float()[None, None, :], persistent=False
        )
        self.state_name = ""

    def state_shapes(self) -> list[tuple[str, int, int]]:
        return [(self.state_name, 4, 1)]

    def forward(self, pitch: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        state = torch.zeros(pitch.shape[0], 4, 1, dtype=pitch.dtype, device=pitch.device)
        return self.stream(pitch, gate, [state])[0]

    def cycles(self, pitch: torch.Tensor, state: torch.Tensor):
        """pitch float32[B, F], state float32[B, 4, 1] -> (phase in cycles within [0, 1) after each sample
        float32[B, F, hop], f0 in Hz float32[B, F], the previous frame's f0 float32[B, F], the next (hi, lo) phase
        float32[B, 2, 1]): f0 ramps linearly within each frame from the previous frame's value to this frame's."""
        hz = pitch_to_hz(pitch).clamp(max=self.max_hz)
        prev_hz = torch.cat([pitch_to_hz(state[:, 2, :]).clamp(max=self.max_hz), hz[:, :-1]], dim=1)
        within = prev_hz[..., None] * self.sum_a + (hz - prev_hz)[..., None] * self.sum_ba  # [B, F, hop] cycles
        # The frame's advance on a grid of 2^-14 cycles (the frequency moves by <= 0.05 cents to land on it): sums of
        # grid values are exact in float64, so a last-bit difference in f0 (torch vs onnxruntime, one long call vs
        # many short ones) no longer grows into a phase offset over time; it moves the phase only when it crosses
        # a grid boundary, by 6e-5 cycles.
        exact = within[..., -1]
        advance = torch.round(exact * ADVANCE_GRID) / ADVANCE_GRID
        within = within * (advance / exact.clamp(min=1e-6))[..., None]
        advance = advance.double()  # [B, F] cycles per frame
        start = state[:, 0, :].double() + state[:, 1, :].double()  # [B, 1]
        ends = start + torch.cumsum(advance, dim=1)  # float64 [B, F]
        starts = torch.cat([start, ends[:, :-1]], dim=1)
        starts = (starts - torch.floor(starts)).float()
        cyc = within + starts[..., None]
        cyc = cyc - torch.floor(cyc)
        end = ends[:, -1:]
        end = end - torch.floor(end)
        hi = end.float()
        lo = (end - hi.double()).float()
        return cyc, hz, prev_hz, torch.stack([hi, lo], dim=1)

    def stream(self, pitch: torch.Tensor, gate: torch.Tensor, states: list[torch.Tensor]):
        state = states[0]
        b, frames = pitch.shape
        cyc, hz, prev_hz, phase = self.cycles(pitch, state)
        prev_gate = torch.cat([state[:, 3, :], gate[:, :-1]], dim=1)
        amp = prev_gate[..., None] + (gate - prev_gate)[..., None] * self.ramp
        top = torch.maximum(hz, prev_hz)[..., None]  # [B, F, 1]: harmonics below max_hz all through the frame
        # fades out over the TAPER_HZ below the limit: continuous in f0, so a last-bit difference in f0 cannot
        # switch a harmonic on or off (and no harmonic pops in or out as f0 glides)
        present = ((self.max_hz - self.k * top) / TAPER_HZ).clamp(0.0, 1.0)  # [B, F, H]
        count = present.sum(dim=-1, keepdim=True).clamp(min=1.0)  # harmonics present (fractional at the edge)
        # sum_k present_k cos(2 pi k cyc) by groups (``group`` above), from cos and sin of 2 pi cyc alone (cyc is
        # wrapped to [0, 1))
        pad = self.group * self.groups - present.shape[-1]
        q = F.pad(present, (0, pad)).reshape(b, frames, self.groups, self.group)  # [B, F, a, b]
        # harmonics along the second last axis, samples along the last: the products and joins stay contiguous
        t = (2 * math.pi) * cyc[..., None, :]  # [B, F, 1, hop]
        cb, sb = powers(torch.cos(t), torch.sin(t), self.group, dim=-2)  # [B, F, m, hop]: b t, b = 1..m
        cm, sm = cb[..., -1:, :], sb[..., -1:, :]  # m t
        ca, sa = powers(cm, sm, self.groups, dim=-2, zeroth=True)  # [B, F, g, hop]: m a t, a = 0..g-1
        y = (ca * torch.matmul(q, cb) - sa * torch.matmul(q, sb)).sum(-2)
        y = y * torch.sqrt(2.0 / count) * amp
        nxt = torch.cat([phase, pitch[:, None, -1:], gate[:, None, -1:]], dim=1)  # [B, 4, 1]
        return y.reshape(b, 1, frames * self.hop), [nxt]


class NoiseTable(nn.Module):
    """frames F -> white noise float32[B, 1, F * hop] with RMS 1, read from a fixed seeded table.

    The table (``length`` samples, uniform, values exact in float16 so the bundle stores them at half size) is read
    from a position carried as state ``[B, 1, 1]`` (an integer below ``length``, exact in float32): streamed blocks
    read exactly the samples a whole-signal run reads. Its period (``length`` / sample_rate s) is far above what
    ears hear as repetition in filtered noise.
    """

    def __init__(self, length: int = 1 << 17, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        table = (torch.rand(length, generator=g) * 2 - 1) * math.sqrt(3.0)
        self.register_buffer("table", table.half().float(), persistent=False)
        self.length = int(length)
        self.state_name = ""

    def state_shapes(self) -> list[tuple[str, int, int]]:
        return [(self.state_name, 1, 1)]

    def stream(self, ref: torch.Tensor, samples_per_frame: int, states: list[torch.Tensor]):
        """``ref`` float32[B, C, F] gives batch and frame count."""
        b, frames = ref.shape[0], ref.shape[-1]
        n = frames * samples_per_frame
        pos = states[0].reshape(b, 1)
        idx = pos + torch.arange(n, dtype=ref.dtype, device=ref.device)[None, :]
        idx = idx - torch.floor(idx / self.length) * self.length
        # a Gather on the flat table (an index tensor exports as GatherND, 4 % of a decoder's time)
        y = torch.index_select(self.table, 0, idx.long().reshape(-1)).reshape(b, n)
        nxt = idx[:, -1:] + 1.0  # (a float(n) here would freeze the block length in the exported graph)
        nxt = nxt - torch.floor(nxt / self.length) * self.length
        return y[:, None, :], [nxt[:, :, None]]
