"""latentsynth: the desktop app — live resynthesis of a microphone or a looped file through a model bundle."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def state_dir() -> Path:
    """Where unfinished-recording journal entries live (LATENTSYNTH_STATE_DIR overrides, for tests)."""
    env = os.environ.get("LATENTSYNTH_STATE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "latentsynth"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latentsynth", description=__doc__)
    p.add_argument("--bundle", default=None, help="model bundle folder (default: the last one used, else the factory model)")
    p.add_argument("--input-file", default=None, metavar="AUDIO", help="play this file (looped) as the input instead of the microphone")
    p.add_argument("--record", default=None, metavar="OUT.wav", help="record the output to this WAV from the start")
    p.add_argument("--record-input", action="store_true", help="with --record, also record the input (OUT-input.wav)")
    p.add_argument("--quit-after", type=float, default=None, metavar="SECONDS", help="quit after this long and print one JSON line of statistics")
    p.add_argument("--screenshot", default=None, metavar="PNG", help="save a picture of the window shortly before quitting")
    p.add_argument("--provider", default=None, choices=["auto", "cpu", "cuda"], help="onnxruntime provider")
    p.add_argument("--mode", default=None, choices=["window", "low-latency"], help="streaming mode")
    p.add_argument("--hop", type=float, default=None, metavar="SECONDS", help="hop between model windows, 0.05..0.5 s")
    p.add_argument("--input-device", default=None, help="input device (index or name; see --list-devices)")
    p.add_argument("--output-device", default=None, help="output device (index or name)")
    p.add_argument("--list-devices", action="store_true", help="print the audio devices and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_devices:
        from .engine.devices import DeviceError, list_devices

        try:
            for d in list_devices():
                flags = ("*in " if d.is_default_input else "") + ("*out" if d.is_default_output else "")
                print(f"{d.index:3d}  {d.name}  [{d.hostapi}]  in {d.inputs} out {d.outputs}  "
                      f"{d.default_rate:.0f} Hz {flags}".rstrip())
        except DeviceError as exc:
            print(f"latentsynth: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.hop is not None and not 0.05 <= args.hop <= 0.5:
        print("latentsynth: error: --hop must be between 0.05 and 0.5 seconds", file=sys.stderr)
        return 2

    from .engine.audiofile import AudioFileError, load_audio
    from .engine.bundle import BundleError, load_bundle
    from .engine.recorder import recover_recordings

    try:
        if args.bundle:
            load_bundle(args.bundle)
        if args.input_file:
            load_audio(args.input_file)
    except (BundleError, AudioFileError) as exc:
        print(f"latentsynth: error: {exc}", file=sys.stderr)
        return 2
    journal = state_dir() / "recordings"
    for path, frames in recover_recordings(journal):
        print(f"latentsynth: recovered an unfinished recording: {path} ({frames} frames)", file=sys.stderr)

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from .engine.devices import NullDriver
    from .engine.live import LiveEngine
    from .ui.main_window import AppOptions, MainWindow
    from .ui.qtfix import keep_none_alive

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LatentSynth")
    ini = os.environ.get("LATENTSYNTH_SETTINGS")
    settings = QSettings(ini, QSettings.IniFormat) if ini else QSettings("LatentSynth", "latentsynth")
    engine = LiveEngine(journal_dir=str(journal))
    quitting = args.quit_after is not None
    opts = AppOptions(bundle=args.bundle, input_file=args.input_file, provider=args.provider, mode=args.mode,
                      hop=args.hop, input_device=args.input_device, output_device=args.output_device,
                      modal_errors=not quitting)
    window = MainWindow(engine, settings, opts)
    if window.bundle is None:
        print(f"latentsynth: error: {window.messages[-1] if window.messages else 'no model could be loaded'}",
              file=sys.stderr)
        return 2
    window.show()
    result = {"code": 0}

    def start():
        if not window.start_audio():
            # no usable device: keep the app (views, knobs, export) working on a silent clock
            print(f"latentsynth: {window.messages[-1]}; running without audio output", file=sys.stderr)
            window.opts.driver_factory = lambda i, o: NullDriver(44100, 512)
            window.start_audio()
        if args.record:
            window.record_input_box.setChecked(args.record_input)
            if not window.start_recording(args.record):
                result["code"] = 2

    def screenshot():
        window.grab().save(args.screenshot)

    def finish():
        keep_none_alive()
        rec = engine.recorder
        rec_info = {"record": str(rec.path), "record_seconds": round(rec.seconds, 2)} if rec else {}
        window.close()
        print(json.dumps({**engine.summary(), **rec_info}), flush=True)
        app.quit()

    QTimer.singleShot(0, start)
    if args.screenshot:
        when = max(0.5, (args.quit_after or 3.0) - 0.7)
        QTimer.singleShot(int(when * 1000), screenshot)
    if quitting:
        QTimer.singleShot(int(args.quit_after * 1000), finish)
    code = app.exec()
    keep_none_alive()
    return result["code"] or code


if __name__ == "__main__":
    sys.exit(main())
