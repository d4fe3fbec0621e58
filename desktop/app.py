"""latentsynth: the desktop app — live resynthesis of a microphone or a looped file through a model bundle."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from .app_cli import build_parser, check_arguments
from .app_harness import ScriptedEnd


def state_dir() -> Path:
    """Where unfinished-recording journal entries live (LATENTSYNTH_STATE_DIR overrides, for tests)."""
    env = os.environ.get("LATENTSYNTH_STATE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "latentsynth"


def _fail(message: str) -> int:
    print(f"latentsynth: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


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
    from .engine.audio.startup import Preloader, StartupClock

    clock = StartupClock()
    clock.mark("main")
    args = build_parser().parse_args(argv)
    if args.list_devices:
        return _list_devices()
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

    from .engine.files.recorder import recover_recordings

    journal = state_dir() / "recordings"
    for path, frames in recover_recordings(journal):
        print(f"latentsynth: recovered an unfinished recording: {path} ({frames} frames)", file=sys.stderr)

    # The slow parts start now, each in its own thread, while Qt loads and builds the window.
    pre = Preloader(clock)
    # the stream the window will open, opened now: duplex for the microphone, output-only for a file
    pre.start_backend(
        args.input_device,
        args.output_device,
        duplex=args.input_file is None,
        blocksize=args.device_block,
        latency=args.device_latency,
    )
    from PySide6.QtWidgets import QApplication

    settings = _settings()
    from .ui.saved_values import saved_value
    from .ui.settings_adapter import start_bundle

    want_bundle = start_bundle(settings, args.bundle)
    pre.start_model(want_bundle, args.provider or saved_value(settings, "model/provider"))

    from .engine.audio.live import LiveEngine
    from .ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LatentSynth")
    clock.mark("qt_ready")
    engine = LiveEngine(block=args.device_block, journal_dir=str(journal))
    window = MainWindow(engine, settings, _window_options(args, pre))
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
    code = _run(app, args, window, engine, remote, clock)
    remote.close()
    teardown(app, window, engine, pre)
    return code


def _list_devices() -> int:
    from .engine.audio.devices import DeviceError, list_devices

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


def _settings():
    """The window's settings: the INI file LATENTSYNTH_SETTINGS names (tests), else the user's."""
    from PySide6.QtCore import QSettings

    ini = os.environ.get("LATENTSYNTH_SETTINGS")
    return QSettings(ini, QSettings.IniFormat) if ini else QSettings("LatentSynth", "latentsynth")


def _window_options(args, preloader):
    from .ui.main_window import AppOptions

    return AppOptions(
        bundle=args.bundle,
        input_file=args.input_file,
        provider=args.provider,
        mode=args.mode,
        device_block=args.device_block,
        device_latency=args.device_latency,
        hop=args.hop,
        input_device=args.input_device,
        output_device=args.output_device,
        modal_errors=args.quit_after is None,
        preloader=preloader,
    )


def _run(app, args, window, engine, remote, clock) -> int:
    """Start the audio (and the recording) once the window is shown, run Qt until the window closes or
    ``--quit-after`` ends it; the exit status."""
    from PySide6.QtCore import QTimer

    from .engine.audio.devices import NullDriver

    result = {"code": 0}

    def shown():
        clock.mark("window_shown")

    def started(ok: bool):
        clock.mark("stream_open", engine.started_at if ok else None)
        if not ok:
            # no usable device: keep the app (views, knobs, export) working on a silent clock
            scripted.audio_error = f"{window.messages[-1]}; running without audio output"
            print(f"latentsynth: {scripted.audio_error}", file=sys.stderr)
            window.opts.driver_factory = lambda i, o: NullDriver(44100, 512)
            window.start_audio()
        if args.record:
            window.record_input_box.setChecked(args.record_input)
            if not window.start_recording(args.record):
                result["code"] = 2

    scripted = ScriptedEnd(args, app, window, engine, remote, clock)
    QTimer.singleShot(0, shown)  # the first event-loop turn: the window has been shown
    QTimer.singleShot(0, lambda: window.start_audio_async(started))
    scripted.schedule()
    code = app.exec()
    scripted.save_screenshot()  # the window was closed by the user: the audio has stopped
    return result["code"] or code


def start_remote(args, engine, window):
    """The registry behind OSC and MIDI for this window; OSC and the MIDI port as the arguments (or the saved MIDI
    port) ask. None, after a one-line error, when a port the user named cannot be opened."""
    from .control.remote import RemoteControl, parse_host_port
    from .engine.parameters.values import HOP_RANGE_S, LIVE_MODES
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


if __name__ == "__main__":
    sys.exit(main())
