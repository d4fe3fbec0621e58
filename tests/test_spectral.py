"""The playing side's spectral module (numpy) agrees with librosa, which the trainer's losses and the research use."""

import librosa
import numpy as np
import pytest

from desktop.engine.model.spectral import colour_lut, db_column, mel_filters, mel_magnitude, stft_magnitude


@pytest.mark.parametrize(
    "sr,n_fft,n_mels", [(22050, 1024, 128), (22050, 2048, 256), (44100, 512, 64), (16000, 1024, 80)]
)
def test_mel_filters_equal_librosa(sr, n_fft, n_mels):
    ours = mel_filters(sr, n_fft, n_mels)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= 1e-6 * np.abs(ref).max()


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_stft_magnitude_equals_librosa(pad_mode):
    x = np.random.default_rng(0).standard_normal(5000).astype(np.float32) * 0.3
    ours = stft_magnitude(x, 1024, 256, center=True, pad_mode=pad_mode)
    ref = np.abs(librosa.stft(x, n_fft=1024, hop_length=256, window="hann", center=True, pad_mode=pad_mode))
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max()
    mel = mel_magnitude(x, 22050, 1024, 256, 128)  # zero padding
    mel_ref = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=128) @ np.abs(
        librosa.stft(x, n_fft=1024, hop_length=256)
    )
    assert np.abs(mel - mel_ref).max() <= 1e-4 * np.abs(mel_ref).max()


def test_db_column_reads_a_full_scale_sine_near_0_db():
    n = 1024
    x = np.sin(2 * np.pi * 64 * np.arange(n) / n).astype(np.float32)  # exactly on bin 64
    col = db_column(x)
    assert col.argmax() == 64 and -7.0 < col[64] < 0.5  # Hann's coherent gain is 0.5: -6 dB
    lut = colour_lut()
    assert lut.shape == (256, 3) and lut.dtype == np.uint8 and lut[0].sum() < lut[-1].sum()
