"""The overlap-add engine: an identity model gives back the input, delayed by the reported latency."""

import numpy as np
import pytest

from core.overlap_add import OverlapAdd, crossfade_weights, process_offline


def identity(w):
    return w


@pytest.mark.parametrize("window,hop", [(22050, 5512), (22050, 5513), (1000, 250), (1000, 1000), (1000, 333)])
def test_identity_streaming_is_exact_delay(window, hop):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(window * 4 + 123).astype(np.float32)
    ola = OverlapAdd(window, hop, identity)
    # push in odd-sized blocks, as an audio callback would
    outs, i = [], 0
    for size in [100, 1, 4096, 777] * 200:
        if i >= len(x):
            break
        outs.append(ola.push(x[i : i + size]))
        i += size
    y = np.concatenate(outs)
    assert len(y) % hop == 0 and len(y) > ola.latency
    lat = ola.latency
    assert lat == window - hop
    np.testing.assert_allclose(y[lat:], x[: len(y) - lat], atol=1e-6, rtol=0)
    assert np.all(y[:lat] == 0)


def test_offline_identity_is_time_aligned():
    x = np.random.default_rng(1).standard_normal(30000).astype(np.float32)
    y = process_offline(x, 4000, 1000, identity)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-6, rtol=0)


def test_windows_are_weighted_not_averaged_blindly():
    """Each output sample is the raised-cosine-weighted mean of the windows covering it: window k (a constant k
    here) adds weight w[j * hop + i] to sample i of the hop emitted j calls after it. A plain average, a missing
    window or a misplaced weight gives other numbers."""
    window, hop = 100, 25
    calls = iter(range(1000))
    ola = OverlapAdd(window, hop, lambda w: np.full(window, float(next(calls)), np.float32))
    y = ola.push(np.zeros(1000, np.float32))
    assert y.shape == (1000,) and np.isfinite(y).all()
    w = crossfade_weights(window)
    assert w.min() > 0
    expected = np.empty(1000)
    for m in range(1000 // hop):  # the hop emitted after the m-th call blends calls m, m-1, ... still overlapping it
        for i in range(hop):
            js = [j for j in range(window // hop) if m - j >= 0]
            weights = np.array([w[j * hop + i] for j in js])
            expected[m * hop + i] = np.dot(weights, [m - j for j in js]) / weights.sum()
    np.testing.assert_allclose(y, expected, atol=1e-5, rtol=0)
    assert np.abs(y[hop * 4 :] - (np.arange(hop * 4, 1000) // hop - 1.5)).max() > 0.1  # not the plain mean


def test_bad_hop_is_rejected():
    with pytest.raises(ValueError, match="hop"):
        OverlapAdd(100, 0, identity)
    with pytest.raises(ValueError, match="hop"):
        OverlapAdd(100, 101, identity)
