"""Issue 13 in the app and the engine: switches without clicks, recordings that lose nothing and have one writer,
errors that reach the status line and the JSON line, devices that went away, and clean exits."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT
from core.output_path import OutputPathError
from desktop.engine.audio import live
from desktop.engine.audio.devices import NullDriver
from desktop.engine.audio.live import LiveEngine
from desktop.engine.audio.stream_watch import STALL_MESSAGE
from desktop.engine.model.slot import ModelSlot
from desktop.engine.parameters.values import EngineParams, StreamConfig
from tests.waits import wait_for

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time

RATE = 44100
needs_xvfb = pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (Debian: xvfb)")


def _sine(seconds: float, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def _switches(eng: LiveEngine, drv: NullDriver) -> list[int]:
    """Mode, hop and model changes while playing; returns the captured positions where each was asked for."""
    at = []
    for change in (
        lambda: eng.set_stream_config(StreamConfig("low-latency", 0.1)),
        lambda: eng.set_stream_config(StreamConfig("window", 0.1)),
        lambda: eng.set_model(ModelSlot.identity()),
        lambda: eng.set_stream_config(StreamConfig("low-latency", 0.25)),
    ):
        time.sleep(1.5)
        at.append(drv.blocks_done * drv.blocksize)
        change()
    time.sleep(2.0)
    return at


@pytest.mark.parametrize("fade", [True, False], ids=["switch-fade", "control-without-fade"])
def test_rebuilds_while_playing_do_not_click(fade, monkeypatch):
    """The largest sample step anywhere after the start, through four rebuilds, stays at the sine's own largest
    step; the control (the fades shortened to one sample) shows the test sees the clicks it guards against."""
    if not fade:
        monkeypatch.setattr(live, "SWITCH_FADE_S", 1.0 / RATE)
    x = _sine(30.0)
    eng = LiveEngine()
    eng.set_model(ModelSlot.identity())
    eng.set_stream_config(StreamConfig("low-latency", 0.2))
    eng.set_params(EngineParams(limiter=False))
    drv = NullDriver(RATE, 512, x, loop=True, speed=1.0, capture=True)
    eng.start(drv)
    try:
        at = _switches(eng, drv)
    finally:
        eng.stop(fade=False)
    y = drv.captured()
    natural = 0.5 * 2 * np.pi * 440 / RATE  # the sine's largest step between samples: 0.0313
    start = RATE  # after the start's fade-in and the first audio; the first switch comes at 1.5 s
    steps = np.abs(np.diff(y[start:]))
    worst = float(steps.max())
    print(f"fade={fade}: largest step {worst:.4f} (the sine's own: {natural:.4f}); switches at {at}")
    assert eng.underruns == 0 or not fade, "underruns would add steps of their own"
    if fade:
        assert worst <= 1.25 * natural, f"a click: step {worst:.3f} at {start + int(steps.argmax())}"
    else:
        assert worst > 4 * natural, "without the fades the switches should click; the test cannot see them"


def test_a_device_change_fades_out_and_back_in():
    """A device change is a stop and a start on another stream: 150 ms fades at both ends, so the audio the two
    devices play, one after the other, has no step larger than the sine's own."""
    eng = LiveEngine()
    eng.set_model(ModelSlot.identity())
    eng.set_params(EngineParams(limiter=False))
    outs = []
    for _ in range(2):
        drv = NullDriver(RATE, 512, _sine(10.0), loop=True, speed=1.0, capture=True)
        eng.start(drv)
        time.sleep(1.5)
        eng.stop()  # with its fade, as the window's restart does
        outs.append(drv.captured())
    y = np.concatenate(outs)
    natural = 0.5 * 2 * np.pi * 440 / RATE
    worst = float(np.abs(np.diff(y)).max())
    print(f"device change: largest step {worst:.4f} (the sine's own: {natural:.4f})")
    assert np.abs(outs[0][-64:]).max() < 0.01 and np.abs(outs[1][:64]).max() < 0.01
    assert np.abs(outs[0]).max() > 0.4 and np.abs(outs[1]).max() > 0.4
    assert worst <= 1.25 * natural


def test_stop_recording_writes_every_pushed_block(tmp_path):
    """Start and stop a recording 25 times while the worker pushes blocks: each file holds exactly what was
    pushed to its recorder (the stop used to sleep 20 ms and hope the worker had let go)."""
    eng = LiveEngine()
    eng.set_model(ModelSlot.identity())
    eng.set_params(EngineParams(limiter=False))
    eng.start(NullDriver(RATE, 256, _sine(5.0), loop=True, speed=4.0))
    try:
        recs = []
        for i in range(25):
            eng.start_recording(str(tmp_path / f"take{i}.wav"))
            time.sleep(0.05 + 0.01 * (i % 5))
            recs.append(eng.stop_recording())
    finally:
        eng.stop(fade=False)
    for rec in recs:
        info = sf.info(str(rec.path))
        assert rec.error is None and info.frames == rec.pushed_frames, (rec.path, info.frames, rec.pushed_frames)
    assert sum(rec.pushed_frames for rec in recs) > RATE  # the takes did receive audio


def test_a_file_being_recorded_is_refused_to_another_process(tmp_path):
    eng = LiveEngine(journal_dir=str(tmp_path / "journal"))
    eng.set_model(ModelSlot.identity())
    eng.start(NullDriver(RATE, 512, _sine(2.0), loop=True, speed=2.0))
    path = tmp_path / "take.wav"
    try:
        eng.start_recording(str(path))
        wait_for(lambda: eng.recorder.pushed_frames > 0, "the take to start")
        probe = textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(ROOT)!r})
            from desktop.engine.files.recorder import Recorder, recover_recordings
            from core.output_path import OutputPathError
            print(recover_recordings({str(tmp_path / "journal")!r}))  # another start's crash recovery
            try:
                Recorder({str(path)!r}, 44100)
            except OutputPathError as exc:
                print(exc)
        """)
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60).stdout
        with pytest.raises(OutputPathError, match="is being recorded right now"):
            eng.start_recording(str(path))  # the same name again from this process: refused too
        assert eng.recorder is not None and eng.recorder.path == path  # ... and the take goes on
        wait_for(lambda: eng.recorder.pushed_frames > RATE * 0.3, "0.3 s in the take")
        rec = eng.stop_recording()
    finally:
        eng.stop(fade=False)
    assert out.splitlines()[0] == "[]", "the other start's recovery must leave a live recording alone"
    assert "is being recorded right now" in out and str(path) in out
    assert sf.info(str(path)).frames == rec.pushed_frames > RATE * 0.3
    assert not list((tmp_path / "journal").glob("*.json"))


def test_engine_messages_clear_from_the_status_line(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from desktop.ui.main_window import AppOptions, MainWindow

    w = MainWindow(
        LiveEngine(),
        QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat),
        AppOptions(list_devices=False, modal_errors=False),
    )
    qtbot.addWidget(w)
    w.engine.error = STALL_MESSAGE
    w.tick()
    assert w.message_label.text() == STALL_MESSAGE
    w.engine.error = ""  # the audio came back: the line must not keep saying it stopped
    w.tick()
    assert w.message_label.text() == ""


def test_engine_is_not_stalled_before_its_first_callback():
    """A stream that has not delivered its first callback yet is starting, not stopped."""
    eng = LiveEngine()
    eng.set_model(ModelSlot.identity())
    drv = NullDriver(RATE, 512, _sine(1.0))
    drv.open = lambda callback, input_needed: None  # a device that takes its time to start
    eng.start(drv)
    try:
        eng.started_at -= 8.0  # as if it had been starting for 8 s
        eng._check_stall()
        assert eng.error == ""
        eng.started_at -= 3.0
        eng._check_stall()
        assert "has not started after 10 s" in eng.error
    finally:
        eng.stop(fade=False)


# ---- the real app: PulseAudio's virtual devices, Xvfb --------------------------------------------------------------
def _app(pulse, tmp_path, *args, settings=None, state=None, limit=None, wait=True):
    env = {
        **pulse,
        "LATENTSYNTH_SETTINGS": str(settings or tmp_path / "s.ini"),
        "LATENTSYNTH_STATE_DIR": str(state or tmp_path / "state"),
        "QT_QPA_PLATFORM": "xcb",
    }

    def preexec():
        if limit:  # inherited: a write past the limit fails with EFBIG instead of killing the process
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    # the file-size limit for the app alone (Xvfb writes files of its own)
    fsize = ["prlimit", f"--fsize={limit}"] if limit else []
    cmd = ["xvfb-run", "-a", *fsize, sys.executable, "-m", "desktop.app", *args]
    proc = subprocess.Popen(
        cmd, env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec
    )
    if not wait:
        return proc
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _json(out: str) -> dict:
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


@needs_xvfb
def test_two_instances_one_recording(pulse, fixtures_dir, tmp_path):
    take = tmp_path / "take.wav"
    clip = str(fixtures_dir / "music_rock_mix.wav")
    first = _app(pulse, tmp_path, "--input-file", clip, "--record", str(take), "--quit-after", "8", wait=False)
    wait_for(lambda: take.exists() and take.stat().st_size > 44, "the first instance's take to start", timeout=60)
    rc, out, err = _app(
        pulse, tmp_path, "--input-file", clip, "--record", str(take), "--quit-after", "1", settings=tmp_path / "s2.ini"
    )
    assert rc == 2 and "is being recorded right now" in err and str(take) in err, err
    rc3, out3, err3 = _app(pulse, tmp_path, "--input-file", clip, "--quit-after", "1", settings=tmp_path / "s3.ini")
    assert rc3 == 0 and "recovered" not in err3, err3  # the third start's recovery left the live take alone
    out1, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, err1[-2000:]
    stats = _json(out1)
    assert stats["error"] == "" and stats["record_seconds"] > 3
    y, sr = sf.read(take)
    assert y.size >= stats["record_seconds"] * sr * 0.95 and np.abs(y).max() > 0.01


@needs_xvfb
@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit (util-linux) is not installed")
def test_recording_error_reaches_the_json_line(pulse, fixtures_dir, tmp_path):
    """The disk 'fills up' (RLIMIT_FSIZE) one second into the take: the JSON line says so, naming the file."""
    take = tmp_path / "take.wav"
    rc, out, err = _app(
        pulse,
        tmp_path,
        "--input-file",
        str(fixtures_dir / "music_rock_mix.wav"),
        "--record",
        str(take),
        "--quit-after",
        "4",
        limit=200_000,
    )
    stats = _json(out)
    assert str(take) in stats["error"] and "File too large" in stats["error"], stats
    assert sf.info(str(take)).frames > 0  # what was written before the disk filled up is a readable WAV


@needs_xvfb
def test_a_saved_device_that_went_away_does_not_silence_the_next_start(pulse, fixtures_dir, tmp_path):
    ini = tmp_path / "s.ini"
    ini.write_text("[audio]\noutput_device=Headphones That Were Unplugged\n")
    rc, out, err = _app(pulse, tmp_path, "--input-file", str(fixtures_dir / "music_rock_mix.wav"), "--quit-after", "3")
    assert rc == 0, err[-2000:]
    stats = _json(out)
    assert stats["frames_out"] > RATE and "without audio output" not in err, (stats, err)
    assert "Unplugged" not in ini.read_text()


@needs_xvfb
def test_app_exits_cleanly_every_time(pulse):
    """A few launches of benchmarks.app_exits (the benchmark runs 200): no crash on exit, and each JSON line
    carries the start-up moments."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.app_exits", "--runs", "6", "--quit-after", "3"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=str(ROOT),
    )
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["crashes"] == 0 and proc.returncode == 0, summary["crashed_runs"]
    timing = summary["startup_s"]
    assert timing["window_shown"]["n"] == 6 and timing["first_callback"]["n"] == 6
    # on an oversubscribed machine the first sound of a launch can miss a 3-s run; most must have it
    assert timing["first_sound"]["n"] >= 4
    assert timing["first_sound"]["min"] > timing["window_shown"]["min"] > 0


def test_window_export_never_writes_over_its_input(qtbot, tmp_path, fixtures_dir):
    from PySide6.QtCore import QSettings

    from desktop.ui.main_window import AppOptions, MainWindow

    src = tmp_path / "in.wav"
    shutil.copy(fixtures_dir / "music_rock_mix.wav", src)
    before = src.read_bytes()
    w = MainWindow(
        LiveEngine(),
        QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat),
        AppOptions(list_devices=False, modal_errors=False, input_file=str(src)),
    )
    qtbot.addWidget(w)
    assert not w.export_to(str(src))
    assert "is also an input" in w.messages[-1] and src.read_bytes() == before
    assert not w.export_to(str(tmp_path / "x.txt")) and "extension '.txt'" in w.messages[-1]
