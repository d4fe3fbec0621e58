"""'Fit to model' (issue 25): for a bundle trained on one instrument's range (``extra.trained_range``) that declares a
``transpose`` control, move the player into that range: whole octaves from the median of the input's voiced pitch
over the pitch view's history (the last 5 s), and, when the bundle declares ``loudness`` and the range records
``loudness_db``, the level offset from the median loudness of the voiced readings (``engine.model.octave``'s functions,
the ones ``latentsynth-render --octave auto`` uses). The new values go in through the knobs' own path (one undo
step; presets, MIDI and OSC read the engine's controls), and the message line says what moved."""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtWidgets import QPushButton

from core.bundle import Control, Manifest
from core.latent import LatentControls
from core.pitch_track import History

from ..engine.model.octave import loudness_offset, octave_shift, voiced_median_hz

MIN_VOICED = 10  # readings (1/3 s at the GUI's 30 Hz) before a median is trusted
TOOLTIP = (
    "Fit to model (F): sets Transpose to the whole octaves that move your input's median pitch over the last "
    "5 s nearest the pitch this model was trained on{loud}. One step: Ctrl+Z undoes it."
)


def _trained_ok(values, floor: float) -> bool:
    return isinstance(values, (list, tuple)) and len(values) == 3 and all(float(v) > floor for v in values)


def fit_controls(manifest: Manifest) -> tuple[Control, Control | None] | None:
    """(transpose, loudness or None) for a bundle the action can fit; None for any other."""
    trained = manifest.extra.get("trained_range") or {}
    transpose = manifest.control("transpose")
    if transpose is None or transpose.transform != "add" or not _trained_ok(trained.get("pitch_hz"), 0.0):
        return None
    loudness = manifest.control("loudness")
    if loudness is None or loudness.transform != "add" or not _trained_ok(trained.get("loudness_db"), -200.0):
        loudness = None
    return transpose, loudness


def input_medians(history: History, min_voiced: int = MIN_VOICED) -> tuple[float | None, float | None]:
    """The median voiced pitch (Hz) and the median loudness of those voiced readings (dBFS) in ``history``;
    (None, None) when fewer than ``min_voiced`` readings had a pitch."""
    midi = np.asarray(history.midi, np.float64)
    voiced = np.isfinite(midi)
    if int(voiced.sum()) < min_voiced:
        return None, None
    hz = voiced_median_hz(440.0 * 2.0 ** ((midi[voiced] - 69.0) / 12.0))
    return hz, float(np.median(np.asarray(history.db, np.float64)[voiced]))


def fit(
    manifest: Manifest, controls: LatentControls, hz: float | None, db: float | None
) -> tuple[LatentControls | None, str]:
    """The controls fitted to an input of median ``hz`` / ``db`` and the line that says so; (None, why) when
    nothing changes hands (no voiced input, or a bundle the action does not fit)."""
    found = fit_controls(manifest)
    if found is None:
        return None, "This model records no trained pitch range and no Transpose: nothing to fit"
    if hz is None:
        return None, "Fit to model: no voiced input heard yet; play or sing a few seconds, then fit again"
    transpose, loudness = found
    trained = manifest.extra["trained_range"]
    out = controls.with_value(transpose, octave_shift(hz, trained))
    st = out.values[transpose.name]
    model_hz = float(trained["pitch_hz"][1])
    line = f"Octave {st / 12:+g}: your voice ({hz:.0f} Hz) moved toward the model's {model_hz:.0f} Hz"
    if st == 0:
        line = f"Octave 0: your voice ({hz:.0f} Hz) already sits nearest the model's {model_hz:.0f} Hz"
    elif st != octave_shift(hz, trained):
        line += f" (the knob stops at {st:+.0f} st)"
    if loudness is not None and db is not None:
        out = out.with_value(loudness, loudness_offset(db, trained))
        model_db = float(trained["loudness_db"][1])
        line += f"; loudness {out.values[loudness.name]:+.0f} dB ({db:.0f} dB toward the model's {model_db:.0f} dB)"
    return out, line


class FitToModel:
    """The button (shown for bundles ``fit_controls`` accepts) and its action. ``history()`` is the pitch view's
    input history, ``write(controls, key)`` the knobs' path into the engine, ``say(text, kind)`` the message line."""

    def __init__(
        self,
        controls: Callable[[], LatentControls],
        history: Callable[[], History],
        write: Callable[[LatentControls, str | None], None],
        say: Callable[[str, str], None],
    ):
        self.controls, self.history, self.write, self.say = controls, history, write, say
        self.manifest: Manifest | None = None
        self.button = QPushButton("Fit to model")
        self.button.setObjectName("fit_to_model")
        self.button.clicked.connect(self.fit)
        self.button.hide()

    def bind(self, manifest: Manifest) -> None:
        """A new bundle: show the button only when it can fit, with a tooltip naming what it sets."""
        self.manifest = manifest
        found = fit_controls(manifest)
        self.button.setVisible(found is not None)
        if found is not None:
            trained = manifest.extra["trained_range"]
            loud = (
                f", and Loudness to the dB that move your level onto its median ({trained['loudness_db'][1]:.0f} dB)"
                if found[1] is not None
                else ""
            )
            hz = float(trained["pitch_hz"][1])
            self.button.setToolTip(TOOLTIP.format(loud=f" (median {hz:.0f} Hz){loud}"))

    def fit(self) -> bool:
        """Fit now; True when the controls changed hands (the message line says what happened either way)."""
        if self.manifest is None:
            return False
        controls, line = fit(self.manifest, self.controls(), *input_medians(self.history()))
        if controls is None:
            self.say(line, "warn")
            return False
        self.write(controls, None)  # None: a step of its own in the undo history
        self.say(line, "success")
        return True
