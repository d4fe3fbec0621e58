"""The settings file's values (latentsynth.conf, or $LATENTSYNTH_SETTINGS), read through the checks every other
way in uses: the parameter registry's ``Param.coerce`` for the hop, the mode and the note settings (as OSC, MIDI
and presets), the provider's choices as the command line has them, JSON lists for the saved MIDI bindings and
bundles.

A saved value is one that nobody is watching when it goes bad (a hand edit, another version's file): it must never
stop the app from starting. A bad one is reported in one line on stderr (and to ``report``), replaced in the file
by its default, and the default is used.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

from core.cli_values import in_range

from ..control.remote import FOLLOW_PARAM, GLIDE_PARAM
from ..engine.parameters.params import PREFIX, ParamError, ParamRegistry, StaticTarget
from ..engine.parameters.values import HOP_RANGE_S, LIVE_MODES, EngineParams, StreamConfig

_STREAM = ParamRegistry(StaticTarget(EngineParams(), StreamConfig()), None, LIVE_MODES, HOP_RANGE_S)
PROVIDERS = ("auto", "cpu", "cuda")  # the app's --provider choices


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(raw: Any) -> str:
        if raw not in choices:
            raise ValueError(f"not one of {', '.join(choices)}")
        return raw

    return check


def _param(param) -> Callable[[Any], Any]:
    def check(raw: Any) -> Any:
        if param.kind == "choice" and not isinstance(raw, str):  # a saved choice is its name, never an index
            raise ValueError(f"not one of {', '.join(param.choices)}")
        try:
            return param.coerce(raw)
        except ParamError as exc:  # the same check as OSC's; the message names the key instead of the address
            raise ValueError(str(exc).removeprefix(f"{param.address}: ")) from None

    return check


def _json_list(item: type | None = None) -> Callable[[Any], list]:
    def check(raw: Any) -> list:
        if not isinstance(raw, str):  # an unquoted value with commas comes back from QSettings as a list
            raise ValueError("not JSON text (quote the value)")
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(data, list) or (item is not None and not all(isinstance(v, item) for v in data)):
            raise ValueError("not a JSON list" + (f" of {item.__name__}s" if item is str else ""))
        return data

    return check


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ValueError("not true or false")


def _number(lo: float, hi: float, integer: bool = False) -> Callable[[Any], float | int]:
    def check(raw: Any) -> float | int:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError("not a number") from None
        if not in_range(value, lo, hi) or (integer and value != int(value)):
            raise ValueError(f"not {'a whole number' if integer else 'a number'} in {lo:g}..{hi:g}")
        return int(value) if integer else value

    return check


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("not one piece of text (quote a value holding commas)")
    return raw


# settings key -> (default as saved, check: raw saved value -> the value to use, ValueError/TypeError when bad)
CHECKS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "stream/hop": (0.2, _param(_STREAM.param(f"{PREFIX}/stream/hop_s"))),
    "stream/mode": ("streaming", _param(_STREAM.param(f"{PREFIX}/stream/mode"))),
    "model/provider": ("auto", _choice(PROVIDERS)),
    "notes/follow": (FOLLOW_PARAM.default, _param(FOLLOW_PARAM)),
    "notes/glide_s": (GLIDE_PARAM.default, _param(GLIDE_PARAM)),
    "audio/source": ("file", _choice(("file", "microphone"))),
    "midi/bindings": ("[]", _json_list()),
    "model/user_bundles": ("[]", _json_list(str)),
    "model/last_bundle": ("", _text),  # "": the factory default
    "audio/input_device": ("default", _text),
    "audio/output_device": ("default", _text),
    "audio/source_file": ("", _text),
    "record/folder": ("", _text),  # "": ~/LatentSynth
    "session/restore": ("false", _bool),  # start on the last model and file instead of the microphone and default
    "midi/input": ("", _text),
    "generate/temperature": (1.0, _number(0.0, 2.0)),  # the GENERATE panel's knob (generate_panel.TEMPERATURE_KNOB)
    "generate/seed": (0, _number(0, 999_999, integer=True)),
}


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def saved_value(settings, key: str, report: Callable[[str], None] | None = None) -> Any:
    """The checked value of ``key`` (one of ``CHECKS``) in ``settings`` (a QSettings), or its default: when the
    saved one is bad, after one line on stderr (and to ``report``) and with the default written in its place."""
    default, check = CHECKS[key]
    raw = settings.value(key)
    if raw is None:
        return check(default)
    try:
        return check(raw)
    except (TypeError, ValueError) as exc:
        problem = " ".join(str(exc).split())
        section, _, name = key.rpartition("/")
        shown = raw if isinstance(raw, str) else ",".join(map(str, raw)) if isinstance(raw, list) else repr(raw)
        message = (
            f"latentsynth: {settings.fileName()}: [{section}] {name}={shown[:60]}: {problem}; "
            f"replaced by the default ({default})"
        )
        _stderr(message)
        if report is not None:
            report(message)
        settings.setValue(key, default)
        settings.sync()
        return check(default)
