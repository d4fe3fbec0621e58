"""One parameter registry: every mix control and every knob of the loaded bundle, each with a stable address,
unit, range and default. The UI, presets, MIDI, OSC and the render CLI all read and write through it.

Addresses (OSC-style paths, documented in docs/desktop.md):

  /latentsynth/mix/input_gain_db     dB, -24..24          /latentsynth/mix/output_gain_db   dB, -24..24
  /latentsynth/mix/dry_wet           0..1                 /latentsynth/mix/bypass, /limiter  0 or 1
  /latentsynth/mix/gate_db           dB, -90 (off)..-20: the model hears silence while the input is quieter
  /latentsynth/stream/mode           one of the modes     /latentsynth/stream/hop_s          seconds
  /latentsynth/latent/<level>/<axis>/offset   std units along PCA axis <axis> (0 = most variance), -3..3
  /latentsynth/latent/<level>/<axis>/scale    x the input's movement along it, 0..3
  /latentsynth/control/<name>        a control the bundle declares in its manifest (sf: transpose, semitones)

A value out of range, NaN or of the wrong kind raises ``ParamError`` (the caller logs and ignores it: a remote
controller must never crash the app); ``set_normalized`` maps a 0..1 controller (a MIDI CC) onto the range.
Writes swap new frozen objects into the target (``EngineParams``, ``LatentControls``, ``StreamConfig``); the
engine glides gains and dry/wet over 30 ms and the latent path is crossfaded by the overlap-add or smoothed per
frame by the streaming path, so remote moves do not click.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol

from core.bundle import Manifest
from core.cli_values import BOUNDS, in_range
from core.dsp import GATE_OFF_DB
from core.latent import LatentControls

PREFIX = "/latentsynth"
GAIN_RANGE_DB = (-24.0, 24.0)  # the UI's IN GAIN / OUT GAIN knobs
GATE_RANGE_DB = (GATE_OFF_DB, BOUNDS["gate"].hi)  # the UI's GATE knob and render --gate: off at the bottom
OFFSET_RANGE = (BOUNDS["latent"].lo, BOUNDS["latent"].hi)  # the UI's latent offset knobs and render --latent
SCALE_RANGE = (0.0, 3.0)


class ParamError(ValueError):
    """A write the registry refuses: unknown address, a value out of range or of the wrong kind."""


@dataclass(frozen=True)
class Param:
    address: str
    label: str
    unit: str
    minimum: float
    maximum: float
    default: Any
    kind: str = "float"  # float | bool | choice
    choices: tuple[str, ...] = ()

    def coerce(self, value: Any) -> Any:
        """The value this parameter takes for ``value``, or ParamError naming the address and the problem."""
        if self.kind == "choice":
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and float(value).is_integer()
                and 0 <= int(value) < len(self.choices)
            ):
                return self.choices[int(value)]
            if value not in self.choices:
                raise ParamError(f"{self.address}: '{value}' is not one of {', '.join(self.choices)}")
            return value
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ParamError(f"{self.address}: '{value}' is not a number") from None
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ParamError(f"{self.address}: {value!r} is not a finite number")
        if not in_range(value, self.minimum, self.maximum):
            raise ParamError(
                f"{self.address}: {value:g} is out of range ({self.minimum:g}..{self.maximum:g} {self.unit})".rstrip()
            )
        if self.kind == "bool":
            return bool(value >= 0.5)
        return float(min(max(value, self.minimum), self.maximum))

    def from_normalized(self, x: float) -> Any:
        """A 0..1 controller position -> a value of this parameter (choices: evenly spaced)."""
        x = min(max(float(x), 0.0), 1.0)
        if self.kind == "choice":
            return self.choices[min(int(x * len(self.choices)), len(self.choices) - 1)]
        if self.kind == "bool":
            return x >= 0.5
        return self.minimum + x * (self.maximum - self.minimum)

    def to_json(self) -> dict:
        return {
            "address": self.address,
            "label": self.label,
            "unit": self.unit,
            "min": self.minimum,
            "max": self.maximum,
            "default": self.default,
            "kind": self.kind,
            "choices": list(self.choices),
        }


class ParamTarget(Protocol):
    """What the registry writes to: the live engine, or a ``StaticTarget`` for offline use."""

    params: Any
    config: Any

    def set_params(self, params) -> None: ...

    def set_stream_config(self, config) -> None: ...

    controls: LatentControls  # a property on the live engine

    def set_controls(self, controls: LatentControls) -> None: ...


@dataclass
class StaticTarget:
    """A target that only holds the values (the render CLI, tests, presets being edited offline)."""

    params: Any
    config: Any
    controls: LatentControls = field(default_factory=LatentControls)

    def set_params(self, params) -> None:
        self.params = params

    def set_stream_config(self, config) -> None:
        self.config = config

    def set_controls(self, controls: LatentControls) -> None:
        self.controls = controls


MIX_FIELDS = {  # address tail -> (EngineParams field, label, unit, min, max, kind)
    "mix/input_gain_db": ("input_gain_db", "input gain", "dB", *GAIN_RANGE_DB, "float"),
    "mix/output_gain_db": ("output_gain_db", "output gain", "dB", *GAIN_RANGE_DB, "float"),
    "mix/dry_wet": ("dry_wet", "dry/wet", "", 0.0, 1.0, "float"),
    "mix/bypass": ("bypass", "bypass", "", 0.0, 1.0, "bool"),
    "mix/limiter": ("limiter", "limiter", "", 0.0, 1.0, "bool"),
    "mix/gate_db": ("gate_db", "gate", "dB", *GATE_RANGE_DB, "float"),
}


def parse_binding(binding: Any, registry: "ParamRegistry") -> tuple[tuple[int, int], str]:
    """One MIDI learn binding ({channel, control, address}) -> ((channel, control), address); ValueError saying
    what is wrong (the one check for bindings from the settings file and from presets)."""
    if not isinstance(binding, dict):
        raise ValueError(f"{binding!r} is not an object with channel, control and address")
    try:
        address = str(binding["address"])
        registry.param(address)
        channel, control = binding["channel"], binding["control"]
    except KeyError as exc:
        raise ValueError(f"no {exc.args[0]!r}") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (channel, control)):
        raise ValueError(f"channel {channel!r} and control {control!r} must be whole numbers")
    if not (0 <= channel <= 15 and 0 <= control <= 127):
        raise ValueError(f"channel {channel} or controller {control} out of range (0..15, 0..127)")
    return (channel, control), address


class ParamRegistry:
    """Every parameter of one target and one bundle; thread-safe writes (OSC and MIDI call from their threads)."""

    def __init__(
        self,
        target: ParamTarget,
        manifest: Manifest | None = None,
        modes: tuple[str, ...] = (),
        hop_range: tuple[float, float] = (BOUNDS["app.hop"].lo, BOUNDS["app.hop"].hi),
    ):
        self.target = target
        self.manifest = manifest
        self._lock = threading.RLock()
        self._listeners: list[Callable[[str, Any], None]] = []
        self.params: dict[str, Param] = {}
        self._extra: dict[str, Callable[[Any], None]] = {}
        self._extra_values: dict[str, Any] = {}
        self._extra_read: dict[str, Callable[[], Any]] = {}
        defaults = type(target.params)()
        for tail, (fld, label, unit, lo, hi, kind) in MIX_FIELDS.items():
            self._add(Param(f"{PREFIX}/{tail}", label, unit, lo, hi, getattr(defaults, fld), kind))
        if modes:
            self._add(Param(f"{PREFIX}/stream/mode", "mode", "", 0, len(modes) - 1, modes[0], "choice", tuple(modes)))
        self._add(Param(f"{PREFIX}/stream/hop_s", "hop", "s", *hop_range, type(target.config)().hop_s))
        self._declared: dict[str, Any] = {}
        for c in manifest.controls if manifest is not None else ():
            address = f"{PREFIX}/control/{c.name}"
            self._add(Param(address, c.name, c.unit, c.minimum, c.maximum, c.default))
            self._declared[address] = c
        if manifest is not None:
            for level in manifest.levels:
                for axis in range(level.dim):
                    base = f"{PREFIX}/latent/{level.name}/{axis}"
                    self._add(Param(f"{base}/offset", f"{level.name} PC{axis + 1} offset", "std", *OFFSET_RANGE, 0.0))
                    self._add(Param(f"{base}/scale", f"{level.name} PC{axis + 1} scale", "x", *SCALE_RANGE, 1.0))

    def _add(self, p: Param) -> None:
        self.params[p.address] = p

    def add(self, p: Param, apply: Callable[[Any], None], read: Callable[[], Any] | None = None) -> None:
        """Register a parameter the registry does not build itself (a bundle's declared control); ``apply(value)``
        carries an accepted value to wherever it acts; ``read()``, when given, says the value where it acts (the
        app's own widgets may change it too), else the last value written here is the value."""
        self._add(p)
        self._extra[p.address] = apply
        self._extra_values[p.address] = p.default
        if read is not None:
            self._extra_read[p.address] = read

    def add_listener(self, fn: Callable[[str, Any], None]) -> None:
        """``fn(address, value)`` after every accepted write (the UI moves its widget; OSC echoes)."""
        self._listeners.append(fn)

    def param(self, address: str) -> Param:
        p = self.params.get(address)
        if p is None:
            raise ParamError(f"{address}: no such parameter (see {PREFIX}/... in docs/desktop.md)")
        return p

    def get(self, address: str) -> Any:
        p = self.param(address)
        if address in self._extra_read:
            return self._extra_read[address]()
        if address in self._extra:
            return self._extra_values[address]
        if address in self._declared:
            return float(self.target.controls.values.get(self._declared[address].name, p.default))
        tail = address[len(PREFIX) + 1 :]
        if tail in MIX_FIELDS:
            return getattr(self.target.params, MIX_FIELDS[tail][0])
        if tail == "stream/mode":
            return self.target.config.mode
        if tail == "stream/hop_s":
            return self.target.config.hop_s
        level, axis, what = self._latent(tail)
        values = (self.target.controls.offsets if what == "offset" else self.target.controls.scales).get(level)
        return float(values[axis]) if values and axis < len(values) else p.default

    def set(self, address: str, value: Any) -> Any:
        """Write one parameter; returns the value taken. ParamError when refused (nothing changes then)."""
        p = self.param(address)
        v = p.coerce(value)
        tail = address[len(PREFIX) + 1 :]
        with self._lock:
            if address in self._extra:
                self._extra[address](v)
                self._extra_values[address] = v
            elif address in self._declared:
                self.target.set_controls(self.target.controls.with_value(self._declared[address], v))
            elif tail in MIX_FIELDS:
                self.target.set_params(replace(self.target.params, **{MIX_FIELDS[tail][0]: v}))
            elif tail == "stream/mode":
                self.target.set_stream_config(replace(self.target.config, mode=v))
            elif tail == "stream/hop_s":
                self.target.set_stream_config(replace(self.target.config, hop_s=v))
            else:
                level, axis, what = self._latent(tail)
                dim = next(lv.dim for lv in self.manifest.levels if lv.name == level)
                c = self.target.controls
                c = c.with_offset(level, axis, v, dim) if what == "offset" else c.with_scale(level, axis, v, dim)
                self.target.set_controls(c)
        for fn in list(self._listeners):
            fn(address, v)
        return v

    def release(self, address: str) -> None:
        """A declared control stops holding a value ('set' controls stop overriding: the input's own returns)."""
        c = self._declared.get(address)
        if c is None:
            raise ParamError(f"{address}: not a declared control")
        with self._lock:
            self.target.set_controls(self.target.controls.without_value(c.name))
        for fn in list(self._listeners):
            fn(address, None)

    def set_normalized(self, address: str, x: float) -> Any:
        return self.set(address, self.param(address).from_normalized(x))

    def values(self) -> dict[str, Any]:
        return {a: self.get(a) for a in self.params}

    def apply(self, values: dict[str, Any]) -> list[str]:
        """Write many (a preset); returns the refusals as messages instead of stopping at the first."""
        errors = []
        for address, value in values.items():
            try:
                self.set(address, value)
            except ParamError as exc:
                errors.append(str(exc))
        return errors

    @staticmethod
    def _latent(tail: str) -> tuple[str, int, str]:
        parts = tail.split("/")
        return parts[1], int(parts[2]), parts[3]
