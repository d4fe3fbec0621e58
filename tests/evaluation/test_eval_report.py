"""latentsynth-eval end to end: a bundle whose output and KL are known, every peer, the cache, the report."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from desktop.evaluation.cli import main as eval_main
from tests.identity_bundle import HOP, build_identity_bundle

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time

SR = 22050
SCALE = 0.5


@pytest.fixture(scope="module")
def data(tmp_path_factory, fixtures_dir):
    """A speech/ and a drums/ folder with one fixture clip each."""
    root = tmp_path_factory.mktemp("evaldata")
    for cat, name in (("speech", "speech_arctic_a0007.wav"), ("drums", "drums_loop_tabla.wav")):
        (root / cat).mkdir()
        shutil.copy(fixtures_dir / name, root / cat / name)
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory, data):
    bundle = build_identity_bundle(tmp_path_factory.mktemp("b") / "identity", scale=SCALE)
    out = tmp_path_factory.mktemp("r") / "report"
    cache = tmp_path_factory.mktemp("cache")
    args = [
        "--bundle",
        str(bundle),
        "--data",
        str(data),
        "--out",
        str(out),
        "--max-seconds",
        "2",
        "--peers",
        "--cache",
        str(cache),
        "--images",
        "2",
        "--no-progress",
    ]
    assert eval_main(args) == 0
    first = json.loads((out / "metrics.json").read_text())
    cached = sorted(p.name for p in cache.iterdir())
    assert eval_main(args) == 0  # the second run reuses every peer's record
    assert sorted(p.name for p in cache.iterdir()) == cached
    second = json.loads((out / "metrics.json").read_text())
    return {"bundle": bundle, "out": out, "first": first, "second": second, "cache": cache, "data": data}


def test_identity_bundle_scores_as_perfect(report):
    m = report["first"]["overall"]["model"]
    assert m["mel_distance"] < 1e-3 and m["si_sdr"] > 60 and abs(m["level_change_db"]) < 1e-3
    assert m["visqol"] > 4.6 and m["pesq_wb"] > 4.5 and m["stoi"] > 0.99
    assert m["pitch_median_cents"] < 0.5 and m["pitch_within_50c"] > 0.99 and m["voicing_agreement"] > 0.99


# every peer of the eval, in its order
PEERS = ("opus_6k", "opus_12k", "griffin_lim", "griffin_lim_equal", "world", "world_harvest", "dsp")


def test_every_peer_is_scored_on_every_file(report):
    r = report["first"]
    assert r["systems"] == ["model", "model_whole_file", *PEERS]
    for rec in r["per_file"]:
        assert set(rec["metrics"]) == set(r["systems"])
    assert set(r["by_category"]) == {"speech", "drums"}
    speech = r["by_category"]["speech"]["systems"]
    assert speech["opus_12k"]["pesq_wb"] > speech["opus_6k"]["pesq_wb"]
    assert r["by_category"]["drums"]["systems"]["opus_12k"]["pesq_wb"] is None  # speech metrics on speech only
    assert 5_000 < r["rates_bps"]["opus_6k"] < 8_000 and 10_000 < r["rates_bps"]["opus_12k"] < 15_000
    assert r["equal_size_mels"] == HOP  # the identity latent holds as many floats as the audio


def test_cached_peers_give_the_same_numbers(report):
    a, b = report["first"]["overall"], report["second"]["overall"]
    for system in a:
        for k, v in a[system].items():
            assert b[system][k] == (v if v is None else pytest.approx(v, rel=1e-9, abs=1e-12)), (system, k)


def test_information_rate_of_a_known_kl(report):
    # whole-file encode: the identity latent is the gain-normalised samples, the scale is constant: KL in closed form
    total_bits, total_frames = 0.0, 0
    for rec in report["first"]["per_file"]:
        x, sr = sf.read(report["data"] / rec["file"], dtype="float32")
        x = x if x.ndim == 1 else x.mean(1)
        from core.audiofile import resample

        x = resample(x, sr, SR)[: 2 * SR]
        gain = min(0.1 / np.sqrt(np.mean(x.astype(np.float64) ** 2)), 10**1.5)
        m = np.pad(x * gain, (0, (-len(x)) % HOP)).reshape(-1, HOP).astype(np.float64)
        total_bits += (0.5 * (m**2 + SCALE**2 - np.log(SCALE**2) - 1)).sum() / np.log(2)
        total_frames += m.shape[0]
    expected = total_bits / total_frames * SR / HOP
    assert report["first"]["rates_bps"]["model"] == pytest.approx(expected, rel=1e-3)


def test_probes_and_report(report):
    r, out = report["first"], report["out"]
    assert set(r["probes"]) == {"model", *PEERS}
    ident = r["probes"]["model"]
    for name in ("sine_110", "sine_880", "saw_110"):
        assert ident[name]["pitch_error_cents"] < 1.0 and abs(ident[name]["level_change_db"]) < 0.01
    assert ident["vibrato_330"]["vibrato_depth_kept"] == pytest.approx(1.0, abs=0.02)
    md = (out / "report.md").read_text()
    for section in ("## Information rate", "## Overall", "## Per category", "## Probes", "## Spectrograms"):
        assert section in md
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "rate_plane.png" in pngs and len(pngs) == 3
    assert all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_bad_input_is_one_line_exit_2(tmp_path, capsys, report):
    assert (
        eval_main(["--bundle", str(tmp_path / "nope"), "--data", str(report["data"]), "--out", str(tmp_path / "r")])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "Traceback" not in err[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert eval_main(["--bundle", str(report["bundle"]), "--data", str(empty), "--out", str(tmp_path / "r2")]) == 2
    assert "no audio files" in capsys.readouterr().err
