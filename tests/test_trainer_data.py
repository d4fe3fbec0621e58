"""Dataset: recursive folders, any format/rate/channels, short files padded, bad files reported, split by file."""

import numpy as np
import pytest
import soundfile as sf

from core.audiofile import AudioFileError
from trainer.config import DataConfig, apply_override, load_config
from trainer.data import AudioFolder, ChunkDataset, chunk_starts


def test_chunk_starts_cover_the_tail_and_pad_short():
    assert chunk_starts(100, 200, 50) == [0]
    assert chunk_starts(200, 200, 50) == [0]
    s = chunk_starts(1030, 200, 100)
    assert s[0] == 0 and s[-1] == 830 and all(b - a <= 100 for a, b in zip(s, s[1:]))


@pytest.fixture()
def mixed_folder(tmp_path, fixtures_dir):
    x, sr = sf.read(fixtures_dir / "speech_pd_voice.wav", dtype="float32")
    (tmp_path / "a" / "deep").mkdir(parents=True)
    sf.write(tmp_path / "a" / "deep" / "stereo48k.flac", np.stack([x, x], 1)[:4000], 48000)
    sf.write(tmp_path / "a" / "mono.ogg", x, sr, format="OGG", subtype="VORBIS")
    sf.write(tmp_path / "tiny.wav", x[:500], 8000)  # shorter than a window: padded, kept
    (tmp_path / "broken.wav").write_bytes(b"not audio at all")
    (tmp_path / "notes.txt").write_text("ignored: not an audio extension")
    return tmp_path


def test_folder_loads_everything_and_reports_bad_files(mixed_folder, capsys):
    folder = AudioFolder.load(mixed_folder, 22050, show_progress=False)
    assert sorted(p.name for p in folder.files) == ["mono.ogg", "stereo48k.flac", "tiny.wav"]
    assert len(folder.problems) == 1 and "broken.wav" in folder.problems[0][0]
    assert "broken.wav" in capsys.readouterr().err
    lengths = {p.name: len(s) for p, s in zip(folder.files, folder.signals)}
    assert lengths["stereo48k.flac"] == round(4000 * 22050 / 48000)
    ds = ChunkDataset(folder.signals, DataConfig(window=22050, chunk_hop=11025))
    assert len(ds) >= 3  # every file gives at least one chunk: nothing silently dropped
    item = ds[0]
    assert item.shape == (1, 22050) and item.dtype.is_floating_point
    rms = float(item.pow(2).mean().sqrt())
    assert rms == pytest.approx(10 ** (-20 / 20), rel=1e-3)  # loudness-normalised as the bundle records


def test_split_is_deterministic_by_file(fixtures_dir):
    f1 = AudioFolder.load(fixtures_dir, 22050, show_progress=False)
    f2 = AudioFolder.load(fixtures_dir, 22050, show_progress=False)
    t1, v1 = f1.split(10.0)
    assert (t1, v1) == f2.split(10.0)
    assert v1 and t1 and not set(t1) & set(v1)
    assert f1.summary(t1, v1)["files"] == 9


def test_folder_without_audio(tmp_path):
    with pytest.raises(AudioFileError, match="no audio files found"):
        AudioFolder.load(tmp_path, 22050)
    (tmp_path / "x.wav").write_bytes(b"")
    with pytest.raises(AudioFileError, match="none of the 1 audio files could be read"):
        AudioFolder.load(tmp_path, 22050, show_progress=False)


def test_config_presets_and_overrides(tmp_path):
    cfg = load_config("waveform-vae", ["train.batch_size=3", "lr=1e-4", "model.strides=[2, 2]"])
    assert cfg.train.batch_size == 3 and cfg.train.lr == 1e-4 and cfg.model.strides == [2, 2]
    with pytest.raises(ValueError, match="unknown config key 'train.nope'"):
        apply_override(cfg, "train.nope=1")
    with pytest.raises(ValueError, match="neither a YAML file nor a preset"):
        load_config("no-such-preset")
    y = tmp_path / "c.yaml"
    y.write_text("model:\n  latent_dim: 8\n")
    assert load_config(str(y)).model.latent_dim == 8
