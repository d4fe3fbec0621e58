"""Knob presets as JSON: latent offsets and scales per level, the bundle's declared knobs (transpose, loudness, ...:
``controls``, by name, in their units), plus the mix parameters and MIDI learn bindings.

A preset is one more way values come in, so it passes the same checks as the others (``params.Param.coerce``:
the knobs' ranges, finite numbers of the right kind): a preset with one bad value is refused whole."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from core.bundle import Manifest
from core.latent import LatentControls

from .params import MIX_FIELDS, PREFIX, ParamError, ParamRegistry, StaticTarget, parse_binding
from .values import FALLBACKS, HOP_RANGE_S, LIVE_MODES, EngineParams, StreamConfig

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
    # the declared knobs a user turned ('set' controls hold a MIDI note only while it is held: not a setting)
    knobs = {
        c.name: float(controls.values[c.name]) for c in manifest.controls if c.is_knob and c.name in controls.values
    }
    if knobs:
        data["controls"] = knobs
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
    data = _read_json(path)
    midi = data.get("midi", []) if isinstance(data, dict) else []
    if not isinstance(midi, list):
        raise PresetError(f"{path}: 'midi' must be a list of bindings")
    return midi


@dataclass(frozen=True)
class Preset:
    """A preset whose every value passed the parameter registry's checks: nothing of it is applied before all is."""

    controls: LatentControls
    params: Any | None  # a ``params_type`` when one was asked for and the preset has mix settings
    midi: list[dict]  # MIDI learn bindings, well formed (one for a parameter the bundle lacks is skipped on load)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PresetError(f"{path}: cannot read preset ({exc})") from exc


def _checked(path: Path, registry: ParamRegistry, field_name: str, address: str, value: Any) -> Any:
    """``value`` through the registry's own check for ``address`` (the one OSC, MIDI and --set pass through)."""
    try:
        return registry.param(address).coerce(value)
    except ParamError as exc:
        raise PresetError(f"{path}: {field_name}: {str(exc).removeprefix(f'{address}: ')}") from None


def _levels(path: Path, data: dict, manifest: Manifest, registry: ParamRegistry) -> LatentControls:
    levels = data.get("levels", {})
    if not isinstance(levels, dict):
        raise PresetError(f"{path}: levels: must be an object of latent levels")
    offsets, scales = {}, {}
    for level in manifest.levels:  # levels the model lacks are ignored; missing axes stay neutral
        entry = levels.get(level.name)
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise PresetError(f"{path}: levels.{level.name}: must be an object with offsets and scales")
        for what, out, neutral in (("offsets", offsets, 0.0), ("scales", scales, 1.0)):
            values = entry.get(what, [])
            if not isinstance(values, list):
                raise PresetError(f"{path}: levels.{level.name}.{what}: must be a list of numbers")
            address = f"{PREFIX}/latent/{level.name}/{{}}/{what[:-1]}"
            got = [
                _checked(path, registry, f"levels.{level.name}.{what}[{i}]", address.format(i), v)
                for i, v in enumerate(values[: level.dim])
            ]
            out[level.name] = tuple(got + [neutral] * (level.dim - len(got)))
    return LatentControls(offsets, scales, _declared(path, data, manifest, registry))


def _declared(path: Path, data: dict, manifest: Manifest, registry: ParamRegistry) -> dict[str, float]:
    """The declared knobs' values (``controls``: name -> value), each through its registry check; names the model
    does not declare as a knob are ignored (like levels it lacks)."""
    raw = data.get("controls", {})
    if not isinstance(raw, dict):
        raise PresetError(f"{path}: controls: must be an object of the model's declared controls")
    knobs = {c.name for c in manifest.controls if c.is_knob}
    return {
        name: float(_checked(path, registry, f"controls.{name}", f"{PREFIX}/control/{name}", v))
        for name, v in raw.items()
        if name in knobs
    }


def _params(path: Path, data: dict, registry: ParamRegistry, params_type) -> Any | None:
    raw = data.get("params")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise PresetError(f"{path}: params: must be an object of mix settings")
    addresses = {fld: f"{PREFIX}/{tail}" for tail, (fld, *_) in MIX_FIELDS.items()}
    values = {}
    for name in (f.name for f in fields(params_type or EngineParams)):
        if name not in raw:
            continue
        if name in addresses:
            values[name] = _checked(path, registry, f"params.{name}", addresses[name], raw[name])
        elif name == "fallback":
            if raw[name] not in FALLBACKS:
                raise PresetError(f"{path}: params.fallback: {raw[name]!r} is not one of {', '.join(FALLBACKS)}")
            values[name] = raw[name]
    return params_type(**values) if params_type is not None else None


def _midi(path: Path, data: dict, registry: ParamRegistry) -> list[dict]:
    midi = data.get("midi", [])
    if not isinstance(midi, list):
        raise PresetError(f"{path}: midi: must be a list of bindings")
    for i, b in enumerate(midi):
        try:
            parse_binding(b, registry)
        except ParamError:
            pass  # a parameter this bundle lacks (like a level it lacks): MidiMap.load_json skips it and says so
        except ValueError as exc:
            raise PresetError(f"{path}: midi[{i}]: {exc}") from None
    return midi


def read_preset(path: str | Path, manifest: Manifest, params_type=None) -> Preset:
    """A preset checked whole: every offset, scale and mix setting through the parameter registry's checks (the
    ranges the knobs, OSC, MIDI and the render CLI's --set enforce), every MIDI binding against its parameters.
    The first bad value raises PresetError naming the file and the field; nothing is returned half-read."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or data.get("format") != PRESET_FORMAT:
        raise PresetError(f'{path}: not a LatentSynth preset (no "format": "{PRESET_FORMAT}")')
    if data.get("version") != PRESET_VERSION:
        raise PresetError(f"{path}: preset version {data.get('version')!r} is not supported")
    registry = ParamRegistry(StaticTarget(EngineParams(), StreamConfig()), manifest, LIVE_MODES, HOP_RANGE_S)
    return Preset(
        _levels(path, data, manifest, registry), _params(path, data, registry, params_type), _midi(path, data, registry)
    )


def load_preset(path: str | Path, manifest: Manifest, params_type=None):
    """Returns (LatentControls, params or None), checked as ``read_preset`` checks them."""
    preset = read_preset(path, manifest, params_type)
    return preset.controls, preset.params


def random_controls(manifest: Manifest, rng: np.random.Generator, spread: float = 1.0) -> LatentControls:
    """Offsets drawn from the latent prior (N(0, spread^2) in std units, clipped to +-2.5), scales kept at 1."""
    offsets = {
        level.name: tuple(float(v) for v in np.clip(rng.normal(0, spread, level.dim), -2.5, 2.5))
        for level in manifest.levels
    }
    return LatentControls(offsets, {})
