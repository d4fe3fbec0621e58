"""MIDI control: controller mappings with MIDI learn, pitch bend and notes, and an input port (mido + rtmidi).

``MidiMap`` is the message path: it takes ``mido.Message`` objects from any source (a real or virtual port, or
a test) and writes the registry. MIDI learn: ``learn(address)`` arms a parameter and the next control change
binds its (channel, controller) to it; values 0..127 map onto the parameter's range. Mappings round-trip through
``to_json``/``from_json`` (presets and settings store them). Pitch bend and notes drive the bundle's declared
``transpose`` control when it has one (``/latentsynth/control/transpose``): bend over +-``bend_range`` semitones.
``follow='input'``: a held note transposes by its distance from ``reference_note`` (middle C by default), with the
bend added, and releasing the last note returns to the bend alone. ``follow='keyboard'`` (bundles that declare a
``pitch`` control, a 'set' on the pitch latent): a held note IS the output's pitch (the input keeps timbre and
loudness), the bend added; releasing every note hands the pitch back to the input. Anything else, or a message out of range, is counted and
ignored; a port that disappears is reported through ``log`` and never raises.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from ..engine.parameters.params import PREFIX, ParamError, ParamRegistry, parse_binding

ALSA_SEQUENCER = "/dev/snd/seq"  # what rtmidi's ALSA backend (Linux's default) opens
TRANSPOSE = f"{PREFIX}/control/transpose"
PITCH = f"{PREFIX}/control/pitch"
FOLLOW = ("input", "keyboard")
GLIDE_RANGE_S = (0.0, 2.0)  # how long a held note's pitch takes to reach the next note (the streaming path's glide)
DEFAULT_GLIDE_S = 0.046  # 4 latent frames at 256 samples and 22.05 kHz: the streaming path's knob smoothing


@dataclass
class MidiMap:
    registry: ParamRegistry
    bend_range: float = 2.0
    reference_note: int = 60
    follow: str = "input"  # or "keyboard": notes set the pitch (bundles with a 'pitch' control)
    log: Callable[[str], None] = field(default=lambda msg: None)
    bindings: dict[tuple[int, int], str] = field(default_factory=dict)  # (channel, control) -> address

    def __post_init__(self):
        self._armed: str | None = None
        self._held: list[int] = []
        self._bend = 0.0
        self.ignored = 0
        self._lock = threading.Lock()

    def learn(self, address: str) -> None:
        """Bind the next control change that arrives to ``address`` (an existing parameter)."""
        self.registry.param(address)
        self._armed = address

    @property
    def learning(self) -> str | None:
        return self._armed

    def forget(self, address: str) -> None:
        self.bindings = {k: v for k, v in self.bindings.items() if v != address}

    def handle(self, msg: Any) -> None:
        try:
            with self._lock:
                self._handle(msg)
        except (ParamError, AttributeError, TypeError, ValueError) as exc:
            self.ignored += 1
            self.log(f"MIDI: ignored {msg} ({exc})")

    def _handle(self, msg) -> None:
        kind = msg.type
        if kind == "control_change":
            key = (int(msg.channel), int(msg.control))
            if not 0 <= msg.value <= 127:
                raise ValueError(f"controller value {msg.value} outside 0..127")
            if self._armed is not None:
                self.forget(self._armed)
                self.bindings[key] = self._armed
                self.log(f"MIDI: CC {key[1]} on channel {key[0] + 1} -> {self._armed}")
                self._armed = None
            address = self.bindings.get(key)
            if address is None:
                self.ignored += 1
                return
            self.registry.set_normalized(address, msg.value / 127.0)
        elif kind == "pitchwheel":
            if not -8192 <= msg.pitch <= 8191:
                raise ValueError(f"pitch bend {msg.pitch} outside -8192..8191")
            self._bend = self.bend_range * msg.pitch / 8192.0
            self._transpose()
        elif kind == "note_on" and msg.velocity > 0:
            self._held.append(int(msg.note))
            self._transpose()
        elif kind in ("note_off", "note_on"):
            if int(msg.note) in self._held:
                self._held.remove(int(msg.note))
            self._transpose()
        else:
            self.ignored += 1

    def _transpose(self) -> None:
        if self.follow == "keyboard" and PITCH in self.registry.params:
            if self._held:
                p = self.registry.params[PITCH]
                self.registry.set(PITCH, min(max(float(self._held[-1]), p.minimum), p.maximum))
            else:
                self.registry.release(PITCH)
            semis = self._bend
        else:
            semis = (self._held[-1] - self.reference_note if self._held else 0.0) + self._bend
        if TRANSPOSE not in self.registry.params:
            self.ignored += 1
            return
        p = self.registry.params[TRANSPOSE]
        self.registry.set(TRANSPOSE, min(max(semis, p.minimum), p.maximum))

    def to_json(self) -> list[dict]:
        return [{"channel": c, "control": n, "address": a} for (c, n), a in sorted(self.bindings.items())]

    def load_json(self, data: Any) -> list[str]:
        """Replace the bindings with ``data`` (a list of {channel, control, address}); returns refusals."""
        errors, bindings = [], {}
        if not isinstance(data, list):
            errors.append(f"MIDI mappings: {data!r} is not a list of bindings")
        for i, b in enumerate(data if isinstance(data, list) else []):
            try:
                key, address = parse_binding(b, self.registry)
                bindings[key] = address
            except ValueError as exc:  # ParamError is one
                errors.append(f"MIDI mapping {i}: {exc}")
        self.bindings = bindings
        return errors


def missing_midi_system(api: str | None = None) -> str | None:
    """Why rtmidi cannot work here, found without asking it, or None. On Linux without an ALSA sequencer, every
    rtmidi call printed 'ALSA lib seq_hw.c:...: open /dev/snd/seq failed' from C onto stderr: at every app launch
    (the port list), where nobody had asked for MIDI."""
    if sys.platform.startswith("linux") and api in (None, "LINUX_ALSA") and not os.path.exists(ALSA_SEQUENCER):
        return f"no ALSA sequencer here: {ALSA_SEQUENCER} is missing (the snd-seq kernel module is not loaded)"
    return None


def input_names(api: str | None = None) -> list[str]:
    """The MIDI input ports there are (empty when the platform has no MIDI system, e.g. no ALSA sequencer)."""
    if missing_midi_system(api):
        return []
    try:
        import mido

        return list(mido.Backend("mido.backends.rtmidi", api=api).get_input_names() if api else mido.get_input_names())
    except Exception:  # rtmidi raises its own SystemError subclasses when the MIDI system is missing
        return []


class MidiInput:
    """One open input port feeding a ``MidiMap`` from rtmidi's thread; ``close`` is safe to call twice."""

    def __init__(self, name: str, midi_map: MidiMap, api: str | None = None, virtual: bool = False):
        import mido

        backend = mido.Backend("mido.backends.rtmidi", api=api) if api else mido
        missing = missing_midi_system(api)
        if missing:
            raise OSError(f"MIDI input '{name}': cannot open it: {missing}")
        try:
            self.port = backend.open_input(name, virtual=virtual, callback=midi_map.handle)
        except Exception as exc:
            raise OSError(f"MIDI input '{name}': cannot open it ({exc})") from None
        self.name = name

    def close(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            try:
                port.close()
            except Exception:
                pass
