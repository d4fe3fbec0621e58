"""latentsynth: the desktop app — live resynthesis of a microphone or a looped file through a model bundle."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path

from .cli_values import OneLineParser, bounded


def state_dir() -> Path:
    """Where unfinished-recording journal entries live (LATENTSYNTH_STATE_DIR overrides, for tests)."""
    env = os.environ.get("LATENTSYNTH_STATE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "latentsynth"


def _one_latency(value: str) -> str | float:
    if value in ("low", "high"):
        return value
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not low, high or a number of seconds") from None
    if not 0.0 < seconds <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} s is outside 0..1 s")
    return seconds


def _device_latency(value: str) -> str | float | tuple:
    """One latency for both directions, or IN,OUT (the microphone's side, then the speaker's)."""
    parts = value.split(",")
    if len(parts) > 2:
        raise argparse.ArgumentTypeError(f"'{value}' is not one latency or IN,OUT")
    values = tuple(_one_latency(v.strip()) for v in parts)
    return values[0] if len(values) == 1 else values


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="latentsynth", description=__doc__)
    p.add_argument(
        "--bundle",
        default=None,
        help="model bundle folder (default: the factory model; the last one used when Settings > Restore the last "
        "session is on)",
    )
    p.add_argument(
        "--input-file",
        default=None,
        metavar="AUDIO",
        help="play this file (looped) as the input instead of the microphone",
    )
    p.add_argument(
        "--record",
        default=None,
        metavar="OUT.wav",
        help="record the output to this new WAV from the start (never replaces a file)",
    )
    p.add_argument("--record-input", action="store_true", help="with --record, also record the input (OUT-input.wav)")
    p.add_argument(
        "--quit-after",
        type=bounded("quit_after"),
        default=None,
        metavar="SECONDS",
        help="quit after this long and print one JSON line of statistics",
    )
    p.add_argument(
        "--screenshot", default=None, metavar="PNG", help="save a picture of the window shortly before quitting"
    )
    p.add_argument("--provider", default=None, choices=["auto", "cpu", "cuda"], help="onnxruntime provider")
    p.add_argument(
        "--mode",
        default=None,
        choices=["streaming", "window", "low-latency"],
        help="live mode (default streaming: block by block for streaming bundles, else low-latency)",
    )
    p.add_argument(
        "--hop", type=bounded("app.hop"), default=None, metavar="SECONDS", help="hop between model windows, 0.05..0.5 s"
    )
    p.add_argument(
        "--device-block",
        type=int,
        default=512,
        choices=[128, 256, 512, 1024],
        metavar="FRAMES",
        help="audio device block in frames: 128, 256, 512 (default) or 1024; smaller = lower latency, "
        "larger = safer on a busy machine (256 with --device-latency low: the lowest, docs/desktop.md)",
    )
    p.add_argument(
        "--device-latency",
        type=_device_latency,
        default=0.08,
        metavar="low|high|SECONDS[,OUT]",
        help="PortAudio's suggested device latency (default 0.08 s; 'low' for the lowest the host offers); "
        "IN,OUT sets the microphone's side and the speaker's apart, e.g. low,0.08",
    )
    p.add_argument("--input-device", default=None, help="input device (index or name; see --list-devices)")
    p.add_argument("--output-device", default=None, help="output device (index or name)")
    p.add_argument("--list-devices", action="store_true", help="print the audio devices and exit")
    p.add_argument(
        "--osc-port",
        type=bounded("osc_port", integer=True),
        default=None,
        metavar="PORT",
        help="listen for OSC on this UDP port (0: any free port; every /latentsynth/... address, docs/desktop.md)",
    )
    p.add_argument(
        "--osc-out",
        default=None,
        metavar="HOST:PORT",
        help="send the live latent position and output level as OSC to HOST:PORT, 30 times a second",
    )
    p.add_argument("--midi-in", default=None, metavar="PORT", help="MIDI input port name (see --list-midi)")
    p.add_argument(
        "--midi-follow",
        default=None,
        choices=["input", "keyboard"],
        help="held notes on a pitch bundle: transpose relative to middle C (input) or set the pitch "
        "(keyboard: a harmoniser); default: the window's saved switch, else input",
    )
    p.add_argument("--list-midi", action="store_true", help="print the MIDI input ports and exit")
    return p


def _fail(message: str) -> int:
    print(f"latentsynth: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def check_arguments(args) -> str | None:
    """Everything the command line names, checked before any window opens; the first problem, or None."""
    from .engine.audiofile import AudioFileError, load_audio
    from .engine.bundle import BundleError, load_bundle
    from .engine.output_path import OutputPathError, check_new_file

    try:
        if args.bundle:
            load_bundle(args.bundle)
        if args.input_file:
            load_audio(args.input_file)
        if args.record:
            check_new_file(args.record)
            if args.record_input:
                rec = Path(args.record)
                check_new_file(rec.with_name(rec.stem + "-input" + rec.suffix))
        if args.screenshot and Path(args.screenshot).is_dir():
            return f"{args.screenshot}: is a folder; give --screenshot a file name (e.g. shot.png)"
    except (BundleError, AudioFileError, OutputPathError) as exc:
        return str(exc)
    if args.record_input and not args.record:
        return "--record-input needs --record OUT.wav"
    if args.input_device is not None or args.output_device is not None:
        from .engine.devices import DeviceError, resolve_device

        try:
            resolve_device(args.input_device, "input")
            resolve_device(args.output_device, "output")
        except DeviceError as exc:
            return str(exc)
    return None


def teardown(app, window, engine, preloader=None) -> None:
    """Take the app down in a fixed order while Qt still runs: audio first (PortAudio's callback and the
    engine's threads), then the window and every child widget, deleted by Qt itself.

    Without this, the window outlived ``main()`` (the timer callbacks hold it) and PySide's exit handler
    deleted every remaining wrapped QObject during interpreter shutdown, in no fixed order, after Python
    had begun tearing down: about 1 exit in 12 aborted or segfaulted there (gdb: ``QObject::~QObject`` under
    ``PySide::destroyQCoreApplication`` from ``Py_FinalizeEx``; "shared QObject was deleted directly",
    "malloc_consolidate(): unaligned fastbin chunk")."""
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    from .ui.qtfix import keep_none_alive

    keep_none_alive()
    engine.stop(fade=False)
    if preloader is not None:
        preloader.close_wake()
    if window is not None:
        window.timer.stop()
        window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    gc.collect()
    keep_none_alive()


def main(argv: list[str] | None = None) -> int:
    from .engine.startup import Preloader, StartupClock

    clock = StartupClock()
    clock.mark("main")
    args = build_parser().parse_args(argv)
    if args.list_devices:
        from .engine.devices import DeviceError, list_devices

        try:
            for d in list_devices():
                flags = ("*in " if d.is_default_input else "") + ("*out" if d.is_default_output else "")
                print(
                    f"{d.index:3d}  {d.name}  [{d.hostapi}]  in {d.inputs} out {d.outputs}  "
                    f"{d.default_rate:.0f} Hz {flags}".rstrip()
                )
        except DeviceError as exc:
            return _fail(str(exc))
        return 0
    if args.list_midi:
        from .control.midi import input_names, missing_midi_system

        names, missing = input_names(), missing_midi_system()
        print("\n".join(names) if names else f"no MIDI input ports: {missing or 'nothing connected'}")
        return 0
    problem = check_arguments(args)
    if problem:
        return _fail(problem)
    if args.osc_out:
        from .control.remote import parse_host_port

        try:
            parse_host_port(args.osc_out)
        except ValueError as exc:
            return _fail(f"--osc-out {exc}")

    from .engine.recorder import recover_recordings

    journal = state_dir() / "recordings"
    for path, frames in recover_recordings(journal):
        print(f"latentsynth: recovered an unfinished recording: {path} ({frames} frames)", file=sys.stderr)

    # The slow parts start now, each in its own thread, while Qt loads and builds the window.
    ini = os.environ.get("LATENTSYNTH_SETTINGS")
    pre = Preloader(clock)
    # the stream the window will open, opened now: duplex for the microphone, output-only for a file
    pre.start_backend(
        args.input_device,
        args.output_device,
        duplex=args.input_file is None,
        blocksize=args.device_block,
        latency=args.device_latency,
    )
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    settings = QSettings(ini, QSettings.IniFormat) if ini else QSettings("LatentSynth", "latentsynth")
    from .ui.saved_values import saved_value
    from .ui.settings_adapter import start_bundle

    want_bundle = start_bundle(settings, args.bundle)
    pre.start_model(want_bundle, args.provider or saved_value(settings, "model/provider"))

    from .engine.devices import NullDriver
    from .engine.live import LiveEngine
    from .ui.main_window import AppOptions, MainWindow
    from .ui.qtfix import keep_none_alive

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LatentSynth")
    clock.mark("qt_ready")
    engine = LiveEngine(block=args.device_block, journal_dir=str(journal))
    quitting = args.quit_after is not None
    opts = AppOptions(
        bundle=args.bundle,
        input_file=args.input_file,
        provider=args.provider,
        mode=args.mode,
        device_block=args.device_block,
        device_latency=args.device_latency,
        hop=args.hop,
        input_device=args.input_device,
        output_device=args.output_device,
        modal_errors=not quitting,
        preloader=pre,
    )
    window = MainWindow(engine, settings, opts)
    clock.mark("window_built")
    if window.bundle is None:
        code = _fail(window.messages[-1] if window.messages else "no model could be loaded")
        teardown(app, window, engine, pre)
        return code
    remote = start_remote(args, engine, window)
    if remote is None:
        teardown(app, window, engine, pre)
        return 2
    window.show()
    result = {"code": 0}

    def shown():
        clock.mark("window_shown")

    def started(ok: bool):
        clock.mark("stream_open", engine.started_at if ok else None)
        if not ok:
            # no usable device: keep the app (views, knobs, export) working on a silent clock
            print(f"latentsynth: {window.messages[-1]}; running without audio output", file=sys.stderr)
            window.opts.driver_factory = lambda i, o: NullDriver(44100, 512)
            window.start_audio()
        if args.record:
            window.record_input_box.setChecked(args.record_input)
            if not window.start_recording(args.record):
                result["code"] = 2

    shot = {}

    def screenshot():
        # grabbing lets the audio threads run, encoding a PNG holds the GIL for ~50 ms (an underrun): it waits for
        # the audio to stop
        shot["pixmap"] = window.grab()

    def save_screenshot():
        pixmap = shot.pop("pixmap", None)
        if pixmap is not None:
            pixmap.save(args.screenshot)

    def finish():
        keep_none_alive()
        rec = engine.recorder
        rec_info = {"record": str(rec.path), "record_seconds": round(rec.seconds, 2)} if rec else {}
        window.close()  # stops the recording and the audio
        save_screenshot()
        summary = engine.summary()
        summary["error"] = summary["error"] or window.record_error or window.browser.load_error
        for name, at in (("first_callback", engine.first_callback_at), ("first_sound", engine.first_sound_at)):
            if at is not None:
                clock.mark(name, at)
        osc = {"osc_port": remote.osc.port, "osc_received": remote.osc.received} if remote.osc else {}
        print(json.dumps({**summary, **rec_info, **osc, "startup": startup_report(clock)}), flush=True)
        app.quit()

    QTimer.singleShot(0, shown)  # the first event-loop turn: the window has been shown
    QTimer.singleShot(0, lambda: window.start_audio_async(started))
    if args.screenshot:
        when = max(0.5, (args.quit_after or 3.0) - 0.7)
        QTimer.singleShot(int(when * 1000), screenshot)
    if quitting:
        QTimer.singleShot(int(args.quit_after * 1000), finish)
    code = app.exec()
    save_screenshot()  # the window was closed by the user: the audio has stopped
    remote.close()
    teardown(app, window, engine, pre)
    return result["code"] or code


def start_remote(args, engine, window):
    """The registry behind OSC and MIDI for this window; OSC and the MIDI port as the arguments (or the saved MIDI
    port) ask. None, after a one-line error, when a port the user named cannot be opened."""
    from .control.remote import RemoteControl, parse_host_port
    from .engine.values import HOP_RANGE_S, LIVE_MODES
    from .ui.saved_values import saved_value

    def log(msg: str) -> None:
        if threading.current_thread() is threading.main_thread():
            window.show_message(msg, modal=False)
        else:  # OSC and MIDI threads never touch widgets
            window.messages.append(msg)
            print(f"latentsynth: {msg}", file=sys.stderr)

    remote = RemoteControl(engine, LIVE_MODES, HOP_RANGE_S, log=log)
    window.attach_remote(remote)
    if args.midi_follow is not None:
        window.midi.set_follow(args.midi_follow)  # the window's follow switch and the MIDI map
    try:
        if args.osc_port is not None:
            port = remote.start_osc(args.osc_port)
            print(f"latentsynth: OSC on udp://127.0.0.1:{port}", file=sys.stderr)
        if args.osc_out:
            remote.start_osc_out(*parse_host_port(args.osc_out))
        midi_name = args.midi_in or saved_value(window.settings, "midi/input")
        if midi_name:
            try:
                remote.open_midi(midi_name)
                window.settings.setValue("midi/input", midi_name)
            except OSError as exc:
                if args.midi_in:
                    raise
                window.show_message(f"{exc}; MIDI off", modal=False)  # a saved port that is gone: not fatal
    except (OSError, ValueError) as exc:
        remote.close()
        _fail(str(exc))
        return None
    return remote


def startup_report(clock) -> dict:
    """Seconds since launch of each start-up moment, and the one the issue measures: first sound after the
    window was shown."""
    m = dict(clock.marks)
    if "first_sound" in m and "window_shown" in m:
        m["sound_after_window_s"] = round(m["first_sound"] - m["window_shown"], 3)
    return m


if __name__ == "__main__":
    sys.exit(main())
