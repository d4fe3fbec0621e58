"""The mix controls: IN GAIN, GATE, OUT GAIN, DRY/WET, Bypass, Limiter and the two peak meters, written to the engine as
one frozen ``EngineParams`` on every move and moved back when something else (a preset, OSC, MIDI) changed them."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import QPushButton

from ..engine.audio.live import LiveEngine
from ..engine.parameters.params import GATE_RANGE_DB, PREFIX
from ..engine.parameters.values import EngineParams, Snapshot
from . import theme
from .knob import Knob, Meter


class MixControls:
    """The widgets (placed by the window in its INPUT and OUTPUT panels) and their link to ``engine.params``."""

    def __init__(self, engine: LiveEngine):
        self.engine = engine
        self.in_gain = Knob("IN GAIN", -24, 24, 0, "{:+.1f} dB", bipolar=True, color=theme.ACCENT2)
        self.in_meter = Meter("IN")
        self.gate = Knob("GATE", *GATE_RANGE_DB, GATE_RANGE_DB[0], _gate_text, color=theme.ACCENT2)
        self.gate.setToolTip(
            "GATE: the model hears silence while the input is quieter than this (room noise would otherwise be played, "
            "an instrument model plays it as breath); all the way down: off"
        )
        self.dry_wet = Knob("DRY/WET", 0, 100, 100, "{:.0f} %")
        self.out_gain = Knob("OUT GAIN", -24, 24, 0, "{:+.1f} dB", bipolar=True)
        self.out_meter = Meter("OUT")
        for knob in (self.in_gain, self.gate, self.dry_wet, self.out_gain):
            knob.valueChanged.connect(lambda _: self.apply())
        self.bypass_btn = QPushButton("Bypass")
        self.bypass_btn.setCheckable(True)
        self.bypass_btn.setToolTip("Dry signal only, delayed by the same latency so the timing does not jump")
        self.bypass_btn.toggled.connect(lambda _: self.apply())
        self.limiter_btn = QPushButton("Limiter -1 dB")
        self.limiter_btn.setCheckable(True)
        self.limiter_btn.setChecked(True)
        self.limiter_btn.toggled.connect(lambda _: self.apply())

    def knob_addresses(self) -> dict[str, Knob]:
        """The mix knobs by registry address (what MIDI learn binds)."""
        return {
            f"{PREFIX}/mix/input_gain_db": self.in_gain,
            f"{PREFIX}/mix/gate_db": self.gate,
            f"{PREFIX}/mix/output_gain_db": self.out_gain,
            f"{PREFIX}/mix/dry_wet": self.dry_wet,
        }

    def apply(self) -> None:
        """The widgets' values into the engine."""
        self.engine.set_params(
            replace(
                self.engine.params,
                input_gain_db=self.in_gain.value(),
                gate_db=self.gate.value(),
                output_gain_db=self.out_gain.value(),
                dry_wet=self.dry_wet.value() / 100,
                bypass=self.bypass_btn.isChecked(),
                limiter=self.limiter_btn.isChecked(),
            )
        )

    def set_params(self, p: EngineParams) -> None:
        """Move the widgets to ``p`` (a preset) and apply them."""
        self.in_gain.setValue(p.input_gain_db)
        self.gate.setValue(p.gate_db)
        self.out_gain.setValue(p.output_gain_db)
        self.dry_wet.setValue(100 * p.dry_wet)
        self.bypass_btn.setChecked(p.bypass)
        self.limiter_btn.setChecked(p.limiter)
        self.apply()

    def sync_from(self, p: EngineParams) -> None:
        """Move the widgets to ``p`` without writing back (the engine already has it)."""
        self.in_gain.setValue(p.input_gain_db, emit=False)
        self.gate.setValue(p.gate_db, emit=False)
        self.out_gain.setValue(p.output_gain_db, emit=False)
        self.dry_wet.setValue(100 * p.dry_wet, emit=False)
        for btn, on in ((self.bypass_btn, p.bypass), (self.limiter_btn, p.limiter)):
            btn.blockSignals(True)
            btn.setChecked(on)
            btn.blockSignals(False)

    def show_levels(self, snap: Snapshot) -> None:
        self.in_meter.setPeak(snap.in_peak)
        self.out_meter.setPeak(snap.out_peak)


def _gate_text(db: float) -> str:
    return "off" if db <= GATE_RANGE_DB[0] else f"{db:.0f} dB"
