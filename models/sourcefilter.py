"""Source-filter signal processing in tensor ops (exports to ONNX, streams with explicit state): analysis of audio
into f0, voicing, a smooth spectral envelope and band aperiodicity, and synthesis back from them.

Analysis (:class:`SourceFilterAnalysis`, causal, one frame per ``hop`` ending at the current sample):
  - f0 and voicing: YIN (:class:`models.yin.YinPitch`) on the last ``pitch_window`` samples, with continuity (a
    two-frame hold, or with ``pitch_filter`` the causal filter of models/pitch_filter.py; its history is state);
  - envelope: the power spectrum of the last ``env_window`` samples (Hann, zero-padded to ``n_dft``), divided by
    the window's energy (white noise of variance s2 reads s2 in every bin), smoothed by a rectangle ``f0`` wide
    along frequency (the width that cancels the ripple of harmonics f0 apart, as WORLD's CheapTrick does), as a
    natural log, read at ``env_points`` mel-spaced frequencies. A harmonic of amplitude A then reads
    A^2 sr / (4 f0);
  - aperiodicity per band (``AP_EDGES_HZ``): 1 - the band's normalised autocorrelation at the period (window
    corrected), i.e. the share of the band's power that does not repeat after one period; with ``ap_estimate``
    'valley', no more than the noise found between the harmonics (models/aperiodicity.py).

Synthesis (:class:`SourceFilterSynth`, causal, one hop late): a band-limited harmonic oscillator at f0 (phase
carried as state) and white noise, each analysed by a 2 * hop STFT, multiplied per bin by the envelope's
minimum-phase response (log magnitude -> phase by a fixed Hilbert matrix: every pulse gets the shape a voice's
has), weighted by (1 - aperiodicity) and by the rest, and inverted by the causal inverse STFT.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .aperiodicity import BandAperiodicity
from .fft import FrameIRFFT, FrameRFFT, frames_of, overlap_add
from .harmonic import TAPER_HZ, HarmonicOscillator, NoiseTable, pitch_to_hz
from .yin import PITCH_FMAX, PITCH_FMIN, YinPitch, refine_period

AP_EDGES_HZ = (0.0, 1000.0, 2000.0, 3500.0, 5500.0, 8000.0, 11025.0)  # aperiodicity band edges (centres between)
LOG_FLOOR = 1e-10  # power density floor before the log (-100 dB re full-scale white noise)
FLOOR_FADE_NATS = math.log(10.0)  # 10 dB
RELATIVE_FLOOR = 1e-9  # and 90 dB below the frame's mean power density
UNVOICED_WIDTH_HZ = 300.0  # envelope smoothing width where there is no pitch
# with ``low_width_hz``, bins below this share of f0 are smoothed over that width instead of f0: an f0-wide rectangle
# carries the first harmonic's level down to DC, where a flute's recording has 10-15 dB less (notes 2026-12-07)
LOW_EDGE = 0.9
TOP_FRACTION = 0.97
FINE_SEARCH = 0.08  # the low-lag analysis re-reads the period within +-8 % of the f0 window's
FINE_PERIODS = 0.4  # ... for periods up to this share of its window (205 samples, 108 Hz; longer: 14 c at 90 Hz)
# ... on the mean difference function of windows ending this many samples before the frame's end: one window's
# re-read jittered from frame to frame (median second difference 59 c against the f0 window's 39), and the mean of
# three scored PESQ-WB 1.954 against 1.924 on outside speech (a 768-sample window: 1.920)
FINE_SHIFTS = (0, 32, 64)
# where the f0 window saw little periodicity at its pick (d' above FINE_OWN_APER: a glide, a creaky or breathy
# stretch), the short windows' own YIN pick wins if its d' is lower by FINE_OWN_MARGIN (20 outside Dutch clips,
# additive dsp: PESQ-WB 2.00 -> 2.08, STOI 0.900 -> 0.903; 25 held-out Czech clips 1.77 -> 1.83; notes 2026-12-06)
FINE_OWN_APER = 0.35
FINE_OWN_MARGIN = 0.05
SILENT_LOG = -40.0  # a log envelope this low is silence (the synthesis's delay state stores logenv - this)
# voicing 1 at or below this YIN aperiodicity, 0 at or above: generous, because the band aperiodicity already
# turns a frame's unvoiced bands into noise (measured on outside speech: PESQ-WB 1.74 at (0.3, 0.6), 1.84 here)
VOICED_APER = (0.6, 0.9)
VOICING_GATE_DB = (-80.0, -74.0)  # voicing 0 at or below the first frame loudness (dBFS), full at the second
# (at -60 dBFS, 8 % of the voiced frames of 20 outside speech clips were called unvoiced: the quiet ends of words)


def mel(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def mel_points(sample_rate: int, count: int) -> np.ndarray:
    """float64[count]: frequencies in Hz from 0 to 0.97 x Nyquist, equally spaced in mel (the band next to
    Nyquist is empty after any resampling, and there float32 rounding decides the value)."""
    m = np.linspace(0.0, mel(TOP_FRACTION * sample_rate / 2), count)
    return 700.0 * np.expm1(m / 1127.0)


def interp_matrix(x_from: np.ndarray, x_to: np.ndarray) -> torch.Tensor:
    """float32[len(x_to), len(x_from)]: piecewise-linear interpolation from points ``x_from`` (increasing) to
    ``x_to`` (clamped at the ends)."""
    m = np.zeros((len(x_to), len(x_from)))
    for i, x in enumerate(np.clip(x_to, x_from[0], x_from[-1])):
        j = min(int(np.searchsorted(x_from, x, side="right")) - 1, len(x_from) - 2)
        t = (x - x_from[j]) / (x_from[j + 1] - x_from[j])
        m[i, j], m[i, j + 1] = 1.0 - t, t
    return torch.from_numpy(m).float()


def ap_centres(sample_rate: int) -> np.ndarray:
    edges = np.minimum(np.asarray(AP_EDGES_HZ), sample_rate / 2)
    return 0.5 * (edges[:-1] + edges[1:])


class SourceFilterAnalysis(nn.Module):
    """audio float32[B, 1, N] -> (pitch in octaves re A4 float32[B, 1, F], voicing 0..1 float32[B, 1, F],
    log envelope float32[B, env_points, F], aperiodicity 0..1 float32[B, bands, F], voicing folded in: 1 where unvoiced); frames end at each hop.
    State: the last ``pitch_window - hop`` samples (``stream``)."""

    def __init__(
        self,
        sample_rate: int = 22050,
        hop: int = 256,
        env_window: int = 768,
        pitch_window: int = 1024,
        env_points: int = 80,
        n_dft: int = 1024,
        ap_window: int = 512,
        ap_power: float = 2.0,
        voiced_aper: tuple = VOICED_APER,
        lag: int = 0,
        ap_estimate: str = "acf",
        low_width_hz: float = 0.0,
        pitch_fmax: float = PITCH_FMAX,
        pitch_filter: int = 0,
    ):
        super().__init__()
        if env_window > pitch_window or pitch_window > n_dft * 2:
            raise ValueError("source-filter analysis: env_window <= pitch_window <= 2 * n_dft")
        self.sample_rate, self.hop = int(sample_rate), int(hop)
        self.env_window, self.pitch_window, self.n_dft = int(env_window), int(pitch_window), int(n_dft)
        # where a frame's envelope and aperiodicity windows are centred, in samples before the frame's end: the
        # f0 window's centre by default; less puts them nearer its end (less delay; f0 then comes from a window
        # centred pitch_window / 2 - lag samples earlier)
        self.lag = int(lag) or self.pitch_window // 2
        if not max(env_window, ap_window) // 2 <= self.lag <= self.pitch_window - max(env_window, ap_window) // 2:
            raise ValueError(
                f"source-filter analysis: lag {self.lag} must leave the {max(env_window, ap_window)}-sample window "
                f"inside the {pitch_window}-sample f0 window"
            )
        self.context = self.pitch_window - self.hop
        self.fmax = float(pitch_fmax)
        self.yin = YinPitch(sample_rate, hop, pitch_window, fmax=self.fmax, filter_frames=pitch_filter)
        # with the windows nearer the frame's end, the f0 window's period is re-read where they are: in the
        # 2 * lag samples before the frame's end, the lowest d near it (FINE_SEARCH), for periods up to
        # FINE_PERIODS of that window (longer ones keep the f0 window's, measured earlier)
        self.fine = None
        if self.lag < self.pitch_window // 2:
            if (2 * self.lag) % self.hop:
                raise ValueError(f"source-filter analysis: 2 x lag ({2 * self.lag}) must be a multiple of the hop")
            self.fine_max = int(FINE_PERIODS * 2 * self.lag)
            # its lags end just past fine_max: its own pick (FINE_OWN_APER) looks no further
            self.fine = YinPitch(
                sample_rate, hop, 2 * self.lag, fmin=sample_rate / (self.fine_max + 0.5), fmax=self.fmax
            )
        self.bins = n_dft // 2 + 1
        self.env_rfft = FrameRFFT(env_window, n_dft, hann(env_window, periodic=False))
        self.env_norm = float((hann(env_window, periodic=False) ** 2).sum())
        self.pad = self.bins // 4  # reflected bins beyond DC and Nyquist for the smoothing (f0 up to ~2.7 kHz)
        freqs = np.arange(self.bins) * sample_rate / n_dft
        self.register_buffer("to_points", interp_matrix(freqs, mel_points(sample_rate, env_points)), persistent=False)
        self.register_buffer("bin_index", torch.arange(self.bins, dtype=torch.float32)[None, :, None], persistent=False)
        self.low_width_hz = float(low_width_hz)
        # aperiodicity: the last ``ap_window`` samples (Hann, zero-padded to twice that so no lag wraps); triangular
        # bands over its bins, centred per AP_EDGES_HZ
        self.ap_window = int(ap_window)
        self.ap_power, self.voiced_aper = float(ap_power), tuple(voiced_aper)
        wa = hann(self.ap_window, periodic=False)
        self.ap_rfft = FrameRFFT(self.ap_window, 2 * self.ap_window, wa)
        yf = np.arange(self.ap_window + 1) * sample_rate / (2 * self.ap_window)
        centres = ap_centres(sample_rate)
        masks = interp_matrix(centres, yf).T.numpy()  # [bands, bins]: partition of unity over frequency
        c = np.where((np.arange(len(yf)) == 0) | (np.arange(len(yf)) == len(yf) - 1), 1.0, 2.0)
        self.aperiodicity = BandAperiodicity(sample_rate, wa, torch.from_numpy(masks * c), ap_estimate)
        self.bands = len(centres)

    def _smooth(self, s: torch.Tensor, width_bins: torch.Tensor) -> torch.Tensor:
        """s float32[B, bins, F], width float32[B, 1, F] -> the mean of s over a rectangle ``width`` bins wide
        centred on each bin (linear interpolation between bin edges; the spectrum mirrored at DC and Nyquist)."""
        p = self.pad
        ext = torch.cat([s[:, 1 : p + 1].flip(1), s, s[:, -p - 1 : -1].flip(1)], dim=1)
        # float64: bins 80 dB below the loudest are differences of sums 1e8 times larger than they are
        cum = F.pad(torch.cumsum(ext.double(), dim=1), (0, 0, 1, 0))  # cum[j] = sum of ext[:j]
        half = (0.5 * width_bins).clamp(0.5, p - 1.0)

        def at(pos):  # pos: edge position in ext-bin units, float32[B, bins, F]
            i0 = torch.floor(pos).clamp(0.0, float(cum.shape[1] - 2))
            t = (pos - i0).double()
            i0 = i0.long()
            return torch.gather(cum, 1, i0) * (1 - t) + torch.gather(cum, 1, i0 + 1) * t

        centre = self.bin_index + p + 0.5
        return ((at(centre + half) - at(centre - half)).float() / (2 * half)).clamp(min=0.0)

    def _features(self, padded: torch.Tensor, history: torch.Tensor, target_width: float = 0.0):
        """(features, the pitch history after them) for frames of ``pitch_window`` samples ending at each hop; with
        ``target_width`` > 0 a fifth feature, the envelope as ``_envelope`` makes it with that low width."""
        r = self.yin._acf(padded)  # [B, lags, F]
        pitch, yin_aper, history = self.yin.from_acf(r, history)
        if self.fine is not None:
            pitch, yin_aper = self._fine_pitch(padded, pitch, yin_aper)
        power = self._middle_power(padded)
        side = self.pitch_window - self.lag - self.env_window // 2  # centred ``lag`` back, as the aperiodicity's
        env_src = padded[..., side : padded.shape[-1] - (self.pitch_window - self.env_window - side)]
        re, im = self.env_rfft(frames_of(env_src[:, 0], self.env_window, self.hop))
        s = ((re * re + im * im) / self.env_norm).transpose(1, 2)  # [B, bins, F]
        ms = s.mean(dim=1, keepdim=True)
        loud_db = 10.0 * torch.log10(ms.clamp(min=1e-10))
        f0 = pitch_to_hz(pitch)
        ap = self.aperiodicity(power, f0, float(self.yin.lo))
        lo, hi = self.voiced_aper
        voicing = ((hi - yin_aper) / (hi - lo)).clamp(0.0, 1.0)
        g0, g1 = VOICING_GATE_DB
        voicing = voicing * ((loud_db - g0) / (g1 - g0)).clamp(0.0, 1.0)
        logenv = self._envelope(s, ms, f0, voicing, self.low_width_hz)
        # voicing folded in: an unvoiced frame is all noise (1), whatever YIN's period there made of its bands (a
        # near-tie in an unvoiced frame's pitch moved them, and a learned encoder would carry that into its latent)
        feats = (pitch, voicing, logenv, 1.0 - voicing * (1.0 - ap.pow(self.ap_power)))
        if target_width:
            feats = feats + (self._envelope(s, ms, f0, voicing, target_width),)
        return feats, history

    def _envelope(self, s, ms, f0, voicing, low_width_hz: float) -> torch.Tensor:
        """Power spectrum s [B, bins, F] (mean ms [B, 1, F]) -> log envelope [B, env_points, F]: smoothed over f0
        (300 Hz where unvoiced), under LOW_EDGE * f0 over ``low_width_hz`` when that is > 0."""
        width_hz = voicing * f0 + (1.0 - voicing) * UNVOICED_WIDTH_HZ
        if low_width_hz > 0:  # [B, bins, F]: narrower under the fundamental
            low = voicing * low_width_hz + (1.0 - voicing) * UNVOICED_WIDTH_HZ
            below = self.bin_index * (self.sample_rate / self.n_dft) < LOW_EDGE * f0
            width_hz = torch.where(below, low, width_hz)
        smooth = self._smooth(s, width_hz * (self.n_dft / self.sample_rate))
        # floored 90 dB below the frame's mean bin (deeper valleys are inaudible under the peaks), and by a clamp:
        # the ONNX exporter drops an added constant that float16 cannot hold (x + 1e-8 came out as x)
        return torch.matmul(self.to_points, torch.log((smooth + ms * RELATIVE_FLOOR).clamp(min=LOG_FLOOR)))

    def _fine_pitch(self, padded: torch.Tensor, pitch: torch.Tensor, aper: torch.Tensor):
        """(pitch, aperiodicity) float32[B, 1, F] of the f0 window re-read in the ``2 * lag`` samples before each
        frame's end (FINE_SHIFTS), near the f0 window's period; where that period is too long for it, the f0 window's
        own; where the f0 window was nearly aperiodic there, the short windows' own pick if it is clearly more
        periodic (FINE_OWN_APER)."""
        fine, start, end = self.fine, self.pitch_window - self.fine.window, padded.shape[-1]
        # the shifted windows stacked along the batch: one autocorrelation and one set of ops for all of them
        src = torch.cat([padded[..., start - shift : end - shift] for shift in FINE_SHIFTS], dim=0)
        d, dp = (v.reshape(len(FINE_SHIFTS), -1, *v.shape[1:]).mean(dim=0) for v in fine.differences(fine._acf(src)))
        period = self.sample_rate / pitch_to_hz(pitch)  # [B, 1, F]
        near = ((fine.tau - period).abs() <= FINE_SEARCH * period) & (fine.tau >= fine.lo) & (fine.tau <= self.fine_max)
        score = d + (1.0 - near.float()) * 1e3
        idx = torch.argmin(score, dim=1, keepdim=True).clamp(fine.lo, self.fine_max)
        ok = (period <= self.fine_max) & (torch.gather(score, 1, idx) < 1e3)  # a lag near the period was found
        new = torch.log2(self.sample_rate / refine_period(d, idx) / 440.0)
        pitch, re_aper = torch.where(ok, new, pitch), torch.where(ok, torch.gather(dp, 1, idx), aper)
        own, own_aper = fine.pick(d, dp)
        swap = (aper > FINE_OWN_APER) & (own_aper < aper - FINE_OWN_MARGIN)
        return torch.where(swap, own, pitch), torch.where(swap, own_aper, re_aper)

    def _middle_power(self, padded: torch.Tensor) -> torch.Tensor:
        """float32[B, F, bins]: the power spectrum of the ``ap_window`` samples centred ``lag`` samples before each
        frame's end (where the envelope's window is), zero-padded to twice that length."""
        side = self.pitch_window - self.lag - self.ap_window // 2
        src = padded[..., side : padded.shape[-1] - (self.pitch_window - self.ap_window - side)]
        re, im = self.ap_rfft(frames_of(src[:, 0], self.ap_window, self.hop))
        return re * re + im * im

    def forward(self, audio: torch.Tensor, target_width: float = 0.0):
        history = audio.new_zeros(audio.shape[0], *self.yin.history_shape())
        return self._features(F.pad(audio, (self.context, 0)), history, target_width)[0]

    def state_shapes(self) -> list[tuple[str, int, int]]:
        return [("analysis", 1, self.context), ("pitch_history", *self.yin.history_shape())]

    def stream(self, audio: torch.Tensor, states: list[torch.Tensor]):
        full = torch.cat([states[0], audio], dim=-1)
        feats, history = self._features(full, states[1])
        return feats, [full[..., full.shape[-1] - self.context :], history]


def gather_lerp(values: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """values float32[B, N, F] on a uniform grid, pos float32[B, K, F] in grid units (clamped to the grid) ->
    float32[B, K, F] read by linear interpolation."""
    pos = pos.clamp(0.0, values.shape[1] - 1.0001)
    i0 = torch.floor(pos)
    t = pos - i0
    i0 = i0.long()
    return torch.gather(values, 1, i0) * (1 - t) + torch.gather(values, 1, i0 + 1) * t


def envelope_at(logenv: torch.Tensor, hz: torch.Tensor, formant: torch.Tensor, point_step: float) -> torch.Tensor:
    """The log envelope (float32[B, points, F] at mel points ``point_step`` mel apart from 0 Hz) read at
    frequencies ``hz`` (broadcast to float32[B, K, F]) shifted by the formant: read at hz / 2^formant (formant > 0
    moves every peak up)."""
    f = hz * torch.pow(2.0, -formant)
    return gather_lerp(logenv, 1127.0 * torch.log1p(f / 700.0) / point_step)


def hann(length: int, periodic: bool) -> torch.Tensor:
    """float64[length]: a Hann window from index ranges (torch ops only, so an export traces it)."""
    n = torch.arange(length, dtype=torch.float64)
    return 0.5 - 0.5 * torch.cos(n * (2 * math.pi / (length if periodic else length - 1)))


def minimum_phase_matrix(n_fft: int) -> torch.Tensor:
    """float32[bins, bins]: natural-log magnitude per bin -> the minimum phase with that magnitude (radians), via
    the folded real cepstrum (a linear map; torch ops only, so an export traces it).

    The map is -sum_{0 < n < N/2} 2 sin(2 pi k n / N) c_j cos(2 pi n j / N) / N (the real cepstrum of the even log
    spectrum, folded, then its DFT's imaginary part; c_j = 1 at DC and Nyquist, else 2), whose sum over n is in
    closed form: -c_j (S(k + j) + S(k - j)) / N with S(m) = cot(pi m / N) for odd m, 0 for even m. An export
    computes it in the graph from index ranges in float64, which onnxruntime folds at session creation: 263k
    elements instead of the 270M multiply-adds of the two matrices' product (60 ms of every session's start)."""
    k = torch.arange(n_fft // 2 + 1, dtype=torch.int64)
    c = torch.where((k == 0) | (k == n_fft // 2), 1.0, 2.0).double()

    def cot_odd(m: torch.Tensor) -> torch.Tensor:  # m odd is never a multiple of N (even): the sine is not 0
        ang = m.double() * (math.pi / n_fft)
        return torch.where(torch.remainder(m, 2) == 1, torch.cos(ang) / torch.sin(ang), torch.zeros_like(ang))

    return (-(c[None, :] / n_fft) * (cot_odd(k[:, None] + k[None, :]) + cot_odd(k[:, None] - k[None, :]))).float()


class SourceFilterSynth(nn.Module):
    """(pitch float32[B, 1, F] in octaves re A4, voicing float32[B, 1, F], log envelope float32[B, env_points, F],
    aperiodicity float32[B, bands, F], formant shift in octaves float32[B, 1, F]) -> audio float32[B, 1, F * hop],
    causal, one hop late. ``stream`` carries the oscillator, noise, STFT and overlap states."""

    def __init__(
        self,
        sample_rate: int = 22050,
        hop: int = 256,
        env_points: int = 80,
        harmonics: int = 64,
        range_db: float = 100.0,
        n_fft: int = 1024,
    ):
        super().__init__()
        self.sample_rate, self.hop, self.n_fft = int(sample_rate), int(hop), int(n_fft)
        self.frame = 2 * hop  # each frame filters 2 hops of the sources (periodic Hann: the frames sum to 1)
        if n_fft < 2 * self.frame:
            raise ValueError("source-filter synthesis: n_fft >= 4 * hop (room for the filter's response)")
        self.bins = n_fft // 2 + 1
        self.oscillator = HarmonicOscillator(sample_rate, hop, harmonics=harmonics)
        self.noise = NoiseTable()
        self.rfft = FrameRFFT(self.frame, n_fft, hann(self.frame, periodic=True))
        self.irfft = FrameIRFFT(n_fft)
        self.tail = n_fft - hop  # overlap-add samples still pending after a call
        freqs = np.arange(self.bins) * sample_rate / n_fft
        points = mel_points(sample_rate, env_points)
        self.point_step = float(mel(TOP_FRACTION * sample_rate / 2) / (env_points - 1))
        self.env_points = env_points
        self.register_buffer("from_points", interp_matrix(points, freqs), persistent=False)
        self.register_buffer("ap_from_bands", interp_matrix(ap_centres(sample_rate), freqs), persistent=False)
        self.ap_bands = len(ap_centres(sample_rate))
        self.register_buffer("min_phase", minimum_phase_matrix(n_fft), persistent=False)
        self.register_buffer("freqs", torch.from_numpy(freqs).float()[None, :, None], persistent=False)
        self.register_buffer("k", self.oscillator.k.clone(), persistent=False)
        self.range_nats = float(range_db) * math.log(10.0) / 10.0

    def _envelope_at_bins(self, logenv: torch.Tensor, formant: torch.Tensor) -> torch.Tensor:
        """log envelope on this STFT's bins, read at f / 2^formant (formant > 0 moves every peak up)."""
        if formant is None:
            return torch.matmul(self.from_points, logenv)
        return envelope_at(logenv, self.freqs, formant, self.point_step)

    def spectrum(self, pitch, logenv, ap, formant, re, im):
        """The output STFT frame from the sources' frames (re, im float32[B, 2 * bins, F]: harmonic then noise)."""
        return self.apply(self.response(pitch, logenv, ap, formant), re, im)

    def response(self, pitch, logenv, ap, formant) -> tuple[torch.Tensor, ...]:
        """Each frame's filter, float32[B, bins, F] each: (harmonic gain, noise gain, cos and sin of the envelope's
        minimum phase)."""
        log_s, gh, gn, _ = self.gains(pitch, logenv, ap, formant)
        phase = self.minimum_phase(0.5 * log_s)
        return gh, gn, torch.cos(phase), torch.sin(phase)

    def minimum_phase(self, log_mag: torch.Tensor) -> torch.Tensor:
        """natural-log magnitude float32[..., bins, F] -> its minimum phase (radians), the same shape."""
        min_phase = minimum_phase_matrix(self.n_fft) if torch.compiler.is_exporting() else self.min_phase
        return torch.matmul(min_phase, log_mag)

    def paths_spectrum(self, re: torch.Tensor, im: torch.Tensor, batch: int):
        """Both sources' frame spectra (re, im float32[B*2, F, bins], harmonic and noise rows interleaved) -> (re, im)
        float32[B, 2 bins, F]: harmonic, then noise, as ``apply`` reads them."""
        re, im = (v.reshape(batch, 2, -1, self.bins) for v in (re, im))
        return tuple(torch.cat([v[:, 0], v[:, 1]], dim=-1).transpose(1, 2) for v in (re, im))

    def gains(self, pitch, logenv, ap, formant) -> tuple[torch.Tensor, ...]:
        """(log power envelope, harmonic gain, noise gain, harmonic share), float32[B, bins, F] each."""
        log_s = self._envelope_at_bins(logenv, formant).clamp(-40.0, 10.0)  # power density, bounded
        # at most RANGE_NATS below the frame's peak: deeper valleys add nothing audible but make the minimum-phase
        # response longer than the synthesis frame (it would wrap around)
        log_s = torch.maximum(log_s, log_s.amax(dim=1, keepdim=True) - self.range_nats)
        aper = torch.matmul(self.ap_from_bands, ap).clamp(0.0, 1.0)
        harm_share = 1.0 - aper  # the analysis folds voicing into the aperiodicity
        f0 = pitch_to_hz(pitch).clamp(max=self.oscillator.max_hz)
        # the oscillator's harmonics have amplitude sqrt(2 / count); a harmonic of amplitude A reads
        # A^2 sr / (4 f0) in the envelope: gain = sqrt(2 f0 S count / sr) (count as the oscillator counts it)
        present = ((self.oscillator.max_hz - self.k[None, :, None] * f0) / TAPER_HZ).clamp(0.0, 1.0)
        count = present.sum(dim=1, keepdim=True).clamp(min=1.0)
        # the analysis floor (LOG_FLOOR) is silence: fade the last 10 dB above it to zero, so digital silence in
        # gives silence out, not noise at -80 dB
        mag = torch.exp(0.5 * log_s) * ((log_s - math.log(LOG_FLOOR)) / FLOOR_FADE_NATS).clamp(0.0, 1.0)
        gh = mag * torch.sqrt((harm_share * 2.0 * f0 * count / self.sample_rate).clamp(min=1e-10))  # finite gradient
        gn = mag * torch.sqrt((1.0 - harm_share).clamp(min=1e-10))
        return log_s, gh, gn, harm_share

    def apply(self, response, re, im):
        """The sources' frames (re, im float32[B, 2 * bins, F]: harmonic then noise) through ``response``."""
        gh, gn, cos, sin = response
        b = self.bins
        hr, hi = gh * re[:, :b], gh * im[:, :b]
        nr, ni = gn * re[:, b:], gn * im[:, b:]
        real = (hr + nr) * cos - (hi + ni) * sin
        imag = (hr + nr) * sin + (hi + ni) * cos
        return real, imag

    def state_shapes(self) -> list[tuple[str, int, int]]:
        return [
            ("osc", 4, 1),
            ("noise", 1, 1),
            ("sources", 2, self.frame - self.hop),
            ("overlap", 1, self.tail),
            ("previous", 2 + self.env_points + self.ap_bands, 1),
        ]

    def _delayed(self, pitch, logenv, ap, formant, state):
        """Everything but the oscillator's f0, one frame later: the oscillator reaches frame f's f0 at the end of
        block f, which the overlap-add centres one hop after frame f's filter would be; delaying the filter's
        inputs by that frame puts each envelope on the pitch it was measured with. Stored with logenv + 40, so the
        zero state is silence."""
        now = torch.cat([pitch, logenv - SILENT_LOG, ap, formant], dim=1)
        both = torch.cat([state, now], dim=-1)
        prev = both[..., :-1]
        e, a = self.env_points, self.ap_bands
        parts = prev[:, 0:1], prev[:, 1 : 1 + e] + SILENT_LOG, prev[:, 1 + e : 1 + e + a], prev[:, -1:]
        return parts, both[..., -1:]

    def stream(self, pitch, voicing, logenv, ap, formant, states: list[torch.Tensor]):
        if formant is None:
            formant = torch.zeros_like(pitch)
        # always running (phase continuous); the aperiodicity (voicing folded in) weights its share
        gate = torch.ones_like(voicing[:, 0])
        harm, s1 = self.oscillator.stream(pitch[:, 0], gate, states[0:1])
        noise, s2 = self.noise.stream(pitch, self.hop, states[1:2])
        src = torch.cat([states[2], torch.cat([harm, noise], dim=1)], dim=-1)  # [B, 2, frame - hop + F * hop]
        b, _, t = src.shape
        re, im = self.paths_spectrum(*self.rfft(frames_of(src.reshape(b * 2, t), self.frame, self.hop)), b)
        delayed, s5 = self._delayed(pitch, logenv, ap, formant, states[4])
        real, imag = self.spectrum(*delayed, re, im)
        # each frame's filtered 2 hops ring on for the rest of n_fft: overlap-add, the pending part is state
        y = overlap_add(self.irfft(real.transpose(1, 2), imag.transpose(1, 2)), self.hop)[:, None]
        frames = pitch.shape[-1]
        y = torch.cat([y[..., : self.tail] + states[3], y[..., self.tail :]], dim=-1)
        out = y[..., : frames * self.hop]
        return out, s1 + s2 + [src[..., t - (self.frame - self.hop) :], y[..., frames * self.hop :]] + [s5]

    def forward(self, pitch, voicing, logenv, ap, formant=None):
        zeros = [torch.zeros(pitch.shape[0], c, f) for _, c, f in self.state_shapes()]
        return self.stream(pitch, voicing, logenv, ap, formant, zeros)[0]


__all__ = ["SourceFilterAnalysis", "SourceFilterSynth", "PITCH_FMIN", "PITCH_FMAX"]
