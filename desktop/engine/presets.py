"""Knob presets as JSON: latent offsets and scales per level, plus the mix parameters."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from .bundle import Manifest
from .latent import LatentControls

PRESET_FORMAT = "latentsynth-preset"
PRESET_VERSION = 1


class PresetError(Exception):
    """A preset file cannot be used; the message names the file."""


def controls_to_json(
    controls: LatentControls, manifest: Manifest, params=None, model_name: str = "", midi: list[dict] | None = None
) -> dict:
    levels = {}
    for level in manifest.levels:
        offs = controls.offsets.get(level.name) or (0.0,) * level.dim
        scs = controls.scales.get(level.name) or (1.0,) * level.dim
        levels[level.name] = {"offsets": [float(v) for v in offs], "scales": [float(v) for v in scs]}
    data = {"format": PRESET_FORMAT, "version": PRESET_VERSION, "model": model_name, "levels": levels}
    if params is not None:
        data["params"] = asdict(params)
    if midi:
        data["midi"] = list(midi)  # MIDI learn bindings (desktop/control/midi.py MidiMap.to_json)
    return data


def save_preset(
    path: str | Path,
    controls: LatentControls,
    manifest: Manifest,
    params=None,
    model_name: str = "",
    midi: list[dict] | None = None,
) -> Path:
    path = Path(path)
    path.write_text(json.dumps(controls_to_json(controls, manifest, params, model_name, midi), indent=1) + "\n")
    return path


def preset_midi(path: str | Path) -> list[dict]:
    """The MIDI learn bindings a preset carries ([] when it has none); PresetError when unreadable."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PresetError(f"{path}: cannot read preset ({exc})") from exc
    midi = data.get("midi", []) if isinstance(data, dict) else []
    if not isinstance(midi, list):
        raise PresetError(f"{path}: 'midi' must be a list of bindings")
    return midi


def load_preset(path: str | Path, manifest: Manifest, params_type=None):
    """Returns (LatentControls, params or None). Levels the model lacks are ignored; missing axes stay neutral."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PresetError(f"{path}: cannot read preset ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != PRESET_FORMAT:
        raise PresetError(f'{path}: not a LatentSynth preset (no "format": "{PRESET_FORMAT}")')
    if data.get("version") != PRESET_VERSION:
        raise PresetError(f"{path}: preset version {data.get('version')!r} is not supported")
    offsets, scales = {}, {}
    try:
        for level in manifest.levels:
            entry = data.get("levels", {}).get(level.name)
            if entry is None:
                continue
            offs = [float(v) for v in entry.get("offsets", [])][: level.dim]
            scs = [float(v) for v in entry.get("scales", [])][: level.dim]
            offsets[level.name] = tuple(offs + [0.0] * (level.dim - len(offs)))
            scales[level.name] = tuple(scs + [1.0] * (level.dim - len(scs)))
        params = None
        if params_type is not None and isinstance(data.get("params"), dict):
            known = {f.name for f in fields(params_type)}
            params = params_type(**{k: v for k, v in data["params"].items() if k in known})
    except (TypeError, ValueError, AttributeError) as exc:
        raise PresetError(f"{path}: malformed preset ({exc})") from exc
    return LatentControls(offsets, scales), params


def random_controls(manifest: Manifest, rng: np.random.Generator, spread: float = 1.0) -> LatentControls:
    """Offsets drawn from the latent prior (N(0, spread^2) in std units, clipped to +-2.5), scales kept at 1."""
    offsets = {
        level.name: tuple(float(v) for v in np.clip(rng.normal(0, spread, level.dim), -2.5, 2.5))
        for level in manifest.levels
    }
    return LatentControls(offsets, {})
