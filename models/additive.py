"""Source-filter synthesis in the time domain: harmonics summed with the envelope's minimum-phase complex amplitudes,
plus white noise through a short per-frame filter, every parameter moving sample by sample from one frame to the next.

:class:`AdditiveSynth` takes the same frames as :class:`models.sourcefilter.SourceFilterSynth` (pitch in octaves re
A4, voicing, natural-log envelope at ``env_points`` mel points, band aperiodicity with voicing folded in, formant
shift in octaves) and returns ``hop`` samples per frame, ending on frame f's values at the end of block f. Unlike the
STFT synthesis it adds no frame of delay (nothing waits for a next frame to overlap with), and it needs no DFT:
  - harmonic k of f0 gets amplitude sqrt(4 f0 S(k f0) (1 - ap(k f0)) / sr) (a harmonic of amplitude A reads
    A^2 sr / (4 f0) in the analysis's envelope S) and the minimum phase of the envelope at k f0 (each pitch pulse has
    the shape a voice's has); the complex amplitude moves linearly across the block, the phase of the oscillator
    (:class:`models.harmonic.HarmonicOscillator`, continuous, exact over hours) carries the pitch;
  - the noise is the seeded white-noise table filtered by a zero-phase FIR of ``noise_taps`` taps whose magnitude
    is sqrt(S (ap)) on a uniform grid; the output crossfades from the previous frame's filter to this frame's.
State (zero = silence): the oscillator, the noise table position, the last noise samples, the previous frame's
complex amplitudes and noise filter.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .fft import FrameIRFFT, FrameRFFT
from .harmonic import TAPER_HZ, HarmonicOscillator, NoiseTable, pitch_to_hz, powers
from .sourcefilter import (
    FLOOR_FADE_NATS,
    LOG_FLOOR,
    TOP_FRACTION,
    ap_centres,
    envelope_at,
    gather_lerp,
    interp_matrix,
    mel,
    minimum_phase_matrix,
)

SWEEP_HZ = 1000.0


class AdditiveSynth(nn.Module):
    """(pitch, voicing float32[B, 1, F], log envelope float32[B, env_points, F], aperiodicity float32[B, bands, F],
    formant float32[B, 1, F] or None) -> audio float32[B, 1, F * hop]; causal, no added delay."""

    def __init__(
        self,
        sample_rate: int = 22050,
        hop: int = 256,
        env_points: int = 80,
        harmonics: int = 64,
        range_db: float = 100.0,
        phase_fft: int = 512,
        noise_taps: int = 256,  # the sf family's (models/configs.py); 128 smooths the envelope over 3 bins of 172 Hz
    ):
        super().__init__()
        self.sample_rate, self.hop, self.env_points = int(sample_rate), int(hop), int(env_points)
        self.oscillator = HarmonicOscillator(sample_rate, hop, harmonics=harmonics)
        self.noise = NoiseTable()
        self.harmonics = int(harmonics)
        self.point_step = float(mel(TOP_FRACTION * sample_rate / 2) / (env_points - 1))
        self.range_nats = float(range_db) * math.log(10.0) / 10.0
        # minimum phase on a coarse uniform grid (the envelope is smooth): log magnitude -> phase, a linear map
        self.phase_fft = int(phase_fft)
        self.phase_bins = self.phase_fft // 2 + 1
        self.bin_hz = sample_rate / self.phase_fft
        # stored in the graph as it is (257 x 257, 264 kB): built there from its closed form, the exporter folded
        # four 257 x 257 intermediates of that into constants (2.1 MB); the STFT synthesis's 513 x 513 it does not
        self.register_buffer("min_phase", minimum_phase_matrix(self.phase_fft), persistent=False)
        grid = np.arange(self.phase_bins) * self.bin_hz
        self.register_buffer("grid_hz", torch.from_numpy(grid).float()[None, :, None], persistent=False)
        # noise: a zero-phase FIR of noise_taps taps from its magnitude at taps / 2 + 1 uniform frequencies
        self.taps = int(noise_taps)
        nb = self.taps // 2 + 1
        nf = np.arange(nb) * sample_rate / self.taps
        self.register_buffer("noise_hz", torch.from_numpy(nf).float()[None, :, None], persistent=False)
        self.ap_centres = ap_centres(sample_rate)
        self.register_buffer("ap_to_noise", interp_matrix(self.ap_centres, nf), persistent=False)
        self.register_buffer("noise_fir", self._fir_basis(self.taps), persistent=False)
        # the filtering by FFT: each block's hop + taps - 1 input samples (within two blocks) against the FIR, so no
        # output sample gathers its own taps inputs (that gather was six tenths of the decoder's time in a render)
        n = 2 * self.hop
        if self.taps > self.hop:
            raise ValueError("additive synthesis: noise_taps <= hop (a block's inputs lie within two blocks)")
        self.seg_rfft = FrameRFFT(n, n, torch.ones(n))
        self.seg_irfft = FrameIRFFT(n, lags=self.hop)
        self.fir_rfft = FrameRFFT(self.taps, n)  # the FIR's DFT on the same n points (was a 257 x 128 matrix pair)
        self.register_buffer("k", self.oscillator.k.clone(), persistent=False)
        self.register_buffer("ramp", self.oscillator.ramp.clone(), persistent=False)  # (n + 1) / hop

    @staticmethod
    def _fir_basis(taps: int) -> torch.Tensor:
        """float32[taps, taps / 2 + 1]: magnitude at the uniform frequencies -> the zero-phase FIR (Hann windowed,
        row i weighs the input taps - 1 - i samples before the output): unit white noise through it has the mean of
        the squared magnitudes as variance."""
        nb = taps // 2 + 1
        n = np.arange(taps) - (taps // 2 - 1)  # oldest input sample first (h is symmetric: h(n) = h(-n))
        k = np.arange(nb)
        c = np.where((k == 0) | (k == taps // 2), 1.0, 2.0)
        basis = c[None, :] * np.cos(2 * np.pi * n[:, None] * k[None, :] / taps) / taps
        window = 0.5 + 0.5 * np.cos(2 * np.pi * n / taps)  # peak 1 at the centre, keeps the passband's level
        return torch.from_numpy(basis * window[:, None]).float()

    def _envelope_at(self, logenv, formant, hz):
        """natural-log envelope read at frequencies ``hz`` float32[B, K, F] (shifted by the formant), bounded."""
        return envelope_at(logenv, hz, formant, self.point_step).clamp(-40.0, 10.0)

    def _ap_at(self, ap, hz):
        """aperiodicity (band values at the band centres) read linearly at ``hz``, flat beyond the end centres."""
        c = self.ap_centres
        pos = torch.zeros_like(hz)
        for j in range(len(c) - 1):  # piecewise-linear position in band units
            pos = pos + ((hz - float(c[j])) / float(c[j + 1] - c[j])).clamp(0.0, 1.0)
        return gather_lerp(ap, pos).clamp(0.0, 1.0)

    def _fade(self, log_s):
        """the analysis floor is silence: the last 10 dB above it fade to zero (digital silence in, silence out)."""
        return ((log_s - math.log(LOG_FLOOR)) / FLOOR_FADE_NATS).clamp(0.0, 1.0)

    def frame_parameters(self, pitch, logenv, ap, formant):
        """Per frame: harmonic complex amplitudes (real, imag) float32[B, H, F] each, and the noise FIR
        float32[B, taps, F]."""
        f0 = pitch_to_hz(pitch).clamp(max=self.oscillator.max_hz)  # [B, 1, F]
        hz = self.k[None, :, None] * f0  # [B, H, F]
        log_h = self._envelope_at(logenv, formant, hz)
        # deeper than range_db below the frame's peak adds nothing audible
        peak = self._envelope_at(logenv, formant, self.grid_hz.expand(pitch.shape[0], -1, pitch.shape[-1]))
        floor = peak.amax(dim=1, keepdim=True) - self.range_nats
        log_grid = torch.maximum(peak, floor)
        log_h = torch.maximum(log_h, floor)
        phase = gather_lerp(torch.matmul(self.min_phase, 0.5 * log_grid), hz / self.bin_hz)
        present = ((self.oscillator.max_hz - hz) / TAPER_HZ).clamp(0.0, 1.0)
        harm = 1.0 - self._ap_at(ap, hz)
        amp = torch.sqrt((4.0 * f0 * torch.exp(log_h) * harm / self.sample_rate).clamp(min=1e-20))
        amp = amp * self._fade(log_h) * present
        noise_hz = self.noise_hz.expand(pitch.shape[0], -1, pitch.shape[-1])
        log_n = torch.maximum(self._envelope_at(logenv, formant, noise_hz), floor)
        noise_ap = torch.matmul(self.ap_to_noise, ap).clamp(0.0, 1.0)
        mag = torch.exp(0.5 * log_n) * torch.sqrt(noise_ap.clamp(min=1e-12)) * self._fade(log_n)
        fir = torch.matmul(self.noise_fir, mag)  # [B, taps, F]
        return amp * torch.cos(phase), amp * torch.sin(phase), fir

    def state_shapes(self) -> list[tuple[str, int, int]]:
        return [
            ("osc", 4, 1),
            ("noise", 1, 1),
            ("noise_tail", 1, self.taps - 1),
            ("previous", 2 * self.harmonics + self.taps, 1),
        ]

    def stream(self, pitch, voicing, logenv, ap, formant, states: list[torch.Tensor]):
        del voicing  # folded into the aperiodicity by the analysis (and by the timbre decoder)
        if formant is None:
            formant = torch.zeros_like(pitch)
        b, frames = pitch.shape[0], pitch.shape[-1]
        h = self.harmonics
        re, im, fir = self.frame_parameters(pitch, logenv, ap, formant)
        now = torch.cat([re, im, fir], dim=1)  # [B, 2H + taps, F]
        both = torch.cat([states[3], now], dim=-1)
        prev = both[..., :-1]
        cyc, hz, prev_hz, phase = self.oscillator.cycles(pitch[:, 0], states[0])  # [B, F, hop]
        # a harmonic plays in a block only if it stays below the limit all through it, however far f0 moves (an
        # octave jump would glide the upper harmonics past Nyquist, where they alias), and sweeps less than SWEEP_HZ
        # (gone at twice that: a jump of f0, an octave error or the tracker's guess in an unvoiced frame, would smear
        # its amplitude across the spectrum; a sung vibrato sweeps harmonic 40 by ~100 Hz)
        top = torch.maximum(hz, prev_hz)[..., None]  # [B, F, 1]
        inside = ((self.oscillator.max_hz - self.k * top) / TAPER_HZ).clamp(0.0, 1.0)  # [B, F, H]
        sweep = self.k * (hz - prev_hz).abs()[..., None]
        inside = inside * ((2.0 * SWEEP_HZ - sweep) / SWEEP_HZ).clamp(0.0, 1.0)
        pair = self._harmonic_sums(cyc, prev[:, : 2 * h], now[:, : 2 * h], inside)  # [B, F, 2, hop]
        ramp = self.ramp[0, 0][None, None, :]
        harmonic = pair[:, :, 0] * (1.0 - ramp) + pair[:, :, 1] * ramp
        # noise: each output sample filtered by the previous and this frame's FIR, crossfaded
        white, s_noise = self.noise.stream(pitch, self.hop, states[1:2])
        ext = torch.cat([states[2], white], dim=-1)  # [B, 1, taps - 1 + F * hop]
        noise = self._filter_noise(ext, both[:, 2 * h :], frames)
        noise = noise[:, 0] * (1.0 - ramp) + noise[:, 1] * ramp
        out = (harmonic + noise).reshape(b, 1, frames * self.hop)
        nxt_osc = torch.cat([phase, pitch[:, :, -1:], torch.ones_like(pitch[:, :, -1:])], dim=1)
        tail = ext[..., ext.shape[-1] - (self.taps - 1) :]
        return out, [nxt_osc] + s_noise + [tail, both[..., -1:]]

    def _harmonic_sums(self, cyc, prev, now, inside):
        """cyc float32[B, F, hop] (the oscillator's phase in cycles), prev / now float32[B, 2H, F] (the frame before's
        and this frame's complex amplitudes, real parts then imaginary), inside float32[B, F, H] -> float32[B, F, 2,
        hop]: sum_k Re(c_k e^(i k t)) for each set of amplitudes c. Harmonic k = m a + b (b = 1..m, a = 0..g-1, the
        oscillator's groups): e^(i k t) = e^(i m a t) e^(i b t), every power a complex product of one sine and one
        cosine a sample (a sine and a cosine per harmonic and sample were a third of a render), and per frame one
        product of the [4g, 2m] amplitude matrix with the 2m powers of b t."""
        b, frames, h = inside.shape
        m, g = self.oscillator.group, self.oscillator.groups
        t = (2 * math.pi) * cyc[..., None, :]  # [B, F, 1, hop]
        cb, sb = powers(torch.cos(t), torch.sin(t), m, dim=-2)  # [B, F, m, hop]: b t
        ca, sa = powers(cb[..., -1:, :], sb[..., -1:, :], g, dim=-2, zeroth=True)  # [B, F, g, hop]: m a t
        amps = torch.stack([prev, now], dim=1).reshape(b, 2, 2, h, frames).permute(0, 4, 1, 2, 3)  # [B, F, 2, 2, H]
        amps = torch.nn.functional.pad(amps * inside[:, :, None, None, :], (0, m * g - h))
        re, im = amps.reshape(b, frames, 2, 2, g, m).unbind(dim=3)  # [B, F, 2, g, m] each
        # (re + i im) e^(i b t) summed over b = U + i V: U = re cos - im sin, V = re sin + im cos
        coef = torch.cat([torch.cat([re, -im], dim=-1), torch.cat([im, re], dim=-1)], dim=-2)  # [B, F, 2, 2g, 2m]
        uv = torch.matmul(coef, torch.cat([cb, sb], dim=-2)[:, :, None])  # [B, F, 2, 2g, hop]
        u, v = uv.split(g, dim=-2)
        return (ca[:, :, None] * u - sa[:, :, None] * v).sum(dim=-2)  # Re(e^(i m a t) (U + i V)) summed over a

    def _filter_noise(self, ext: torch.Tensor, firs: torch.Tensor, frames: int) -> torch.Tensor:
        """ext float32[B, 1, taps - 1 + F * hop] (the noise with the taps - 1 samples before), firs float32[B, taps,
        F + 1] (the frame before's FIR, then each frame's) -> float32[B, 2, F, hop]: each block through the FIR of
        the frame before it (row 0) and its own (row 1). Output n of block f is sum_j ext[f hop + n + j] fir[j]: a
        cross-correlation of the block's 2 hop samples with the FIR, from their DFTs (no index wraps: n + j < 2 hop)."""
        b = ext.shape[0]
        ext = torch.nn.functional.pad(ext[:, 0], (0, self.hop - self.taps + 1))  # [B, (F + 1) hop]
        blocks = ext.reshape(b, frames + 1, self.hop)
        xr, xi = self.seg_rfft(torch.cat([blocks[:, :-1], blocks[:, 1:]], dim=-1))  # [B, F, bins]
        gr, gi = self.fir_rfft(firs.transpose(1, 2))  # [B, F + 1, bins]
        gr = torch.stack([gr[:, :-1], gr[:, 1:]], dim=1)  # [B, 2, F, bins]
        gi = torch.stack([gi[:, :-1], gi[:, 1:]], dim=1)
        xr, xi = xr[:, None], xi[:, None]
        return self.seg_irfft(xr * gr + xi * gi, xi * gr - xr * gi)  # X times G's conjugate

    def forward(self, pitch, voicing, logenv, ap, formant=None):
        zeros = [torch.zeros(pitch.shape[0], c, f) for _, c, f in self.state_shapes()]
        return self.stream(pitch, voicing, logenv, ap, formant, zeros)[0]


__all__ = ["AdditiveSynth"]
