"""Run configuration: one dataclass per component (the model's is its family's, models/configs.py), YAML presets by
name, key=value overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from models import FamilyConfig, model_config
from models.configs import FLAT_DEFAULTS

PRESET_DIR = Path(__file__).resolve().parent / "presets"


@dataclass
class DataConfig:
    """How a folder of audio becomes training chunks (all lengths in samples at ``sample_rate``)."""

    window: int = 22050
    chunk_hop: int = 11025
    val_percent: float = 10.0
    target_dbfs: float = -20.0
    max_gain_db: float = 30.0
    max_val_chunks: int = 64


@dataclass
class LossConfig:
    """Multi-scale log-mel L1 + multi-resolution STFT + beta-KL with a linear warm-up. MSE is logged only."""

    mel_weight: float = 1.0
    mel_n_ffts: list[int] = field(default_factory=lambda: [512, 1024, 2048])
    mel_bands: list[int] = field(default_factory=lambda: [64, 80, 128])
    stft_weight: float = 1.0
    stft_n_ffts: list[int] = field(default_factory=lambda: [256, 512, 1024, 2048])
    kl_beta: float = 0.01
    kl_warmup_start: int = 500
    kl_warmup_steps: int = 5000
    mse_weight: float = 0.0


@dataclass
class TrainConfig:
    batch_size: int = 8  # per process; global batch = batch_size * world size
    lr: float = 3e-4
    lr_warmup_steps: int = 200
    lr_min_ratio: float = 0.1
    max_steps: int = 20000  # the schedule's horizon; --steps may stop earlier
    grad_clip: float = 1.0
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    ema_decay: float = 0.0  # 0 disables the weight EMA
    ckpt_every: int = 500
    log_every: int = 25
    val_every: int = 500
    audio_every: int = 1000
    seed: int = 0
    threads: int = 0  # torch CPU threads per process; 0 = leave torch's default
    num_workers: int = 0


@dataclass
class AdvConfig:
    """Adversarial fine-tuning (off by default; see docs/training.md): a multi-resolution complex-STFT
    discriminator on random crops of input and reconstruction, hinge or least-squares losses plus feature
    matching, added to the reconstruction losses (which stay on). A config without this section keeps it off.

    ``freeze_encoder``: everything but the decoder (encoder, bottleneck/quantizer, priors) gets no updates and runs
    in eval mode (the decoder trains on the posterior means the exported encoder emits); the KL term, constant
    then, is logged but not added to the loss. The discriminator trains from ``start_step - disc_warmup_steps``,
    the generator's adversarial and feature terms start at ``start_step``.
    """

    enabled: bool = False
    start_step: int = 0
    disc_warmup_steps: int = 0
    freeze_encoder: bool = True
    loss_type: str = "hinge"  # hinge | lsgan
    gen_weight: float = 0.1
    feature_weight: float = 0.5  # relative L1 between discriminator features of input and reconstruction
    disc_lr: float = 2e-4  # follows the generator's warm-up/cosine schedule shape
    disc_grad_clip: float = 1.0
    disc_n_ffts: list[int] = field(default_factory=lambda: [512, 1024, 2048])
    disc_channels: int = 16
    disc_crop: int = 8192  # samples of each chunk the discriminator sees (random, aligned); 0 = the whole chunk


@dataclass
class RunConfig:
    model: FamilyConfig = field(default_factory=model_config)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    adv: AdvConfig = field(default_factory=AdvConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        cfg = cls()
        for section, values in (data or {}).items():
            if section not in SECTIONS:
                raise ValueError(f"unknown config section '{section}' (known: {', '.join(SECTIONS)})")
            if section == "model":
                values = dict(values or {})
                cfg.model = model_config(str(values.pop("family", "waveform-vae")))
                for key, value in values.items():
                    _set_model_field(cfg, key, value)
                continue
            target = getattr(cfg, section)
            for key, value in (values or {}).items():
                if RETIRED_KEYS.get(f"{section}.{key}", object()) == value:
                    continue  # recorded by shipped bundles, meaning nothing now (see RETIRED_KEYS)
                _set_field(target, section, key, value)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.adv.loss_type not in ADV_LOSS_TYPES:
            raise ValueError(f"adv.loss_type '{self.adv.loss_type}' is unknown (known: {', '.join(ADV_LOSS_TYPES)})")


SECTIONS = ("model", "data", "loss", "train", "adv")
# keys that configs recorded in shipped bundles (desktop/factory) hold at these values, for a family since retired:
# dropped when they hold exactly that (``--init-from`` a bundle reads its config), refused like any unknown key
# otherwise. data.pitch_cache was the retired hpn family's pitch-label cache.
RETIRED_KEYS: dict[str, object] = {"data.pitch_cache": ""}
ADV_LOSS_TYPES = ("hinge", "lsgan")


def _set_model_field(cfg: RunConfig, key: str, value: Any) -> None:
    """model.family swaps the config for the new family's (the settings all families share are kept); any other
    key is checked against the family by ``model_config`` (a setting of another family is refused)."""
    values = asdict(cfg.model)
    if key == "family":
        shared = {f.name for f in dataclasses.fields(FamilyConfig)} - {"family"}
        cfg.model = model_config(str(value), **{k: v for k, v in values.items() if k in shared})
        return
    if key in values or key not in FLAT_DEFAULTS:
        if key in values:
            value = _coerce(values[key], value)
        values[key] = value
    else:
        values[key] = _coerce(FLAT_DEFAULTS[key], value)
    cfg.model = model_config(**values)


def _set_field(obj: Any, section: str, key: str, value: Any) -> None:
    fields = {f.name: f for f in dataclasses.fields(obj)}
    if key not in fields:
        raise ValueError(f"unknown config key '{section}.{key}' (known: {', '.join(sorted(fields))})")
    setattr(obj, key, _coerce(getattr(obj, key), value))


def _coerce(current: Any, value: Any) -> Any:
    """``value`` (maybe a command-line string) as the type of ``current``."""
    if isinstance(value, str) and not isinstance(current, str):
        value = yaml.safe_load(value)
    if isinstance(current, bool):
        value = bool(value)
    elif isinstance(current, int) and not isinstance(value, bool):
        value = int(value)
    elif isinstance(current, float):
        value = float(value)
    elif isinstance(current, list):
        value = list(value) if isinstance(value, (list, tuple)) else [value]
    return value


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_config(name_or_path: str, overrides: list[str] = ()) -> RunConfig:
    """A preset name (e.g. 'waveform-vae') or a YAML file, then 'section.key=value' or unique 'key=value'."""
    path = Path(name_or_path)
    if not path.is_file():
        path = PRESET_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ValueError(
                f"'{name_or_path}' is neither a YAML file nor a preset (presets: {', '.join(preset_names())})"
            )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML ({exc})") from exc
    cfg = RunConfig.from_dict(data)
    for item in overrides:
        apply_override(cfg, item)
    cfg.validate()
    return cfg


def apply_override(cfg: RunConfig, item: str) -> None:
    if "=" not in item:
        raise ValueError(f"override '{item}' is not key=value")
    key, value = item.split("=", 1)
    if "." in key:
        section, name = key.split(".", 1)
        if section not in SECTIONS:
            raise ValueError(f"override '{item}': unknown section '{section}'")
        if section == "model":
            _set_model_field(cfg, name, value)
        else:
            _set_field(getattr(cfg, section), section, name, value)
        return
    owners = [s for s in SECTIONS if key in {f.name for f in dataclasses.fields(getattr(cfg, s))}]
    if len(owners) != 1:
        raise ValueError(
            f"override '{item}': key '{key}' is "
            + ("unknown" if not owners else f"ambiguous ({', '.join(s + '.' + key for s in owners)})")
        )
    if owners[0] == "model":
        _set_model_field(cfg, key, value)
    else:
        _set_field(getattr(cfg, owners[0]), owners[0], key, value)


def save_config(cfg: RunConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
