"""benchmarks/pitch_ceiling.py: a clip's own reference pitch played back as a tone and tracked again scores near 1 on
a steady glide, less on real speech (the reference smooths a voice's fast pitch), and the shift is honoured."""

import numpy as np

from benchmarks.pitch_ceiling import score, tone
from core.audiofile import load_audio, resample
from desktop.evaluation import pitch


def _glide(seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * pitch.SR)) / pitch.SR
    f0 = 180.0 * 2.0 ** (t / seconds * 0.5)  # half an octave up, slowly
    phase = 2 * np.pi * np.cumsum(f0) / pitch.SR
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 6))).astype(np.float32)


def test_a_slow_glide_replayed_from_its_own_track_scores_almost_everything():
    x = _glide()
    ref = pitch.track(x, pitch.SR)
    for shift in (0.0, 12.0):
        s = score(ref, pitch.track(tone(ref, len(x), shift), pitch.SR), shift)
        assert s[0] > 100
        assert s[1] / s[0] > 0.97, (shift, s)
    # scored against the wrong shift, the same tone is a fifth off everywhere
    wrong = score(ref, pitch.track(tone(ref, len(x), 7.0), pitch.SR), 0.0)
    assert wrong[1] / wrong[0] < 0.05


def test_speech_replayed_from_its_own_track_scores_less_than_a_glide(fixtures_dir):
    a = load_audio(fixtures_dir / "speech_arctic_a0007.wav")
    x = resample(a.mono(), a.sample_rate, pitch.SR)
    ref = pitch.track(x, pitch.SR)
    s = score(ref, pitch.track(tone(ref, len(x), 0.0), pitch.SR), 0.0)
    assert s[0] > 50
    assert 0.6 < s[1] / s[0] <= 1.0
    assert np.isclose(s[1:].sum(), s[0])  # every input-voiced frame lands in exactly one column
