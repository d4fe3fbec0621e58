"""latentsynth-render: resynthesise an audio file through a bundle (default: the bundled factory model), morph it
toward a second file (--morph B.wav --amount X), or generate from the latent prior (--generate SECONDS)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.audiofile import AudioFileError, audio_info, load_audio, resample, wav_declared_frames, write_audio
from core.bundle import BundleError
from core.bundle_io import load_bundle
from core.cli_values import OneLineParser, bounded, parse_latent_spec
from core.dsp import GATE_OFF_DB
from core.formats import SUBTYPES, FormatError, check_writable, clipped_samples, output_format, writable_extensions
from core.latent import LatentControls
from core.output_path import OutputPathError, check_output_file
from core.render import render_audio
from core.session import ModelRunner, WindowModel
from desktop.engine.model.factory import default_bundle_path

from .engine.files.file_render import read_mono, render_file, streams
from .engine.model.inversion import GriffinLimRunner
from .engine.model.morph import generate, morph_model
from .engine.model.octave import file_pitch_and_loudness, octave_shift


def latent_arg(spec: str) -> str:
    """argparse type for --latent: the syntax and the value's bounds are checked while parsing."""
    try:
        parse_latent_spec(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace(f"--latent '{spec}': ", "")) from None
    return spec


def parse_latent(specs: list[str], runner: ModelRunner) -> LatentControls:
    """'AXIS=VALUE' (first level) or 'LEVEL:AXIS=VALUE'; AXIS counts PCA axes from 0; VALUE in std units."""
    controls = LatentControls()
    levels = {l.name: l for l in runner.manifest.levels}
    first = runner.manifest.levels[0].name
    for spec in specs:
        level, axis_i, value_f = parse_latent_spec(spec)
        level = level or first
        if level not in levels:
            raise ValueError(
                f"--latent '{spec}': no latent level '{level}' in {runner.bundle.path} (levels: {', '.join(levels)})"
            )
        if not 0 <= axis_i < levels[level].dim:
            raise ValueError(f"--latent '{spec}': axis must be 0..{levels[level].dim - 1} for {runner.bundle.path}")
        controls = controls.with_offset(level, axis_i, value_f, levels[level].dim)
    return controls


def apply_addresses(specs: list[str], manifest, controls: LatentControls) -> LatentControls:
    """'ADDRESS=VALUE' through the app's parameter registry (the same addresses, ranges and checks as OSC);
    only the model's knobs apply to a render: mix and stream addresses are refused with a reason."""
    from .engine.parameters.params import PREFIX, ParamRegistry, StaticTarget
    from .engine.parameters.values import LIVE_MODES, EngineParams, StreamConfig

    registry = ParamRegistry(StaticTarget(EngineParams(), StreamConfig(), controls), manifest, LIVE_MODES)
    for spec in specs:
        address, sep, value = spec.partition("=")
        if not sep:
            raise ValueError(f"--set '{spec}': expected ADDRESS=VALUE")
        if not address.startswith((f"{PREFIX}/latent/", f"{PREFIX}/control/")):
            raise ValueError(
                f"--set {address}: not a model knob (a render uses /latentsynth/latent/... and "
                "/latentsynth/control/... only)"
            )
        registry.set(address, value)
    return registry.target.controls


def parse_controls(specs: list[str], runner: ModelRunner, controls: LatentControls) -> LatentControls:
    """'NAME=VALUE' for controls the bundle declares; a name it does not declare is refused (ValueError naming what
    the bundle has), a value through the parameter registry's check (as OSC, MIDI, presets and --set check it)."""
    from .engine.parameters.params import PREFIX, ParamError, ParamRegistry, StaticTarget
    from .engine.parameters.values import LIVE_MODES, EngineParams, StreamConfig

    declared = runner.manifest.controls
    registry = ParamRegistry(StaticTarget(EngineParams(), StreamConfig()), runner.manifest, LIVE_MODES)
    for spec in specs:
        name, sep, value = spec.partition("=")
        control = runner.manifest.control(name.strip())
        if not sep or control is None:
            have = ", ".join(f"{c.name} ({c.unit}, {c.minimum:g}..{c.maximum:g})" for c in declared) or "none"
            raise ValueError(f"'{spec}': {runner.bundle.path} declares no control '{name.strip()}' (it has: {have})")
        address = f"{PREFIX}/control/{control.name}"
        try:
            v = registry.param(address).coerce(value.strip())
        except ParamError as exc:
            raise ValueError(f"'{spec}': {control.name} {str(exc).removeprefix(address + ': ')}") from None
        controls = controls.with_value(control, v)
    return controls


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="latentsynth-render", description=__doc__)
    p.add_argument(
        "input",
        nargs="?",
        help="audio file (wav, flac, ogg, mp3; any rate and channel count); not used with --generate",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help=f"output audio file (same rate, length and channels); the extension picks the format "
        f"({writable_extensions()}); replaced if it exists, never when it is an input",
    )
    p.add_argument(
        "--subtype",
        default=None,
        type=str.upper,
        choices=SUBTYPES,
        help="sample format of a .wav/.flac/.aiff output (default: the input's, e.g. FLOAT stays FLOAT, "
        "24-bit stays 24-bit; 16-bit PCM with --generate)",
    )
    p.add_argument("--bundle", default=None, help="bundle folder (default: the bundled factory model)")
    p.add_argument(
        "--hop",
        type=bounded("render.hop"),
        default=0.25,
        help="hop between 1-second windows, seconds (default 0.25; 0.01..1)",
    )
    _add_knob_options(p)
    _add_morph_and_generate_options(p)
    p.add_argument(
        "--inversion",
        default="learned",
        choices=["learned", "griffin-lim"],
        help="mel-VAE bundles: 'learned' = the decoder's inverse-STFT head (default); 'griffin-lim' = the "
        "decoder's mel + 32 Griffin-Lim iterations (the research's baseline; slow)",
    )
    p.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--threads", type=bounded("threads", integer=True), default=1, help="onnxruntime intra-op threads (default 1)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _add_knob_options(p: argparse.ArgumentParser) -> None:
    """The latent axes, the declared controls and any knob by its address."""
    p.add_argument(
        "--latent",
        action="append",
        default=[],
        metavar="AXIS=VALUE",
        type=latent_arg,
        help="offset along a PCA axis in standard deviations (-3..3, the knob's range); repeatable; "
        "LEVEL:AXIS=VALUE for other levels",
    )
    p.add_argument(
        "--transpose",
        type=float,
        default=None,
        metavar="SEMITONES",
        help="move the pitch by this many semitones (bundles that declare a 'transpose' control, e.g. "
        "the sf family; -24..24)",
    )
    p.add_argument(
        "--gate",
        type=bounded("gate"),
        default=GATE_OFF_DB,
        metavar="DB",
        help="the model hears silence while the input is quieter than this (dBFS, -90..-20; -90: off), so a room's "
        "noise is not played (an instrument plays it as breath); the app's GATE knob",
    )
    p.add_argument(
        "--octave",
        default=None,
        metavar="auto|N",
        help="move the pitch by N octaves, or 'auto': into the range an instrument bundle was trained on (from the "
        "input's median pitch and the manifest's trained range; adds to --transpose)",
    )
    p.add_argument(
        "--control",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a control the bundle declares (its manifest's 'controls', e.g. loudness=-6, balance=10); repeatable",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="ADDRESS=VALUE",
        dest="set_params",
        help="any knob by its OSC address (docs/remote-control.md), e.g. /latentsynth/latent/z/0/offset=1.5 "
        "or /latentsynth/control/transpose=7 (repeatable; applied after --latent and --control)",
    )


def _add_morph_and_generate_options(p: argparse.ArgumentParser) -> None:
    """--morph toward another file, --generate from the prior."""
    p.add_argument(
        "--morph",
        default=None,
        metavar="B.wav",
        help="morph toward this file's latents (window by window, or block by block on a streaming bundle; B loops "
        "when shorter)",
    )
    p.add_argument(
        "--amount", type=bounded("amount"), default=0.5, help="with --morph: 0 = input only, 1 = B only (default 0.5)"
    )
    p.add_argument(
        "--generate",
        type=bounded("generate"),
        default=None,
        metavar="SECONDS",
        help="ignore the input: sample this many seconds from the latent prior (written at the model "
        "rate; at most 3600)",
    )
    p.add_argument(
        "--temperature",
        type=bounded("temperature"),
        default=1.0,
        help="with --generate: 0 = the most likely latents, 1 = as trained (default), > 1 wilder (0..5); "
        "without a learned prior, the scale of the N(0, I) samples in standard deviations",
    )
    p.add_argument(
        "--prime",
        default=None,
        metavar="FILE",
        help="with --generate on a bundle with a learned prior (docs/prior.md): continue this audio file; the "
        "output is the continuation only, starting where FILE ends",
    )
    p.add_argument(
        "--smooth",
        type=bounded("smooth"),
        default=0.1,
        help="with --generate and no learned prior: time constant of the latent noise in seconds (0 = white; "
        "default 0.1)",
    )
    p.add_argument("--seed", type=bounded("seed", integer=True), default=0, help="with --generate: random seed")


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.generate is None and args.input is None:
        p.error("an input file is required (or --generate SECONDS)")
    if args.prime is not None and args.generate is None:
        p.error("--prime continues a file with --generate SECONDS; add --generate")
    try:
        return _run(args)
    except (BundleError, AudioFileError, FormatError, OutputPathError, RuntimeError, ValueError) as exc:
        print(f"latentsynth-render: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


def _run(args) -> int:
    # Everything that can be refused is refused before the model runs: the output name and format first.
    check_output_file(args.output, inputs=[args.input, args.morph, args.prime])
    output_format(args.output, args.subtype)
    bundle_dir = Path(args.bundle) if args.bundle else default_bundle_path()
    bundle = load_bundle(bundle_dir)
    runner = ModelRunner(bundle, provider=args.provider, threads=args.threads)
    if args.inversion == "griffin-lim":
        runner = GriffinLimRunner(runner)
    transpose = (args.transpose or 0.0) + _octave_semitones(args, runner)
    controls = parse_controls(
        args.control + ([f"transpose={transpose}"] if args.transpose is not None or transpose else []),
        runner,
        parse_latent(args.latent, runner),
    )
    controls = apply_addresses(args.set_params, runner.manifest, controls)
    if args.generate is not None:
        return _generate(args, runner, controls)
    # every render goes block by block from disk to disk, in bounded memory (any length): morph, window bundles and
    # Griffin-Lim too; a file only the whole-file loader's fallback decoder reads (audio_info None) is read whole
    info = audio_info(args.input)
    audio = _warn_if_cut_short(info if info is not None else load_audio(args.input))
    model = WindowModel(runner, controls) if args.morph is None else _morph_model(args, runner, controls, audio)
    fmt = output_format(args.output, args.subtype, like=audio.subtype)
    check_writable(fmt, audio.sample_rate, audio.channels)
    bar, progress = _progress_bar(args.quiet)
    t0 = time.perf_counter()
    try:
        if info is not None:  # read, rendered and written in one pass (the time includes reading and writing)
            clipped = render_file(info, args.output, model, fmt, progress, hop_seconds=args.hop, gate_db=args.gate)
        else:
            y = render_audio(audio, model, args.hop, progress, gate_db=args.gate)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    if info is None:
        _write(args.output, y, audio.sample_rate, fmt)
    elif clipped and fmt.clips:
        _say_clipped(args.output, clipped, audio.frames * audio.channels)
    if not args.quiet:
        print(
            f"{args.output}: {audio.seconds:.2f} s, {audio.channels} ch, {audio.sample_rate} Hz, "
            f"{fmt.describe()}; rendered in {elapsed:.2f} s ({audio.seconds / max(elapsed, 1e-9):.1f} times "
            f"faster than real time, on the {runner.short_provider.upper()}; "
            + (
                f"streamed in one pass, the model's {bundle.manifest.streaming.delay}-sample delay removed so the "
                "output lines up with the input)"
                if streams(runner)
                else f"the model's {bundle.manifest.window / bundle.manifest.sample_rate:g} s windows every "
                f"{args.hop} s, crossfaded; the output lines up with the input)"
            ),
            file=sys.stderr,
        )
    return 0


def _generate(args, runner, controls: LatentControls) -> int:
    """--generate SECONDS: sampled from the prior at the model rate, written mono."""
    sr = runner.manifest.sample_rate
    fmt = output_format(args.output, args.subtype)
    check_writable(fmt, sr, 1)
    t0 = time.perf_counter()
    y = generate_audio(runner, args, controls)
    _write(args.output, y, sr, fmt)
    if not args.quiet:
        print(
            f"{args.output}: generated {args.generate:.2f} s at {sr} Hz ({fmt.describe()}), temperature "
            f"{args.temperature}, in {time.perf_counter() - t0:.2f} s",
            file=sys.stderr,
        )
    return 0


def _progress_bar(quiet: bool):
    """(the tqdm bar or None, a progress(done, total) callback that moves it)."""
    bar = None
    if not quiet:  # tqdm only for the bar: importing it is 56 ms of a quiet render's 2 s for 5 minutes
        from tqdm import tqdm

        # no rate: tqdm's "3328%/s" read as nonsense; done, elapsed and left say what a user wants to know
        bar = tqdm(
            total=100, desc="render", file=sys.stderr, bar_format="{desc}: {n:3d}% done |{bar}| {elapsed} elapsed"
        )

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.n = int(100 * done / max(total, 1))
            bar.refresh()

    return bar, progress


def _morph_model(args, runner, controls: LatentControls, audio) -> WindowModel:
    """--morph B: B read as mono at the model rate (in blocks: only that is held), warned about when cut short."""
    rate = runner.manifest.sample_rate
    info = audio_info(args.morph)
    if info is not None:
        b = read_mono(_warn_if_cut_short(info), rate)
    else:
        target = _warn_if_cut_short(load_audio(args.morph))
        b = resample(target.mono(), target.sample_rate, rate)
    return morph_model(runner, b, audio.frames, audio.sample_rate, args.amount, controls, args.hop)


def _octave_semitones(args, runner) -> float:
    """--octave in semitones: N octaves, or 'auto' from the input's median pitch against the trained range."""
    if args.octave is None:
        return 0.0
    if not any(c.name == "transpose" for c in runner.manifest.controls):
        raise ValueError(f"--octave: bundle {runner.manifest.name!r} declares no 'transpose' control")
    if args.octave != "auto":
        try:
            n = int(args.octave)
        except ValueError:
            raise ValueError(f"--octave must be 'auto' or a whole number of octaves, not '{args.octave}'") from None
        if abs(n) > 2:
            raise ValueError(f"--octave must be -2..2, not {n}")
        return 12.0 * n
    trained = (runner.manifest.extra or {}).get("trained_range")
    if not trained or not trained.get("pitch_hz"):
        raise ValueError("--octave auto: the bundle records no trained pitch range (manifest extra.trained_range)")
    if args.input is None:
        raise ValueError("--octave auto reads the input's pitch; with --generate give --octave N")
    hz, _ = file_pitch_and_loudness(args.input)
    shift = octave_shift(hz, trained)
    if not args.quiet:
        where = f"input median {hz:.0f} Hz" if hz else "no pitch found in the input"
        print(f"octave {shift // 12:+d} ({where}, trained median {trained['pitch_hz'][1]:.0f} Hz)", file=sys.stderr)
    return float(shift)


def generate_audio(runner, args, controls: LatentControls):
    """--generate: the bundle's learned prior when it has one (continuing --prime), else N(0, I) with a note."""
    from .engine.model.prior import PriorRunner, generate_with_prior

    bundle = runner.bundle
    if bundle.manifest.prior is None:
        if args.prime is not None:
            raise ValueError(f"--prime: {bundle.path} has no learned prior to continue with (docs/prior.md)")
        print(
            f"latentsynth-render: note: {bundle.path} has no learned prior; sampling N(0, I) latents (train one: "
            "latentsynth-train prior --bundle B --data DIR)",
            file=sys.stderr,
        )
        return generate(runner, args.generate, args.temperature, args.smooth, args.seed, controls)
    prime = _warn_if_cut_short(load_audio(args.prime)) if args.prime is not None else None
    prior = PriorRunner(bundle, threads=args.threads)
    return generate_with_prior(runner, prior, args.generate, args.temperature, args.seed, controls, prime)


def _warn_if_cut_short(audio):
    """Say so when a WAV holds less than its header declares (a copy that stopped): the render covers what is
    there, and a user comparing lengths would otherwise find out later."""
    declared = wav_declared_frames(audio.path)
    if declared is not None and declared > audio.frames:
        print(
            f"latentsynth-render: warning: {audio.path}: the file ends after {audio.seconds:.2f} s of the "
            f"{declared / audio.sample_rate:.2f} s its header declares (cut short?); rendering the "
            f"{audio.seconds:.2f} s there are",
            file=sys.stderr,
        )
    return audio


def _write(path: str, y, sample_rate: int, fmt) -> None:
    """Write, and say so when samples beyond full scale had to be clipped (every format but float clips)."""
    n = clipped_samples(y) if fmt.clips else 0
    write_audio(path, y, sample_rate, fmt.subtype)
    if n:
        _say_clipped(path, n, y.size)


def _say_clipped(path: str, n: int, size: int) -> None:
    print(
        f"latentsynth-render: warning: {path}: {n} of {size} samples were beyond full scale and were "
        f"clipped; write a float WAV (--subtype FLOAT) to keep them",
        file=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main())
