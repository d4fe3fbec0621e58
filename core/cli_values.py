"""Command-line values, checked in one place: every number a LatentSynth command accepts has its bounds here.

A value outside its bounds, NaN, infinity or not a number at all is refused by the argument parser with one
line (``prog: error: argument --hop: ...``) and exit code 2, before any work, never a traceback and never
clipped noise. ``OneLineParser`` drops argparse's usage block so every error is exactly one line.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Bound:
    lo: float
    hi: float
    lo_open: bool = False  # True: the value must be > lo

    def text(self) -> str:
        return f"{'>' if self.lo_open else '>='} {self.lo:g} and <= {self.hi:g}"


# name -> bounds; the engine's parameter registry (OSC, MIDI, presets, the settings file, the GUI's knobs) takes
# its ranges for the same values from here (``params.OFFSET_RANGE``, ``values.HOP_RANGE_S``)
BOUNDS = {
    "render.hop": Bound(0.01, 1.0),  # seconds; the window is 1 s and the hop cannot exceed it
    "latent": Bound(-3.0, 3.0),  # standard deviations along a PCA axis: the GUI knob's range
    "amount": Bound(0.0, 1.0),
    "generate": Bound(0.0, 3600.0, lo_open=True),  # seconds
    "temperature": Bound(0.0, 5.0),
    "smooth": Bound(0.0, 10.0),  # seconds
    "seed": Bound(0, 2**32 - 1),
    "threads": Bound(1, 256),
    "app.hop": Bound(0.05, 0.5),  # seconds; the live engine's HOP_RANGE_S
    "gate": Bound(-90.0, -20.0),  # dBFS; the app's GATE knob (core.dsp.GATE_OFF_DB at the bottom: off)
    "osc_port": Bound(0, 65535),  # 0: any free port
    "quit_after": Bound(0.0, 7 * 24 * 3600.0, lo_open=True),
    "stat_chunks": Bound(1, 1_000_000),
    "steps": Bound(1, 1_000_000_000),
}


def _number(text: str, integer: bool) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not {'an integer' if integer else 'a number'}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def in_range(value: float, lo: float, hi: float, lo_open: bool = False) -> bool:
    """The one range check of every value that comes in (command line, OSC, MIDI, presets, the settings file:
    ``check_bound`` here, ``params.Param.coerce`` for the rest): finite and within [lo, hi] (``lo_open``: > lo),
    with a 1e-9 tolerance for a value written out and read back."""
    if not math.isfinite(value):
        return False
    return (value > lo if lo_open else value >= lo - 1e-9) and value <= hi + 1e-9


def check_bound(name: str, value: float) -> float:
    """``value`` when it lies within ``BOUNDS[name]``, else ValueError saying the range."""
    b = BOUNDS[name]
    if not math.isfinite(value):
        raise ValueError(f"'{value}' is not a finite number")
    if not in_range(value, b.lo, b.hi, b.lo_open):
        raise ValueError(f"{value:g} is out of range (must be {b.text()})")
    return value


def bounded(name: str, integer: bool = False):
    """An argparse ``type=`` for the value ``name`` of ``BOUNDS``."""

    def parse(text: str):
        value = _number(text, integer)
        try:
            check_bound(name, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def parse_latent_spec(spec: str) -> tuple[str, int, float]:
    """'AXIS=VALUE' or 'LEVEL:AXIS=VALUE' -> (level or '', axis, value), VALUE within ``BOUNDS['latent']``."""
    try:
        key, value = spec.split("=", 1)
        level, _, axis = key.rpartition(":")
        axis_i = int(axis)
    except ValueError:
        raise ValueError(f"--latent '{spec}' is not AXIS=VALUE (e.g. 0=1.5)") from None
    try:
        value_f = _number(value.strip(), integer=False)
        check_bound("latent", value_f)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise ValueError(f"--latent '{spec}': {exc}; VALUE is in standard deviations") from None
    return level, axis_i, value_f


class OneLineParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``prog: error: message`` on stderr, exit code 2."""

    def error(self, message: str):  # noqa: D401 (argparse's name)
        self.exit(2, f"{self.prog}: error: {message}\n")

    def exit(self, status: int = 0, message: str | None = None):
        if message:
            sys.stderr.write(message if status == 0 else " ".join(message.split()) + "\n")
        sys.exit(status)
