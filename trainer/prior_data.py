"""The prior's training data: every file of a corpus encoded to latent frames with the bundle's own encoder.onnx.

A frame is every level of the bundle side by side (``core/prior_frames.py``): one level for most bundles, ``z``
and ``control`` for the instruments; levels of different frame rates are refused.

The split is the trainer's (``AudioFolder.split``: a hash of each file's relative path), so the files the
bundle's autoencoder held out are held out here too and ``scripts/make_heldout.py --data DIR`` links the same
ones. The frames are cached in the run folder (``latents.npz``), keyed by the encoder's sha256 and the file list,
so a resumed run does not encode again.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audiofile import AudioFileError, find_audio_files, load_audio
from core.bundle import Bundle, BundleError
from core.prior_frames import audio_frames, played_frames, shared_hop
from core.session import ModelRunner

MIN_FRAMES = 8  # shorter files teach nothing about continuation


@dataclass
class LatentCorpus:
    """Per-file latent frames float32[F, D] (the bundle's levels side by side), split into train and held-out files."""

    train: list[np.ndarray]
    val: list[np.ndarray]
    train_names: list[str]
    val_names: list[str]
    frame_rate: float
    silence: np.ndarray | None = None  # float32[D]: the encoder's frame for digital silence

    def minutes(self, which: str = "train") -> float:
        seqs = self.train if which == "train" else self.val
        return sum(len(s) for s in seqs) / self.frame_rate / 60


def split_files(data: Path, val_percent: float) -> tuple[list[Path], list[Path]]:
    from .data import AudioFolder  # torch-free in use, but trainer.data imports torch: only when training

    root = data.resolve()
    files = find_audio_files(root)
    if not files:
        raise AudioFileError(f"{data}: no audio files found (looked for wav, flac, ogg, mp3, aiff, opus)")
    folder = AudioFolder(root, 22050, files=files)
    train, val = folder.split(val_percent)
    return [files[i] for i in train], [files[i] for i in val]


def bundle_levels(bundle: Bundle) -> tuple[str, ...]:
    """The levels a prior for ``bundle`` models: all of them, which must share one hop."""
    m = bundle.manifest
    levels = tuple(level.name for level in m.levels)
    if shared_hop(m, levels) is None:
        raise BundleError(f"{bundle.path}: its latent levels run at different frame rates; a prior needs one")
    return levels


def encode_file(runner: ModelRunner, path: Path) -> np.ndarray:
    """The frames of ``path`` (``prior_frames.audio_frames``), float32[F, D]: all levels side by side, as the decoder
    plays them with no knob turned."""
    return audio_frames(runner, load_audio(path))


def silence_frame(runner: ModelRunner) -> np.ndarray:
    """The last frame (all levels) for one second of digital silence (the encoder's settled answer)."""
    m = runner.manifest
    x = np.zeros((1, 1, m.sample_rate + (-m.sample_rate) % m.pad_multiple), np.float32)
    return played_frames(runner.encode(x), m, tuple(runner.level_names))[-1].copy()


def encode_corpus(
    bundle: Bundle, data: Path, cache: Path, val_percent: float = 10.0, show_progress: bool = True
) -> LatentCorpus:
    m = bundle.manifest
    levels = bundle_levels(bundle)
    level = m.levels[0]
    train_files, val_files = split_files(data, val_percent)
    root = data.resolve()
    names = [str(p.relative_to(root)) for p in train_files + val_files]
    key = m.files[m.parts["encoder"]] + "|" + "|".join(names)
    if len(levels) > 1:  # a single level's key is as before, so the runs' caches stay valid
        key = "+".join(levels) + "|" + key
    if any(c.transform == "scale" for c in m.controls):  # frames with the code held (played_frames)
        key = "played|" + key
    rate = m.sample_rate / level.hop
    runner = ModelRunner(bundle, provider="cpu", threads=1)
    silence = silence_frame(runner)
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as f:
            if str(f["key"]) == key:
                return _unpack(f, rate, silence)
    from tqdm import tqdm

    seqs: list[np.ndarray] = []
    kept: list[str] = []
    for path, name in tqdm(
        list(zip(train_files + val_files, names)), desc="encoding", unit="file", disable=not show_progress
    ):
        try:
            z = encode_file(runner, path)
        except AudioFileError as exc:
            print(f"warning: skipping {exc}", file=sys.stderr)
            continue
        if len(z) >= MIN_FRAMES:
            seqs.append(z)
            kept.append(name)
    is_val = np.array([n in {str(p.relative_to(root)) for p in val_files} for n in kept], dtype=bool)
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, key=np.array(key), frames=np.concatenate(seqs), lengths=lengths, is_val=is_val, names=np.array(kept))
    tmp.replace(cache)
    with np.load(cache, allow_pickle=False) as f:
        return _unpack(f, rate, silence)


def _unpack(f, rate: float, silence: np.ndarray) -> LatentCorpus:
    frames, lengths, is_val, names = f["frames"], f["lengths"], f["is_val"], [str(n) for n in f["names"]]
    seqs = np.split(frames, np.cumsum(lengths)[:-1])
    return LatentCorpus(
        train=[s for s, v in zip(seqs, is_val) if not v],
        val=[s for s, v in zip(seqs, is_val) if v],
        train_names=[n for n, v in zip(names, is_val) if not v],
        val_names=[n for n, v in zip(names, is_val) if v],
        frame_rate=rate,
        silence=silence,
    )
