"""Minimal PNG writer (zlib + struct) and a colour map, so reports need neither matplotlib nor a Qt platform."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

# anchor colours of a dark-purple -> orange -> pale-yellow map (close to matplotlib's 'magma')
_ANCHORS = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                     [250, 193, 39], [252, 253, 191]], dtype=np.float64)


def colour_lut(size: int = 256) -> np.ndarray:
    """uint8[size, 3]."""
    pos = np.linspace(0, len(_ANCHORS) - 1, size)
    lo = np.floor(pos).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (pos - lo)[:, None]
    return np.round(_ANCHORS[lo] * (1 - frac) + _ANCHORS[lo + 1] * frac).astype(np.uint8)


def to_index(values: np.ndarray, vmin: float, vmax: float, colours: int = 64) -> np.ndarray:
    """float[H, W] -> uint8[H, W] colour indices 0..colours-1, values clipped to [vmin, vmax]."""
    idx = np.clip((values - vmin) / max(vmax - vmin, 1e-12), 0, 1) * (colours - 1)
    return np.round(idx).astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path: str | Path, index: np.ndarray, palette: np.ndarray) -> Path:
    """uint8[H, W] indices into ``palette`` uint8[N <= 256, 3] -> an 8-bit palette PNG (a third of RGB's size)."""
    index = np.ascontiguousarray(index, dtype=np.uint8)
    palette = np.ascontiguousarray(palette, dtype=np.uint8)
    h, w = index.shape
    if palette.ndim != 2 or palette.shape[1] != 3 or not 0 < palette.shape[0] <= 256:
        raise ValueError("write_png expects a palette of shape [N <= 256, 3]")
    raw = b"".join(b"\x00" + index[y].tobytes() for y in range(h))
    png = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
           + _chunk(b"PLTE", palette.tobytes()) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))
    path = Path(path)
    path.write_bytes(png)
    return path
