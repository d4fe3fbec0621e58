"""Output formats and sample formats: the one place that decides what an output file name means.

The extension picks the container (``x.mp3`` is MP3 data, never WAV data under an MP3 name); the sample format
(``subtype``) follows the input's where the container can hold it, so a float or 24-bit input is not silently
downgraded to 16 bits; ``--subtype`` overrides it. Anything the container cannot hold (an unknown extension,
a rate MP3 has no frame for, 24-bit in an MP3) is refused before any work, with a message naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


class FormatError(ValueError):
    """An output file name or sample format cannot be written; the message names the file and the problem."""


@dataclass(frozen=True)
class Container:
    name: str  # libsndfile's format name
    subtypes: tuple[str, ...]  # what we write into it, best first
    lossy: bool = False
    rates: tuple[int, ...] | None = None  # None: any rate
    max_channels: int | None = None


_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
CONTAINERS = {
    ".wav": Container("WAV", ("PCM_16", "PCM_24", "PCM_32", "FLOAT")),
    ".flac": Container("FLAC", ("PCM_16", "PCM_24")),
    ".aif": Container("AIFF", ("PCM_16", "PCM_24", "PCM_32", "FLOAT")),
    ".aiff": Container("AIFF", ("PCM_16", "PCM_24", "PCM_32", "FLOAT")),
    ".ogg": Container("OGG", ("VORBIS",), lossy=True),
    ".mp3": Container("MP3", ("MPEG_LAYER_III",), lossy=True, rates=_MP3_RATES, max_channels=2),
}
SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT")
# What an input's sample format becomes in a container that cannot hold it exactly (never fewer bits than needed)
_NEAREST = {
    "FLOAT": ("FLOAT", "PCM_32", "PCM_24"),
    "DOUBLE": ("FLOAT", "PCM_32", "PCM_24"),
    "PCM_32": ("PCM_32", "PCM_24"),
    "PCM_24": ("PCM_24",),
    "PCM_16": ("PCM_16",),
    "PCM_S8": ("PCM_16",),
    "PCM_U8": ("PCM_16",),
}


@dataclass(frozen=True)
class OutputFormat:
    path: Path
    format: str
    subtype: str
    lossy: bool

    @property
    def clips(self) -> bool:
        """True when samples beyond full scale cannot be stored (everything but float)."""
        return self.subtype != "FLOAT"

    def describe(self) -> str:
        return f"{self.format} {self.subtype}"


def writable_extensions() -> str:
    return ", ".join(CONTAINERS)


def output_format(path: str | Path, subtype: str | None = None, like: str | None = None) -> OutputFormat:
    """The container from ``path``'s extension; the subtype from ``subtype`` (explicit), else from ``like`` (the
    input's subtype, kept when the container holds it), else 16-bit PCM (or the lossy codec)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in CONTAINERS:
        what = f"extension '{path.suffix}'" if path.suffix else "no extension"
        raise FormatError(f"{path}: cannot write audio with {what} (use {writable_extensions()})")
    c = CONTAINERS[ext]
    if subtype is not None:
        subtype = subtype.upper()
        if subtype not in c.subtypes:
            raise FormatError(
                f"{path}: {c.name} cannot hold sample format {subtype} (it takes {', '.join(c.subtypes)})"
            )
        return OutputFormat(path, c.name, subtype, c.lossy)
    if c.lossy:
        return OutputFormat(path, c.name, c.subtypes[0], True)
    for candidate in _NEAREST.get((like or "").upper(), ()):
        if candidate in c.subtypes:
            return OutputFormat(path, c.name, candidate, False)
    if like and like.upper() in ("FLOAT", "DOUBLE", "PCM_32"):
        return OutputFormat(path, c.name, c.subtypes[-1], False)  # e.g. float into FLAC: its widest
    return OutputFormat(path, c.name, "PCM_16", False)


def check_writable(fmt: OutputFormat, sample_rate: int, channels: int) -> None:
    """Refuse rates and channel counts the container has no encoding for, before any work is done."""
    c = CONTAINERS[fmt.path.suffix.lower()]
    if c.rates is not None and int(sample_rate) not in c.rates:
        raise FormatError(
            f"{fmt.path}: {c.name} cannot store {sample_rate} Hz audio (it takes "
            f"{', '.join(str(r) for r in c.rates)} Hz); write .wav or .flac instead"
        )
    if c.max_channels is not None and channels > c.max_channels:
        raise FormatError(f"{fmt.path}: {c.name} holds at most {c.max_channels} channels, not {channels}")


def clipped_samples(samples: np.ndarray) -> int:
    """How many samples lie beyond full scale (and would be clipped by any format but float)."""
    return int(np.count_nonzero(np.abs(samples) > 1.0))
