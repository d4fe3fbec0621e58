"""MIDI in the window: the input port list, MIDI-learn menus on the knobs, the notes' follow switch (input or
keyboard) and glide time, and the hand-over of what OSC and MIDI wrote to the GUI timer."""

from __future__ import annotations

import threading
from typing import Callable

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QMenu, QWidget

from ..control.midi import DEFAULT_GLIDE_S, FOLLOW, GLIDE_RANGE_S
from ..control.remote import FOLLOW_ADDRESS, GLIDE_ADDRESS
from ..engine.audio.live import LiveEngine
from ..engine.parameters.params import PREFIX
from .knob import Knob
from .saved_values import saved_value


class MidiControls:
    """The widgets (placed by the window) and the link to the app's ``RemoteControl`` (``attach``). Follow and glide
    work before any remote is attached: glide is the engine's (``LatentControls.glide_s``, read by the streaming
    path), follow is handed to the MIDI map when one is attached."""

    def __init__(
        self,
        engine: LiveEngine,
        settings: QSettings,
        show_message: Callable[..., None],
        messages: list[str],
        parent: QWidget,
    ):
        self.engine, self.settings, self.show_message = engine, settings, show_message
        self.messages, self.parent = messages, parent
        self.remote = None  # desktop.control.remote.RemoteControl
        self._port_names: list[str] | None = None  # handed over by the thread that lists the ports
        self.midi_combo = QComboBox()
        self.midi_combo.setMaximumWidth(170)
        self.midi_combo.setToolTip("MIDI controllers and keyboards; right-click a knob for MIDI learn")
        self.midi_combo.activated.connect(lambda _: self.on_midi_chosen())
        self.follow_combo = QComboBox()
        for mode in FOLLOW:
            self.follow_combo.addItem(mode, mode)
        self.follow_combo.setToolTip(
            "Held notes on a pitch bundle (sf, e.g. voice):\nfollow input: transpose the input by the note's distance from "
            "middle C\nfollow keyboard: the note IS the output's pitch (a harmoniser; needs a 'pitch' control)"
        )
        self.follow_combo.activated.connect(lambda _: self.set_follow(self.follow_combo.currentData()))
        self.glide_spin = QDoubleSpinBox()
        self.glide_spin.setRange(GLIDE_RANGE_S[0] * 1000, GLIDE_RANGE_S[1] * 1000)
        self.glide_spin.setDecimals(0)
        self.glide_spin.setSingleStep(10)
        self.glide_spin.setSuffix(" ms")
        self.glide_spin.setValue(DEFAULT_GLIDE_S * 1000)
        self.glide_spin.setFixedWidth(72)
        self.glide_spin.setToolTip("Glide: how long the pitch takes to reach a new note (streaming mode)")
        self.glide_spin.valueChanged.connect(lambda _: self.apply_glide())

    # ---- follow and glide ---------------------------------------------------------------------------------
    @property
    def follow(self) -> str:
        return self.follow_combo.currentData()

    def set_follow(self, mode: str) -> None:
        """'input' or 'keyboard': the switch and, through the registry, the MIDI map's ``follow`` (what
        ``--midi-follow`` sets)."""
        if mode not in FOLLOW:
            raise ValueError(f"follow must be one of {', '.join(FOLLOW)}, not {mode!r}")
        self.follow_combo.setCurrentIndex(self.follow_combo.findData(mode))
        if self.remote is not None:
            self.remote.registry.set(FOLLOW_ADDRESS, mode)

    @property
    def glide_s(self) -> float:
        return self.glide_spin.value() / 1000

    def set_glide_s(self, seconds: float) -> None:
        self.glide_spin.setValue(seconds * 1000)  # valueChanged applies it
        self.apply_glide()

    def apply_glide(self) -> None:
        """The widget's glide into the engine's controls (a new frozen object, like every knob move); through the
        registry when one is attached, so OSC reads what the window set."""
        if self.remote is not None:
            self.remote.registry.set(GLIDE_ADDRESS, self.glide_s)
        elif self.engine.controls.glide_s != self.glide_s:
            self.engine.set_controls(self.engine.controls.with_glide(self.glide_s))

    def sync_from_remote(self) -> None:
        """Move the switch and the glide to what OSC or MIDI wrote, without writing back."""
        if self.remote is None:
            return
        glide = self.engine.controls.glide_s
        for w, setter, v in (
            (self.follow_combo, self.follow_combo.setCurrentIndex, self.follow_combo.findData(self.remote.midi.follow)),
            (self.glide_spin, self.glide_spin.setValue, self.glide_spin.value() if glide is None else glide * 1000),
        ):
            w.blockSignals(True)
            setter(v)
            w.blockSignals(False)

    # ---- the remote control and its port ------------------------------------------------------------------
    def attach(self, remote, knobs: dict[str, Knob]) -> None:
        """Take OSC and MIDI writes from ``remote``; MIDI bindings from the settings; the port list in a thread."""
        self.remote = remote
        remote.registry.set(FOLLOW_ADDRESS, self.follow)  # the window's switch and glide win over the defaults
        remote.registry.set(GLIDE_ADDRESS, self.glide_s)
        for e in remote.midi.load_json(saved_value(self.settings, "midi/bindings", self.messages.append)):
            self.messages.append(e)
        self.add_midi_menus(knobs)
        self.fill_midi_ports([])  # 'none' and the open port now; the system's list is read off the GUI thread

        def list_ports() -> None:
            from ..control.midi import input_names

            self._port_names = input_names()

        threading.Thread(target=list_ports, name="midi-ports", daemon=True).start()

    def fill_midi_ports(self, names: list[str] | None = None) -> None:
        """The MIDI input list: 'none', the ports there are, and the open one even if it has gone."""
        from ..control.midi import input_names

        names = input_names() if names is None else names
        current = self.remote.midi_in.name if self.remote is not None and self.remote.midi_in else ""
        self.midi_combo.clear()
        self.midi_combo.addItem("none", "")
        for n in names + ([current] if current and current not in names else []):
            self.midi_combo.addItem(n, n)
        self.midi_combo.setCurrentIndex(max(0, self.midi_combo.findData(current)))

    def on_midi_chosen(self) -> None:
        name = self.midi_combo.currentData() or ""
        if self.remote is None:
            return
        try:
            if name:
                self.remote.open_midi(name)
            else:
                self.remote.close_midi()
            self.settings.setValue("midi/input", name)
        except OSError as exc:
            self.show_message(str(exc), modal=False)
            self.fill_midi_ports()

    def changes_arrived(self) -> bool:
        """On the GUI timer: take the port list from its thread; True when OSC or MIDI wrote something since the
        last call (the window then moves its widgets; never from those threads)."""
        if self._port_names is not None:
            names, self._port_names = self._port_names, None
            self.fill_midi_ports(names)
        return self.remote is not None and bool(self.remote.changes())

    # ---- MIDI learn ---------------------------------------------------------------------------------------
    def add_midi_menus(self, knobs: dict[str, Knob]) -> None:
        """A right-click menu (learn, forget) on each knob in ``knobs`` (address -> knob) that has none yet."""
        if self.remote is None:
            return
        for address, knob in knobs.items():
            if knob.property("midi_menu"):  # mix knobs outlive model swaps: one menu each
                continue
            knob.setProperty("midi_menu", True)
            knob.setContextMenuPolicy(Qt.CustomContextMenu)
            knob.customContextMenuRequested.connect(lambda pos, a=address, k=knob: self._midi_menu(a, k, pos))

    def _midi_menu(self, address: str, knob: Knob, pos) -> None:
        menu = QMenu(self.parent)
        learn = menu.addAction("MIDI learn (move a controller)")
        bound = [f"CC {c} ch {ch + 1}" for (ch, c), a in self.remote.midi.bindings.items() if a == address]
        forget = menu.addAction("Forget MIDI " + (", ".join(bound) if bound else "mapping"))
        forget.setEnabled(bool(bound))
        chosen = menu.exec(knob.mapToGlobal(pos))
        if chosen is learn:
            self.midi_learn(address)
        elif chosen is forget:
            self.remote.midi.forget(address)

    def midi_learn(self, address: str) -> None:
        self.remote.midi.learn(address)
        self.show_message(f"MIDI learn: move a controller for {address.removeprefix(PREFIX + '/')}", modal=False)
