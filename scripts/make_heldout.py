"""Build the held-out evaluation folder the factory models are judged on (no audio is copied: symlinks).

    python -m scripts.make_heldout --run RUN_DIR --fixtures tests/data --out HELDOUT
    python -m scripts.make_heldout --data CORPUS/train --fixtures tests/data --out HELDOUT

With ``--data`` (no run folder at hand) the split is recomputed with the trainer's own rule (``AudioFolder.split``
at ``--val-percent``, 10 by default as in every preset): the same files for the same folder.

HELDOUT/<category>/ links every file of the run's validation split (``val_file_names`` in RUN/data_summary.json:
the trainer hashes each file's relative path, so these files were never trained on and the split is the same
for every preset trained on the same folder); HELDOUT/fixtures/ links the fixture clips (never in the corpus).
Evaluate with ``latentsynth-eval --bundle B --data HELDOUT --out REPORT --max-seconds 10``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        dst.symlink_to(src.resolve())


def split_of(data: Path, val_percent: float) -> dict:
    """The trainer's validation split of ``data`` without loading the audio: {'root', 'val_file_names'}."""
    from core.audiofile import find_audio_files
    from trainer.data import AudioFolder

    folder = AudioFolder(data.resolve(), 22050, files=find_audio_files(data.resolve()))
    _, val = folder.split(val_percent)
    return {"root": str(folder.root), "val_file_names": [str(folder.files[i].relative_to(folder.root)) for i in val]}


def build(
    run: Path | None, fixtures: Path | None, out: Path, data: Path | None = None, val_percent: float = 10.0
) -> dict[str, int]:
    if run is None:
        summary, summary_path = split_of(data, val_percent), data
    else:
        summary_path = run / "data_summary.json"
        if not summary_path.is_file():
            raise SystemExit(f"{summary_path}: missing (is {run} a training run folder?)")
        summary = json.loads(summary_path.read_text())
    root = Path(summary["root"])
    counts: dict[str, int] = {}
    for rel in summary["val_file_names"]:
        src = root / rel
        if not src.is_file():
            raise SystemExit(f"{src}: listed in {summary_path} but missing")
        category = Path(rel).parts[0] if len(Path(rel).parts) > 1 else "other"
        _link(src, out / category / Path(rel).name)
        counts[category] = counts.get(category, 0) + 1
    if fixtures is not None:
        for src in sorted(fixtures.iterdir()):
            if src.suffix.lower() in AUDIO_SUFFIXES:
                _link(src, out / "fixtures" / src.name)
                counts["fixtures"] = counts.get("fixtures", 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", type=Path, help="training run folder holding data_summary.json")
    src.add_argument("--data", type=Path, help="the training folder itself: recompute the trainer's split")
    p.add_argument("--val-percent", type=float, default=10.0)
    p.add_argument("--fixtures", type=Path, help="folder of extra clips never trained on (the test fixtures)")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    counts = build(a.run, a.fixtures, a.out, a.data, a.val_percent)
    print(json.dumps({"out": str(a.out), "files": counts, "total": sum(counts.values())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
