"""The systems a bundle is measured against, run on the same input and aligned sample for sample with it.

  opus_6k, opus_12k    libopus through Debian's ffmpeg (24 kHz, -b:a 6k / 12k), decoded, resampled back; the
                       bitrate is measured from the encoded file; the codec delay is removed by cross-correlation
  griffin_lim          32 Griffin-Lim iterations from the TRUE 256-band mel (n_fft 1024, hop 256): the ceiling of
                       any mel model, as large as the audio itself
  griffin_lim_equal    the same from a mel with as many numbers per second as the bundle's latent (equal size)
  world                the WORLD vocoder (pyworld: DIO + StoneMask f0, CheapTrick envelope, D4C aperiodicity),
                       analysis and synthesis with nothing quantised, 5 ms frames
  world_harvest        the same with Harvest's f0 (slower, far fewer octave errors and dropouts than DIO) at the
                       models' 256-sample hop (11.6 ms): the signal-processing bar of issue 22
  dsp                  the `dsp` bundle shipped beside this module (source-filter analysis and synthesis inside ONNX
                       graphs, nothing learned; docs/sourcefilter.md): what every source-filter model starts from

Each peer returns (output, bits per second): measured for Opus, the float32 parameters for the others.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..engine.model.inversion import griffin_lim_from_mel
from ..engine.model.spectral import mel_magnitude

PEERS = ("opus_6k", "opus_12k", "griffin_lim", "griffin_lim_equal", "world", "world_harvest", "dsp")
GL = {"n_mels": 256, "n_fft": 1024, "hop": 256, "n_iter": 32}
OPUS_SR = 24000
MAX_LAG = 4096
# not a factory model (its 90 numbers per hop are no codec): the reference the source-filter family is judged by
DSP_BUNDLE = Path(__file__).resolve().parent / "dsp_bundle"


class PeerError(Exception):
    """A peer cannot run here (e.g. ffmpeg missing); the message says what to install."""


def align(y: np.ndarray, x: np.ndarray, max_lag: int = MAX_LAG) -> tuple[np.ndarray, int]:
    """Shift ``y`` so it lines up with ``x`` (cross-correlation peak within +-max_lag); same length as ``x``.
    Returns (aligned, lag) where a positive lag means ``y`` was late by that many samples."""
    n = len(x)
    m = 1 << int(np.ceil(np.log2(len(x) + len(y) + 1)))
    xc = np.fft.irfft(np.fft.rfft(y, m) * np.conj(np.fft.rfft(x, m)), m)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    lag = int(lags[np.argmax(xc[lags])])
    out = y[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag), y])
    out = out[:n]
    return np.pad(out, (0, n - len(out))).astype(np.float32), lag


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise PeerError(
            "ffmpeg not found: the Opus peers need Debian's ffmpeg (apt-get install ffmpeg; "
            "scripts/setup.sh installs it)"
        )
    return exe


def opus(x: np.ndarray, sr: int, kbps: int) -> tuple[np.ndarray, float]:
    import soundfile as sf
    import soxr

    exe = _ffmpeg()
    with tempfile.TemporaryDirectory(prefix="latentsynth-opus-") as tmp:
        src, enc, dec = Path(tmp, "in.wav"), Path(tmp, "x.opus"), Path(tmp, "out.wav")
        sf.write(src, soxr.resample(np.asarray(x, np.float64), sr, OPUS_SR), OPUS_SR, subtype="FLOAT")
        quiet = [exe, "-hide_banner", "-loglevel", "error", "-y"]
        subprocess.run(
            quiet + ["-i", str(src), "-c:a", "libopus", "-b:a", f"{kbps}k", "-application", "audio", str(enc)],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            quiet + ["-i", str(enc), "-ar", str(OPUS_SR), "-ac", "1", "-c:a", "pcm_f32le", str(dec)],
            check=True,
            capture_output=True,
        )
        bits = enc.stat().st_size * 8
        y, _ = sf.read(dec, dtype="float64")
    y = soxr.resample(y, OPUS_SR, sr)
    return align(y, x)[0], bits / (len(x) / sr)


def griffin_lim(x: np.ndarray, sr: int, n_mels: int = GL["n_mels"]) -> tuple[np.ndarray, float]:
    mel = mel_magnitude(x, sr, GL["n_fft"], GL["hop"], n_mels)
    y = griffin_lim_from_mel(mel, sr, GL["n_fft"], GL["hop"], GL["n_iter"], length=len(x))
    return y.astype(np.float32), n_mels * 32 * sr / GL["hop"]


def world(x: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyworld imports the deprecated pkg_resources
        import pyworld

    xd = np.ascontiguousarray(x, np.float64)
    f0, t = pyworld.dio(xd, sr, f0_floor=50.0, f0_ceil=1500.0)
    f0 = pyworld.stonemask(xd, f0, t, sr)
    sp = pyworld.cheaptrick(xd, f0, t, sr)
    ap = pyworld.d4c(xd, f0, t, sr)
    y = pyworld.synthesize(f0, sp, ap, sr)[: len(x)]
    y = np.pad(y, (0, len(x) - len(y)))
    floats_per_second = (1 + sp.shape[1] + ap.shape[1]) * len(f0) / (len(x) / sr)
    return y.astype(np.float32), floats_per_second * 32


def world_harvest(x: np.ndarray, sr: int, hop: int = 256) -> tuple[np.ndarray, float]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyworld imports the deprecated pkg_resources
        import pyworld

    xd = np.ascontiguousarray(x, np.float64)
    period_ms = 1000.0 * hop / sr
    f0, t = pyworld.harvest(xd, sr, f0_floor=50.0, f0_ceil=1500.0, frame_period=period_ms)
    sp = pyworld.cheaptrick(xd, f0, t, sr)
    ap = pyworld.d4c(xd, f0, t, sr)
    y = pyworld.synthesize(f0, sp, ap, sr, frame_period=period_ms)[: len(x)]
    y = np.pad(y, (0, len(x) - len(y)))
    floats_per_second = (1 + sp.shape[1] + ap.shape[1]) * len(f0) / (len(x) / sr)
    return y.astype(np.float32), floats_per_second * 32


@functools.lru_cache(maxsize=1)
def _dsp_model():
    """The dsp bundle's runner, loaded once per process."""
    from core.bundle_io import load_bundle
    from core.session import ModelRunner, WindowModel

    bundle = load_bundle(DSP_BUNDLE)
    return WindowModel(ModelRunner(bundle, provider="cpu", threads=1)), bundle.manifest


def dsp(x: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    from core.audiofile import Audio, resample
    from core.render import render_audio

    model, manifest = _dsp_model()
    xs = resample(x, sr, manifest.sample_rate)
    y = render_audio(Audio(xs[None], manifest.sample_rate), model, 0.25, dc_block=False)[0]  # x is blocked (evaluate)
    y = resample(y, manifest.sample_rate, sr)[: len(x)]
    y = np.pad(y, (0, len(x) - len(y)))
    floats_per_second = sum(lv.dim * manifest.sample_rate / lv.hop for lv in manifest.levels)
    return y.astype(np.float32), floats_per_second * 32


def equal_size_mels(latent_floats_per_second: float, sr: int) -> int:
    """Mel bands per GL hop carrying as many numbers per second as a latent of that rate (at least 1)."""
    return max(1, int(round(latent_floats_per_second * GL["hop"] / sr)))


def version(name: str) -> str:
    """What a peer's cached scores depend on beyond the signal: the dsp bundle's manifest (its checksums), so a
    re-exported bundle is measured afresh; nothing for the others."""
    if name != "dsp":
        return ""
    import hashlib

    return hashlib.sha256((DSP_BUNDLE / "manifest.json").read_bytes()).hexdigest()[:16]


def run_peer(name: str, x: np.ndarray, sr: int, equal_mels: int) -> tuple[np.ndarray, float]:
    if name == "opus_6k":
        return opus(x, sr, 6)
    if name == "opus_12k":
        return opus(x, sr, 12)
    if name == "griffin_lim":
        return griffin_lim(x, sr)
    if name == "griffin_lim_equal":
        return griffin_lim(x, sr, equal_mels)
    if name == "world":
        return world(x, sr)
    if name == "world_harvest":
        return world_harvest(x, sr)
    if name == "dsp":
        return dsp(x, sr)
    raise ValueError(f"unknown peer '{name}' (known: {', '.join(PEERS)})")
