"""Source-filter family ('sf'): signal processing analyses and resynthesises the sound; a small network only
compresses the spectral envelope and aperiodicity into a Gaussian latent of a few numbers per frame.

Encoder (causal, inside encoder.onnx, one frame per 256-sample hop): :class:`models.sourcefilter.SourceFilterAnalysis`
gives f0, voicing, an 80-point log envelope and 6-band aperiodicity. With ``latent_dim`` = 0 (the ``dsp`` preset:
no parameters, nothing learned) envelope and aperiodicity ARE the latent 'z' (86 channels); otherwise a causal conv
stack compresses them into ``latent_dim`` Gaussian channels. The latent is two levels at one frame per hop: 'z'
and 'control' = (pitch in octaves re A4, voicing 0..1, formant shift in octaves, breathiness in units of 10 dB; the
encoder emits 0 for the last two).

Decoder (causal): (the network, when there is one: z + pitch + voicing -> envelope and aperiodicity), then
:class:`models.sourcefilter.SourceFilterSynth`: a phase-continuous harmonic oscillator at f0 and noise, filtered by the
envelope's minimum-phase response, mixed band by band by aperiodicity (voicing folded in). Transpose, formant shift and
breathiness are exact operations on the control channels.

Alignment: the analysis windows end at the current sample and are centred pitch_window / 2 samples back; the
synthesis puts each frame's envelope one hop after it (on the pitch measured with it): ``delay`` = pitch_window / 2 +
hop (768 samples, 34.8 ms, with the default 1024-sample f0 window; a shorter f0 window would track 50 Hz voices
less well).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import sfcontrols
from .additive import AdditiveSynth
from .bottleneck import GaussianBottleneck
from .causal import CausalConv1d, name_states, random_gain, state_shapes_of, stream_modules
from .family import AudioAutoencoder
from .lpc import WarpedLPC
from .sourcefilter import AP_EDGES_HZ, VOICING_GATE_DB, SourceFilterAnalysis, SourceFilterSynth, mel_points
from .stft_live import LIVE_FILTER_DELAY, LiveFilterSynth
from .yin import PITCH_FMIN

# models/sourcefilter.py's STFT filtering (one hop late), models/additive.py's sum of harmonics, or
# models/stft_live.py's STFT filtering without that hop (the same sound as "stft", one hop earlier)
SYNTHESES = ("stft", "additive", "stft-live")
# what the network codes of the envelope: its points, or a warped all-pole fit of them (models/lpc.py: log gain +
# log-area ratios; at the same count it scored higher on outside speech than a linear code of the points)
ENVELOPE_CODES = ("points", "lpc")
GAIN_MEAN, GAIN_STD = -10.0, 3.0  # the all-pole code's log gain, like ENV_MEAN / ENV_STD for the points

CONTROL_CHANNELS = ("pitch", "voicing", "formant", "breath")
# posterior std of each control channel for the information rate: f0 to 10 cents, voicing to 0.1; formant and
# breath are constant 0 from the encoder (no information)
CONTROL_SCALE = (10.0 / 1200.0, 0.1, 1.0, 1.0)
ENV_MEAN, ENV_STD = -14.0, 4.0  # natural-log power density: typical centre and spread (normalises the net's input)
# aperiodicity in network units: 0..1 -> -0.5..0.5. Its estimate is noisy (frame to frame it moves ~0.2, which no
# code can compress) and the ear hears the envelope first: at 2x it took the linear codec's axes from the envelope
AP_UNIT = 1.0
DSP_STD = 0.05  # the dsp preset's declared posterior std of z (for the information rate; nats and aperiodicity)
PARITY_FLOOR = -25.0  # frames whose mean log envelope is below this (about -100 dB) are silence for parity


def _synthesis(name: str, sample_rate: int, hop: int, env_points: int, harmonics: int, noise_taps: int):
    """(the synthesis module, the samples of delay it adds): the STFT synthesis one frame (models/sourcefilter.py),
    the additive none, the live STFT its minimum-phase filters' (models/stft_live.py)."""
    kw = dict(env_points=env_points, harmonics=harmonics)
    if name == "stft":
        return SourceFilterSynth(sample_rate, hop, **kw), hop
    if name == "stft-live":
        return LiveFilterSynth(sample_rate, hop, **kw), LIVE_FILTER_DELAY
    if name == "additive":
        return AdditiveSynth(sample_rate, hop, noise_taps=noise_taps, **kw), 0
    raise ValueError(f"sf synthesis must be one of {', '.join(SYNTHESES)}, not '{name}'")


class _FrameNet(nn.Module):
    """A causal conv stack at the frame rate: float32[B, cin, F] -> float32[B, cout, F]. Conv i is dilated by
    ``growth`` ** i (1: it sees 2 * blocks + 1 frames; 2 with 4 blocks: 31 frames, 360 ms, at the same cost)."""

    def __init__(self, cin: int, cout: int, channels: int, blocks: int, growth: int = 1):
        super().__init__()
        layers: list[nn.Module] = [CausalConv1d(cin, channels, 3), nn.GELU()]
        for i in range(1, max(blocks, 1)):
            layers += [CausalConv1d(channels, channels, 3, dilation=int(growth) ** i), nn.GELU()]
        layers.append(nn.Conv1d(channels, cout, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)

    def state_shapes(self):
        return state_shapes_of(self.net)

    def stream(self, x, states):
        return stream_modules(self.net, x, states)


class SourceFilterVAE(AudioAutoencoder):
    """audio float32[B, 1, T] -> (reconstruction float32[B, 1, T], aux); always causal (it streams)."""

    family = "sf"
    gaussian = True
    integrates_phase = True  # the oscillator integrates f0: export checks streaming parity per part

    def __init__(
        self,
        *,
        sample_rate: int,
        latent_dim: int,
        strides: tuple[int, ...],
        env_points: int,
        env_window: int,
        pitch_window: int,
        ap_power: float,
        ap_estimate: str,
        harmonics: int,
        enc_max_channels: int,
        dec_channels: int,
        dec_blocks: int,
        free_bits: float,
        feature_weight: float,
        synth_in_loss: bool,
        random_gain_db: tuple[float, float],
        n_fft: int,
        synthesis: str,
        envelope_code: str,
        lpc_order: int,
        analysis_lag: int,
        noise_taps: int,
        lpc_compress: float,
        lpc_postfilter: float,
        env_low_width_hz: float,
        pitch_fmax: float,
        pitch_filter: int,
    ):
        super().__init__()
        del n_fft  # FamilyConfig's field: the analysis and synthesis sizes here are set by the windows
        hop = int(np.prod([int(s) for s in strides]))
        self.sample_rate, self.hop = int(sample_rate), hop
        self.synthesis = synthesis
        synth, synth_delay = _synthesis(synthesis, sample_rate, hop, env_points, harmonics, noise_taps)
        # envelope and aperiodicity centred ``analysis_lag`` back (0: the f0 window's centre), then the synthesis's
        lag = int(analysis_lag) or pitch_window // 2
        self.delay = lag + synth_delay
        self.causal, self.lookahead = True, -(-self.delay // hop)
        self.random_gain_db = tuple(float(g) for g in random_gain_db)
        self.feature_weight = float(feature_weight)
        self.synth_in_loss = bool(synth_in_loss)
        self.analysis = SourceFilterAnalysis(
            sample_rate,
            hop,
            env_window=env_window,
            pitch_window=pitch_window,
            env_points=env_points,
            ap_power=ap_power,
            lag=lag,
            ap_estimate=ap_estimate,
            low_width_hz=env_low_width_hz,
            pitch_fmax=pitch_fmax,
            pitch_filter=pitch_filter,
        )
        self.synth = synth
        self.env_points, self.bands = env_points, len(AP_EDGES_HZ) - 1
        if envelope_code not in ENVELOPE_CODES:
            raise ValueError(f"sf envelope_code must be one of {', '.join(ENVELOPE_CODES)}, not '{envelope_code}'")
        self.envelope_code = envelope_code
        points = mel_points(sample_rate, env_points)
        self.lpc = WarpedLPC(points, lpc_order, lpc_compress, lpc_postfilter) if envelope_code == "lpc" else None
        self.env_coded = env_points if self.lpc is None else lpc_order + 1  # the envelope's numbers in the nets
        features = self.env_coded + self.bands
        self.latent_dim = int(latent_dim)
        z_dim = self._codec(features, enc_max_channels, dec_channels, dec_blocks, free_bits)
        self.register_buffer("control_scale", torch.tensor(CONTROL_SCALE)[None, :, None], persistent=False)
        self.levels = (("z", z_dim, hop), ("control", len(CONTROL_CHANNELS), hop))
        name_states(self)

    def _codec(self, features: int, enc_max_channels: int, dec_channels: int, dec_blocks: int, free_bits: float) -> int:
        """The learned codec of ``latent_dim`` > 0 (none at 0: the features are the latent); returns z's size."""
        latent_dim = self.latent_dim
        if latent_dim <= 0:
            self.encoder = self.bottleneck = self.decoder = self.enc_linear = self.dec_linear = None
            return features
        # a linear codec (set to the corpus's PCA by data_init before the first step) plus causal nets that start at
        # zero and learn what the linear one misses: step 0 already sounds like PCA coding
        self.enc_linear = nn.Conv1d(features, 2 * latent_dim, 1)
        self.dec_linear = nn.Conv1d(latent_dim, features, 1)
        self.encoder = _FrameNet(features, 2 * latent_dim, enc_max_channels, 2)
        self.bottleneck = GaussianBottleneck(latent_dim, free_bits)
        self.decoder = _FrameNet(latent_dim + 2, features, dec_channels, dec_blocks)
        for net in (self.encoder, self.decoder):
            nn.init.zeros_(net.net[-1].weight)
            nn.init.zeros_(net.net[-1].bias)
        return latent_dim

    # ---- features <-> network units -------------------------------------------------------------------
    def _net_in(self, logenv, ap):
        if self.lpc is None:
            env = (logenv - ENV_MEAN) / ENV_STD
        else:
            code = self.lpc.encode(logenv)
            env = torch.cat([(code[:, :1] - GAIN_MEAN) / GAIN_STD, code[:, 1:]], dim=1)
        return torch.cat([env, (ap - 0.5) * AP_UNIT], dim=1)

    def _net_out(self, h):
        """The inverse of ``_net_in`` (aperiodicity clamped to 0..1)."""
        env, ap = h.split([self.env_coded, self.bands], dim=1)
        if self.lpc is None:
            logenv = env * ENV_STD + ENV_MEAN
        else:
            logenv = self.lpc.decode(torch.cat([env[:, :1] * GAIN_STD + GAIN_MEAN, env[:, 1:]], dim=1))
        return logenv, (0.5 + ap / AP_UNIT).clamp(0.0, 1.0)

    @staticmethod
    def _control(pitch, voicing):
        zeros = torch.zeros_like(pitch)
        return torch.cat([pitch, voicing, zeros, zeros], dim=1)

    def _dsp_z(self, logenv, ap):
        return torch.cat([logenv, ap], dim=1)

    # ---- encoder ---------------------------------------------------------------------------------------
    def _posterior_from(self, feats, enc_states=None):
        pitch, voicing, logenv, ap = feats
        control = self._control(pitch, voicing)
        ctrl = (control, self.control_scale.expand_as(control))
        if self.encoder is None:
            z = self._dsp_z(logenv, ap)
            return {"z": (z, torch.full_like(z, DSP_STD)), "control": ctrl}, []
        x = self._net_in(logenv, ap)
        if enc_states is None:
            params, more = self.encoder(x), []
        else:
            params, more = self.encoder.stream(x, enc_states)
        return {"z": self.bottleneck.split(params + self.enc_linear(x)), "control": ctrl}, more

    def posterior(self, audio: torch.Tensor):
        """{'z': (mean, std), 'control': (values, fixed std)}, each float32[B, C, T / hop]."""
        return self._posterior_from(self.analysis(audio))[0]

    def encode(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.posterior(audio).items()}

    # ---- decoder ---------------------------------------------------------------------------------------
    def _features_of(self, z, control, dec_states=None):
        if self.decoder is None:
            logenv, ap = z.split([self.env_points, self.bands], dim=1)
            return logenv, ap, []
        x = torch.cat([z, control[:, 0:2]], dim=1)
        if dec_states is None:
            h, more = self.decoder(x), []
        else:
            h, more = self.decoder.stream(x, dec_states)
        logenv, ap = self._net_out(h + self.dec_linear(z))
        return logenv, ap, more

    def _synth_args(self, control, logenv, ap):
        pitch, voicing = control[:, 0:1], control[:, 1:2].clamp(0.0, 1.0)
        formant, breath = control[:, 2:3], control[:, 3:4]
        # breathiness: the harmonic share x 10^-breath (breath in units of 10 dB), the noise takes the rest
        keep = torch.pow(10.0, -breath.clamp(-3.0, 3.0))
        ap = 1.0 - ((1.0 - ap.clamp(0.0, 1.0)) * keep).clamp(0.0, 1.0)
        return pitch, voicing, logenv, ap, formant.clamp(-1.0, 1.0)

    def decode(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        control = latents["control"]
        logenv, ap, _ = self._features_of(latents["z"], control)
        return self.synth(*self._synth_args(control, logenv, ap))

    # ---- streaming -------------------------------------------------------------------------------------
    def stream_state_shapes(self):
        enc = self.analysis.state_shapes() + (self.encoder.state_shapes() if self.encoder is not None else [])
        dec = (self.decoder.state_shapes() if self.decoder is not None else []) + self.synth.state_shapes()
        return {"encoder": _named("encoder", enc), "decoder": _named("decoder", dec)}

    def posterior_stream(self, audio: torch.Tensor, states: list[torch.Tensor]):
        n = len(self.analysis.state_shapes())
        feats, out = self.analysis.stream(audio, states[:n])
        post, more = self._posterior_from(feats, states[n:])
        return post, out + more

    def encode_stream(self, audio: torch.Tensor, states: list[torch.Tensor]):
        post, states = self.posterior_stream(audio, states)
        return {k: v[0] for k, v in post.items()}, states

    def decode_stream(self, latents: dict[str, torch.Tensor], states: list[torch.Tensor]):
        control = latents["control"]
        n = len(self.decoder.state_shapes()) if self.decoder is not None else 0
        logenv, ap, out = self._features_of(latents["z"], control, states[:n] if n else None)
        y, more = self.synth.stream(*self._synth_args(control, logenv, ap), states[n:])
        return y, out + more

    # ---- declarations ----------------------------------------------------------------------------------
    @staticmethod
    def controls() -> list[dict]:
        """The knobs this family means (the manifest's ``controls``: models/sfcontrols.py)."""
        return sfcontrols.controls()

    def parity_weights(self, latents: dict) -> dict:
        """numpy latents -> weights for export's parity check: silent frames do not count, and the pitch channel
        counts only where voiced (elsewhere YIN's pitch is noise and the oscillator is weighted out); with no network
        (dsp), the aperiodicity counts in proportion to voicing, as the synthesis hears it; with one, each latent
        dimension in proportion to its effect on the decoded features."""
        control, z = latents["control"], latents["z"]
        if self.encoder is None:
            audible = (z[:, : self.env_points].mean(axis=1, keepdims=True) > PARITY_FLOOR).astype("float32")
        else:
            audible = np.ones_like(control[:, :1], dtype="float32")
        w = np.repeat(audible, control.shape[1], axis=1)
        w[:, 0] *= control[:, 1] > 0.5
        wz = np.repeat(audible, z.shape[1], axis=1)
        if self.encoder is None:
            wz[:, self.env_points :] *= np.clip(control[:, 1:2], 0.0, 1.0)
        else:
            # each latent dimension counts in proportion to how far it moves the decoded features (the linear
            # codec's column norm): a whitened axis of small variance carries the high bands' aperiodicity, whose
            # float32 jitter between block and whole-file runs (1e-3) the ear cannot hear
            effect = self._axis_effect()
            wz = wz * (effect / effect.max())[None, :, None]
        return {"control": w, "z": wz}

    def _axis_effect(self) -> np.ndarray:
        """float[latent_dim]: how far each latent axis moves the decoded features, in network units (the points'
        units for the envelope): the linear codec's column norms; through the all-pole code, which is not linear, its
        Jacobian at the code's mean first (a log-area ratio of small spread can still move a formant a lot)."""
        w = self.dec_linear.weight.detach()[:, :, 0]  # [features, latent]
        if self.lpc is None:
            return w.norm(dim=0).numpy()
        e = self.env_coded
        at = self.dec_linear.bias.detach()[None, :, None]

        def envelope(env_part):
            return self._net_out(torch.cat([env_part[None, :, None], at[:, e:]], dim=1))[0][0, :, 0] / ENV_STD

        jac = torch.autograd.functional.jacobian(envelope, at[0, :e, 0])  # [points, env_coded]
        return torch.cat([jac @ w[:e], w[e:]], dim=0).norm(dim=0).numpy()

    def extra_manifest(self) -> dict:
        return {
            "sf": {
                "control_channels": list(CONTROL_CHANNELS),
                "pitch": "log2(f0 / 440 Hz), YIN in the encoder",
                "voicing": f"from YIN's aperiodicity, faded out below {VOICING_GATE_DB[1]:g} dBFS",
                "formant": "envelope read at f / 2^formant (octaves)",
                "breath": "harmonic share x 10^-breath",
                "envelope_points": self.env_points,
                "aperiodicity_band_edges_hz": list(AP_EDGES_HZ),
                "learned_latent": self.latent_dim,
                "envelope_code": self.envelope_code
                + (
                    f" (warped all-pole, order {self.lpc.order}, of the power^{self.lpc.compress:g}: log gain + "
                    f"log-area ratios; formant postfilter {self.lpc.postfilter:g})"
                    if self.lpc
                    else ""
                ),
                "fmin_hz": PITCH_FMIN,
                "fmax_hz": self.analysis.fmax,
            }
        }

    # ---- training --------------------------------------------------------------------------------------
    def forward(self, audio: torch.Tensor, **labels):
        if self.encoder is None:
            raise ValueError("the dsp preset (latent_dim 0) has nothing to train: export it directly")
        t = audio.shape[-1]
        gain = random_gain(audio, self.random_gain_db, self.training)
        x = F.pad(audio * gain, (0, (-t) % self.hop + self.delay))
        with torch.no_grad():
            pitch, voicing, logenv, ap = self.analysis(x)
        control = self._control(pitch, voicing)
        target = self._net_in(logenv, ap)
        z, aux = self.bottleneck(self.encoder(target) + self.enc_linear(target))
        aux["latent/z"] = z.detach()
        h = self.decoder(torch.cat([z, control[:, 0:2]], dim=1)) + self.dec_linear(z)
        # the envelope matters where there is sound: weight frames by their level (up to 1 at >= -40 dBFS-ish)
        level = ((logenv.mean(dim=1, keepdim=True) - PARITY_FLOOR) / 10.0).clamp(0.0, 1.0)
        aux["loss/features"] = self.feature_weight * ((h - target).abs() * level).mean()
        if self.training and not self.synth_in_loss:
            # features only (the net's whole job is envelope and aperiodicity): no synthesis in the step, 3-4x
            # cheaper; the trainer's audio losses see the input itself (0), validation hears the real output
            return audio, aux
        out_env, out_ap = self._net_out(h)
        y = self.synth(*self._synth_args(control, out_env, out_ap))
        return y[..., self.delay : self.delay + t] / gain, aux

    @torch.no_grad()
    def trained_range(self, audio: torch.Tensor) -> dict:
        """audio float32[N, 1, T] (export's statistics chunks) -> what the model was trained on, for the player's
        range view and octave mapping: 5th, 50th and 95th percentile over voiced frames of each of
        ``_range_values`` (the pitch in Hz here), one analysis pass."""
        values: dict[str, list[torch.Tensor]] = {}
        for part in audio.split(16):
            pitch, voicing, logenv, _ = self.analysis(part)
            for name, v in self._range_values(pitch, logenv, voicing > 0.5).items():
                values.setdefault(name, []).append(v)
        out: dict = {}
        quantiles = torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64)
        for name, parts in values.items():
            x = torch.cat(parts).double()
            if x.numel() == 0:
                return {}
            out[name] = [round(float(v), 1) for v in torch.quantile(x, quantiles)]
            if name == "pitch_hz":
                out["voiced_frames"] = int(x.numel())
        return out

    def _range_values(self, pitch, logenv, voiced) -> dict[str, torch.Tensor]:
        """The voiced frames' values ``trained_range`` reports, by manifest name."""
        return {"pitch_hz": 440.0 * 2.0 ** pitch[voiced]}

    @torch.no_grad()
    def data_init(self, audio: torch.Tensor) -> None:
        """audio float32[N, 1, T] (training chunks) -> the linear codec set to the PCA of their frames' features
        (frames above -100 dB only): z = whitened projection on the ``latent_dim`` strongest axes, posterior std 0.3,
        decoded back by the inverse. The trainer calls it once before the first step of a new run."""
        if self.encoder is None:
            return
        envs, aps = [], []
        for part in audio.split(16):
            _, _, env, ap = self.analysis(F.pad(part, (0, self.delay)))
            envs.append(env.transpose(1, 2).reshape(-1, self.env_points))
            aps.append(ap.transpose(1, 2).reshape(-1, self.bands))
        env, ap = torch.cat(envs), torch.cat(aps)
        audible = env.mean(dim=1) > PARITY_FLOOR
        if self.lpc is not None:  # the all-pole fit divides out the corpus's mean envelope first
            self.lpc.set_tilt(env[audible].mean(dim=0))
        x = self._net_in(env.T[None], ap.T[None])[0].T.double()[audible]
        mean = x.mean(dim=0)
        _, sv, vt = torch.linalg.svd(x - mean, full_matrices=False)
        k = self.latent_dim
        scale = (sv[:k] / max(x.shape[0] - 1, 1) ** 0.5).clamp(min=1e-3)  # std along each axis
        proj = vt[:k] / scale[:, None]  # whitened: unit variance per latent dim
        w = torch.zeros_like(self.enc_linear.weight, dtype=torch.float64)
        w[:k, :, 0] = proj
        b = torch.zeros(2 * k, dtype=torch.float64)
        b[:k] = -(proj @ mean)
        b[k:] = float(np.log(np.expm1(0.3)))  # softplus^-1(0.3): posterior std 0.3 at the start
        self.enc_linear.weight.copy_(w.float())
        self.enc_linear.bias.copy_(b.float())
        self.dec_linear.weight.copy_((vt[:k].T * scale[None, :]).float()[:, :, None])
        self.dec_linear.bias.copy_(mean.float())

    def components(self) -> dict[str, nn.Module]:
        if self.encoder is None:
            return {"encoder": self.analysis, "decoder": self.synth}
        encoder = {"analysis": self.analysis, "net": self.encoder, "linear": self.enc_linear}
        decoder = {"net": self.decoder, "linear": self.dec_linear, "synth": self.synth}
        if self.lpc is not None:  # both sides hold its tilt (set by data_init)
            encoder["lpc"] = decoder["lpc"] = self.lpc
        return {"encoder": nn.ModuleDict(encoder), "bottleneck": self.bottleneck, "decoder": nn.ModuleDict(decoder)}


def _named(prefix: str, shapes):
    """Unique state names per part (the synth's and analysis's fixed names, nets' module paths)."""
    return [(f"{prefix}.{name}" if not name.startswith(prefix) else name, c, f) for name, c, f in shapes]
