"""Information rate of a bundle's latent in bits per second, beside the peers' bitrates.

Gaussian latents: the KL of the posterior N(mean, scale^2) from the prior N(0, I), in bits, summed over dims, per
frame, times frames per second: what a bits-back coder would spend. The encoder exports the posterior scale as an
extra output (named in the manifest's ``latent.levels[].scale_output``). Bundles without it have no KL rate.
Quantized latents (FSQ): the nominal code rate (log2 of the grid per group) and the entropy rate of the codes used.
"""

from __future__ import annotations

import numpy as np

LN2 = float(np.log(2.0))


def kl_bits(mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """mean, scale float[..., D, F] -> KL(N(mean, scale^2) || N(0, 1)) in bits per frame, summed over D: float[..., F]."""
    m, s = np.asarray(mean, np.float64), np.asarray(scale, np.float64)
    var = s * s
    return (0.5 * (m * m + var - np.log(var) - 1.0)).sum(axis=-2) / LN2


def frames_per_second(sample_rate: int, hop: int) -> float:
    return sample_rate / hop


def code_rate(manifest) -> dict | None:
    """FSQ bundles: nominal bits per second of the code stream (manifest's grid), or None."""
    q = manifest.extra.get("quantizer")
    if not q or q.get("type") != "fsq":
        return None
    bits_per_code = float(np.sum(np.log2(q["levels"])))
    fps = frames_per_second(manifest.sample_rate, manifest.latent_hop)
    return {
        "bits_per_second": bits_per_code * int(q.get("groups", 1)) * fps,
        "source": "codes (nominal grid)",
        "bits_per_frame": bits_per_code * int(q.get("groups", 1)),
    }


def entropy_rate(perplexity_per_group: list[float], fps: float) -> float:
    """Bits per second of codes used with these per-group perplexities (exp of entropy in nats)."""
    return float(sum(np.log2(max(p, 1.0)) for p in perplexity_per_group) * fps)
