"""Both streaming modes are exact with an identity model: output == input delayed by the reported latency."""

import numpy as np
import pytest

from core.overlap_add import LowLatencyOverlapAdd, OverlapAdd, make_overlap_add


def _stream(ola, x, rng):
    outs, i = [], 0
    while i < x.size:
        n = int(rng.integers(1, 2000))
        outs.append(ola.push(x[i : i + n]))
        i += n
    return np.concatenate(outs)


@pytest.mark.parametrize("hop,crossfade,margin", [(1103, 441, 0), (2205, None, 256), (11025, 64, 0), (500, 500, 10)])
def test_low_latency_identity(hop, crossfade, margin):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(60000).astype(np.float32)
    ola = LowLatencyOverlapAdd(22050, hop, lambda w: w, crossfade=crossfade, margin=margin)
    y = _stream(ola, x, rng)
    lat = ola.latency
    assert lat == ola.crossfade + margin
    assert y.size >= x.size - hop
    np.testing.assert_allclose(y[lat:], x[: y.size - lat], atol=1e-6)


def test_low_latency_emits_only_the_newest_hop():
    """The model sees the full 1 s window but only its newest hop (minus the crossfade) reaches the output."""
    seen = []

    def fn(w):
        seen.append(w.copy())
        return np.full_like(w, float(len(seen)))

    ola = LowLatencyOverlapAdd(1000, 100, fn, crossfade=20)
    y = ola.push(np.ones(500, np.float32))
    assert all(s.shape == (1000,) for s in seen)
    # after the crossfade region, each hop carries the value of the window that produced it
    assert np.allclose(y[120:180], 2.0) and np.allclose(y[420:480], 5.0)


def test_factory_and_window_mode_unchanged():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(40000).astype(np.float32)
    ola = make_overlap_add("window", 4096, 1024, lambda w: w)
    assert isinstance(ola, OverlapAdd) and ola.latency == 4096 - 1024
    y = _stream(ola, x, rng)
    np.testing.assert_allclose(y[ola.latency :], x[: y.size - ola.latency], atol=1e-6)
    with pytest.raises(ValueError):
        make_overlap_add("nope", 4096, 1024, lambda w: w)
