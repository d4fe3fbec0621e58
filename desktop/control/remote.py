"""The app's remote control: one registry for the loaded bundle, an OSC server and sender, a MIDI input and its
learn map, rebuilt around a new bundle without losing the MIDI bindings that still apply.

Qt-free: the app passes ``log`` (its status line) and drains ``changes()`` from its GUI timer to move widgets,
so nothing here touches a widget from the OSC or MIDI thread.
"""

from __future__ import annotations

import collections
import socket
import threading
from dataclasses import replace
from typing import Any, Callable

from ..engine.model.generate import SEED_MAX, TEMPERATURE_KNOB, generate_unavailable
from ..engine.parameters.params import PREFIX, Param, ParamError, ParamRegistry
from .midi import DEFAULT_GLIDE_S, FOLLOW, GLIDE_RANGE_S, MidiInput, MidiMap, input_names
from .osc import OscSender, OscServer

MIDI_WATCH_S = 2.0  # how often an open MIDI input is looked for in the port list (an unplugged one is closed)
FOLLOW_ADDRESS = f"{PREFIX}/notes/follow"  # held notes transpose the input or set the pitch (MidiMap.follow)
GLIDE_ADDRESS = f"{PREFIX}/notes/glide_s"  # seconds the pitch takes to reach a new note (LatentControls.glide_s)
FOLLOW_PARAM = Param(FOLLOW_ADDRESS, "notes follow", "", 0, len(FOLLOW) - 1, FOLLOW[0], "choice", FOLLOW)
GLIDE_PARAM = Param(GLIDE_ADDRESS, "glide", "s", *GLIDE_RANGE_S, DEFAULT_GLIDE_S)
GENERATE_ON = f"{PREFIX}/generate/on"  # Generate mode (docs/prior.md): the prior plays instead of the input
GENERATE_TEMPERATURE = f"{PREFIX}/generate/temperature"
GENERATE_SEED = f"{PREFIX}/generate/seed"
GENERATE_PARAMS = {  # address -> (GenerateSettings field, its parameter)
    GENERATE_ON: ("on", Param(GENERATE_ON, "generate", "", 0.0, 1.0, False, "bool")),
    GENERATE_TEMPERATURE: ("temperature", Param(GENERATE_TEMPERATURE, "temperature", "", *TEMPERATURE_KNOB, 1.0)),
    GENERATE_SEED: ("seed", Param(GENERATE_SEED, "seed", "", 0.0, float(SEED_MAX), 0)),
}


def parse_host_port(text: str) -> tuple[str, int]:
    """'HOST:PORT' or 'PORT' (localhost) -> (host, port); ValueError with the reason."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"'{text}': expected HOST:PORT or PORT") from None
    if not 1 <= number <= 65535:
        raise ValueError(f"'{text}': port must be 1..65535")
    host = host or "127.0.0.1"
    try:  # checked now, so the option is named, not a socket error later
        socket.getaddrinfo(host, number, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ValueError(f"'{text}': cannot resolve the host '{host}' ({reason})") from None
    return host, number


class RemoteControl:
    def __init__(
        self,
        engine,
        modes: tuple[str, ...],
        hop_range: tuple[float, float],
        log: Callable[[str], None] = lambda msg: None,
    ):
        self.engine = engine
        self.modes, self.hop_range = modes, hop_range
        self.log = log
        self.registry = ParamRegistry(engine, None, modes, hop_range)
        self.midi = MidiMap(self.registry, log=log)
        self._add_note_params(self.registry)
        self.osc: OscServer | None = None
        self.sender: OscSender | None = None
        self.midi_in: MidiInput | None = None
        self._midi_watch: threading.Event | None = None
        self._changes: collections.deque[tuple[str, Any]] = collections.deque(maxlen=4096)
        self._lock = threading.Lock()
        self.registry.add_listener(self._changed)

    def _add_note_params(self, reg: ParamRegistry) -> None:
        """How held notes play, as addresses like every knob: the follow switch and the glide, holding their
        current values."""
        reg.add(FOLLOW_PARAM, lambda v: setattr(self.midi, "follow", v))
        reg.add(GLIDE_PARAM, lambda v: self.engine.set_controls(self.engine.controls.with_glide(v)))
        glide = self.engine.controls.glide_s
        reg.set(FOLLOW_ADDRESS, self.midi.follow)
        reg.set(GLIDE_ADDRESS, DEFAULT_GLIDE_S if glide is None else min(max(glide, 0.0), GLIDE_RANGE_S[1]))

    def _add_generate_params(self, reg: ParamRegistry, manifest) -> None:
        """Generate mode's switch, temperature and seed, for a bundle that can generate. The generator's settings
        are the one copy of the values (the panel writes them too), so the registry reads them from there."""
        if manifest is None or generate_unavailable(manifest) is not None:
            return
        for address, (name, param) in GENERATE_PARAMS.items():
            reg.add(param, lambda v, a=address: self._set_generate(a, v), lambda n=name, p=param: self._generate(n, p))

    def _generate(self, name: str, param: Param) -> Any:
        gen = getattr(self.engine, "generator", None)
        return param.default if gen is None else getattr(gen.settings, name)

    def _set_generate(self, address: str, value: Any) -> None:
        gen = getattr(self.engine, "generator", None)
        if gen is None:
            raise ParamError(f"{address}: this model's prior cannot be played")
        name = GENERATE_PARAMS[address][0]
        value = int(round(value)) if name == "seed" else value
        if name == "on" and value and self.engine.config.mode != "streaming":
            self.engine.set_stream_config(replace(self.engine.config, mode="streaming"))  # Generate plays there only
        gen.set_settings(replace(gen.settings, **{name: value}))

    def _changed(self, address: str, value: Any) -> None:
        self._changes.append((address, value))

    def changes(self) -> list[tuple[str, Any]]:
        """Writes accepted since the last call (from any source), oldest first; the GUI timer drains this."""
        out = []
        while self._changes:
            out.append(self._changes.popleft())
        return out

    def bind_model(self, manifest) -> None:
        """A new bundle: a new registry for its knobs and declared controls; MIDI bindings to addresses the new
        bundle still has are kept."""
        with self._lock:
            reg = ParamRegistry(self.engine, manifest, self.modes, self.hop_range)
            self._add_note_params(reg)
            self._add_generate_params(reg, manifest)
            reg.add_listener(self._changed)
            kept = self.midi.to_json()
            self.registry = reg
            self.midi.registry = reg
            self.midi.load_json([b for b in kept if b["address"] in reg.params])
            if self.osc is not None:
                self.osc.registry = reg

    def start_osc(self, port: int, host: str = "127.0.0.1") -> int:
        self.osc = OscServer(self.registry, host, port, log=self.log).start()
        return self.osc.port

    def start_osc_out(self, host: str, port: int, rate_hz: float = 30.0) -> None:
        self.sender = OscSender(self.engine.snapshot, host, port, rate_hz).start()

    def open_midi(self, name: str, watch_s: float = MIDI_WATCH_S) -> None:
        """Open the input port ``name`` and, every ``watch_s`` seconds from a thread, check it is still there."""
        self.close_midi()
        self.midi_in = MidiInput(name, self.midi)
        stop = self._midi_watch = threading.Event()

        def watch():
            while not stop.wait(watch_s) and self.check_midi():
                pass

        threading.Thread(target=watch, name="latentsynth-midi-watch", daemon=True).start()

    def check_midi(self, names_of: Callable[[], list[str]] = input_names) -> bool:
        """True while the open MIDI input (if any) is still listed. A port that went away (unplugged, its program
        quit) is closed and reported in one line through ``log``; nothing raises."""
        port = self.midi_in
        if port is None:
            return True
        try:
            names = names_of()
        except Exception:  # the MIDI system itself is gone: judge again next time
            return True
        if port.name in names:
            return True
        self.close_midi()
        self.log(f"MIDI input '{port.name}' went away (unplugged?); closed it: choose it again when it is back")
        return False

    def close_midi(self) -> None:
        if self._midi_watch is not None:
            self._midi_watch.set()
            self._midi_watch = None
        if self.midi_in is not None:
            self.midi_in.close()
            self.midi_in = None

    def close(self) -> None:
        self.close_midi()
        if self.sender is not None:
            self.sender.stop()
            self.sender = None
        if self.osc is not None:
            self.osc.stop()
            self.osc = None
