"""Timbre family ('timbre'): the source-filter path with a decoder that knows one instrument. The encoder keeps only
what carries over from any player (pitch, voicing, loudness); the decoder maps them to that instrument's spectral
envelope and aperiodicity, and the source-filter synthesis plays them. Sing in, hear the violin trained on.

Encoder (causal, no parameters): :class:`models.sourcefilter.SourceFilterAnalysis` as in the ``sf`` family; the
envelope is reduced to one number, the frame's loudness (dB re full-scale white noise, the envelope's mean power),
which is the latent 'z''s first channel (in units of ``LOUD_UNIT_DB`` around ``LOUD_REF_DB``), followed by the timbre
code's ``timbre_dim`` numbers when there is one (``_TimbreCode``). 'control' is the sf family's (pitch, voicing,
formant, breath).

Decoder (causal): a linear map of (pitch, voicing, loudness) set by least squares on the corpus before the first step
(``data_init``) plus a causal conv stack that starts at zero and learns the rest -> envelope and aperiodicity; the
input's voicing is folded into the aperiodicity (unvoiced input gives noise or silence, never a stuck pitch); then
:class:`models.sourcefilter.SourceFilterSynth`. Training compares features only (no synthesis in the step).

Controls: the sf family's (set pitch, transpose, formant, breath), ``loudness`` (dB added to the input's loudness,
to move a quiet or loud player into the range the instrument was trained on) and, with a timbre code, ``timbre`` (how
far the code follows the input: 0 % by default, the instrument's own tone). Alignment and delay are the sf
family's.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .causal import name_states, random_gain
from .sfvae import ENV_STD, PARITY_FLOOR, SourceFilterVAE, _FrameNet

LOUD_REF_DB = -60.0  # loudness -> z: (dB - LOUD_REF_DB) / LOUD_UNIT_DB
LOUD_UNIT_DB = 20.0
LOUD_STD = 0.05  # the encoder's declared posterior std of z (for the information rate): 1 dB
NET_INPUTS = 3  # pitch (octaves re A4), voicing, loudness (z); then the timbre code's numbers, if any
TIMBRE_BOUND = 4.0  # the timbre code reaches the decoder within +-this many standard deviations
SILENCE_WEIGHT = 0.1  # silent frames count this much in the loss (the instrument must learn to be quiet)
# how the decoder codes each band's aperiodicity: "linear" (0..1, as the sf family) or "log": log10 of it from
# AP_LOG_FLOOR to 1 onto -1..1, so a breath 30 dB under the band is as much of the loss as one at -10 dB (linear, the
# flute's decoded noise was 10x off in the bands under 2 kHz: their aperiodicity is 0.0002-0.004)
AP_CODES = ("linear", "log")
AP_LOG_FLOOR = 1e-5
AP_LOG_HALF = -0.5 * math.log10(AP_LOG_FLOOR)  # the code is (log10 ap + AP_LOG_HALF) / AP_LOG_HALF


class _Bounds(nn.Module):
    """What the decoder saw in training (set by ``calibrate``): the pitch (octaves re A4) and loudness (z units) its
    inputs are clamped to, and each envelope point's highest value (network units) its output is clamped to. A
    player far outside them (an unvoiced frame's wild pitch guess moved up two octaves) would otherwise drive the
    decoder's linear part into envelopes 40 dB above anything it learned. Checkpoints from before it load with wide
    bounds (nothing clamped)."""

    def __init__(self, env_points: int):
        super().__init__()
        self.register_buffer("pitch", torch.tensor([-10.0, 10.0]))
        self.register_buffer("loudness", torch.tensor([-10.0, 10.0]))
        self.register_buffer("env_max", torch.full((1, env_points, 1), 100.0))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, *args):
        missing = []
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing, *args)
        missing_keys.extend(k for k in missing if not k.startswith(prefix))


def _least_squares(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """float64 x [N, I], y [N, O], weights w [N] -> the ridge-regularised weighted fit of y on [x, 1]: [I + 1, O]."""
    a = torch.cat([x, torch.ones_like(x[:, :1])], dim=1) * w[:, None].sqrt()
    ridge = 1e-3 * torch.eye(a.shape[1], dtype=torch.float64) * w.sum()
    return torch.linalg.solve(a.T @ a + ridge, a.T @ (y * w[:, None].sqrt()))


class _TimbreCode(nn.Module):
    """An optional timbre code (``model.timbre_dim`` numbers a frame, no parameters; set by ``fit``): what the
    envelope and aperiodicity hold beyond what pitch, voicing and loudness predict linearly, along the first principal
    axes of that residual on the training audio, in standard deviations. Played by the instrument's own recordings it
    carries their breath, room and brightness; held at 0 the decoder plays the instrument's mean timbre for that pitch
    and loudness (the training zeroes it on half the chunks so both work)."""

    def __init__(self, dim: int, features: int):
        super().__init__()
        self.register_buffer("base_w", torch.zeros(features, NET_INPUTS))
        self.register_buffer("centre", torch.zeros(features))
        self.register_buffer("axes", torch.zeros(dim, features))
        self.register_buffer("std", torch.ones(dim))

    def encode(self, feats: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """feats float32[B, features, F] (``_net_in`` of the analysis), base float32[B, NET_INPUTS, F] (pitch,
        voicing, loudness as the decoder takes them) -> the code float32[B, dim, F]."""
        residual = feats - torch.einsum("oi,bif->bof", self.base_w, base) - self.centre[None, :, None]
        return torch.einsum("ko,bof->bkf", self.axes, residual) / self.std[None, :, None]

    @torch.no_grad()
    def fit(self, x: torch.Tensor, feats: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """float64 x [N, NET_INPUTS], feats [N, features], weights [N] -> the buffers set; the code of every row
        float64 [N, dim]."""
        coef = _least_squares(x, feats, w)
        residual = feats - x @ coef[:-1] - coef[-1]
        mean = (residual * w[:, None]).sum(0) / w.sum()
        centred = (residual - mean) * w[:, None].sqrt()
        axes = torch.linalg.eigh(centred.T @ centred)[1].flip(1)[:, : self.axes.shape[0]].T  # [dim, features]
        code = (residual - mean) @ axes.T
        std = ((code.pow(2) * w[:, None]).sum(0) / w.sum()).sqrt().clamp(min=1e-6)
        self.base_w.copy_(coef[:-1].T.float())
        self.centre.copy_((coef[-1] + mean).float())
        self.axes.copy_(axes.float())
        self.std.copy_(std.float())
        return code / std


class SourceFilterTimbre(SourceFilterVAE):
    """audio float32[B, 1, T] -> (reconstruction float32[B, 1, T], aux), in the trained instrument's timbre."""

    family = "timbre"

    def __init__(
        self,
        *,
        sample_rate: int,
        strides: tuple[int, ...],
        env_points: int,
        env_window: int,
        pitch_window: int,
        ap_power: float,
        ap_estimate: str,
        harmonics: int,
        dec_channels: int,
        dec_blocks: int,
        feature_weight: float,
        random_gain_db: tuple[float, float],
        synthesis: str,
        latent_dim: int,
        enc_max_channels: int,
        n_fft: int,
        analysis_lag: int,
        noise_taps: int,
        ap_code: str,
        env_low_width_hz: float,
        pitch_fmax: float,
        dec_dilation: int,
        pitch_filter: int,
        timbre_dim: int,
    ):
        # FamilyConfig's fields this family sets itself: the latent is the loudness (1), the encoder has no network,
        # and the analysis and synthesis sizes are set by the windows. The config keeps them (at FamilyConfig's
        # values, which the shipped instruments' run configs record and --init-from compares), the model reads none.
        del latent_dim, enc_max_channels
        super().__init__(
            sample_rate=sample_rate,
            latent_dim=0,  # the sf path without its learned codec: the features themselves, reduced below
            strides=strides,
            env_points=env_points,
            env_window=env_window,
            pitch_window=pitch_window,
            ap_power=ap_power,
            ap_estimate=ap_estimate,
            harmonics=harmonics,
            enc_max_channels=0,
            dec_channels=dec_channels,  # unused by the sf part at latent_dim 0; this family's decoder takes them
            dec_blocks=dec_blocks,
            free_bits=0.0,
            feature_weight=feature_weight,
            synth_in_loss=False,
            random_gain_db=random_gain_db,
            n_fft=n_fft,
            synthesis=synthesis,
            envelope_code="points",  # the instrument's envelope is predicted point by point
            lpc_order=0,
            lpc_compress=1.0,
            lpc_postfilter=0.0,
            analysis_lag=analysis_lag,  # models/sfvae.py: 256 with the additive synthesis plays 23.2 ms late
            noise_taps=noise_taps,
            env_low_width_hz=0.0,  # the encoder's envelope (its loudness) stays the sf analysis's
            pitch_fmax=pitch_fmax,
            pitch_filter=pitch_filter,
        )
        # > 0: the decoder learns an envelope smoothed over this many Hz under 0.9 f0 (models/sourcefilter.py)
        self.target_low_width = float(env_low_width_hz)
        if ap_code not in AP_CODES:
            raise ValueError(f"model.ap_code '{ap_code}': choose from {', '.join(AP_CODES)}")
        self.ap_code = ap_code
        features = env_points + self.bands
        self.timbre = _TimbreCode(int(timbre_dim), features) if timbre_dim else None
        n_in = NET_INPUTS + int(timbre_dim)
        self.dec_linear = nn.Conv1d(n_in, features, 1)
        self.decoder = _FrameNet(n_in, features, dec_channels, dec_blocks, dec_dilation)
        for layer in (self.dec_linear, self.decoder.net[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.bounds = _Bounds(env_points)
        self.levels = (("z", 1 + int(timbre_dim), self.hop), ("control", 4, self.hop))
        name_states(self)

    # ---- loudness ------------------------------------------------------------------------------------------
    def _nats(self, logenv):
        """float32[B, 1, F]: the frame's mean power over the envelope points, natural log."""
        return torch.logsumexp(logenv, dim=1, keepdim=True) - math.log(self.env_points)

    def _loudness(self, logenv):
        """float32[B, 1, F]: the frame's mean power over the envelope points, in z units."""
        return ((10.0 / math.log(10.0)) * self._nats(logenv) - LOUD_REF_DB) / LOUD_UNIT_DB

    @staticmethod
    def _loudness_nats(z):
        """z units -> the mean power it stands for, natural log (the inverse of ``_loudness``)."""
        return (z * LOUD_UNIT_DB + LOUD_REF_DB) * (math.log(10.0) / 10.0)

    # ---- encoder -------------------------------------------------------------------------------------------
    def _posterior_from(self, feats, enc_states=None):
        pitch, voicing, logenv, ap = feats
        control = self._control(pitch, voicing)
        z = self._z(logenv, ap, control)
        return {"z": (z, torch.full_like(z, LOUD_STD)), "control": (control, self.control_scale.expand_as(control))}, []

    def _z(self, logenv, ap, control):
        """The latent 'z': the loudness, then the timbre code when there is one (``_TimbreCode``)."""
        z = self._loudness(logenv)
        if self.timbre is None:
            return z
        base = self._net_inputs(z, control)[:, :NET_INPUTS]
        return torch.cat([z, self.timbre.encode(self._net_in(logenv, ap), base)], dim=1)

    # ---- decoder -------------------------------------------------------------------------------------------
    def _net_in(self, logenv, ap):
        if self.ap_code == "linear":
            return super()._net_in(logenv, ap)
        code = (torch.log10(ap.clamp(min=AP_LOG_FLOOR)) + AP_LOG_HALF) / AP_LOG_HALF
        return torch.cat([super()._net_in(logenv, ap)[:, : self.env_points], code], dim=1)

    def _net_out(self, h):
        if self.ap_code == "linear":
            return super()._net_out(h)
        logenv, _ = super()._net_out(h)
        return logenv, torch.pow(10.0, (h[:, self.env_points :] - 1.0) * AP_LOG_HALF).clamp(max=1.0)

    def _net_inputs(self, z, control):
        b = self.bounds
        pitch = torch.minimum(torch.maximum(control[:, 0:1], b.pitch[0]), b.pitch[1])
        loud = torch.minimum(torch.maximum(z[:, :1], b.loudness[0]), b.loudness[1])
        # the timbre code (z's channels after the loudness) in its standard deviations, bounded
        return torch.cat([pitch, control[:, 1:2].clamp(0.0, 1.0), loud, z[:, 1:].clamp(-TIMBRE_BOUND, TIMBRE_BOUND)], 1)

    def _features_of(self, z, control, dec_states=None):
        x = self._net_inputs(z, control)
        if dec_states is None:
            h, more = self.decoder(x), []
        else:
            h, more = self.decoder.stream(x, dec_states)
        h = h + self.dec_linear(x)
        e = self.env_points
        h = torch.cat([torch.minimum(h[:, :e], self.bounds.env_max), h[:, e:]], dim=1)
        logenv, ap = self._net_out(h)
        # the output plays exactly as loud as the input (plus the loudness control): in training the target's
        # loudness is the input's by definition, so this only undoes the network's level errors, which far from the
        # training data (a pitch or loudness it never saw) reach tens of dB
        logenv = logenv + (self._loudness_nats(z[:, :1]) - self._nats(logenv))
        voicing = x[:, 1:2]
        return logenv, 1.0 - voicing * (1.0 - ap), more

    # ---- declarations --------------------------------------------------------------------------------------
    def controls(self) -> list[dict]:
        loudness = {
            "name": "loudness",
            "unit": "dB",
            "minimum": -30.0,
            "maximum": 30.0,
            "default": 0.0,
            "level": "z",
            "channel": 0,
            "transform": "add",
            "scale": 1.0 / LOUD_UNIT_DB,
            "description": "plays the instrument as if you played this many dB louder (dynamics and timbre follow)",
        }
        if self.timbre is None:
            return SourceFilterVAE.controls() + [loudness]
        timbre = {
            "name": "timbre",
            "unit": "%",
            "minimum": 0.0,
            "maximum": 100.0,
            "default": 0.0,
            "level": "z",
            "channel": 1,
            "channels": int(self.timbre.axes.shape[0]),
            "transform": "scale",
            "scale": 0.01,
            "description": "how far the instrument's tone colour follows the input's: 0 % its own tone (sing or "
            "speak into it), 100 % the input's (its own recordings; a voice turns reedy)",
        }
        return SourceFilterVAE.controls() + [loudness, timbre]

    def parity_weights(self, latents: dict) -> dict:
        control, z = latents["control"], latents["z"]
        w = np.ones_like(control, dtype="float32")
        w[:, 0] *= control[:, 1] > 0.5
        return {"control": w, "z": np.ones_like(z, dtype="float32")}

    def extra_manifest(self) -> dict:
        extra = super().extra_manifest()
        extra["sf"]["learned_latent"] = 0
        codes = 0 if self.timbre is None else self.timbre.axes.shape[0]
        extra["sf"]["timbre"] = {
            "z": f"loudness: (dB - {LOUD_REF_DB}) / {LOUD_UNIT_DB}, dB = the envelope's mean power re full-scale noise",
            "decoder_inputs": ["pitch", "voicing", "loudness"] + [f"timbre {i + 1}" for i in range(codes)],
        }
        return extra

    # ---- training ------------------------------------------------------------------------------------------
    def _analyse(self, x):
        """(pitch, voicing, log envelope, aperiodicity, the decoder's target envelope) of padded audio."""
        feats = self.analysis(x, self.target_low_width)
        return feats if self.target_low_width > 0 else (*feats, feats[2])

    def forward(self, audio: torch.Tensor, **labels):
        t = audio.shape[-1]
        gain = random_gain(audio, self.random_gain_db, self.training)
        x = F.pad(audio * gain, (0, (-t) % self.hop + self.delay))
        with torch.no_grad():
            pitch, voicing, logenv, ap, target_env = self._analyse(x)
            control = self._control(pitch, voicing)
            z = self._z(logenv, ap, control)
            if self.timbre is not None and self.training:  # half the chunks without it: the instrument's mean timbre
                keep = (torch.rand(z.shape[0], 1, 1, device=z.device) < 0.5).float()
                z = torch.cat([z[:, :1], z[:, 1:] * keep], dim=1)
            target = self._net_in(target_env, ap)
            level = ((logenv.mean(dim=1, keepdim=True) - PARITY_FLOOR) / 10.0).clamp(SILENCE_WEIGHT, 1.0)
        inputs = self._net_inputs(z, control)
        h = self.decoder(inputs) + self.dec_linear(inputs)
        aux = {"loss/features": self.feature_weight * ((h - target).abs() * level).mean(), "latent/z": z}
        if self.training:
            return audio, aux
        out_env, out_ap = self._net_out(h)
        y = self.synth(*self._synth_args(control, out_env, 1.0 - voicing * (1.0 - out_ap)))
        return y[..., self.delay : self.delay + t] / gain, aux

    def _range_values(self, pitch, logenv, voiced) -> dict[str, torch.Tensor]:
        """The sf family's pitch plus the loudness (dB) over voiced frames."""
        loud = self._loudness(logenv)[voiced] * LOUD_UNIT_DB + LOUD_REF_DB
        return {**super()._range_values(pitch, logenv, voiced), "loudness_db": loud}

    @torch.no_grad()
    def data_init(self, audio: torch.Tensor) -> None:
        """audio float32[N, 1, T] (training chunks) -> the linear map set to the least-squares fit of the features
        on (pitch, voicing, loudness) over the chunks' frames (silent frames weighted as in the loss); with a timbre
        code, the code is fitted first (``_TimbreCode.fit``) and the map takes it too."""
        xs, ys, es, ws = [], [], [], []
        features = self.env_points + self.bands
        for part in audio.split(16):
            pitch, voicing, env, ap, target_env = self._analyse(F.pad(part, (0, self.delay)))
            inputs = self._net_inputs(self._loudness(env), self._control(pitch, voicing))
            xs.append(inputs.transpose(1, 2).reshape(-1, NET_INPUTS))
            ys.append(self._net_in(target_env, ap).transpose(1, 2).reshape(-1, features))
            if self.timbre is not None:  # the code is read from the encoder's own envelope
                es.append(self._net_in(env, ap).transpose(1, 2).reshape(-1, features))
            level = ((env.mean(dim=1) - PARITY_FLOOR) / 10.0).clamp(SILENCE_WEIGHT, 1.0)
            ws.append(level.reshape(-1))
        x, y, w = torch.cat(xs).double(), torch.cat(ys).double(), torch.cat(ws).double()
        if self.timbre is not None:  # the code first, then the map that uses it
            x = torch.cat([x, self.timbre.fit(x, torch.cat(es).double(), w)], dim=1)
        coef = _least_squares(x, y, w)  # [inputs + 1, features]
        self.dec_linear.weight.copy_(coef[:-1].T.float()[:, :, None])
        self.dec_linear.bias.copy_(coef[-1].float())
        self.calibrate(audio)

    @torch.no_grad()
    def calibrate(self, audio: torch.Tensor) -> None:
        """audio float32[N, 1, T] (training chunks) -> the bounds (:class:`_Bounds`): pitch over voiced frames,
        loudness over all, each widened by a margin (a semitone, 6 dB); the envelope's maximum per point + 6 dB,
        over the loudness range the training gains cover."""
        pitch, loud, env = [], [], []
        lo_db, hi_db = self.random_gain_db
        for part in audio.split(16):
            for gain_db in (lo_db, hi_db):
                p, v, e, _, te = self._analyse(F.pad(part * 10 ** (gain_db / 20), (0, self.delay)))
                pitch.append(p[v > 0.5])
                loud.append(self._loudness(e).reshape(-1))
                env.append(
                    self._net_in(te, torch.zeros_like(e[:, : self.bands]))[:, : self.env_points].amax(dim=(0, 2))
                )
        p, z = torch.cat(pitch), torch.cat(loud)
        if p.numel():
            q = torch.quantile(p.double(), torch.tensor([0.005, 0.995], dtype=torch.float64)).float()
            self.bounds.pitch.copy_(q + torch.tensor([-1.0, 1.0]) / 12.0)
        self.bounds.loudness.copy_(torch.stack([z.min(), z.max()]) + torch.tensor([-6.0, 6.0]) / LOUD_UNIT_DB)
        self.bounds.env_max.copy_(torch.stack(env).amax(dim=0)[None, :, None] + 6.0 / (4.343 * ENV_STD))

    def components(self) -> dict[str, nn.Module]:
        encoder = (
            self.analysis if self.timbre is None else nn.ModuleDict({"analysis": self.analysis, "timbre": self.timbre})
        )
        return {
            "encoder": encoder,
            "decoder": nn.ModuleDict(
                {"net": self.decoder, "linear": self.dec_linear, "synth": self.synth, "bounds": self.bounds}
            ),
        }
