"""One config dataclass per model family: the settings its constructor takes, with their defaults.

These dataclasses are the one home of each default: a family's constructor takes every setting by keyword and
states none of its own (``build_model`` passes them all). ``model_config(family=..., **values)`` picks the
family's dataclass. The run configs that shipped bundles record (``provenance.config``, which ``--init-from`` a
bundle reads) were written when one flat config held every family's fields, so a field of another family is
dropped when it holds the flat default (``FLAT_DEFAULTS``: it meant nothing for this family) and refused when it
holds anything else (the user asked for something this family does not have). A key no family knows is refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core.bundle import RETIRED_FAMILIES


@dataclass
class FamilyConfig:
    """Settings every family has. ``strides``: the encoder's downsampling; their product is the latent hop."""

    family: str = ""
    sample_rate: int = 22050
    latent_dim: int = 16
    strides: list[int] = field(default_factory=lambda: [4, 4, 4, 4])
    enc_max_channels: int = 192
    dec_channels: int = 256
    dec_blocks: int = 4
    n_fft: int = 1024  # the decoder's inverse-STFT size

    @property
    def hop(self) -> int:
        hop = 1
        for s in self.strides:
            hop *= int(s)
        return hop


@dataclass
class WaveformVAEConfig(FamilyConfig):
    family: str = "waveform-vae"
    enc_channels: int = 16
    # decoder phase: "direct" (predicted per frame) or "cumulative" (predicted advance, summed along time)
    phase: str = "direct"


@dataclass
class MelVAEConfig(FamilyConfig):
    """Streaming (docs/streaming.md): ``causal`` convolutions and STFT, output ``lookahead`` frames late, training
    at random levels (``random_gain_db`` range) instead of per-window loudness normalisation."""

    family: str = "mel-vae"
    n_mels: int = 128
    mel_norm_mean: float = -5.0
    mel_norm_std: float = 2.5
    mel_head_weight: float = 1.0
    mel_log_floor: float = 1e-4
    free_bits: float = 0.0
    phase: str = "direct"
    causal: bool = False
    lookahead: int = 0
    random_gain_db: list[float] = field(default_factory=lambda: [0.0, 0.0])
    dec_hidden: int = 0  # the decoder MLPs' width; 0: 3 x dec_channels


@dataclass
class HVAEConfig(FamilyConfig):
    """Two levels: ``top_dim`` channels at ``top_stride`` x the bottom level's hop."""

    family: str = "hvae"
    enc_channels: int = 16
    top_dim: int = 8
    top_stride: int = 4
    free_bits: float = 0.0
    kl_balance: bool = False
    phase: str = "direct"


@dataclass
class VQVAEConfig(FamilyConfig):
    family: str = "vqvae"
    enc_channels: int = 16
    fsq_levels: list[int] = field(default_factory=lambda: [5, 5, 5, 5])
    fsq_entropy_weight: float = 1.0
    phase: str = "direct"


@dataclass
class SourceFilterConfig(FamilyConfig):
    """Source-filter (models/sfvae.py): signal-processing analysis and synthesis; ``latent_dim`` 0 is the ``dsp``
    preset (the envelope and aperiodicity are the latent, nothing is learned)."""

    family: str = "sf"
    env_points: int = 80
    env_window: int = 768
    pitch_window: int = 1024
    ap_power: float = 2.0
    # "acf" (1 - the autocorrelation at the period) or "valley" (no more than the noise between the harmonics):
    # models/aperiodicity.py
    ap_estimate: str = "acf"
    # > 0: the envelope under 0.9 f0 smoothed over this many Hz, not f0 (models/sourcefilter.py LOW_EDGE)
    env_low_width_hz: float = 0.0
    # the pitch tracker's highest f0 (models/yin.py): voices stay under 1500 Hz; a flute or violin reaches 2100
    pitch_fmax: float = 1500.0
    # > 0: each frame's period chosen by a causal filter over this many frames (models/pitch_filter.py); 0: YIN's
    # own pick with the two-frame hold
    pitch_filter: int = 0
    harmonics: int = (
        64  # above 64 x f0 noise carries the band: on speech 64, 100 and 200 scored alike, 64 is 3x cheaper
    )
    enc_max_channels: int = 256
    dec_channels: int = 256
    dec_blocks: int = 3
    free_bits: float = 0.0
    feature_weight: float = 1.0
    synth_in_loss: bool = True
    random_gain_db: list[float] = field(default_factory=lambda: [-10.0, 10.0])
    # or "additive" (models/additive.py: no DFT, no added frame of delay), or "stft-live" (models/stft_live.py: the
    # STFT synthesis's sound without its frame of delay)
    synthesis: str = "stft"
    envelope_code: str = "points"  # or "lpc": the nets code a warped all-pole fit of the envelope (models/lpc.py)
    lpc_order: int = 15
    # the all-pole fit is of the envelope's power raised to this (models/lpc.py; 1: the power itself)
    lpc_compress: float = 1.0
    # > 0: the decoder deepens the all-pole envelope's valleys by a formant postfilter of this strength (models/lpc.py)
    lpc_postfilter: float = 0.0
    # samples before a frame's end where its envelope and aperiodicity windows are centred (0: the f0 window's
    # centre, pitch_window / 2); the delay is this plus the synthesis's (one hop for stft, none for the others)
    analysis_lag: int = 0
    # the additive synthesis's noise filter (models/additive.py): 256 taps scored PESQ-WB 0.03 above 128 on speech
    noise_taps: int = 256


@dataclass
class TimbreConfig(FamilyConfig):
    """Timbre (models/sftimbre.py): one instrument's envelope from the player's pitch, voicing and loudness, on the
    source-filter synthesis."""

    family: str = "timbre"
    env_points: int = 80
    env_window: int = 768
    pitch_window: int = 1024
    ap_power: float = 2.0
    ap_estimate: str = "acf"  # as the sf family's (SourceFilterConfig); the instruments' recipe: "valley", power 1
    env_low_width_hz: float = 0.0  # as the sf family's (SourceFilterConfig)
    pitch_fmax: float = 1500.0  # as the sf family's (SourceFilterConfig)
    pitch_filter: int = 0  # as the sf family's (SourceFilterConfig)
    harmonics: int = 64
    dec_channels: int = 192
    dec_blocks: int = 4
    # the decoder's conv i is dilated by this ** i (1: it hears 9 frames back, 104 ms; 2: 31 frames, 360 ms)
    dec_dilation: int = 1
    # > 0: a timbre code of this many numbers a frame beside the loudness in 'z' (models/sftimbre.py: the residual's
    # principal axes, held at 0 for the instrument's mean timbre); 0: pitch, voicing and loudness only
    timbre_dim: int = 0
    feature_weight: float = 10.0
    random_gain_db: list[float] = field(default_factory=lambda: [-20.0, 10.0])
    synthesis: str = "stft"
    analysis_lag: int = 0  # as the sf family's (SourceFilterConfig)
    # how the decoder codes the aperiodicity: "linear" or "log" (models/sftimbre.py; the instruments' recipe: log)
    ap_code: str = "linear"
    # the additive synthesis's noise filter: 128 taps (256 made speech-driven violin and clarinet less often heard as
    # themselves: 0.71 -> 0.63 and 0.59 -> 0.53 of segments, docs/instruments.md)
    noise_taps: int = 128


CONFIGS: dict[str, type[FamilyConfig]] = {
    c.family: c for c in (WaveformVAEConfig, MelVAEConfig, HVAEConfig, VQVAEConfig, SourceFilterConfig, TimbreConfig)
}

# the flat config's defaults: what a field of another family holds in the configs shipped bundles record
# (desktop/factory: waveform-vae, mel-vae, hvae and vqvae carry other families' fields)
FLAT_DEFAULTS: dict[str, Any] = {}
for _cls in CONFIGS.values():
    for _f in dataclasses.fields(_cls):
        if _f.name != "family":
            FLAT_DEFAULTS.setdefault(
                _f.name, _f.default_factory() if _f.default_factory is not dataclasses.MISSING else _f.default
            )


def config_fields(family: str) -> set[str]:
    return {f.name for f in dataclasses.fields(CONFIGS[family])}


def model_config(family: str = "waveform-vae", **values: Any) -> FamilyConfig:
    """The family's config with ``values`` set; see the module docstring for fields of other families."""
    if family in RETIRED_FAMILIES:
        raise ValueError(f"model family '{family}' {RETIRED_FAMILIES[family]}")
    if family not in CONFIGS:
        raise ValueError(f"unknown model family '{family}' (known: {', '.join(CONFIGS)})")
    own = config_fields(family)
    kept = {}
    for key, value in values.items():
        if key in own:
            kept[key] = value
        elif key not in FLAT_DEFAULTS:
            raise ValueError(f"unknown config key 'model.{key}' (family {family} has: {', '.join(sorted(own))})")
        elif _normal(value) != _normal(FLAT_DEFAULTS[key]):
            if key in ("causal", "lookahead"):
                raise ValueError(f"model family '{family}' has no causal (streaming) variant; use mel-vae or sf")
            raise ValueError(
                f"model.{key} is not a setting of family '{family}' (it has: {', '.join(sorted(own - {'family'}))})"
            )
    return CONFIGS[family](**kept)


def _normal(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
