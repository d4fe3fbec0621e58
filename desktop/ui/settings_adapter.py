"""The window's settings in QSettings: what is restored at start (the command line winning over what was saved; the
last model and file only when restoring the session is on), what is saved at close, and the device menus (a saved device that has gone falls back to the default, with a message)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray

from desktop.engine.model.factory import default_bundle_path

from ..engine.parameters.values import LIVE_MODES, StreamConfig
from .saved_values import saved_value

if TYPE_CHECKING:
    from .main_window import MainWindow


def start_bundle(settings, named: str | None, report=None) -> str:
    """The bundle a start opens: the one named on the command line, else the last one used when the user asked
    to restore the last session (Settings menu), else the factory default."""
    if named:
        return named
    if saved_value(settings, "session/restore", report):
        return saved_value(settings, "model/last_bundle", report) or str(default_bundle_path())
    return str(default_bundle_path())


class SettingsAdapter:
    """Reads and writes the widgets of one window (``MainWindow``) against its ``settings`` and ``opts``."""

    def __init__(self, window: "MainWindow"):
        self.w = window
        self.listed_devices: dict[str, set[int]] = {}  # settings key -> the menu rows that are real devices
        self.missing_devices: dict[str, str] = {}  # kind -> a saved device name that is not present
        self.restored_geometry = False  # True when the window took a saved size (then fitted to the screen)

    def restore(self) -> None:
        w, s, o = self.w, self.w.settings, self.w.opts

        def saved(key: str):  # checked; a bad saved value is said (stderr, status line) and its default used
            return saved_value(s, key, lambda message: w.show_message(message, modal=False))

        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray):
            self.restored_geometry = w.restoreGeometry(geo)
        mode = o.mode or saved("stream/mode")
        w.mode_combo.setCurrentText(mode if mode in LIVE_MODES else "streaming")
        hop = o.hop if o.hop is not None else saved("stream/hop")
        w.hop_spin.setValue(hop * 1000)
        provider = o.provider or saved("model/provider")
        idx = w.browser.provider_combo.findText(provider)
        w.browser.provider_combo.setCurrentIndex(max(0, idx))
        self.fill_devices(
            o.input_device or saved("audio/input_device"),
            o.output_device or saved("audio/output_device"),
            saved=(o.input_device is None, o.output_device is None),
        )
        w.engine.set_stream_config(StreamConfig(w.mode_combo.currentText(), w.hop_spin.value() / 1000))
        w.midi.set_follow(saved("notes/follow"))
        w.midi.glide_spin.setValue(1000 * saved("notes/glide_s"))
        w.generate.restore(s, lambda message: w.show_message(message, modal=False))
        w.browser.refresh_model_list()
        bundle = start_bundle(s, o.bundle, lambda message: w.show_message(message, modal=False))
        factory = str(default_bundle_path())
        problem = w.browser.try_load(bundle) if bundle != factory else None
        if problem is None:
            if bundle == factory:
                w.load_bundle_path(factory)
        elif w.load_bundle_path(factory):  # a remembered model damaged (or gone) since: say so, everywhere
            which = "the model asked for" if o.bundle else "the last model"
            message = f"Playing the factory model: {which} cannot be loaded: {problem}"
            w.browser.load_error = message
            print(f"latentsynth: {message}", file=sys.stderr, flush=True)
            w.show_message(message, modal=False)
        w.midi.apply_glide()  # into the loaded model's controls
        t = w.transport
        # a plain start plays the microphone; the last file comes back only when restoring the session is on
        restore = saved("session/restore")
        file = o.input_file or (saved("audio/source_file") if restore else "")
        if file:
            t.set_input_file(file, quiet=o.input_file is None)
        if o.input_file or (file and saved("audio/source") == "file" and t.input_audio is not None):
            t.source_combo.setCurrentIndex(1 if t.input_audio is not None else 0)
        else:
            t.source_combo.setCurrentIndex(0)

    def save(self) -> None:
        w, s, t = self.w, self.w.settings, self.w.transport
        s.setValue("window/geometry", w.saveGeometry())
        s.setValue("stream/mode", w.mode_combo.currentText())
        s.setValue("stream/hop", w.hop_spin.value() / 1000)
        s.setValue("model/provider", w.browser.provider_combo.currentText())
        if w.bundle is not None:
            s.setValue("model/last_bundle", str(w.bundle.path))
        for key, combo in (("audio/input_device", t.in_dev_combo), ("audio/output_device", t.out_dev_combo)):
            if combo.currentIndex() in self.listed_devices.get(key, ()):  # never save a name no device has
                s.setValue(key, combo.currentData() or "default")
        s.setValue("audio/source", "file" if t.source_combo.currentIndex() == 1 else "microphone")
        s.setValue("notes/follow", w.midi.follow)
        s.setValue("notes/glide_s", w.midi.glide_s)
        w.generate.save(s)
        if w.remote is not None:
            s.setValue("midi/bindings", json.dumps(w.remote.midi.to_json()))
        if t.input_audio is not None and t.input_audio.path is not None:
            s.setValue("audio/source_file", str(t.input_audio.path))
        s.sync()

    def fill_devices(self, want_in, want_out, saved: tuple[bool, bool] = (False, False)) -> None:
        """Fill the device menus. A device named on the command line that is not present stays selected (the
        start then says so); one only remembered from the settings falls back to the default, with a message,
        so a device that has gone away never keeps a plain start silent."""
        w, t = self.w, self.w.transport
        self.listed_devices = {}
        devices, listed = [], False
        if w.opts.list_devices:
            try:
                pre = w.opts.preloader
                if pre is not None and pre.backend is not None:
                    devices = pre.backend.result()
                else:
                    from ..engine.audio.devices import list_devices

                    devices = list_devices()
                listed = True
            except Exception as exc:  # DeviceError, PortAudio missing
                w.show_message(str(exc), modal=False)
        for combo, kind, want, from_settings in (
            (t.in_dev_combo, "input", want_in, saved[0]),
            (t.out_dev_combo, "output", want_out, saved[1]),
        ):
            key = f"audio/{kind}_device"
            combo.clear()
            combo.addItem("default", "default")
            for d in devices:
                if (d.inputs if kind == "input" else d.outputs) > 0:
                    combo.addItem(f"{d.name} ({d.hostapi})", d.name)
            self.listed_devices[key] = set(range(combo.count())) if listed else {0}
            i = combo.findData(want)
            if i < 0 and want not in (None, "", "default"):
                if listed and from_settings:
                    self.missing_devices[kind] = str(want)
                    w.show_message(f"The saved {kind} device '{want}' is not present; using the default.", modal=False)
                    i = 0
                else:
                    combo.addItem(str(want), str(want))
                    i = combo.count() - 1
            combo.setCurrentIndex(max(0, i))
