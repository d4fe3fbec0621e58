"""The model bundle schema: the one contract between the torch side (export writes) and the player (reads).

A bundle is a folder holding ``manifest.json`` plus ONNX parts (``encoder.onnx``, ``decoder.onnx`` and, for
quantized models, ``quantizer.onnx``). The manifest is versioned and lists the sha256 of every file. This module
says what a manifest holds and how it is written as JSON; bundle_io.py reads it back and checks the checksums,
bundle_check.py rejects what a player cannot use. Every error names the file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .axis_effects import AxisEffects
from .prior_spec import PriorSpec

FORMAT_VERSION = 1  # what a window-only bundle is written as (players from before streaming read it)
STREAMING_FORMAT_VERSION = 2  # a bundle with a 'streaming' section (docs/bundle.md, docs/streaming.md)
SUPPORTED_VERSIONS = (1, 2)
MANIFEST_NAME = "manifest.json"
PART_NAMES = ("encoder", "quantizer", "decoder")
REQUIRED_PARTS = ("encoder", "decoder")
# families no longer built or played: family -> what to say instead (bundles and checkpoints of them are refused)
RETIRED_FAMILIES = {"hpn": "was retired in favour of 'sf' (the 'voice' bundle; docs/families.md)"}


class BundleError(Exception):
    """A bundle cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class LatentLevel:
    """One level of latents: ``dim`` channels, one frame per ``hop`` samples at the model rate.

    ``scale_output``: the encoder output holding the Gaussian posterior's std for this level (same shape as the
    latent), when the encoder exports it; the evaluation reads the information rate (KL) from it."""

    name: str
    dim: int
    hop: int
    scale_output: str | None = None


@dataclass(frozen=True)
class LatentStats:
    """Statistics of the encoder's continuous latent over training data, for the knobs.

    ``components`` rows are PCA axes (unit vectors in latent space), ordered by ``explained_variance``
    (descending); ``mean`` is the per-dimension latent mean. All lists have the level's dim entries.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    components: tuple[tuple[float, ...], ...]
    explained_variance: tuple[float, ...]
    explained_variance_ratio: tuple[float, ...]


@dataclass(frozen=True)
class Normalization:
    """Loudness normalisation applied to every window before encoding and undone after decoding.

    ``rms``: the window is scaled so its RMS is ``target_dbfs``, the gain capped at ``max_gain_db`` so
    near-silence is not blown up; the decoded window is divided by the same gain.
    """

    type: str = "rms"
    target_dbfs: float = -20.0
    max_gain_db: float = 30.0

    def gain_for(self, rms: float) -> float:
        if self.type == "none":
            return 1.0
        target = 10.0 ** (self.target_dbfs / 20.0)
        max_gain = 10.0 ** (self.max_gain_db / 20.0)
        return float(min(target / max(rms, 1e-12), max_gain))


@dataclass(frozen=True)
class DataSource:
    """One corpus source the model was trained on: its clips and minutes in the training split (held-out files
    excluded), with the licence as the corpus ``manifest.csv`` states it."""

    source: str
    category: str
    debian_package: str
    license: str
    clips: int
    minutes: float


@dataclass(frozen=True)
class TrainingData:
    """Where the training audio came from (optional manifest field ``training_data``).

    Totals come from the run's data summary; ``sources`` from a corpus ``manifest.csv`` matched against the
    trained files (empty, with a ``note``, when there was none: licences unknown). ``unlisted_train_files``
    counts trained files the manifest does not list.
    """

    root: str
    files: int
    minutes: float
    train_files: int
    train_minutes: float
    heldout_files: int
    heldout_minutes: float
    sources: tuple[DataSource, ...] = ()
    manifest: str | None = None  # the manifest.csv the sources were read from
    unlisted_train_files: int = 0
    note: str = ""

    COUNTS = ("files", "train_files", "heldout_files")
    MINUTES = ("minutes", "train_minutes", "heldout_minutes")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = list(data["sources"])
        for optional in ("unlisted_train_files", "note"):  # written only when there is something to say
            if not data[optional]:
                del data[optional]
        return data


@dataclass(frozen=True)
class StateSpec:
    """One state tensor a streaming part carries from call to call: ONNX input ``name``, output ``name + '.next'``.

    ``shape`` is for one stream (batch 1); zeros are the initial state."""

    part: str
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    @property
    def output(self) -> str:
        return self.name + ".next"


@dataclass(frozen=True)
class Streaming:
    """How a causal bundle plays block by block (manifest field ``streaming``; format_version 2).

    Every part takes its main input plus its states and returns its main output plus the next states; the time
    axis is dynamic, so one graph serves any block that is a multiple of the latent hop and, from zero states,
    the whole file at once (both give the same output to 1e-4: export checks it). ``block``: the block the
    bundle was checked and timed at (samples). ``lookahead``: frames the output lags behind what it reproduces;
    ``delay``: the same in samples (output sample t reproduces input sample t - delay); ``latency``: block + delay,
    the algorithmic latency at ``block``."""

    block: int
    lookahead: int
    delay: int
    states: tuple[StateSpec, ...]
    parity_max_abs_error: float | None = None

    @property
    def latency(self) -> int:
        return self.block + self.delay

    def states_of(self, part: str) -> tuple[StateSpec, ...]:
        return tuple(s for s in self.states if s.part == part)

    def to_json(self) -> dict[str, Any]:
        data = {
            "block": self.block,
            "lookahead": self.lookahead,
            "delay_samples": self.delay,
            "latency_samples": self.latency,
            "states": [{"part": s.part, "name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in self.states],
        }
        if self.parity_max_abs_error is not None:
            data["parity_max_abs_error"] = self.parity_max_abs_error
        return data


CONTROL_TRANSFORMS = ("add", "set", "scale")


@dataclass(frozen=True)
class Control:
    """A knob the bundle declares (optional manifest field ``controls``): what it means and what latent it moves.

    Value v (in ``unit``, between ``minimum`` and ``maximum``, ``default`` when untouched) acts on channel
    ``channel`` of latent level ``level``: transform 'add' adds ``(v - default) * scale`` to it on every frame
    (sf: transpose in semitones adds v / 12 to the pitch channel, in octaves); transform 'set' replaces the channel
    with ``(v - default) * scale`` while the control holds a value and leaves it alone when it holds none (sf:
    ``pitch``, a MIDI note held on a keyboard, sets the pitch channel to (note - 69) / 12 octaves re A4); transform
    'scale' multiplies channels ``channel`` to ``channel + channels - 1`` by ``v * scale`` on every frame, its default
    included (timbre with a timbre code: ``timbre`` at 0 % holds the code at 0, the instrument's own tone, at 100 % the
    code follows the input). 'set' controls apply before the others on the same channel, whatever the declared order.
    Players list these knobs from the manifest, so no family is hard-coded in the UI."""

    name: str
    unit: str
    minimum: float
    maximum: float
    default: float
    level: str
    channel: int
    transform: str = "add"
    scale: float = 1.0
    description: str = ""
    channels: int = 1  # how many channels from ``channel`` on a 'scale' control acts on

    @property
    def is_knob(self) -> bool:
        """A setting a knob holds and a preset saves ('add', 'scale'); a 'set' control holds a MIDI note only while
        the note is held."""
        return self.transform != "set"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["description"]:
            del data["description"]
        if data["channels"] == 1:
            del data["channels"]
        return data


@dataclass(frozen=True)
class Manifest:
    """What manifest.json says (docs/bundle.md): bundle_io.py reads and writes it, bundle_check.py checks it."""

    family: str
    sample_rate: int
    window: int  # samples per window the model was trained on
    hop: int  # training chunk hop in samples
    levels: tuple[LatentLevel, ...]
    normalization: Normalization
    latent_stats: dict[str, LatentStats]  # level name -> stats
    parts: dict[str, str]  # part name -> file name
    files: dict[str, str]  # file name -> sha256
    provenance: dict[str, Any] = field(default_factory=dict)
    training_data: TrainingData | None = None  # optional: bundles exported before it load without it
    # optional: {"bits_per_second", "source" ("kl" or "codes ..."), "bits_per_frame", ...} measured at export
    information_rate: dict[str, Any] | None = None
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    streaming: Streaming | None = None  # causal bundles only (format_version 2): block-by-block playing
    controls: tuple[Control, ...] = ()  # optional: knobs with a meaning (sf: pitch, transpose, formant, breath)
    prior: PriorSpec | None = None  # optional: a learned causal model over the latents (prior.onnx; docs/prior.md)
    axis_effects: AxisEffects | None = None  # optional: what each latent axis does (measured at export)

    def control(self, name: str) -> Control | None:
        return next((c for c in self.controls if c.name == name), None)

    @property
    def latent_hop(self) -> int:
        """The finest latent hop: ONNX inputs must be a multiple of the coarsest hop (see ``pad_multiple``)."""
        return min(level.hop for level in self.levels)

    @property
    def pad_multiple(self) -> int:
        return max(level.hop for level in self.levels)

    @property
    def compression_ratio(self) -> float:
        """Audio samples per latent value (float to float)."""
        values_per_sample = sum(level.dim / level.hop for level in self.levels)
        return 1.0 / values_per_sample

    def to_json(self) -> dict[str, Any]:
        data = {
            "format_version": self.format_version,
            "family": self.family,
            "sample_rate": self.sample_rate,
            "window": self.window,
            "hop": self.hop,
            "latent": {
                "levels": [
                    {
                        "name": l.name,
                        "dim": l.dim,
                        "hop": l.hop,
                        **({"scale_output": l.scale_output} if l.scale_output else {}),
                    }
                    for l in self.levels
                ],
                "compression_ratio": round(self.compression_ratio, 3),
            },
            "normalization": {
                "type": self.normalization.type,
                "target_dbfs": self.normalization.target_dbfs,
                "max_gain_db": self.normalization.max_gain_db,
            },
            "latent_stats": {
                name: {
                    "mean": list(s.mean),
                    "std": list(s.std),
                    "pca_components": [list(r) for r in s.components],
                    "explained_variance": list(s.explained_variance),
                    "explained_variance_ratio": list(s.explained_variance_ratio),
                }
                for name, s in self.latent_stats.items()
            },
            "parts": dict(self.parts),
            "files": {name: {"sha256": digest} for name, digest in self.files.items()},
            "provenance": self.provenance,
            "extra": self.extra,
        }
        if self.training_data is not None:
            data["training_data"] = self.training_data.to_json()
        if self.streaming is not None:
            data["streaming"] = self.streaming.to_json()
        if self.information_rate is not None:
            data["information_rate"] = dict(self.information_rate)
        if self.controls:
            data["controls"] = [c.to_json() for c in self.controls]
        if self.prior is not None:
            data["prior"] = self.prior.to_json()
        if self.axis_effects is not None:
            data["axis_effects"] = self.axis_effects.to_json()
        return data


@dataclass(frozen=True)
class Bundle:
    """A validated bundle on disk: every file present and matching its checksum."""

    path: Path
    manifest: Manifest

    def part_path(self, part: str) -> Path | None:
        fname = self.manifest.parts.get(part)
        return None if fname is None else self.path / fname

    @property
    def name(self) -> str:
        return str(self.manifest.provenance.get("name") or self.path.name)
