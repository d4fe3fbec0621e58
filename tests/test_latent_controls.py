"""Latent knobs move the latent along PCA axes by standard deviations."""

import numpy as np

from core.bundle import LatentStats
from core.latent import LatentControls, LevelAxes


def make_axes(d=3):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    stats = LatentStats(
        mean=tuple([0.5] * d),
        std=tuple([1.0] * d),
        components=tuple(map(tuple, q.T)),
        explained_variance=(4.0, 1.0, 0.25),
        explained_variance_ratio=(0.76, 0.19, 0.05),
    )
    return LevelAxes.from_stats(stats), q.T


def test_neutral_controls_are_identity():
    axes, _ = make_axes()
    z = np.random.default_rng(1).standard_normal((2, 3, 5)).astype(np.float32)
    out = LatentControls().apply({"z": z}, {"z": axes})
    assert out["z"] is z


def test_offset_moves_along_axis_in_std_units():
    axes, comps = make_axes()
    z = np.random.default_rng(2).standard_normal((1, 3, 4)).astype(np.float32)
    ctl = LatentControls().with_offset("z", 0, 1.5, 3)
    out = ctl.apply({"z": z}, {"z": axes})["z"]
    delta = out - z
    expected = comps[0] * 1.5 * 2.0  # sigma of axis 0 = sqrt(4)
    np.testing.assert_allclose(delta, np.broadcast_to(expected[None, :, None], delta.shape), atol=1e-5)
    coords = axes.project(out) - axes.project(z)
    np.testing.assert_allclose(coords[0, 0], 1.5, atol=1e-5)
    np.testing.assert_allclose(coords[0, 1:], 0.0, atol=1e-5)


def test_scale_zero_collapses_axis_to_mean():
    axes, _ = make_axes()
    z = np.random.default_rng(3).standard_normal((1, 3, 6)).astype(np.float32)
    out = LatentControls().with_scale("z", 1, 0.0, 3).apply({"z": z}, {"z": axes})["z"]
    np.testing.assert_allclose(axes.project(out)[0, 1], 0.0, atol=1e-5)
    np.testing.assert_allclose(axes.project(out)[0, 0], axes.project(z)[0, 0], atol=1e-5)
