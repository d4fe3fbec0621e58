"""The GENERATE panel (issue 27): play the bundle's learned prior live instead of the input (G), its temperature on a
knob, a seed, and "Continue from what I just played" (C), which primes the prior with the last seconds of the
input the engine encoded. The latent knobs keep acting on what it plays. Bundles without a prior (or that cannot
stream) show the controls disabled, the tooltip saying why. Temperature and seed are saved in the settings."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout

from core.bundle import Bundle

from ..control.remote import GENERATE_TEMPERATURE
from ..engine.audio.live import LiveEngine, Snapshot
from ..engine.model.generate import PRIME_S, SEED_MAX, TEMPERATURE_KNOB, GenerateSettings, generate_unavailable
from . import theme
from .knob import Knob
from .panel import Panel
from .saved_values import saved_value

TOGGLE_TIP = (
    "Generate (G): play this model's learned prior, a causal model of its corpus's latents, instead of your input; "
    "block by block, a new frame every {ms:.0f} ms. The latent knobs act on what it plays. It plays in the streaming "
    "mode (switching it on selects that mode)."
)
TEMPERATURE_TIP = (
    "Temperature: 0 = the most likely frame every time (calm, settles), 1 = as the prior was trained, more = wilder "
    "and less like the corpus. Double-click: back to 1."
)
SEED_TIP = "A new seed starts a new generation; the same seed and temperature play the same one"
CONTINUE_TIP = (
    "Continue from what I just played (C): prime the prior with the last {s:.0f} s of the input the engine heard, "
    "and let it carry on from there (switches Generate on)."
)


class GeneratePanel(Panel):
    """``say(text, kind)`` is the window's message line; ``use_streaming()`` selects the streaming mode."""

    def __init__(self, engine: LiveEngine, say: Callable[[str, str], None], use_streaming: Callable[[], None]):
        super().__init__("GENERATE  ·  the model's learned prior plays instead of the input")
        self.engine, self.say, self.use_streaming = engine, say, use_streaming
        self.toggle = QPushButton("Generate")
        self.toggle.setObjectName("generate")
        self.toggle.setCheckable(True)
        self.toggle.toggled.connect(self._on_toggle)
        self.temperature = Knob("TEMPERATURE", *TEMPERATURE_KNOB, 1.0, "{:.2f}", size=64)
        self.temperature.valueChanged.connect(lambda _: self.apply())
        self.seed = QSpinBox()
        self.seed.setRange(0, SEED_MAX)
        self.seed.setPrefix("Seed ")
        self.seed.valueChanged.connect(lambda _: self.apply())
        self.continue_btn = QPushButton("Continue from\nwhat I just played")
        self.continue_btn.setObjectName("continue")
        self.continue_btn.clicked.connect(self.continue_input)
        self.state = QLabel("")
        self.state.setObjectName("facts")
        self.state.setWordWrap(True)
        self.toggle.setMinimumWidth(110)
        left = QVBoxLayout()
        left.addWidget(self.toggle)
        left.addWidget(self.seed)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self.continue_btn)
        right.addWidget(self.state)
        right.addStretch(1)
        row = QHBoxLayout()  # one low row under the CONTROLS panel: the window grows neither wider nor taller
        row.addLayout(left)
        row.addWidget(self.temperature)
        row.addLayout(right)
        row.addStretch(1)
        self.body.addLayout(row)
        self.problem = "no model loaded"
        self._enable(False)

    @property
    def generator(self):
        return self.engine.generator

    def settings_value(self) -> GenerateSettings:
        return GenerateSettings(self.toggle.isChecked(), round(self.temperature.value(), 4), self.seed.value())

    # ---- a model was loaded ------------------------------------------------------------------------------------
    def bind(self, bundle: Bundle) -> None:
        """The new bundle's generator gets the panel's settings; without one the controls say why they are off."""
        gen = self.generator
        self.problem = generate_unavailable(bundle.manifest) or (
            "" if gen is not None else "the prior cannot be played"
        )
        if gen is None:
            self.toggle.blockSignals(True)
            self.toggle.setChecked(False)
            self.toggle.blockSignals(False)
        m = bundle.manifest
        self._enable(gen is not None, 1000 * m.levels[0].hop / m.sample_rate)
        self.apply()

    def _enable(self, on: bool, hop_ms: float = 0.0) -> None:
        """Enable the controls with their tooltips, or disable them with one saying why."""
        why = f"Generate is off for this model: {self.problem}"
        tips = (TOGGLE_TIP.format(ms=hop_ms), TEMPERATURE_TIP, SEED_TIP, CONTINUE_TIP.format(s=PRIME_S))
        for w, tip in zip((self.toggle, self.temperature, self.seed, self.continue_btn), tips):
            w.setEnabled(on)
            w.setToolTip(tip if on else why)

    # ---- the controls ------------------------------------------------------------------------------------------
    def apply(self) -> None:
        gen = self.generator
        if gen is not None:
            gen.set_settings(self.settings_value())

    def _on_toggle(self, on: bool) -> None:
        if on:
            self.use_streaming()
        self.apply()

    def switch(self) -> None:
        """G: Generate on / off (nothing for a bundle without a prior but the message why)."""
        if not self.toggle.isEnabled():
            self.say(f"Generate is off for this model: {self.problem}", "warn")
            return
        self.toggle.click()

    def continue_input(self) -> bool:
        """Prime with what the engine heard last and switch Generate on; False (and a message) when it heard nothing."""
        gen = self.generator
        if gen is None:
            self.say(f"Generate is off for this model: {self.problem}", "warn")
            return False
        if not self.engine.running:
            self.say("Continue needs the audio on: it continues what the engine heard last (Space starts it)", "warn")
            return False
        self.use_streaming()
        if not gen.ask_continue():
            self.say("Nothing heard yet to continue: play a few seconds, then Continue", "warn")
            return False
        self.toggle.blockSignals(True)
        self.toggle.setChecked(True)
        self.toggle.blockSignals(False)
        self.apply()  # on, with the panel's temperature and seed (the request stands)
        self.say(f"Continuing the last {gen.heard_s:.1f} s of the input", "info")
        return True

    def show_state(self, snap: Snapshot) -> None:
        """The GUI timer: one line saying what Generate is doing."""
        gen = self.generator
        text = ""
        if gen is not None and gen.settings.on and snap.running:
            if snap.mode != "streaming":
                text = "plays in the streaming mode only"
            elif gen.starting:
                text = "starting…" if not gen.playing else "playing · priming…"
            elif gen.playing:
                text = f"playing · T {gen.settings.temperature:.2f}"
        if text != self.state.text():
            self.state.setText(text)
            self.state.setStyleSheet(f"color: {theme.ACCENT};" if text.startswith("playing") else "")

    def knob_addresses(self) -> dict[str, Knob]:
        """The temperature knob by its registry address (MIDI learn binds it, OSC moves it)."""
        return {GENERATE_TEMPERATURE: self.temperature}

    def sync_from(self, gen) -> None:
        """The controls follow what OSC or MIDI wrote into the generator (the GUI timer), without writing back."""
        if gen is None:
            return
        s = gen.settings
        for w, setter, v in (
            (self.toggle, self.toggle.setChecked, s.on),
            (self.temperature, self.temperature.setValue, s.temperature),
            (self.seed, self.seed.setValue, s.seed),
        ):
            w.blockSignals(True)
            setter(v)
            w.blockSignals(False)

    # ---- settings ----------------------------------------------------------------------------------------------
    def restore(self, settings, report: Callable[[str], None] | None = None) -> None:
        self.temperature.setValue(saved_value(settings, "generate/temperature", report))
        self.seed.setValue(saved_value(settings, "generate/seed", report))

    def save(self, settings) -> None:
        settings.setValue("generate/temperature", round(self.temperature.value(), 4))
        settings.setValue("generate/seed", self.seed.value())
