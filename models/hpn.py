"""Harmonic-plus-noise family ('hpn'): an explicit pitch latent drives a harmonic oscillator, shaped per frame.

Encoder (causal, inside encoder.onnx): a 2048-point causal STFT per 256-sample hop gives
  - a pitch classifier over ``PITCH_BINS`` bins of 20 cents (50 Hz .. 1.6 kHz) from a harmonic stack of the
    spectrum (the magnitude read at 1..8 times each candidate f0), with a causal temporal filter, read out as
    the mean of the bin centres weighted by the distribution sharpened to its 8th power; trained by cross-entropy
    against cached tracker labels (trainer/pitch_labels.py), blurred over neighbouring bins as CREPE does;
  - voicing (sigmoid) from the level-normalised log-mel and the classifier's confidence;
  - loudness: the frame's RMS in dBFS;
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

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .family import AudioAutoencoder
from .blocks import ConvNeXtBlock, conv1d
from .bottleneck import GaussianBottleneck
from .causal import CausalConv1d, ChannelNorm, name_states, random_gain, state_shapes_of, stream_modules
from .harmonic import CausalSTFT, HarmonicOscillator, NoiseTable
from .istft import CausalInverseSTFT
from .mel import mel_filters
from .melvae import MelEncoder

PITCH_BINS = 300
CENTS_PER_BIN = 20.0
READOUT_SHARPNESS = 8.0  # pitch read-out: distribution ** 8 (see read_pitch)
PITCH_FMIN = 50.0
HARMONICS = 8
CONTROL_CHANNELS = ("pitch", "voicing", "loudness", "balance")
# posterior std of each control channel for the information rate: f0 to 10 cents, voicing to 0.05, loudness to
# 0.5 dB; balance is constant 0 (no information)
CONTROL_SCALE = (10.0 / 1200.0, 0.05, 0.5 / 20.0, 1.0)
LOUDNESS_FLOOR_DB = -100.0
PARITY_FLOOR_DB = -60.0  # export's torch-vs-onnxruntime check ignores quieter frames (see parity_weights)


def bin_pitches(bins: int = PITCH_BINS) -> torch.Tensor:
    """float32[bins]: each pitch bin's centre in octaves re A4."""
    return math.log2(PITCH_FMIN / 440.0) + torch.arange(bins, dtype=torch.float32) * CENTS_PER_BIN / 1200.0


def harmonic_stack_index(sample_rate: int, n_fft: int, bins: int = PITCH_BINS,
                         harmonics: int = HARMONICS) -> tuple[torch.Tensor, torch.Tensor]:
    """(index int64[harmonics * bins], weight float32[harmonics * bins]): reading a magnitude spectrum at h * f for
    every candidate f (bin centres) and h = 1..harmonics is (1 - w) * X[index] + w * X[index + 1] (linear
    interpolation; weight 0 at the last bin, so harmonics above Nyquist read the top bin, a near-zero value)."""
    nbins = n_fft // 2 + 1
    hz = 440.0 * torch.pow(2.0, bin_pitches(bins).double())
    pos = (torch.arange(1, harmonics + 1, dtype=torch.float64)[:, None] * hz[None, :] * n_fft / sample_rate)
    pos = pos.clamp(max=nbins - 1).reshape(-1)
    lo = torch.floor(pos).clamp(max=nbins - 2).long()
    return lo, (pos - lo).float()


class HPNFront(nn.Module):
    """audio float32[B, 1, N] -> (log magnitude normalised by the frame level float32[B, n_fft/2+1, F],
    level-normalised log-mel float32[B, n_mels, F], loudness dBFS float32[B, 1, F]); frames end at each hop."""

    def __init__(self, sample_rate: int, n_fft: int, hop: int, n_mels: int, mel_norm_mean: float,
                 mel_norm_std: float, mel_log_floor: float, norm_floor_db: float = -80.0):
        super().__init__()
        self.norm_floor = 10.0 ** (norm_floor_db / 10.0)  # mean square below which frames count as this level
        self.stft = CausalSTFT(n_fft, hop, 1)
        self.bins = n_fft // 2 + 1
        self.register_buffer("filters", mel_filters(sample_rate, n_fft, n_mels)[None], persistent=False)
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        # Parseval: the frame's mean square = sum_k c_k |X_k|^2 / (n_fft * sum w^2), c = 1 at DC/Nyquist, else 2
        c = torch.full((self.bins,), 2.0, dtype=torch.float64)
        c[0] = c[-1] = 1.0
        self.register_buffer("power_weights", (c / (n_fft * (window ** 2).sum())).float()[None, :, None],
                             persistent=False)
        self.mean, self.std, self.floor = float(mel_norm_mean), float(mel_norm_std), float(mel_log_floor)

    def _features(self, re: torch.Tensor, im: torch.Tensor):
        power = re * re + im * im
        ms = (power * self.power_weights).sum(dim=1, keepdim=True)
        loud_db = 10.0 * torch.log10(ms + 10 ** (LOUDNESS_FLOOR_DB / 10))
        # level-normalise by the frame's RMS, floored (``norm_floor_db``) so near-silence is not blown up into
        # float32 noise that the encoder's receptive field would carry into the next audible frames
        rms = torch.sqrt(ms + self.norm_floor)
        mag = torch.sqrt(power + 1e-12) / rms
        logmag = torch.log(mag + 1e-3)
        mel = (torch.log(torch.matmul(self.filters, mag) + self.floor) - self.mean) / self.std
        return logmag, mel, loud_db

    def forward(self, audio: torch.Tensor):
        return self._features(*self.stft(audio))

    def state_shapes(self):
        return self.stft.state_shapes()

    def stream(self, audio: torch.Tensor, states: list[torch.Tensor]):
        (re, im), new = self.stft.stream(audio, states)
        return self._features(re, im), new


class PitchNet(nn.Module):
    """(log magnitude float32[B, bins, F], level-normalised log-mel float32[B, n_mels, F]) ->
    (pitch logits float32[B, PITCH_BINS, F], voicing logit float32[B, 1, F])."""

    def __init__(self, sample_rate: int, n_fft: int, n_mels: int, channels: int = 16):
        super().__init__()
        index, weight = harmonic_stack_index(sample_rate, n_fft)
        self.register_buffer("stack_index", index, persistent=False)
        self.register_buffer("stack_weight", weight, persistent=False)
        self.salience = nn.Sequential(
            nn.Conv1d(HARMONICS, channels, 5, padding=2), nn.GELU(),
            nn.Conv1d(channels, channels, 5, padding=2), nn.GELU(),
            nn.Conv1d(channels, 1, 1))
        self.smooth = CausalConv1d(PITCH_BINS, PITCH_BINS, 3, groups=PITCH_BINS)
        with torch.no_grad():  # start as the identity in time: salience of this frame only
            self.smooth.weight.zero_()
            self.smooth.weight[:, :, -1] = 1.0
            self.smooth.bias.zero_()
        self.voice = nn.Sequential(conv1d(n_mels + 2, 64, 3, causal=True), nn.GELU(), nn.Conv1d(64, 1, 1))

    def _salience(self, logmag: torch.Tensor) -> torch.Tensor:
        b, _, frames = logmag.shape
        lo = logmag[:, self.stack_index]  # [B, H * P, F]
        hi = logmag[:, self.stack_index + 1]
        x = lo + self.stack_weight[None, :, None] * (hi - lo)
        x = x.transpose(1, 2).reshape(b * frames, HARMONICS, PITCH_BINS)
        return self.salience(x).reshape(b, frames, PITCH_BINS).transpose(1, 2)

    def _voicing_input(self, logits: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        prob = torch.softmax(logits, dim=1)
        peak = prob.max(dim=1, keepdim=True).values
        entropy = -(prob * torch.log(prob + 1e-8)).sum(dim=1, keepdim=True) / math.log(PITCH_BINS)
        return torch.cat([mel, peak, entropy], dim=1)

    def forward(self, logmag: torch.Tensor, mel: torch.Tensor):
        logits = self.smooth(self._salience(logmag))
        return logits, self.voice(self._voicing_input(logits, mel))

    def state_shapes(self):
        return self.smooth.state_shapes() + state_shapes_of(self.voice)

    def stream(self, logmag: torch.Tensor, mel: torch.Tensor, states: list[torch.Tensor]):
        logits, s1 = self.smooth.stream(self._salience(logmag), states[:1])
        voicing, s2 = stream_modules(self.voice, self._voicing_input(logits, mel), states[1:])
        return logits, voicing, s1 + s2


def read_pitch(logits: torch.Tensor, sharpness: float = READOUT_SHARPNESS) -> torch.Tensor:
    """logits float32[B, P, F] -> pitch in octaves re A4 float32[B, F]: the mean of the bin centres weighted by
    softmax(sharpness * logits), i.e. the classifier's distribution raised to the power ``sharpness``.

    Near one dominant peak this is the local weighted average CREPE reads out (sub-bin precision); unlike an
    argmax it is a smooth function of the logits, so float32 rounding (torch against onnxruntime, one long call
    against many short ones) cannot flip a frame between two distant candidates: the streamed pitch, and the
    oscillator phase it drives, stay equal to the offline ones."""
    w = torch.softmax(sharpness * logits, dim=1)
    centres = bin_pitches(logits.shape[1]).to(logits.device)[None, :, None]
    return (w * centres).sum(dim=1)


class HPNDecoder(nn.Module):
    """(z float32[B, D, F], control float32[B, 4, F]) -> audio float32[B, 1, F * hop], causal, one hop late."""

    def __init__(self, latent_dim: int, sample_rate: int, hop: int, channels: int = 256, blocks: int = 4,
                 n_fft: int = 512):
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
            self.head.bias[:2 * self.bins] = -2.0
            self.head.bias[2 * self.bins:3 * self.bins] = -6.0
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
        return (self.inp.state_shapes() + state_shapes_of(self.backbone) + self.oscillator.state_shapes()
                + self.noise.state_shapes() + self.analysis.state_shapes() + self.istft.state_shapes())

    def stream(self, z: torch.Tensor, control: torch.Tensor, states: list[torch.Tensor]):
        i = 0
        n = len(self.inp.state_shapes())
        h, out = self.inp.stream(self._conditioning(z, control), states[i:i + n])
        i += n
        n = len(state_shapes_of(self.backbone))
        h, more = stream_modules(self.backbone, h, states[i:i + n])
        out += more
        i += n
        src, more = self._sources(control, states[i:i + 1], states[i + 1:i + 2])
        out += more
        (re, im), more = self.analysis.stream(src, states[i + 2:i + 3])
        out += more
        y, more = self.istft.stream(*self._spectrum(self.norm(h), control, re, im), states[i + 3:i + 4])
        return y, out + more

    def forward(self, z: torch.Tensor, control: torch.Tensor) -> torch.Tensor:
        zeros = [torch.zeros(z.shape[0], c, f, dtype=z.dtype, device=z.device) for _, c, f in self.state_shapes()]
        return self.stream(z, control, zeros)[0]


class HarmonicPlusNoise(AudioAutoencoder):
    """audio float32[B, 1, T] -> (reconstruction float32[B, 1, T], aux); always causal (it streams).

    ``forward(audio, pitch_labels=None)``: labels float32[B, 2, >= F] = (log2(f0 / 440) or NaN, voiced 0..1) per
    latent frame (trainer/pitch_labels.py); with them the decoder is driven by the labels (teacher forcing; NaN
    frames take the classifier's pitch) and aux gains ``loss/pitch`` (cross-entropy on voiced frames, times
    ``pitch_weight``) and ``loss/voicing`` (binary cross-entropy). ``stats/pitch_cents`` is the classifier's median
    error on voiced frames. Without labels (evaluation, export) the classifier drives the decoder.
    """

    family = "hpn"
    gaussian = True
    uses_pitch_labels = True  # the trainer passes cached tracker labels (trainer/pitch_labels.py)
    integrates_phase = True  # export checks streaming parity per part (export/streaming.py)

    def __init__(self, sample_rate: int = 22050, latent_dim: int = 24, n_mels: int = 128, n_fft: int = 2048,
                 strides: tuple[int, ...] = (4, 4, 4, 4), enc_max_channels: int = 128, dec_channels: int = 256,
                 dec_blocks: int = 4, mel_norm_mean: float = -5.0, mel_norm_std: float = 2.5,
                 mel_log_floor: float = 1e-4, free_bits: float = 0.0, causal: bool = True, lookahead: int = 1,
                 random_gain_db: tuple[float, float] = (-10.0, 10.0), pitch_weight: float = 1.0,
                 pitch_channels: int = 16, norm_floor_db: float = -80.0):
        super().__init__()
        if not causal or int(lookahead) != 1:
            raise ValueError("the hpn family is causal with lookahead 1 (its decoder's STFT is one hop late)")
        hop = 1
        for s in strides:
            hop *= int(s)
        self.sample_rate, self.hop = int(sample_rate), hop
        self.causal, self.lookahead, self.delay = True, 1, hop
        self.random_gain_db = tuple(float(g) for g in random_gain_db)
        self.pitch_weight = float(pitch_weight)
        self.front = HPNFront(sample_rate, n_fft, hop, n_mels, mel_norm_mean, mel_norm_std, mel_log_floor,
                              norm_floor_db)
        self.pitch = PitchNet(sample_rate, n_fft, n_mels, pitch_channels)
        self.encoder = MelEncoder(n_mels, 2 * latent_dim, enc_max_channels, causal=True)  # timbre, on level-normalised log-mel
        self.bottleneck = GaussianBottleneck(latent_dim, free_bits)
        self.decoder = HPNDecoder(latent_dim, sample_rate, hop, dec_channels, dec_blocks, 2 * hop)
        self.register_buffer("control_scale", torch.tensor(CONTROL_SCALE)[None, :, None], persistent=False)
        self.levels = (("z", latent_dim, hop), ("control", len(CONTROL_CHANNELS), hop))
        self.n_fft = n_fft
        name_states(self)

    # ---- encoder ---------------------------------------------------------------------------------------
    def _control(self, logits: torch.Tensor, voicing_logit: torch.Tensor, loud_db: torch.Tensor) -> torch.Tensor:
        pitch = read_pitch(logits)[:, None]
        voicing = torch.sigmoid(voicing_logit)
        return torch.cat([pitch, voicing, loud_db / 20.0, torch.zeros_like(pitch)], dim=1)

    def _posterior(self, feats, logits, voicing_logit):
        logmag, mel, loud = feats
        control = self._control(logits, voicing_logit, loud)
        return {"z": self.bottleneck.split(self.encoder(mel)),
                "control": (control, self.control_scale.expand_as(control))}

    def posterior(self, audio: torch.Tensor):
        """{'z': (mean, std), 'control': (values, fixed std)}, each float32[B, C, T / hop]."""
        feats = self.front(audio)
        logits, voicing = self.pitch(feats[0], feats[1])
        return self._posterior(feats, logits, voicing)

    def encode(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.posterior(audio).items()}

    def quantize(self, latents):
        return latents

    def decode(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decoder(latents["z"], latents["control"])

    # ---- streaming -------------------------------------------------------------------------------------
    def stream_state_shapes(self):
        return {"encoder": self.front.state_shapes() + self.pitch.state_shapes() + self.encoder.state_shapes(),
                "decoder": self.decoder.state_shapes()}

    def posterior_stream(self, audio: torch.Tensor, states: list[torch.Tensor]):
        feats, out = self.front.stream(audio, states[:1])
        n = len(self.pitch.state_shapes())
        logits, voicing, more = self.pitch.stream(feats[0], feats[1], states[1:1 + n])
        out += more
        params, more = self.encoder.stream(feats[1], states[1 + n:])
        out += more
        logmag, mel, loud = feats
        control = self._control(logits, voicing, loud)
        post = {"z": self.bottleneck.split(params), "control": (control, self.control_scale.expand_as(control))}
        return post, out

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
            {"name": "pitch", "unit": "MIDI note", "minimum": 21.0, "maximum": 108.0, "default": 69.0,
             "level": "control", "channel": 0, "transform": "set", "scale": 1.0 / 12.0,
             "description": "while held, the oscillator plays this note (69 = A4 = 440 Hz) instead of the input's "
                            "pitch; transpose still adds on top"},
            {"name": "transpose", "unit": "semitones", "minimum": -24.0, "maximum": 24.0, "default": 0.0,
             "level": "control", "channel": 0, "transform": "add", "scale": 1.0 / 12.0,
             "description": "moves the oscillator's f0 (pitch channel, octaves re A4)"},
            {"name": "loudness", "unit": "dB", "minimum": -30.0, "maximum": 30.0, "default": 0.0,
             "level": "control", "channel": 2, "transform": "add", "scale": 1.0 / 20.0,
             "description": "output level (loudness channel, dBFS / 20)"},
            {"name": "balance", "unit": "dB", "minimum": -20.0, "maximum": 20.0, "default": 0.0,
             "level": "control", "channel": 3, "transform": "add", "scale": 1.0 / 20.0,
             "description": "harmonic louder and noise quieter by this many dB (negative: the reverse)"},
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
        return {"hpn": {"control_channels": list(CONTROL_CHANNELS),
                        "pitch": "log2(f0 / 440 Hz)", "loudness": "frame RMS in dBFS / 20",
                        "balance": "harmonic gain x 10^b, noise gain x 10^-b", "pitch_bins": PITCH_BINS,
                        "cents_per_bin": CENTS_PER_BIN, "fmin_hz": PITCH_FMIN, "analysis_n_fft": self.n_fft}}

    # ---- training --------------------------------------------------------------------------------------
    def _gain(self, x: torch.Tensor) -> torch.Tensor:
        return random_gain(x, self.random_gain_db, self.training)

    def forward(self, audio: torch.Tensor, pitch_labels: torch.Tensor | None = None):
        t = audio.shape[-1]
        gain = self._gain(audio)
        x = F.pad(audio * gain, (0, (-t) % self.hop + self.delay))
        feats = self.front(x)
        logits, voicing_logit = self.pitch(feats[0], feats[1])
        logmag, mel, loud = feats
        params = self.encoder(mel)
        z, aux = self.bottleneck(params)
        control = self._control(logits, voicing_logit, loud)
        frames = control.shape[-1]
        if pitch_labels is not None:
            labels = pitch_labels[..., :frames]
            if labels.shape[-1] < frames:
                labels = F.pad(labels, (0, frames - labels.shape[-1]), value=float("nan"))
            lab_pitch, lab_voiced = labels[:, 0], labels[:, 1].nan_to_num(0.0)
            voiced = torch.isfinite(lab_pitch) & (lab_voiced > 0.5)
            aux.update(self._pitch_losses(logits, voicing_logit, lab_pitch, lab_voiced, voiced))
            known = torch.isfinite(lab_pitch)
            pitch = torch.where(known, lab_pitch.nan_to_num(0.0), control[:, 0].detach())
            control = torch.cat([pitch[:, None], lab_voiced[:, None], control[:, 2:]], dim=1)
        aux["latent/z"] = z.detach()
        y = self.decoder(z, control)
        return y[..., self.delay:self.delay + t] / gain, aux

    def _pitch_losses(self, logits, voicing_logit, lab_pitch, lab_voiced, voiced) -> dict[str, torch.Tensor]:
        centres = bin_pitches(logits.shape[1]).to(logits.device)[None, :, None]
        target = lab_pitch.nan_to_num(0.0)[:, None]
        sigma = 25.0 / 1200.0  # CREPE's 25-cent blur
        soft = torch.exp(-0.5 * ((centres - target) / sigma) ** 2)
        soft = soft / soft.sum(dim=1, keepdim=True).clamp(min=1e-8)
        ce = -(soft * torch.log_softmax(logits, dim=1)).sum(dim=1)  # [B, F]
        mask = voiced.to(ce.dtype)
        out = {"loss/pitch": self.pitch_weight * (ce * mask).sum() / mask.sum().clamp(min=1.0),
               "loss/voicing": 0.2 * F.binary_cross_entropy_with_logits(voicing_logit[:, 0], lab_voiced)}
        with torch.no_grad():
            err = (read_pitch(logits) - target[:, 0]).abs() * 1200.0
            out["stats/pitch_cents"] = err[voiced].median() if bool(voiced.any()) else torch.zeros(())
            out["stats/pitch_within_50c"] = ((err < 50).to(ce.dtype) * mask).sum() / mask.sum().clamp(min=1.0)
        return out

    def components(self) -> dict[str, nn.Module]:
        return {"encoder": nn.ModuleDict({"front": self.front, "pitch": self.pitch, "timbre": self.encoder}),
                "bottleneck": self.bottleneck, "decoder": self.decoder}
