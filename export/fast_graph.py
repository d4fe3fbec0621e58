"""Apply the speed rewrites (export/graph_rewrites.py) to an exported ONNX file or an existing streaming bundle, checked
against the original graph's outputs (1e-5) before anything is replaced.

Apply with :func:`speed_up_file` (export/streaming.py does so for every new streaming bundle) or, on an existing
bundle, ``python -m export.fast_graph BUNDLE_DIR``, which checks the outputs against the original files before
replacing them and updates the manifest's checksums.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from core.bundle_io import load_bundle, sha256_file, write_manifest
from core.session import open_session

from .graph_rewrites import speed_up

REWRITE_TOLERANCE = 1e-5  # the rewritten graph against the original: max abs difference / max(1, max abs output)


def probe_inputs(sess: ort.InferenceSession, hop: int, frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs for a streaming part at ``frames`` latent frames: 'audio' [1, 1, frames * hop], a latent
    [1, D, frames], states at their declared shapes, all scaled like real signals (0.1)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        if i.name == "audio":
            shape[-1] = frames * hop
        elif not i.name.startswith("state."):
            shape[-1] = frames
        feeds[i.name] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
    return feeds


def max_difference(original: bytes, rewritten: bytes, hop: int, frames=(1, 2, 7, 64)) -> float:
    """Max abs difference over every output of the two graphs on the same random inputs, at each frame count,
    relative to max(1, the output's max abs value): random latents can decode to large values."""
    a, b = open_session(original), open_session(rewritten)
    if [o.name for o in a.get_outputs()] != [o.name for o in b.get_outputs()]:
        raise ValueError("the rewritten graph's outputs differ from the original's")
    worst = 0.0
    for f in frames:
        feeds = probe_inputs(a, hop, f, seed=f)
        for u, v in zip(a.run(None, feeds), b.run(None, feeds)):
            if u.shape != v.shape:
                raise ValueError(f"output shape {v.shape} instead of {u.shape} at {f} frames")
            if u.size:
                worst = max(worst, float(np.abs(u - v).max()) / max(1.0, float(np.abs(u).max())))
    return worst


def speed_up_file(path: Path, hop: int, tolerance: float = REWRITE_TOLERANCE, strict: bool = True) -> tuple[int, float]:
    """Rewrite one ONNX file in place when that changes it and its outputs stay within ``tolerance`` of the
    original's; returns (nodes replaced, max difference). Otherwise the file is left as it was and, when
    ``strict``, ValueError is raised; not strict (export), (0, difference) is returned: a graph whose outputs jump
    on a float rounding (an argmax over pitch bins on random probe inputs), or that random probe inputs cannot run
    (an index computed from an input), is kept as exported."""
    path = Path(path)
    original = path.read_bytes()
    proto, count = speed_up(onnx.load_from_string(original))
    if not count:
        return 0, 0.0
    data = proto.SerializeToString()
    try:
        diff = max_difference(original, data, hop)
    except Exception:  # onnxruntime's private exception types: a graph random inputs cannot run (an index input)
        if strict:
            raise
        return 0, float("nan")
    if not diff <= tolerance:
        if not strict:
            return 0, diff
        raise ValueError(f"{path}: the rewritten graph differs from the original by {diff:.3g} (> {tolerance:g})")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return count, diff


def upgrade_bundle(bundle_dir: Path, tolerance: float = REWRITE_TOLERANCE) -> dict[str, tuple[int, float]]:
    """Rewrite a streaming bundle's parts in place and update the manifest's checksums through the bundle schema.
    Each part is rewritten in a temporary copy, checked against the original file (``max_difference``), and the
    bundle is reloaded (checksums, I/O names) before anything in ``bundle_dir`` is replaced."""
    bundle_dir = Path(bundle_dir)
    bundle = load_bundle(bundle_dir)
    m = bundle.manifest
    if m.streaming is None:
        raise ValueError(f"{bundle_dir}: not a streaming bundle; only streaming graphs are rewritten")
    report = {}
    with tempfile.TemporaryDirectory(dir=bundle_dir.parent) as tmp:
        tmp = Path(tmp)
        for fname in m.files:
            (tmp / fname).write_bytes((bundle_dir / fname).read_bytes())
        for part, fname in m.parts.items():
            report[part] = speed_up_file(tmp / fname, m.latent_hop, tolerance)
        if not any(count for count, _ in report.values()):
            return report
        files = {**m.files, **{fname: sha256_file(tmp / fname) for fname in m.parts.values()}}
        write_manifest(tmp, dataclasses.replace(m, files=files))
        load_bundle(tmp)  # the schema reads back what it wrote, and every checksum matches
        for fname in list(m.parts.values()) + ["manifest.json"]:  # the manifest last: a crash between leaves a
            # bundle whose checksums name the file that changed, which the player refuses
            (tmp / fname).replace(bundle_dir / fname)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Rewrite a streaming bundle's graphs in place for speed (same outputs "
        "to float rounding, checked against the original files before replacing them)."
    )
    p.add_argument("bundle", type=Path)
    p.add_argument("--tolerance", type=float, default=REWRITE_TOLERANCE)
    args = p.parse_args(argv)
    for part, (count, diff) in upgrade_bundle(args.bundle, args.tolerance).items():
        print(f"{part}: {count} nodes rewritten, max abs difference to the original {diff:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
