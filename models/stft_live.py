"""The STFT source-filter synthesis without its hop of delay (``synthesis: stft-live``).

:class:`models.sourcefilter.SourceFilterSynth` filters 2-hop frames of the sources (a periodic Hann, so the frames sum
to 1) and overlap-adds them; a frame covers this block and the next, so each block waits for the next frame: one hop
(11.6 ms) late. Here each block's sources are split by the Hann's two halves instead (rise + fall = 1 at every
sample): the rising half goes through this frame's filter, the falling half through the previous frame's, each
zero-padded to ``n_fft`` and ringing on into the blocks after (overlap-add state). By linearity that is the same sum of
filtered frames, so the same sound, one hop earlier: block j needs only frames j - 1 and j, as the additive synthesis
(models/additive.py) does.

Each path's filter has the minimum phase of its own magnitude: the envelope times the harmonic share for the harmonics,
times the noise share for the noise. The STFT synthesis gives both the envelope's phase; where the shares differ from
band to band that is not a minimum-phase pair, and the part of the response before time 0 wraps around the DFT.

Measured on 20 outside Dutch clips with the live analysis, nothing coded (docs/notes/2026-12-07-source-filter.md):
PESQ-WB / STOI / mel / stft 2.078 / 0.902 / 0.214 / 1.275 with the additive synthesis, 2.224 / 0.913 / 0.177 / 1.210
with this one.

Cost against the STFT synthesis: two forward DFTs of a hop per source and block instead of one of two hops, and two
minimum-phase products per frame instead of one; the filters are computed once per frame and the previous frame's
are carried as state.
"""

from __future__ import annotations

import torch

from .fft import FrameRFFT, frames_of, overlap_add
from .sourcefilter import SourceFilterSynth, hann

SHARE_FLOOR = 1e-6  # a path's share at or below this is -60 dB in its minimum-phase magnitude
# samples of delay the sf family declares beyond its analysis lag: a minimum-phase filter puts a pulse's energy after
# it (the output's energy envelope lagged the input's by a median of 40 samples on 20 outside Dutch clips with none
# declared; 8 with this)
LIVE_FILTER_DELAY = 32


class LiveFilterSynth(SourceFilterSynth):
    """Same inputs and output as :class:`SourceFilterSynth`, with no hop of delay. ``stream`` carries the oscillator,
    the noise, the overlap-add tail and the previous frame's filter."""

    def __init__(self, sample_rate: int = 22050, hop: int = 256, **kw):
        super().__init__(sample_rate, hop, **kw)
        w = hann(2 * self.hop, periodic=True)
        self.rise_rfft = FrameRFFT(self.hop, self.n_fft, w[: self.hop])
        self.fall_rfft = FrameRFFT(self.hop, self.n_fft, w[self.hop :])

    def state_shapes(self) -> list[tuple[str, int, int]]:
        # the previous frame's filters: harmonic and noise gain, cos and sin of each one's phase (zeros: silence)
        return [("osc", 4, 1), ("noise", 1, 1), ("overlap", 1, self.tail), ("filter", 6 * self.bins, 1)]

    def response(self, pitch, logenv, ap, formant) -> tuple[torch.Tensor, ...]:
        """Each frame's filters, float32[B, bins, F] each: (harmonic gain, noise gain, cos and sin of the harmonic
        path's minimum phase, the same for the noise path's)."""
        log_s, gh, gn, share = self.gains(pitch, logenv, ap, formant)
        log_h = 0.5 * (log_s + torch.log(share.clamp(min=SHARE_FLOOR)))
        log_n = 0.5 * (log_s + torch.log((1.0 - share).clamp(min=SHARE_FLOOR)))
        phase = self.minimum_phase(torch.cat([log_h, log_n], dim=1).reshape(-1, self.bins, log_s.shape[-1]))
        ph, pn = phase.reshape(log_s.shape[0], 2 * self.bins, -1).chunk(2, dim=1)
        return gh, gn, torch.cos(ph), torch.sin(ph), torch.cos(pn), torch.sin(pn)

    def apply(self, response, re, im):
        """The sources' frames (re, im float32[B, 2 * bins, F]: harmonic then noise) through ``response``."""
        gh, gn, ch, sh, cn, sn = response
        b = self.bins
        hr, hi = gh * re[:, :b], gh * im[:, :b]
        nr, ni = gn * re[:, b:], gn * im[:, b:]
        return hr * ch - hi * sh + nr * cn - ni * sn, hr * sh + hi * ch + nr * sn + ni * cn

    def _halves(self, src: torch.Tensor):
        """src float32[B, 2, F * hop] (harmonic, noise) -> each half-windowed block's spectrum, (re, im)
        float32[B, 2 * bins, F] for the rising and the falling half."""
        b, _, t = src.shape
        blocks = frames_of(src.reshape(b * 2, t), self.hop, self.hop)  # [B*2, F, hop]
        return [self.paths_spectrum(*rfft(blocks), b) for rfft in (self.rise_rfft, self.fall_rfft)]

    def stream(self, pitch, voicing, logenv, ap, formant, states: list[torch.Tensor]):
        if formant is None:
            formant = torch.zeros_like(pitch)
        # the oscillator always runs (phase continuous); the aperiodicity (voicing folded in) weights its share
        harm, s1 = self.oscillator.stream(pitch[:, 0], torch.ones_like(voicing[:, 0]), states[0:1])
        noise, s2 = self.noise.stream(pitch, self.hop, states[1:2])
        rise, fall = self._halves(torch.cat([harm, noise], dim=1))
        now = torch.cat(self.response(pitch, logenv, ap, formant), dim=1)  # [B, 6 bins, F]
        both = torch.cat([states[3], now], dim=-1)
        real, imag = self.apply(now.chunk(6, dim=1), *rise)
        real_p, imag_p = self.apply(both[..., :-1].chunk(6, dim=1), *fall)
        y = overlap_add(self.irfft((real + real_p).transpose(1, 2), (imag + imag_p).transpose(1, 2)), self.hop)[:, None]
        frames = pitch.shape[-1]
        y = torch.cat([y[..., : self.tail] + states[2], y[..., self.tail :]], dim=-1)
        return y[..., : frames * self.hop], s1 + s2 + [y[..., frames * self.hop :], both[..., -1:]]


__all__ = ["LIVE_FILTER_DELAY", "LiveFilterSynth"]
