"""A timbre embedding the project owns, for the transfer evaluation (issue 25): numpy and scipy only.

Embedding of one 0.5-s segment (43 frames of 1024-point FFTs, hop 256, at 22.05 kHz): the mean and standard deviation
over its frames of MFCC 1-19 (40-band log-mel, orthonormal DCT-II; c0, the level, is left out so loudness does not
decide), of the spectral centroid (octaves re 1 kHz) and of the spectral flatness (log geometric / arithmetic mean):
42 numbers. Frames more than 40 dB below the segment's loudest are left out of its statistics; a segment whose
loudest frame is below -60 dBFS is silence and has no embedding.

Classifier: linear discriminant analysis on standardised embeddings (one Gaussian per class, a shared covariance
shrunk 10 % toward its diagonal, equal priors). Frechet distance: between Gaussians fitted to two sets of embeddings,
standardised by the classifier's statistics so each dimension counts alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.model.spectral import hann, mel_filters, stft_magnitude

SR = 22050
N_FFT = 1024
HOP = 256
N_MELS = 40
N_MFCC = 20  # c0..c19; c0 dropped
SEGMENT_FRAMES = 43  # 0.5 s
FLOOR_DB = -60.0
RANGE_DB = 40.0
SHRINK = 0.1
DIM = 2 * (N_MFCC - 1) + 4


def _dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return m


_DCT = _dct_matrix(N_MFCC, N_MELS)


def frame_features(x: np.ndarray, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """x float[T] -> (features float64[frames, DIM / 2], frame level in dBFS float64[frames]); frame f at f * HOP."""
    if sr != SR:
        from core.audiofile import resample

        x = resample(np.asarray(x, np.float32), sr, SR)
    mag = stft_magnitude(np.asarray(x, np.float32), N_FFT, HOP).astype(np.float64)  # [bins, frames]
    power = mag**2 + 1e-12
    mel = mel_filters(SR, N_FFT, N_MELS).astype(np.float64) @ power
    mfcc = _DCT @ np.log(mel + 1e-10)  # [N_MFCC, frames]
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SR)[:, None]
    centroid = np.log2(np.maximum((freqs * power).sum(0) / power.sum(0), 20.0) / 1000.0)
    flatness = np.log(power).mean(0) - np.log(power.mean(0))
    level = 10 * np.log10(2.0 * power.sum(0) / (N_FFT * float(np.sum(hann(N_FFT).astype(np.float64) ** 2))))
    feats = np.concatenate([mfcc[1:], centroid[None], flatness[None]], axis=0).T
    return feats, level


def embed(
    x: np.ndarray, sr: int = SR, frame_mask: np.ndarray | None = None, min_share: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Segment embeddings of a signal: (float64[N, DIM], segment indices int[N]). ``frame_mask`` (bool per HOP-frame
    at SR, e.g. the input's voicing) keeps only segments where at least ``min_share`` of the frames are set."""
    feats, level = frame_features(x, sr)
    out, idx = [], []
    for s in range(max(1, len(level) // SEGMENT_FRAMES)):
        sl = slice(s * SEGMENT_FRAMES, (s + 1) * SEGMENT_FRAMES)
        lv = level[sl]
        if lv.size < SEGMENT_FRAMES // 2 or lv.max() < FLOOR_DB:
            continue
        if frame_mask is not None:
            m = np.asarray(frame_mask[sl], bool)
            if m.size == 0 or m.sum() < min_share * SEGMENT_FRAMES:
                continue
        f = feats[sl][lv >= lv.max() - RANGE_DB]
        out.append(np.concatenate([f.mean(0), f.std(0)]))
        idx.append(s)
    if not out:
        return np.zeros((0, DIM)), np.zeros(0, int)
    return np.stack(out), np.asarray(idx, int)


@dataclass
class Classifier:
    """LDA over named classes; ``predict`` returns class names."""

    classes: list[str]
    mean: np.ndarray
    std: np.ndarray
    centroids: np.ndarray  # [C, D] standardised
    precision: np.ndarray  # [D, D]

    @classmethod
    def fit(cls, data: dict[str, np.ndarray]) -> "Classifier":
        names = [k for k, v in data.items() if len(v)]
        if len(names) < 2:
            raise ValueError(f"the timbre classifier needs two classes with audio (got {names})")
        allx = np.concatenate([data[k] for k in names])
        mean, std = allx.mean(0), allx.std(0) + 1e-6
        zs = {k: (data[k] - mean) / std for k in names}
        centroids = np.stack([zs[k].mean(0) for k in names])
        resid = np.concatenate([zs[k] - c for k, c in zip(names, centroids)])
        cov = resid.T @ resid / max(len(resid) - len(names), 1)
        cov = (1 - SHRINK) * cov + SHRINK * np.diag(np.diag(cov)) + 1e-6 * np.eye(cov.shape[0])
        return cls(names, mean, std, centroids, np.linalg.inv(cov))

    def scores(self, e: np.ndarray) -> np.ndarray:
        """[N, C] linear discriminants (equal priors)."""
        z = (np.atleast_2d(e) - self.mean) / self.std
        w = self.centroids @ self.precision  # [C, D]
        return z @ w.T - 0.5 * np.einsum("cd,cd->c", w, self.centroids)[None]

    def predict(self, e: np.ndarray) -> list[str]:
        if len(e) == 0:
            return []
        return [self.classes[i] for i in np.argmax(self.scores(e), axis=1)]

    def share(self, e: np.ndarray, name: str) -> float | None:
        """Share of the embeddings assigned to class ``name``; None when there are none."""
        p = self.predict(e)
        return float(np.mean([q == name for q in p])) if p else None

    def frechet(self, a: np.ndarray, b: np.ndarray) -> float | None:
        """Frechet distance between Gaussians fitted to the standardised embeddings ``a`` and ``b``."""
        if len(a) < 2 or len(b) < 2:
            return None
        return frechet_distance((a - self.mean) / self.std, (b - self.mean) / self.std)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) for rows of ``a`` and ``b``."""
    from scipy import linalg

    mu = a.mean(0) - b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(sa @ sb)
    if np.iscomplexobj(root):
        root = root.real
    return float(mu @ mu + np.trace(sa + sb - 2.0 * root))
