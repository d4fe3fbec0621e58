"""The desktop app's command line: its options, how a device latency is written, and the checks of everything it
names before any window opens."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli_values import OneLineParser, bounded
from desktop.engine.audio.latency import DEFAULT_LATENCY

DESCRIPTION = "latentsynth: the desktop app — live resynthesis of a microphone or a looped file through a model bundle."


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
    p = OneLineParser(prog="latentsynth", description=DESCRIPTION)
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
    _add_audio_options(p)
    _add_remote_options(p)
    return p


def _add_audio_options(p: argparse.ArgumentParser) -> None:
    """The model, the live mode and the audio devices."""
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
        default=DEFAULT_LATENCY,
        metavar="low|high|SECONDS[,OUT]",
        help="PortAudio's suggested device latency: one for both directions, or IN,OUT for the microphone's side "
        "and the speaker's ('low': the lowest the host offers; default low,0.04: the speaker's side 0.04 s, all a "
        "file uses, the microphone's side the lowest; 0.08 buffers more for a busy machine)",
    )
    p.add_argument("--input-device", default=None, help="input device (index or name; see --list-devices)")
    p.add_argument("--output-device", default=None, help="output device (index or name)")
    p.add_argument("--list-devices", action="store_true", help="print the audio devices and exit")


def _add_remote_options(p: argparse.ArgumentParser) -> None:
    """OSC and MIDI."""
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


def check_arguments(args) -> str | None:
    """Everything the command line names, checked before any window opens; the first problem, or None."""
    from core.audiofile import AudioFileError, load_audio
    from core.bundle import BundleError
    from core.bundle_io import load_bundle
    from core.output_path import OutputPathError, check_new_file

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
        from .engine.audio.devices import DeviceError, resolve_device

        try:
            resolve_device(args.input_device, "input")
            resolve_device(args.output_device, "output")
        except DeviceError as exc:
            return str(exc)
    return None
