"""The eval's signal-processing peers: `dsp` (the shipped source-filter bundle, run by onnxruntime) and
`world_harvest` give aligned, level-true speech of listenable quality on a clip no model was trained on."""

import numpy as np
import pytest
import soundfile as sf

from core.bundle_io import load_bundle
from desktop.evaluation import peers
from desktop.evaluation.perceptual import pesq_wb, stoi


@pytest.fixture(scope="module")
def speech(fixtures_dir):
    x, sr = sf.read(fixtures_dir / "speech_arctic_a0007.wav", dtype="float32")
    return x, sr


def test_the_dsp_bundle_is_a_streaming_source_filter_bundle():
    m = load_bundle(peers.DSP_BUNDLE).manifest
    assert m.family == "sf" and m.streaming is not None and m.extra["sf"]["learned_latent"] == 0
    # the bases are computed in the graphs, not stored
    assert sum(f.stat().st_size for f in peers.DSP_BUNDLE.glob("*.onnx")) < 1_000_000


@pytest.mark.parametrize("name,min_pesq,min_stoi", [("dsp", 1.8, 0.88), ("world_harvest", 1.9, 0.9)])
def test_signal_processing_peers_resynthesise_speech(speech, name, min_pesq, min_stoi):
    x, sr = speech
    y, bits_per_second = peers.run_peer(name, x, sr, 8)
    assert y.shape == x.shape and np.isfinite(y).all() and bits_per_second > 0
    level_db = 10 * np.log10(np.mean(y**2) / np.mean(x**2))
    assert abs(level_db) < 2.0, level_db
    # aligned: the best lag of the cross-correlation is within a few samples... of a resynthesis whose phase is not the
    # input's, so use the energy envelopes (2048-sample frames)
    env = lambda s: np.sqrt(np.convolve(s**2, np.ones(512) / 512, "valid"))  # noqa: E731
    ex, ey = env(x), env(y)
    lags = range(-256, 257, 8)
    best = max(lags, key=lambda k: np.corrcoef(ex[256 + k : len(ex) - 256 + k], ey[256 : len(ey) - 256])[0, 1])
    assert abs(best) <= 32, best
    assert pesq_wb(x, y, sr) > min_pesq
    assert stoi(x, y, sr) > min_stoi


def test_every_peer_is_described_in_the_report():
    from desktop.evaluation.evaluate import NOTES

    assert set(peers.PEERS) <= set(NOTES)
