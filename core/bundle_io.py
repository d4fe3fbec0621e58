"""A bundle's manifest.json in and out: parse it into the schema (bundle.py), check it (bundle_check.py), verify
the sha256 of every file it lists, and write it back. Anything not understood is a BundleError naming the file."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from .axis_effects import AxisEffects
from .bundle import (
    MANIFEST_NAME,
    RETIRED_FAMILIES,
    SUPPORTED_VERSIONS,
    Bundle,
    BundleError,
    Control,
    DataSource,
    LatentLevel,
    LatentStats,
    Manifest,
    Normalization,
    StateSpec,
    Streaming,
    TrainingData,
)
from .bundle_check import check_finite, check_manifest
from .prior_spec import PriorSpec


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    return manifest_from_json(data, mpath)


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
    manifest_from_json(json.loads(json.dumps(data)), bundle_dir / MANIFEST_NAME)
    path = bundle_dir / MANIFEST_NAME
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def manifest_from_json(data: dict[str, Any], where: Path) -> Manifest:
    """The manifest that parsed JSON ``data`` describes, checked; ``where`` names the file in every error."""
    check_finite(data, where)
    version = _need(data, "format_version", "", where)
    if version not in SUPPORTED_VERSIONS:
        raise BundleError(
            f"{where}: format_version {version!r} is not supported by this LatentSynth "
            f"(supported: {', '.join(map(str, SUPPORTED_VERSIONS))}); re-export the model or update the app"
        )
    try:
        manifest = _manifest(data, int(version), where)
    except BundleError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{where}: malformed manifest ({type(exc).__name__}: {exc})") from exc
    check_manifest(manifest, where)
    return manifest


def _need(obj: Any, key: str, ctx: str, where: Path) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise BundleError(f"{where}: missing field '{ctx}{key}'")
    return obj[key]


def _manifest(data: dict[str, Any], version: int, where: Path) -> Manifest:
    if data.get("family") in RETIRED_FAMILIES:
        raise BundleError(f"{where}: the model family '{data['family']}' {RETIRED_FAMILIES[data['family']]}")
    levels = _levels(_need(data, "latent", "", where), where)
    norm = _need(data, "normalization", "", where)
    stats = {name: _latent_stats(s) for name, s in _need(data, "latent_stats", "", where).items()}
    files = {str(fname): str(entry["sha256"]) for fname, entry in _need(data, "files", "", where).items()}
    training_data, streaming, rate = (data.get(key) for key in ("training_data", "streaming", "information_rate"))
    return Manifest(
        family=str(_need(data, "family", "", where)),
        sample_rate=int(_need(data, "sample_rate", "", where)),
        window=int(_need(data, "window", "", where)),
        hop=int(_need(data, "hop", "", where)),
        levels=levels,
        normalization=Normalization(
            type=str(norm.get("type", "rms")),
            target_dbfs=float(norm.get("target_dbfs", -20.0)),
            max_gain_db=float(norm.get("max_gain_db", 30.0)),
        ),
        latent_stats=stats,
        parts={str(k): str(v) for k, v in _need(data, "parts", "", where).items()},
        files=files,
        provenance=dict(data.get("provenance", {})),
        training_data=None if training_data is None else training_data_from_json(training_data, where),
        format_version=version,
        extra=dict(data.get("extra", {})),
        streaming=None if version < 2 or streaming is None else streaming_from_json(streaming, where),
        information_rate=None if rate is None else dict(rate),
        controls=_controls(data.get("controls"), where),
        prior=_prior(data.get("prior"), where),
        axis_effects=_axis_effects(data.get("axis_effects"), levels, where),
    )


def _levels(latent: Any, where: Path) -> tuple[LatentLevel, ...]:
    levels = tuple(
        LatentLevel(
            str(l["name"]),
            int(l["dim"]),
            int(l["hop"]),
            str(l["scale_output"]) if l.get("scale_output") else None,
        )
        for l in _need(latent, "levels", "latent.", where)
    )
    if not levels:
        raise BundleError(f"{where}: 'latent.levels' is empty")
    return levels


def _latent_stats(s: dict[str, Any]) -> LatentStats:
    return LatentStats(
        mean=tuple(map(float, s["mean"])),
        std=tuple(map(float, s["std"])),
        components=tuple(tuple(map(float, r)) for r in s["pca_components"]),
        explained_variance=tuple(map(float, s["explained_variance"])),
        explained_variance_ratio=tuple(map(float, s["explained_variance_ratio"])),
    )


def streaming_from_json(data: Any, where: Path) -> Streaming:
    if not isinstance(data, dict):
        raise BundleError(f"{where}: 'streaming' must be an object")
    try:
        states = tuple(
            StateSpec(str(s["part"]), str(s["name"]), tuple(int(d) for d in s["shape"]), str(s.get("dtype", "float32")))
            for s in data["states"]
        )
        parity = data.get("parity_max_abs_error")
        return Streaming(
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


def control_from_json(data: Any, where: Path, i: int) -> Control:
    if not isinstance(data, dict):
        raise BundleError(f"{where}: 'controls[{i}]' must be an object")
    try:
        return Control(
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
            channels=int(data.get("channels", 1)),
        )
    except KeyError as exc:
        raise BundleError(f"{where}: missing field 'controls[{i}].{exc.args[0]}'") from exc
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{where}: malformed 'controls[{i}]' ({type(exc).__name__}: {exc})") from exc


def _controls(data: Any, where: Path) -> tuple[Control, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise BundleError(f"{where}: 'controls' must be a list")
    return tuple(control_from_json(c, where, i) for i, c in enumerate(data))


def _prior(data: Any, where: Path) -> PriorSpec | None:
    if data is None:
        return None
    try:
        return PriorSpec.from_json(data)
    except ValueError as exc:
        raise BundleError(f"{where}: {exc}") from None


def _axis_effects(data: Any, levels: tuple[LatentLevel, ...], where: Path) -> AxisEffects | None:
    if data is None:
        return None
    try:
        return AxisEffects.from_json(data, {level.name: level.dim for level in levels})
    except ValueError as exc:
        raise BundleError(f"{where}: {exc}") from None


def training_data_from_json(data: Any, where: Path) -> TrainingData:
    """The optional ``training_data`` section; every count and total checked for type and sign."""
    ctx = "training_data"
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
                source=_typed(s, "source", str, sctx, where),
                category=_typed(s, "category", str, sctx, where, ""),
                debian_package=_typed(s, "debian_package", str, sctx, where, ""),
                license=_typed(s, "license", str, sctx, where),
                clips=_typed(s, "clips", int, sctx, where),
                minutes=_typed(s, "minutes", float, sctx, where),
            )
        )
    return TrainingData(
        root=_typed(data, "root", str, ctx, where),
        **{k: _typed(data, k, int, ctx, where) for k in TrainingData.COUNTS},
        **{k: _typed(data, k, float, ctx, where) for k in TrainingData.MINUTES},
        sources=tuple(sources),
        manifest=_typed(data, "manifest", str, ctx, where, None),
        unlisted_train_files=_typed(data, "unlisted_train_files", int, ctx, where, 0),
        note=_typed(data, "note", str, ctx, where, ""),
    )


def _typed(obj: Any, key: str, kind: type, ctx: str, where: Path, default: Any = ...) -> Any:
    """``obj[key]`` as a string, a count >= 0 or a finite number >= 0 (``kind``); ``default`` when absent, if given."""
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
