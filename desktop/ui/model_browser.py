"""The model browser: the factory and opened bundles in one list, the provider, the manifest's facts, and loading a
bundle into the engine (one that fails to load leaves the playing model playing, with a message saying why)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget

from core.bundle import Bundle, BundleError, TrainingData
from core.bundle_io import load_bundle, read_manifest
from core.latent import LatentControls
from core.session import ModelRunner, available_providers
from desktop.engine.model.factory import default_bundle_path

from ..engine.audio.live import LiveEngine
from ..engine.model.slot import ModelSlot
from .saved_values import saved_value


def factory_bundles() -> list[Path]:
    root = default_bundle_path().parent
    return sorted(p for p in root.iterdir() if (p / "manifest.json").is_file())


def manifest_facts(bundle_dir: Path) -> str:
    m = read_manifest(bundle_dir)
    data = m.provenance.get("data", {}) if isinstance(m.provenance, dict) else {}
    dims = " + ".join(f"{l.name}:{l.dim}" for l in m.levels)
    lines = [
        f"family {m.family} · {m.sample_rate} Hz · window {m.window / m.sample_rate:.2f} s",
        f"latent dims {dims} · compression {m.compression_ratio:.0f}:1"
        + (" · quantized" if "quantizer" in m.parts else ""),
    ]
    if m.training_data is not None:
        lines.append(f"{training_data_line(m.training_data)} · step {m.provenance.get('step', '?')}")
    elif data:
        lines.append(
            f"trained on {data.get('files', '?')} files, {data.get('minutes', '?')} min"
            f" · step {m.provenance.get('step', '?')}"
        )
    return "\n".join(lines)


def training_data_line(td: TrainingData) -> str:
    """'trained on 66.1 min: speech 22.4 (GPL-2), music 21.1 (GPL-3+, Expat)': training minutes per category
    with its licences, each cut at its first parenthesis (the manifest holds the full text)."""
    if not td.sources:
        return f"trained on {td.train_minutes:.1f} min, {td.train_files} files (licences unknown)"
    minutes: dict[str, float] = {}
    licences: dict[str, list[str]] = {}
    for s in td.sources:
        category = s.category or "other"
        minutes[category] = minutes.get(category, 0.0) + s.minutes
        short = s.license.split(" (")[0].strip() or "?"
        if short not in licences.setdefault(category, []):
            licences[category].append(short)
    parts = [f"{c} {minutes[c]:.1f} ({', '.join(licences[c])})" for c in sorted(minutes, key=lambda c: -minutes[c])]
    unknown = f", {td.unlisted_train_files} files unlisted" if td.unlisted_train_files else ""
    return f"trained on {td.train_minutes:.1f} min: " + ", ".join(parts) + unknown


class ModelBrowser(QWidget):
    """The header's Model list, Open… and Provider, and the facts line under the header (``facts``, placed by the
    window). ``on_loaded(bundle, controls)`` runs after a bundle is playing: the window rebuilds its knobs."""

    def __init__(
        self,
        engine: LiveEngine,
        settings: QSettings,
        show_message: Callable[..., None],
        on_loaded: Callable[[Bundle, LatentControls], None],
        preloader=None,
        parent=None,
    ):
        super().__init__(parent)
        self.engine, self.settings, self.preloader = engine, settings, preloader
        self.show_message, self.on_loaded = show_message, on_loaded
        self.bundle: Bundle | None = None
        self.runner: ModelRunner | None = None
        self.load_error = ""  # the last bundle that would not load, and why (the app's JSON line reports it)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Model"))
        self.model_combo = QComboBox()
        self.model_combo.setMinimumWidth(230)
        self.model_combo.activated.connect(self._on_model_chosen)
        row.addWidget(self.model_combo)
        self.open_bundle_btn = QPushButton("Open…")
        self.open_bundle_btn.setToolTip("Open a bundle folder (manifest.json + ONNX parts)")
        self.open_bundle_btn.clicked.connect(self._open_bundle_dialog)
        row.addWidget(self.open_bundle_btn)
        row.addWidget(QLabel("Provider"))
        self.provider_combo = QComboBox()
        self.provider_combo.addItems(["auto"] + available_providers()[::-1])
        self.provider_combo.activated.connect(lambda _: self.reload_model())
        row.addWidget(self.provider_combo)
        self.facts = QLabel("")
        self.facts.setObjectName("facts")
        self.facts.setWordWrap(True)  # the training-data line is long; never let it widen the window

    def user_bundles(self) -> list[str]:
        return saved_value(self.settings, "model/user_bundles")

    def refresh_model_list(self) -> None:
        self.model_combo.clear()
        for p in factory_bundles() + [Path(p) for p in self.user_bundles()]:
            try:
                name = str(read_manifest(p).provenance.get("name") or p.name)
            except BundleError:
                name = p.name + " (unreadable)"
            label = name if p.parent == default_bundle_path().parent else f"{name} — {p}"
            self.model_combo.addItem(label, str(p))
        if self.bundle is not None:
            self.model_combo.setCurrentIndex(self._index_of(self.bundle.path))

    def _index_of(self, path) -> int:
        """The list entry of the bundle at ``path`` however it was spelled (relative, absolute, through a link);
        0 when it is not listed."""
        target = Path(path).resolve()
        for i in range(self.model_combo.count()):
            if Path(self.model_combo.itemData(i)).resolve() == target:
                return i
        return 0

    def _on_model_chosen(self, index: int) -> None:
        path = self.model_combo.itemData(index)
        if path and (self.bundle is None or Path(self.bundle.path).resolve() != Path(path).resolve()):
            self.load_bundle_path(path)

    def _open_bundle_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a model bundle folder")
        if path:
            self.load_bundle_path(path)

    def reload_model(self) -> None:
        if self.bundle is not None:
            self.load_bundle_path(str(self.bundle.path))

    def load_bundle_path(self, path: str) -> bool:
        """Load and swap in a bundle; on any error the previous model keeps running and a message says why."""
        problem = self.try_load(path)
        if problem is None:
            return True
        still = "" if self.bundle is None else f"Still playing {self.bundle.name}."
        message = f"Cannot load model: {problem}" + (f"\n{still}" if still else "")
        self.load_error = f"Cannot load model: {problem}" + (f"; {still[0].lower()}{still[1:]}" if still else "")
        print(f"latentsynth: {self.load_error}", file=sys.stderr, flush=True)
        self.show_message(message)
        return False

    def try_load(self, path: str) -> str | None:
        """Load and swap in a bundle: None when it plays, else why it cannot (the previous model keeps playing and
        the caller says so)."""
        provider = self.provider_combo.currentText()
        try:
            pre = self.preloader.take_model(path, provider) if self.preloader is not None else None
            if pre is not None:
                bundle, runner, slot = pre
            else:
                bundle = load_bundle(path)
                runner = ModelRunner(bundle, provider=provider, threads=1)
                slot = ModelSlot.from_runner(runner)
        except (BundleError, RuntimeError, ValueError, OSError) as exc:
            if self.bundle is not None:
                self.model_combo.setCurrentIndex(self._index_of(self.bundle.path))
            return " ".join(str(exc).split())
        same_levels = self.runner is not None and self.runner.manifest.levels == bundle.manifest.levels
        # knobs carry over between bundles with the same latent levels; the glide is a playing setting: it always does
        glide = self.engine.controls.glide_s
        controls = self.engine.controls if same_levels else LatentControls(glide_s=glide)
        slot.window_model.controls = controls
        self.bundle, self.runner = bundle, runner
        self.engine.set_model(slot)
        self.engine.set_controls(controls)
        p = Path(path).resolve()
        if p.parent != default_bundle_path().parent.resolve() and str(p) not in self.user_bundles():
            self.settings.setValue("model/user_bundles", json.dumps(self.user_bundles() + [str(p)]))
        self.refresh_model_list()
        self.model_combo.setCurrentIndex(self._index_of(bundle.path))
        self.facts.setText(
            manifest_facts(bundle.path).replace("\n", "   ·   ")
            + f"   ·   provider in use: {runner.short_provider.upper()}"
        )
        self.on_loaded(bundle, controls)
        return None
