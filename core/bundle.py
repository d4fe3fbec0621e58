"""The model bundle schema: the one contract between the torch side (export writes) and the player (reads).

A bundle is a folder holding ``manifest.json`` plus ONNX parts (``encoder.onnx``, ``decoder.onnx`` and, for
quantized models, ``quantizer.onnx``). The manifest is versioned and lists the sha256 of every file; anything
this module does not understand is rejected with an error that names the file.
"""

from __future__ import annotations

import hashlib
import json
import math
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


class BundleError(Exception):
    """A bundle cannot be used; the message names the file and the problem."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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

    @classmethod
    def from_json(cls, data: Any, where: Path) -> "TrainingData":
        ctx = "training_data"

        def field_of(obj: Any, key: str, kind: type, ctx: str, default: Any = ...) -> Any:
            if not isinstance(obj, dict):
                raise BundleError(f"{where}: '{ctx}' must be an object")
            if key not in obj:
                if default is ...:
                    raise BundleError(f"{where}: missing field '{ctx}.{key}'")
                return default
            value = obj[key]
            if kind is str and value is None and default is None:
                return None
            ok = (
                isinstance(value, str)
                if kind is str
                else isinstance(value, int) and not isinstance(value, bool)
                if kind is int
                else isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            )
            if not ok or (kind is not str and value < 0):
                want = {str: "a string", int: "a count >= 0", float: "a number of minutes >= 0"}[kind]
                raise BundleError(f"{where}: '{ctx}.{key}' must be {want} (got {value!r})")
            return kind(value)

        if not isinstance(data, dict):
            raise BundleError(f"{where}: '{ctx}' must be an object")
        raw_sources = data.get("sources", [])
        if not isinstance(raw_sources, list):
            raise BundleError(f"{where}: '{ctx}.sources' must be a list")
        sources = []
        for i, s in enumerate(raw_sources):
            sctx = f"{ctx}.sources[{i}]"
            sources.append(
                DataSource(
                    source=field_of(s, "source", str, sctx),
                    category=field_of(s, "category", str, sctx, ""),
                    debian_package=field_of(s, "debian_package", str, sctx, ""),
                    license=field_of(s, "license", str, sctx),
                    clips=field_of(s, "clips", int, sctx),
                    minutes=field_of(s, "minutes", float, sctx),
                )
            )
        return cls(
            root=field_of(data, "root", str, ctx),
            **{k: field_of(data, k, int, ctx) for k in cls.COUNTS},
            **{k: field_of(data, k, float, ctx) for k in cls.MINUTES},
            sources=tuple(sources),
            manifest=field_of(data, "manifest", str, ctx, None),
            unlisted_train_files=field_of(data, "unlisted_train_files", int, ctx, 0),
            note=field_of(data, "note", str, ctx, ""),
        )


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

    @classmethod
    def from_json(cls, data: Any, where: Path) -> "Streaming":
        if not isinstance(data, dict):
            raise BundleError(f"{where}: 'streaming' must be an object")
        try:
            states = tuple(
                StateSpec(
                    str(s["part"]), str(s["name"]), tuple(int(d) for d in s["shape"]), str(s.get("dtype", "float32"))
                )
                for s in data["states"]
            )
            parity = data.get("parity_max_abs_error")
            return cls(
                block=int(data["block"]),
                lookahead=int(data["lookahead"]),
                delay=int(data["delay_samples"]),
                states=states,
                parity_max_abs_error=None if parity is None else float(parity),
            )
        except KeyError as exc:
            raise BundleError(f"{where}: missing field 'streaming.{exc.args[0]}'") from exc
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{where}: malformed 'streaming' ({type(exc).__name__}: {exc})") from exc

    def validate(self, where: Path, latent_hop: int, parts: dict[str, str]) -> None:
        if self.block <= 0 or self.block % latent_hop:
            raise BundleError(
                f"{where}: 'streaming.block' {self.block} must be a positive multiple of the latent hop {latent_hop}"
            )
        if self.lookahead < 0 or self.delay < 0:
            raise BundleError(f"{where}: 'streaming.lookahead' and 'delay_samples' must be >= 0")
        names = set()
        for s in self.states:
            if s.part not in parts:
                raise BundleError(
                    f"{where}: streaming state '{s.name}' belongs to part '{s.part}', which the bundle does not have"
                )
            if s.dtype != "float32" or not s.shape or any(d < 0 for d in s.shape) or s.shape[0] != 1:
                raise BundleError(
                    f"{where}: streaming state '{s.name}' must be float32 with shape [1, ...] "
                    f"(got {s.dtype} {list(s.shape)})"
                )
            if (s.part, s.name) in names:
                raise BundleError(f"{where}: streaming state '{s.name}' is listed twice")
            names.add((s.part, s.name))


CONTROL_TRANSFORMS = ("add", "set")


@dataclass(frozen=True)
class Control:
    """A knob the bundle declares (optional manifest field ``controls``): what it means and what latent it moves.

    Value v (in ``unit``, between ``minimum`` and ``maximum``, ``default`` when untouched) acts on channel
    ``channel`` of latent level ``level``: transform 'add' adds ``(v - default) * scale`` to it on every frame
    (hpn: transpose in semitones adds v / 12 to the pitch channel, in octaves); transform 'set' replaces the channel
    with ``(v - default) * scale`` while the control holds a value and leaves it alone when it holds none (hpn:
    ``pitch``, a MIDI note held on a keyboard, sets the pitch channel to (note - 69) / 12 octaves re A4). 'set'
    controls apply before 'add' ones on the same channel, whatever the declared order. Players list these knobs from the
    manifest, so no family is hard-coded in the UI."""

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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["description"]:
            del data["description"]
        return data

    @classmethod
    def from_json(cls, data: Any, where: Path, i: int) -> "Control":
        if not isinstance(data, dict):
            raise BundleError(f"{where}: 'controls[{i}]' must be an object")
        try:
            return cls(
                name=str(data["name"]),
                unit=str(data.get("unit", "")),
                minimum=float(data["minimum"]),
                maximum=float(data["maximum"]),
                default=float(data.get("default", 0.0)),
                level=str(data["level"]),
                channel=int(data["channel"]),
                transform=str(data.get("transform", "add")),
                scale=float(data.get("scale", 1.0)),
                description=str(data.get("description", "")),
            )
        except KeyError as exc:
            raise BundleError(f"{where}: missing field 'controls[{i}].{exc.args[0]}'") from exc
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{where}: malformed 'controls[{i}]' ({type(exc).__name__}: {exc})") from exc


@dataclass(frozen=True)
class Manifest:
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
    controls: tuple[Control, ...] = ()  # optional: knobs with a meaning (hpn: transpose, loudness, balance)
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

    @classmethod
    def from_json(cls, data: dict[str, Any], where: Path) -> "Manifest":
        def need(obj: dict, key: str, ctx: str):
            if not isinstance(obj, dict) or key not in obj:
                raise BundleError(f"{where}: missing field '{ctx}{key}'")
            return obj[key]

        bad = _non_finite(data)
        if bad is not None:
            raise BundleError(
                f"{where}: '{bad[0]}' is {bad[1]}; every number a player reads must be finite (re-export the bundle)"
            )
        version = need(data, "format_version", "")
        if version not in SUPPORTED_VERSIONS:
            raise BundleError(
                f"{where}: format_version {version!r} is not supported by this LatentSynth "
                f"(supported: {', '.join(map(str, SUPPORTED_VERSIONS))}); re-export the model or update the app"
            )
        try:
            latent = need(data, "latent", "")
            levels = tuple(
                LatentLevel(
                    str(l["name"]),
                    int(l["dim"]),
                    int(l["hop"]),
                    str(l["scale_output"]) if l.get("scale_output") else None,
                )
                for l in need(latent, "levels", "latent.")
            )
            if not levels:
                raise BundleError(f"{where}: 'latent.levels' is empty")
            norm = need(data, "normalization", "")
            stats = {}
            for name, s in need(data, "latent_stats", "").items():
                stats[name] = LatentStats(
                    mean=tuple(map(float, s["mean"])),
                    std=tuple(map(float, s["std"])),
                    components=tuple(tuple(map(float, r)) for r in s["pca_components"]),
                    explained_variance=tuple(map(float, s["explained_variance"])),
                    explained_variance_ratio=tuple(map(float, s["explained_variance_ratio"])),
                )
            files = {}
            for fname, entry in need(data, "files", "").items():
                files[str(fname)] = str(entry["sha256"])
            manifest = cls(
                family=str(need(data, "family", "")),
                sample_rate=int(need(data, "sample_rate", "")),
                window=int(need(data, "window", "")),
                hop=int(need(data, "hop", "")),
                levels=levels,
                normalization=Normalization(
                    type=str(norm.get("type", "rms")),
                    target_dbfs=float(norm.get("target_dbfs", -20.0)),
                    max_gain_db=float(norm.get("max_gain_db", 30.0)),
                ),
                latent_stats=stats,
                parts={str(k): str(v) for k, v in need(data, "parts", "").items()},
                files=files,
                provenance=dict(data.get("provenance", {})),
                training_data=(
                    TrainingData.from_json(data["training_data"], where)
                    if data.get("training_data") is not None
                    else None
                ),
                format_version=int(version),
                extra=dict(data.get("extra", {})),
                streaming=(
                    Streaming.from_json(data["streaming"], where)
                    if int(version) >= 2 and data.get("streaming") is not None
                    else None
                ),
                information_rate=(dict(data["information_rate"]) if data.get("information_rate") is not None else None),
                controls=_read_controls(data.get("controls"), where),
                prior=_read_prior(data.get("prior"), where),
                axis_effects=_read_axis_effects(data.get("axis_effects"), levels, where),
            )
        except BundleError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: malformed manifest ({type(exc).__name__}: {exc})") from exc
        manifest.validate(where)
        return manifest

    def validate(self, where: Path) -> None:
        for part in REQUIRED_PARTS:
            if part not in self.parts:
                raise BundleError(f"{where}: 'parts' has no '{part}'")
        for part, fname in self.parts.items():
            if part not in PART_NAMES:
                raise BundleError(f"{where}: unknown part '{part}' (known: {', '.join(PART_NAMES)})")
            if fname not in self.files:
                raise BundleError(f"{where}: part '{part}' file '{fname}' has no sha256 in 'files'")
            if "/" in fname or "\\" in fname or fname.startswith("."):
                raise BundleError(f"{where}: part file name '{fname}' must be a plain file name")
        if self.information_rate is not None:
            bps = self.information_rate.get("bits_per_second")
            if isinstance(bps, bool) or not isinstance(bps, (int, float)) or not math.isfinite(bps) or bps < 0:
                raise BundleError(f"{where}: 'information_rate.bits_per_second' must be a number >= 0 (got {bps!r})")
        if self.streaming is not None:
            if self.format_version < STREAMING_FORMAT_VERSION:
                raise BundleError(f"{where}: a 'streaming' section needs format_version {STREAMING_FORMAT_VERSION}")
            self.streaming.validate(where, self.latent_hop, self.parts)
        if self.prior is not None:
            problem = self.prior.problem({l.name: l.dim for l in self.levels}, self.files)
            if problem is not None:
                raise BundleError(f"{where}: {problem}")
        if self.normalization.type not in ("rms", "none"):
            raise BundleError(f"{where}: unknown normalization type '{self.normalization.type}'")
        if self.sample_rate <= 0 or self.window <= 0 or self.hop <= 0:
            raise BundleError(f"{where}: sample_rate, window and hop must be positive")
        dims = {level.name: level.dim for level in self.levels}
        names = set()
        for c in self.controls:
            if c.name in names:
                raise BundleError(f"{where}: control '{c.name}' is declared twice")
            names.add(c.name)
            if c.level not in dims or not 0 <= c.channel < dims[c.level]:
                raise BundleError(
                    f"{where}: control '{c.name}' acts on channel {c.channel} of level '{c.level}', "
                    "which the latent does not have"
                )
            if c.transform not in CONTROL_TRANSFORMS:
                raise BundleError(
                    f"{where}: control '{c.name}' has unknown transform '{c.transform}' "
                    f"(known: {', '.join(CONTROL_TRANSFORMS)})"
                )
            values = (c.minimum, c.maximum, c.default, c.scale)
            if not all(math.isfinite(v) for v in values) or not c.minimum <= c.default <= c.maximum:
                raise BundleError(f"{where}: control '{c.name}' needs finite minimum <= default <= maximum")
        for level in self.levels:
            stats = self.latent_stats.get(level.name)
            if stats is None:
                raise BundleError(f"{where}: no latent_stats for level '{level.name}'")
            d = level.dim
            if not (len(stats.mean) == len(stats.std) == len(stats.explained_variance) == len(stats.components) == d):
                raise BundleError(f"{where}: latent_stats for level '{level.name}' do not have {d} entries")
            if any(len(row) != d for row in stats.components):
                raise BundleError(f"{where}: pca_components for level '{level.name}' are not {d}x{d}")
            if not all(math.isfinite(v) for v in stats.mean + stats.std + stats.explained_variance):
                raise BundleError(f"{where}: latent_stats for level '{level.name}' contain NaN or inf")


# What a bundle says about how it was made: shown, never computed with (a training loss there may well be NaN).
_RECORD_ONLY = ("provenance",)


def _non_finite(data: Any, path: str = "") -> tuple[str, str] | None:
    """The first number in a parsed manifest that is NaN or infinite (json reads both), as (field path, 'NaN' /
    'inf' / '-inf'); None when all are finite. ``provenance`` is a record and not checked."""
    if isinstance(data, float) and not math.isfinite(data):
        return path, "NaN" if math.isnan(data) else ("inf" if data > 0 else "-inf")
    if isinstance(data, dict):
        for key, value in data.items():
            if not path and key in _RECORD_ONLY:
                continue
            found = _non_finite(value, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found = _non_finite(value, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _read_axis_effects(data: Any, levels: tuple[LatentLevel, ...], where: Path) -> AxisEffects | None:
    if data is None:
        return None
    try:
        return AxisEffects.from_json(data, {level.name: level.dim for level in levels})
    except ValueError as exc:
        raise BundleError(f"{where}: {exc}") from None


def _read_controls(data: Any, where: Path) -> tuple[Control, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise BundleError(f"{where}: 'controls' must be a list")
    return tuple(Control.from_json(c, where, i) for i, c in enumerate(data))


def _read_prior(data: Any, where: Path) -> PriorSpec | None:
    if data is None:
        return None
    try:
        return PriorSpec.from_json(data)
    except ValueError as exc:
        raise BundleError(f"{where}: {exc}") from None


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


def read_manifest(bundle_dir: Path | str) -> Manifest:
    """Read and validate the manifest only (no checksums): cheap, for browsing."""
    bundle_dir = Path(bundle_dir)
    mpath = bundle_dir / MANIFEST_NAME
    if not bundle_dir.is_dir():
        raise BundleError(f"{bundle_dir}: not a bundle folder (it does not exist or is not a directory)")
    if not mpath.is_file():
        raise BundleError(f"{mpath}: missing; a bundle folder needs a manifest.json")
    try:
        data = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{mpath}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{mpath}: top level must be a JSON object")
    return Manifest.from_json(data, mpath)


def load_bundle(bundle_dir: Path | str) -> Bundle:
    """Validate a bundle folder: manifest, version and the sha256 of every listed file."""
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    for fname, digest in manifest.files.items():
        fpath = bundle_dir / fname
        if not fpath.is_file():
            raise BundleError(f"{fpath}: missing from the bundle (listed in manifest.json)")
        actual = sha256_file(fpath)
        if actual != digest:
            raise BundleError(
                f"{fpath}: checksum mismatch (manifest says sha256 {digest[:12]}..., file has {actual[:12]}...): "
                "the file was altered or damaged; re-export the bundle"
            )
    return Bundle(bundle_dir, manifest)


def write_manifest(bundle_dir: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` after checking it round-trips through the reader."""
    data = manifest.to_json()
    Manifest.from_json(json.loads(json.dumps(data)), bundle_dir / MANIFEST_NAME)
    path = bundle_dir / MANIFEST_NAME
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path
