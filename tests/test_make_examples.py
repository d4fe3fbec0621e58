"""scripts/make_examples.py: the listening examples are real renders, as latentsynth-render plays them, written as Ogg
files a browser plays, with the page and the picture that link them."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES
from core.audiofile import load_audio, resample
from scripts import make_examples


def test_examples_are_the_renders_of_the_input(tmp_path):
    src = FIXTURES / "speech_arctic_a0007.wav"
    assert (
        make_examples.main(["--input", str(src), "--out", str(tmp_path), "--bundles", "violin", "--seconds", "1.5"])
        == 0
    )
    x, sr = sf.read(tmp_path / "speech_arctic_a0007.ogg")
    y, ysr = sf.read(tmp_path / "speech_arctic_a0007-violin.ogg")
    assert sr == ysr == 22050 and abs(len(x) - 1.5 * sr) < 64 and abs(len(y) - len(x)) < 64
    audio = load_audio(src)
    ref = resample(audio.mono(), audio.sample_rate, sr)[: len(x)]
    assert np.corrcoef(x, ref)[0, 1] > 0.99  # the input page entry is the input (after Vorbis)
    # the violin played the input an octave or two up: not silent, not the input itself
    assert 20 * np.log10(np.sqrt(np.mean(y**2))) > -40.0 and abs(np.corrcoef(x, y[: len(x)])[0, 1]) < 0.5
    page = (tmp_path / "README.md").read_text()
    assert "(speech_arctic_a0007-violin.ogg)" in page and "octave +" in page
    assert (tmp_path / "speech_arctic_a0007.png").stat().st_size > 10_000


def test_a_missing_bundle_is_named(tmp_path):
    with pytest.raises(SystemExit, match="no-such-bundle"):
        make_examples.main(["--out", str(tmp_path), "--bundles", "no-such-bundle", "--seconds", "1"])
