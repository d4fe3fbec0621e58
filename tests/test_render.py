"""latentsynth-render end to end: same rate, length and channels as the input, time-aligned, clear errors."""

import numpy as np
import pytest
import soundfile as sf
from identity_bundle import build_identity_bundle

from conftest import run_cli
from core.dsp import DcBlocker

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time


@pytest.fixture(scope="module")
def identity_bundle(tmp_path_factory):
    return build_identity_bundle(tmp_path_factory.mktemp("identity") / "bundle")


def render(args):
    return run_cli(["-m", "desktop.render_cli", "--quiet", *args])


@pytest.mark.parametrize("sr,channels", [(22050, 1), (8000, 2), (44100, 1), (48000, 2)])
def test_identity_render_is_time_aligned(identity_bundle, fixtures_dir, tmp_path, sr, channels):
    import librosa

    x, fsr = sf.read(fixtures_dir / "drums_kit_hits.wav", dtype="float32")
    x = librosa.resample(x, orig_sr=fsr, target_sr=sr)
    x = np.stack([x * (0.5 + 0.5 * c) for c in range(channels)], 1)
    src = tmp_path / "in.wav"
    sf.write(src, x, sr, subtype="FLOAT")
    out = tmp_path / "out.wav"
    proc = render([str(src), "-o", str(out), "--bundle", str(identity_bundle), "--hop", "0.25"])
    assert proc.returncode == 0, proc.stderr
    y, ysr = sf.read(out, dtype="float32", always_2d=True)
    assert ysr == sr and y.shape == x.shape and sf.info(out).subtype == "FLOAT"
    # resampling to 22.05 kHz and back and the input's DC blocker (a 10 Hz high-pass at the model rate) are the only
    # change: band-limited, never shifted in time
    lags = []
    for c in range(channels):
        corr = np.correlate(y[:, c], x[:, c], mode="full")
        lags.append(int(np.argmax(corr)) - (len(x) - 1))
        ref = librosa.resample(
            DcBlocker(22050).process(librosa.resample(x[:, c], orig_sr=sr, target_sr=22050, res_type="soxr_hq")),
            orig_sr=22050,
            target_sr=sr,
            res_type="soxr_hq",
        )[: len(x)]
        err = np.abs(y[:, c] - ref).max()  # a float input gives a float output: nothing clipped
        assert err < 2e-4, f"channel {c}: max error {err} vs the resampled input"
    assert lags == [0] * channels


def test_render_default_bundle_speech(fixtures_dir, tmp_path):
    out = tmp_path / "out.wav"
    proc = render([str(fixtures_dir / "speech_arctic_a0007.wav"), "-o", str(out)])
    assert proc.returncode == 0, proc.stderr
    x, sr = sf.read(fixtures_dir / "speech_arctic_a0007.wav")
    y, ysr = sf.read(out)
    assert ysr == sr and y.shape == x.shape
    assert np.isfinite(y).all() and np.abs(y).max() > 1e-3


def test_latent_offset_changes_output(tiny_bundle, fixtures_dir, tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    src = str(fixtures_dir / "speech_pd_voice.wav")
    assert render([src, "-o", str(a), "--bundle", str(tiny_bundle)]).returncode == 0
    assert render([src, "-o", str(b), "--bundle", str(tiny_bundle), "--latent", "0=3"]).returncode == 0
    ya, yb = sf.read(a)[0], sf.read(b)[0]
    assert ya.shape == yb.shape and np.abs(ya - yb).max() > 1e-4
    bad = render([src, "-o", str(b), "--bundle", str(tiny_bundle), "--latent", "9=1"])
    assert bad.returncode != 0 and "axis must be 0..3" in bad.stderr


# ---- bad input: each gets a clear error naming the file, or documented handling --------------------------


def _write_bytes(path, data):
    path.write_bytes(data)
    return path


def test_empty_file(tiny_bundle, tmp_path):
    src = _write_bytes(tmp_path / "empty.wav", b"")
    proc = render([str(src), "-o", str(tmp_path / "o.wav"), "--bundle", str(tiny_bundle)])
    assert proc.returncode == 2 and "empty.wav: empty file" in proc.stderr
    assert not (tmp_path / "o.wav").exists()


def test_corrupt_file(tiny_bundle, tmp_path):
    src = _write_bytes(tmp_path / "corrupt.wav", b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" + bytes(range(256)) * 4)
    proc = render([str(src), "-o", str(tmp_path / "o.wav"), "--bundle", str(tiny_bundle)])
    assert proc.returncode == 2 and "corrupt.wav: cannot decode audio" in proc.stderr


def test_zero_length_wav(tiny_bundle, tmp_path):
    src = tmp_path / "zero.wav"
    sf.write(src, np.zeros((0, 1), np.float32), 22050)
    proc = render([str(src), "-o", str(tmp_path / "o.wav"), "--bundle", str(tiny_bundle)])
    assert proc.returncode == 2 and "zero.wav: contains no audio frames" in proc.stderr


def test_nan_samples(tiny_bundle, tmp_path):
    x = np.zeros((4000, 1), np.float32)
    x[100] = np.nan
    src = tmp_path / "nan.wav"
    sf.write(src, x, 22050, subtype="FLOAT")
    proc = render([str(src), "-o", str(tmp_path / "o.wav"), "--bundle", str(tiny_bundle)])
    assert proc.returncode == 2 and "nan.wav: 1 of 4000 samples are NaN or infinite" in proc.stderr


def test_8khz_stereo_is_handled(tiny_bundle, fixtures_dir, tmp_path):
    """Documented handling: any rate and channel count is converted to the model rate per channel and back."""
    import librosa

    x, sr = sf.read(fixtures_dir / "music_rock_mix.wav", dtype="float32")
    x8 = librosa.resample(x, orig_sr=sr, target_sr=8000)
    src = tmp_path / "st8k.wav"
    sf.write(src, np.stack([x8, -x8], 1), 8000)
    out = tmp_path / "o.wav"
    proc = render([str(src), "-o", str(out), "--bundle", str(tiny_bundle)])
    assert proc.returncode == 0, proc.stderr
    y, ysr = sf.read(out)
    assert ysr == 8000 and y.shape == (len(x8), 2)


def test_short_file_shorter_than_window(tiny_bundle, tmp_path):
    src = tmp_path / "short.wav"
    sf.write(src, (0.1 * np.sin(np.arange(300) / 5)).astype(np.float32), 22050)
    out = tmp_path / "o.wav"
    assert render([str(src), "-o", str(out), "--bundle", str(tiny_bundle)]).returncode == 0
    assert sf.read(out)[0].shape == (300,)


def test_bad_bundle_is_named(tmp_path, fixtures_dir):
    proc = render(
        [
            str(fixtures_dir / "speech_pd_voice.wav"),
            "-o",
            str(tmp_path / "o.wav"),
            "--bundle",
            str(tmp_path / "missing_bundle"),
        ]
    )
    assert proc.returncode == 2 and "missing_bundle: not a bundle folder" in proc.stderr


@pytest.mark.parametrize(
    "hop_s, grid, expected",
    [(0.25, 256, 5632), (0.25, 1, 5512), (0.2, 256, 4352), (0.25, 1024, 5120), (0.01, 1024, 1024), (1.0, 256, 22016)],
)
def test_window_hop_lands_on_the_latent_grid(hop_s, grid, expected):
    from core.render import hop_samples

    hop = hop_samples(hop_s, 22050, 22050, grid)
    assert hop == expected and hop % grid == 0 and hop <= 22050


def test_on_grid_windows_agree_where_they_overlap(tiny_bundle):
    """Two overlapping windows whose starts differ by a multiple of the latent hop see the same frames, so they
    decode their shared stretch (away from the window edges) to nearly the same waveform and the crossfade adds
    coherently; shifted by a fraction of a frame (the old 0.25 s = 5512-sample hop), they disagree."""
    from core.bundle_io import load_bundle
    from core.session import ModelRunner, WindowModel

    runner = ModelRunner(load_bundle(tiny_bundle), "cpu", threads=1)
    model = WindowModel(runner)
    w, edge = runner.manifest.window, 2048
    x = (0.1 * np.random.default_rng(1).standard_normal(3 * w)).astype(np.float32)

    def disagreement(hop: int) -> float:
        a, b = model(x[:w]), model(x[hop : hop + w])
        sa, sb = a[hop + edge : w - edge], b[edge : w - hop - edge]
        return float(np.sqrt(np.mean((sa - sb) ** 2) / np.mean(sa**2)))

    on_grid = disagreement(22 * runner.manifest.latent_hop)
    off_grid = disagreement(5512)
    assert on_grid < 0.05 and on_grid < 0.2 * off_grid, (on_grid, off_grid)
