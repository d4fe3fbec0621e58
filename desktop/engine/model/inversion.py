"""Griffin-Lim from a mel spectrogram: the research's inversion, kept as the measured baseline (offline only).

Used two ways: on a mel-VAE bundle's decoder output 'mel' (normalisation undone with the manifest's
``extra.mel``), and on the true mel of the input (the eval baseline). Slow (tenths of a second per second of
audio): never on the audio thread. Needs librosa (``pip install latentsynth[offline]``) for ``griffinlim``.
"""

from __future__ import annotations

import numpy as np

from core.bundle import BundleError

from .spectral import mel_filters_pinv


def griffin_lim_from_mel(
    mel: np.ndarray,
    sample_rate: int,
    n_fft: int = 1024,
    hop: int = 256,
    n_iter: int = 32,
    length: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """mel magnitude float32[n_mels, F] (librosa frame convention: frame f centred on sample f*hop) -> float32[T].

    The linear magnitude is estimated with the mel filters' pseudo-inverse (clipped at 0) instead of librosa's
    NNLS (``mel_to_stft``), which costs seconds per second of audio; then ``n_iter`` Griffin-Lim iterations.
    """
    librosa = require_librosa()
    inv = mel_filters_pinv(sample_rate, n_fft, mel.shape[0])
    spec = np.maximum(inv @ mel, 0.0)
    return librosa.griffinlim(
        spec, n_iter=n_iter, hop_length=hop, n_fft=n_fft, window="hann", center=True, length=length, random_state=seed
    ).astype(np.float32)


def mel_info(manifest) -> dict:
    info = manifest.extra.get("mel")
    if not info:
        raise BundleError(
            f"bundle family '{manifest.family}' has no mel output (manifest 'extra.mel'); "
            "Griffin-Lim inversion needs a mel-VAE bundle"
        )
    return info


def decoded_mel_to_audio(mel_norm: np.ndarray, manifest, n_iter: int = 32) -> np.ndarray:
    """A decoder's normalised log-mel float32[n_mels, F] (model frame f centred on f*hop + hop/2) -> float32[F*hop]."""
    info = mel_info(manifest)
    mel = np.exp(mel_norm.astype(np.float64) * info["norm_std"] + info["norm_mean"]) - info["log_floor"]
    mel = np.maximum(mel, 0.0)
    hop, frames = int(info["hop"]), mel.shape[-1]
    # librosa's centred frames: F frames span (F - 1) * hop samples; model frames sit ``frame_offset`` later
    y = griffin_lim_from_mel(mel, manifest.sample_rate, int(info["n_fft"]), hop, n_iter, length=(frames - 1) * hop)
    off = int(info.get("frame_offset", hop // 2))
    y = np.concatenate([np.zeros(off, np.float32), y])
    return np.pad(y, (0, max(0, frames * hop - len(y))))[: frames * hop]


def require_librosa():
    """librosa, or a RuntimeError that says how to install it (it is not part of the playing install)."""
    try:
        import librosa
    except ImportError as exc:
        raise RuntimeError(
            "Griffin-Lim inversion needs librosa, which the playing install leaves out: "
            "pip install 'latentsynth[offline]'"
        ) from exc
    return librosa


class GriffinLimRunner:
    """A ModelRunner stand-in whose ``decode`` inverts the decoder's 'mel' output with Griffin-Lim instead of
    using its 'audio' output; everything else is delegated. Wrap a runner and hand it to a WindowModel. A streaming
    bundle's runner is rendered in windows through it (``windows_only``): its streaming graphs give no mel."""

    windows_only = True

    def __init__(self, runner, n_iter: int = 32):
        require_librosa()
        mel_info(runner.manifest)
        outs = [o.name for o in runner.sessions["decoder"].get_outputs()]
        if "mel" not in outs:
            raise BundleError(f"{runner.bundle.part_path('decoder')}: has no 'mel' output (outputs: {outs})")
        self._runner, self.n_iter = runner, n_iter

    def __getattr__(self, name):
        return getattr(self._runner, name)

    def decode(self, latents: dict[str, np.ndarray]) -> np.ndarray:
        r = self._runner
        mel = r.sessions["decoder"].run(["mel"], {n: latents[n] for n in r.level_names})[0]
        return np.stack([decoded_mel_to_audio(m, r.manifest, self.n_iter) for m in mel])[:, None, :]
