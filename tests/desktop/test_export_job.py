"""The offline export job (engine side, no Qt): progress to 1.0 and a file equal in length and rate to the input;
cancel writes nothing; an output path the renderer would refuse is refused before any thread starts."""

import pytest
import soundfile as sf

from core.audiofile import load_audio
from core.latent import LatentControls
from desktop.engine.files.export_job import ExportError, ExportJob
from tests.waits import wait_for

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time


def test_progress_reaches_one_and_the_file_is_written(default_runner, fixtures_dir, tmp_path):
    audio = load_audio(fixtures_dir / "speech_arctic_a0007.wav")
    out = tmp_path / "out.wav"
    job = ExportJob(audio, default_runner, LatentControls(), out, 0.25)
    seen = []
    job.start()
    wait_for(lambda: seen.append(job.progress) or job.done, "the export job", timeout=120, every=0.01)
    assert job.progress == 1.0 and not job.failed and job.result.startswith(f"Exported {audio.seconds:.1f} s to {out}")
    assert all(0.0 <= p <= 1.0 for p in seen) and seen == sorted(seen)
    y, sr = sf.read(out)
    assert sr == audio.sample_rate and y.shape[0] == audio.frames


def test_cancel_writes_nothing(default_runner, fixtures_dir, tmp_path):
    audio = load_audio(fixtures_dir / "speech_arctic_a0007.wav")
    out = tmp_path / "out.wav"
    job = ExportJob(audio, default_runner, LatentControls(), out, 0.05)
    job.cancel()  # before the first window: the job stops at its first progress step
    assert job.start().wait(60)
    assert job.failed and job.result == "Export cancelled" and not out.exists()


@pytest.mark.parametrize("name, words", [("in", "is also an input"), ("x.txt", "extension '.txt'")])
def test_a_refused_output_never_starts(default_runner, fixtures_dir, tmp_path, name, words):
    src = tmp_path / "in.wav"
    src.write_bytes((fixtures_dir / "speech_arctic_a0007.wav").read_bytes())
    audio = load_audio(src)
    with pytest.raises(ExportError, match=words):
        ExportJob(audio, default_runner, LatentControls(), src if name == "in" else tmp_path / name, 0.25)


def test_the_export_renders_the_file_from_disk_in_blocks(default_runner, fixtures_dir, tmp_path):
    """The app holds the loaded file already; the export used to render a second whole copy and hold the whole output
    (three times the file at its peak). It reads the file from disk in blocks now: the samples of ``render_audio``,
    and a peak allocation during the export well under the file's own size."""
    import tracemalloc

    import numpy as np

    from core.render import render_audio
    from core.session import WindowModel

    x = sf.read(fixtures_dir / "speech_arctic_a0007.wav", dtype="float32")[0]
    src = tmp_path / "long.wav"
    sf.write(src, np.stack([np.resize(x, 60 * 44100), 0.5 * np.resize(x, 60 * 44100)], 1), 44100, subtype="FLOAT")
    audio = load_audio(src)  # 60 s of 44.1 kHz stereo: 21 MB as float32
    out = tmp_path / "out.wav"
    tracemalloc.start()
    job = ExportJob(audio, default_runner, LatentControls(), out, 0.25)
    assert job.start().wait(300) and not job.failed, job.result
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < audio.samples.nbytes / 2, (peak, audio.samples.nbytes)
    whole = render_audio(audio, WindowModel(default_runner, LatentControls()), 0.25)
    got = sf.read(out, dtype="float32", always_2d=True)[0].T
    assert got.shape == whole.shape and float(np.abs(got - whole).max()) <= 1e-4
