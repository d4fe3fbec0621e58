"""Harmonic-plus-noise family ('hpn'): an explicit pitch latent drives a harmonic oscillator, shaped per frame.

Encoder (causal, inside encoder.onnx), per 256-sample hop, on the last ``n_fft`` (1024) samples:
  - pitch by construction: YIN (:class:`YinPitch`: the normalised difference function from the Hann-windowed
    autocorrelation, cumulative-mean normalisation, the first trough below a threshold, parabolic refinement),
    50-1500 Hz, in tensor ops that export to ONNX; nothing about pitch is learned (a classifier trained against
    cached labels plateaued at 57% of frames within 50 cents);
  - voicing 0..1 from YIN's aperiodicity, faded out in near-silence;
  - loudness: the Hann-weighted RMS of the last two hops in dBFS, the very samples the decoder's synthesis frame
    covers (the RMS of a 93 ms window lagged the level by ~90 ms and filled pauses);
  - a Gaussian timbre latent z from the level-normalised log-mel (so z carries colour, not level).
The latent is two levels at one frame per hop: 'z' (timbre) and 'control' = (pitch in octaves re A4, voicing 0..1,
loudness in dBFS / 20, harmonic/noise balance in units of 20 dB; the encoder emits balance 0).

Decoder (causal): a ConvNeXt stack on (z, pitch, voicing) predicts, per frame and per bin of a 512-point STFT,
a gain for the harmonic excitation, a gain for the noise, and a residual spectrum (log-magnitude + phase, the
inverse-STFT head of the other families). The excitation is :class:`models.harmonic.HarmonicOscillator` at the
latent f0, gated by voicing, analysed by a causal STFT; the noise comes from a seeded table. Output spectrum
= 10^(loudness) * (10^balance * G_h * H + 10^-balance * G_n * N + R), inverted by the causal inverse STFT: the
harmonics keep the oscillator's phase (locked to f0) and the network only shapes them. Transpose is an offset on
the pitch channel, loudness an offset on its channel: both act exactly.

Alignment: analysis frames end at the current sample and the synthesis overlaps two blocks, so the output is one
hop late (``lookahead`` = 1, ``delay`` = hop): output sample t reproduces input sample t - hop.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .blocks import ConvNeXtBlock
from .bottleneck import GaussianBottleneck
from .causal import CausalConv1d, ChannelNorm, name_states, random_gain, state_shapes_of, stream_modules
from .family import AudioAutoencoder
from .harmonic import CausalSTFT, HarmonicOscillator, NoiseTable
from .istft import CausalInverseSTFT
from .mel import mel_filters
from .melvae import MelEncoder
from .yin import PITCH_FMAX, PITCH_FMIN, YinPitch

VOICED_APER = (0.15, 0.45)  # voicing 1 at or below this aperiodicity, 0 at or above
SILENCE_DB = -60.0  # voicing fades out over the 6 dB above this level (dBFS)
CONTROL_CHANNELS = ("pitch", "voicing", "loudness", "balance")
# posterior std of each control channel for the information rate: f0 to 10 cents, voicing to 0.1, loudness to
# 1 dB; balance is constant 0 (no information)
CONTROL_SCALE = (10.0 / 1200.0, 0.1, 1.0 / 20.0, 1.0)
LOUDNESS_FLOOR_DB = -100.0
PARITY_FLOOR_DB = -60.0  # export's torch-vs-onnxruntime check ignores quieter frames (see parity_weights)


class HPNFront(nn.Module):
    """audio float32[B, 1, N] -> features per hop (frames end at each hop): level-normalised log-mel
    float32[B, n_mels, F] (``n_fft``-point analysis), pitch in octaves re A4 and aperiodicity float32[B, 1, F] each
    (:class:`YinPitch` on the last ``pitch_window`` samples), loudness dBFS float32[B, 1, F] (the Hann-weighted
    mean square of the last ``2 * hop`` samples: the very samples the decoder's synthesis frame covers, so the
    level follows the input without lag). State: the last n_fft - hop samples."""

    def __init__(
        self,
        sample_rate: int,
        n_fft: int,
        hop: int,
        n_mels: int,
        mel_norm_mean: float,
        mel_norm_std: float,
        mel_log_floor: float,
        norm_floor_db: float = -80.0,
        pitch_window: int = 1024,
    ):
        super().__init__()
        if pitch_window > n_fft or 2 * hop > n_fft:
            raise ValueError("the hpn front's n_fft must cover the pitch window and two hops")
        self.norm_floor = 10.0 ** (norm_floor_db / 10.0)  # mean square below which frames count as this level
        self.stft = CausalSTFT(n_fft, hop, 1)
        self.n_fft, self.hop, self.pitch_window = n_fft, hop, pitch_window
        self.bins = n_fft // 2 + 1
        self.yin = YinPitch(sample_rate, hop, pitch_window)
        self.register_buffer("filters", mel_filters(sample_rate, n_fft, n_mels)[None], persistent=False)
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        # Parseval: the frame's mean square = sum_k c_k |X_k|^2 / (n_fft * sum w^2), c = 1 at DC/Nyquist, else 2
        c = torch.full((self.bins,), 2.0, dtype=torch.float64)
        c[0] = c[-1] = 1.0
        self.register_buffer(
            "power_weights", (c / (n_fft * (window**2).sum())).float()[None, :, None], persistent=False
        )
        lw = torch.hann_window(2 * hop, periodic=True, dtype=torch.float64) ** 2
        self.register_buffer("loud_kernel", (lw / lw.sum()).float()[None, None, :], persistent=False)
        self.mean, self.std, self.floor = float(mel_norm_mean), float(mel_norm_std), float(mel_log_floor)

    def _features(self, padded: torch.Tensor):
        re, im = self.stft._analyse(padded)
        power = re * re + im * im
        ms = (power * self.power_weights).sum(dim=1, keepdim=True)
        # level-normalise by the frame's RMS, floored (``norm_floor_db``) so near-silence is not blown up into
        # float32 noise that the encoder's receptive field would carry into the next audible frames
        rms = torch.sqrt(ms + self.norm_floor)
        mag = torch.sqrt(power + 1e-12) / rms
        mel = (torch.log(torch.matmul(self.filters, mag) + self.floor) - self.mean) / self.std
        tail = padded[..., self.n_fft - 2 * self.hop :]
        loud_ms = F.conv1d(tail * tail, self.loud_kernel, stride=self.hop)
        loud_db = 10.0 * torch.log10(loud_ms + 10 ** (LOUDNESS_FLOOR_DB / 10))
        pitch, aper = self.yin(padded[..., self.n_fft - self.pitch_window :])
        return mel, pitch, aper, loud_db

    def forward(self, audio: torch.Tensor):
        return self._features(F.pad(audio, (self.stft.context, 0)))

    def state_shapes(self):
        return self.stft.state_shapes()

    def stream(self, audio: torch.Tensor, states: list[torch.Tensor]):
        full = torch.cat([states[0], audio], dim=-1)
        return self._features(full), [full[..., full.shape[-1] - self.stft.context :]]


def voicing_of(aper: torch.Tensor, loud_db: torch.Tensor) -> torch.Tensor:
    """0..1: 1 where YIN's aperiodicity is below VOICED_APER[0], 0 above [1]; faded out below SILENCE_DB."""
    lo, hi = VOICED_APER
    periodic = ((hi - aper) / (hi - lo)).clamp(0.0, 1.0)
    audible = ((loud_db - SILENCE_DB) / 6.0).clamp(0.0, 1.0)
    return periodic * audible


class HPNDecoder(nn.Module):
    """(z float32[B, D, F], control float32[B, 4, F]) -> audio float32[B, 1, F * hop], causal, one hop late."""

    def __init__(
        self, latent_dim: int, sample_rate: int, hop: int, channels: int = 256, blocks: int = 4, n_fft: int = 512
    ):
        super().__init__()
        if n_fft != 2 * hop:
            raise ValueError("the hpn decoder's STFT has n_fft = 2 * hop (one hop of delay)")
        self.hop = hop
        self.bins = n_fft // 2 + 1
        self.inp = CausalConv1d(latent_dim + 2, channels, 3)
        self.backbone = nn.Sequential(*[ConvNeXtBlock(channels, causal=True) for _ in range(blocks)])
        self.norm = ChannelNorm(channels)
        self.head = nn.Conv1d(channels, 4 * self.bins, 1)
        with torch.no_grad():  # gains start near -20 dB re the frame level, the residual quieter still
            self.head.bias.zero_()
            self.head.bias[: 2 * self.bins] = -2.0
            self.head.bias[2 * self.bins : 3 * self.bins] = -6.0
        self.oscillator = HarmonicOscillator(sample_rate, hop)
        self.noise = NoiseTable()
        self.analysis = CausalSTFT(n_fft, hop, channels=2)
        self.istft = CausalInverseSTFT(n_fft, hop)

    def _spectrum(self, h: torch.Tensor, control: torch.Tensor, re: torch.Tensor, im: torch.Tensor):
        g_h, g_n, logmag, phase = self.head(h).split(self.bins, dim=1)
        level = torch.pow(10.0, control[:, 2:3])  # loudness channel: dBFS / 20
        balance = control[:, 3:4]
        gh = torch.exp(g_h.clamp(max=6.0)) * torch.pow(10.0, balance) * level
        gn = torch.exp(g_n.clamp(max=6.0)) * torch.pow(10.0, -balance) * level
        mag = torch.exp(logmag.clamp(max=6.0)) * level
        b = self.bins
        real = gh * re[:, :b] + gn * re[:, b:] + mag * torch.cos(phase)
        imag = gh * im[:, :b] + gn * im[:, b:] + mag * torch.sin(phase)
        return real, imag

    def _conditioning(self, z: torch.Tensor, control: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, control[:, 0:2]], dim=1)

    def _sources(self, control: torch.Tensor, osc_state, noise_state):
        pitch, gate = control[:, 0], control[:, 1].clamp(0.0, 1.0)
        harm, s1 = self.oscillator.stream(pitch, gate, osc_state)
        noise, s2 = self.noise.stream(control, self.hop, noise_state)
        return torch.cat([harm, noise], dim=1), s1 + s2

    def state_shapes(self):
        return (
            self.inp.state_shapes()
            + state_shapes_of(self.backbone)
            + self.oscillator.state_shapes()
            + self.noise.state_shapes()
            + self.analysis.state_shapes()
            + self.istft.state_shapes()
        )

    def stream(self, z: torch.Tensor, control: torch.Tensor, states: list[torch.Tensor]):
        i = 0
        n = len(self.inp.state_shapes())
        h, out = self.inp.stream(self._conditioning(z, control), states[i : i + n])
        i += n
        n = len(state_shapes_of(self.backbone))
        h, more = stream_modules(self.backbone, h, states[i : i + n])
        out += more
        i += n
        src, more = self._sources(control, states[i : i + 1], states[i + 1 : i + 2])
        out += more
        (re, im), more = self.analysis.stream(src, states[i + 2 : i + 3])
        out += more
        y, more = self.istft.stream(*self._spectrum(self.norm(h), control, re, im), states[i + 3 : i + 4])
        return y, out + more

    def forward(self, z: torch.Tensor, control: torch.Tensor) -> torch.Tensor:
        zeros = [torch.zeros(z.shape[0], c, f, dtype=z.dtype, device=z.device) for _, c, f in self.state_shapes()]
        return self.stream(z, control, zeros)[0]


class HarmonicPlusNoise(AudioAutoencoder):
    """audio float32[B, 1, T] -> (reconstruction float32[B, 1, T], aux); always causal (it streams).

    The control latent comes from signal processing inside the encoder (:class:`HPNFront`: YIN pitch and
    aperiodicity on the last ``pitch_window`` samples, loudness of the last two hops), so training, evaluation and
    export drive the decoder with the same values and nothing about pitch is learned. ``forward(audio,
    pitch_labels=None)``: with the cached tracker labels (trainer/pitch_labels.py) aux gains
    ``stats/pitch_cents`` and ``stats/pitch_within_50c`` (the encoder's pitch against the labels on frames both
    call voiced) and ``stats/voicing_agreement``; they are measurements only, no loss.
    """

    family = "hpn"
    gaussian = True
    uses_pitch_labels = True  # the trainer passes cached tracker labels (trainer/pitch_labels.py): statistics only
    integrates_phase = True  # export checks streaming parity per part (export/streaming.py)

    def __init__(
        self,
        sample_rate: int = 22050,
        latent_dim: int = 24,
        n_mels: int = 128,
        n_fft: int = 1024,
        strides: tuple[int, ...] = (4, 4, 4, 4),
        enc_max_channels: int = 128,
        dec_channels: int = 256,
        dec_blocks: int = 4,
        mel_norm_mean: float = -5.0,
        mel_norm_std: float = 2.5,
        mel_log_floor: float = 1e-4,
        free_bits: float = 0.0,
        causal: bool = True,
        lookahead: int = 1,
        random_gain_db: tuple[float, float] = (-10.0, 10.0),
        norm_floor_db: float = -80.0,
    ):
        super().__init__()
        if not causal or int(lookahead) != 1:
            raise ValueError("the hpn family is causal with lookahead 1 (its decoder's STFT is one hop late)")
        hop = 1
        for s in strides:
            hop *= int(s)
        self.sample_rate, self.hop = int(sample_rate), hop
        self.causal, self.lookahead, self.delay = True, 1, hop
        self.random_gain_db = tuple(float(g) for g in random_gain_db)
        self.front = HPNFront(
            sample_rate,
            n_fft,
            hop,
            n_mels,
            mel_norm_mean,
            mel_norm_std,
            mel_log_floor,
            norm_floor_db,
            pitch_window=min(1024, n_fft),
        )
        self.encoder = MelEncoder(
            n_mels, 2 * latent_dim, enc_max_channels, causal=True
        )  # timbre, on level-normalised log-mel
        self.bottleneck = GaussianBottleneck(latent_dim, free_bits)
        self.decoder = HPNDecoder(latent_dim, sample_rate, hop, dec_channels, dec_blocks, 2 * hop)
        self.register_buffer("control_scale", torch.tensor(CONTROL_SCALE)[None, :, None], persistent=False)
        self.levels = (("z", latent_dim, hop), ("control", len(CONTROL_CHANNELS), hop))
        self.n_fft = n_fft
        name_states(self)

    # ---- encoder ---------------------------------------------------------------------------------------
    @staticmethod
    def _control(pitch: torch.Tensor, aper: torch.Tensor, loud_db: torch.Tensor) -> torch.Tensor:
        voicing = voicing_of(aper, loud_db)
        return torch.cat([pitch, voicing, loud_db / 20.0, torch.zeros_like(pitch)], dim=1)

    def posterior(self, audio: torch.Tensor):
        """{'z': (mean, std), 'control': (values, fixed std)}, each float32[B, C, T / hop]."""
        mel, pitch, aper, loud = self.front(audio)
        control = self._control(pitch, aper, loud)
        return {
            "z": self.bottleneck.split(self.encoder(mel)),
            "control": (control, self.control_scale.expand_as(control)),
        }

    def encode(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.posterior(audio).items()}

    def quantize(self, latents):
        return latents

    def decode(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decoder(latents["z"], latents["control"])

    # ---- streaming -------------------------------------------------------------------------------------
    def stream_state_shapes(self):
        return {
            "encoder": self.front.state_shapes() + self.encoder.state_shapes(),
            "decoder": self.decoder.state_shapes(),
        }

    def posterior_stream(self, audio: torch.Tensor, states: list[torch.Tensor]):
        (mel, pitch, aper, loud), out = self.front.stream(audio, states[:1])
        params, more = self.encoder.stream(mel, states[1:])
        control = self._control(pitch, aper, loud)
        post = {"z": self.bottleneck.split(params), "control": (control, self.control_scale.expand_as(control))}
        return post, out + more

    def encode_stream(self, audio: torch.Tensor, states: list[torch.Tensor]):
        post, states = self.posterior_stream(audio, states)
        return {k: v[0] for k, v in post.items()}, states

    def decode_stream(self, latents: dict[str, torch.Tensor], states: list[torch.Tensor]):
        return self.decoder.stream(latents["z"], latents["control"], states)

    @staticmethod
    def controls() -> list[dict]:
        """The knobs this family means (the manifest's ``controls``): 'pitch' replaces the pitch channel while a
        note is held (follow keyboard); the others add (value - default) * scale to one channel of 'control'."""
        return [
            {
                "name": "pitch",
                "unit": "MIDI note",
                "minimum": 21.0,
                "maximum": 108.0,
                "default": 69.0,
                "level": "control",
                "channel": 0,
                "transform": "set",
                "scale": 1.0 / 12.0,
                "description": "while held, the oscillator plays this note (69 = A4 = 440 Hz) instead of the input's "
                "pitch; transpose still adds on top",
            },
            {
                "name": "transpose",
                "unit": "semitones",
                "minimum": -24.0,
                "maximum": 24.0,
                "default": 0.0,
                "level": "control",
                "channel": 0,
                "transform": "add",
                "scale": 1.0 / 12.0,
                "description": "moves the oscillator's f0 (pitch channel, octaves re A4)",
            },
            {
                "name": "loudness",
                "unit": "dB",
                "minimum": -30.0,
                "maximum": 30.0,
                "default": 0.0,
                "level": "control",
                "channel": 2,
                "transform": "add",
                "scale": 1.0 / 20.0,
                "description": "output level (loudness channel, dBFS / 20)",
            },
            {
                "name": "balance",
                "unit": "dB",
                "minimum": -20.0,
                "maximum": 20.0,
                "default": 0.0,
                "level": "control",
                "channel": 3,
                "transform": "add",
                "scale": 1.0 / 20.0,
                "description": "harmonic louder and noise quieter by this many dB (negative: the reverse)",
            },
        ]

    @staticmethod
    def parity_weights(latents: dict) -> dict:
        """numpy latents -> weights for export's parity check. Frames quieter than -60 dBFS do not count: there the
        level-normalised features are float32 noise (torch and onnxruntime differ), and the decoder scales its
        output by that level (<= 1e-3). The pitch channel counts where voicing > 0.5 only (elsewhere the
        oscillator is gated off)."""
        control = latents["control"]
        audible = (control[:, 2:3] > PARITY_FLOOR_DB / 20.0).astype("float32")  # [B, 1, F]
        w = np.repeat(audible, control.shape[1], axis=1)
        w[:, 0] *= control[:, 1] > 0.5
        return {"control": w, "z": audible}

    def extra_manifest(self) -> dict:
        return {
            "hpn": {
                "control_channels": list(CONTROL_CHANNELS),
                "pitch": "log2(f0 / 440 Hz), YIN in the encoder",
                "voicing": "from YIN's aperiodicity",
                "loudness": "RMS of the last two hops (Hann-weighted) in dBFS / 20",
                "balance": "harmonic gain x 10^b, noise gain x 10^-b",
                "fmin_hz": PITCH_FMIN,
                "fmax_hz": PITCH_FMAX,
                "pitch_window": self.front.pitch_window,
                "analysis_n_fft": self.n_fft,
            }
        }

    # ---- training --------------------------------------------------------------------------------------
    def _gain(self, x: torch.Tensor) -> torch.Tensor:
        return random_gain(x, self.random_gain_db, self.training)

    def forward(self, audio: torch.Tensor, pitch_labels: torch.Tensor | None = None):
        t = audio.shape[-1]
        gain = self._gain(audio)
        x = F.pad(audio * gain, (0, (-t) % self.hop + self.delay))
        mel, pitch, aper, loud = self.front(x)
        z, aux = self.bottleneck(self.encoder(mel))
        control = self._control(pitch, aper, loud).detach()
        if pitch_labels is not None:
            aux.update(pitch_stats(control, pitch_labels))
        aux["latent/z"] = z.detach()
        y = self.decoder(z, control)
        return y[..., self.delay : self.delay + t] / gain, aux

    def components(self) -> dict[str, nn.Module]:
        return {
            "encoder": nn.ModuleDict({"front": self.front, "timbre": self.encoder}),
            "bottleneck": self.bottleneck,
            "decoder": self.decoder,
        }


def pitch_stats(control: torch.Tensor, pitch_labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The encoder's pitch and voicing against tracker labels float32[B, 2, >= F] (log2(f0 / 440) or NaN, voiced
    0..1) on the same frames: median |error| in cents and the share within 50 cents on frames both call voiced,
    and the voicing decisions' agreement."""
    frames = control.shape[-1]
    labels = pitch_labels[..., :frames]
    if labels.shape[-1] < frames:
        labels = F.pad(labels, (0, frames - labels.shape[-1]), value=float("nan"))
    lab_pitch, lab_voiced = labels[:, 0], labels[:, 1].nan_to_num(0.0)
    lab_v = torch.isfinite(lab_pitch) & (lab_voiced > 0.5)
    our_v = control[:, 1] > 0.5
    both = lab_v & our_v
    err = (control[:, 0] - lab_pitch.nan_to_num(0.0)).abs() * 1200.0
    zero = torch.zeros(())
    return {
        "stats/pitch_cents": err[both].median() if bool(both.any()) else zero,
        "stats/pitch_within_50c": (err[both] < 50).float().mean() if bool(both.any()) else zero,
        "stats/voicing_agreement": (lab_v == our_v).float().mean(),
    }
