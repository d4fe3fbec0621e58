"""A table of careless and hostile command lines for render, train, export and the app (issue 13).

Every case runs the real command in a subprocess and must end with exactly one line on stderr,
``PROG: error: ...`` naming the file (or the option) and the problem, exit code 2, no traceback, and every file
that existed before byte-for-byte unchanged, with nothing new left behind (tests/hostile.py runs them; issue 23's
cases are in tests/test_hostile_inputs_round2.py).
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import numpy as np
import pytest
from hostile import (
    CLIP,
    SINE,
    A,
    Case,
    E,
    R,
    T,
    Work,
    bad_manifest,
    corrupt_part,
    nan_wav,
    other_data,
    run_case,
    text_file,
    write_wav,
)

from conftest import FIXTURES

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time

NUMBER = re.compile(r"^-(\d|\.\d)")  # a negative value, not an option

CASES = [
    # ---- render: never overwrite an input ----------------------------------------------------------------------
    Case(
        "render-output-is-input",
        R,
        lambda w: [str(w.inp), "-o", str(w.inp)],
        ["is also an input"],
        lambda w: str(w.inp),
    ),
    Case(
        "render-output-symlink-to-input",
        R,
        lambda w: [str(w.inp), "-o", w.p("link.wav")],
        ["is also an input"],
        lambda w: w.p("link.wav"),
        setup=lambda w: os.symlink(w.inp, w.p("link.wav")),
    ),
    Case(
        "render-output-hardlink-to-input",
        R,
        lambda w: [str(w.inp), "-o", w.p("hard.wav")],
        ["is also an input"],
        lambda w: w.p("hard.wav"),
        setup=lambda w: os.link(w.inp, w.p("hard.wav")),
    ),
    Case(
        "render-output-is-morph-target",
        R,
        lambda w: [str(w.inp), "--morph", str(w.out), "-o", str(w.out)],
        ["is also an input"],
        lambda w: str(w.out),
    ),
    Case(
        "render-output-relative-same-as-input",
        R,
        lambda w: [str(w.inp), "-o", str(w.root / "sub" / ".." / "in.wav")],
        ["is also an input"],
        setup=lambda w: (w.root / "sub").mkdir(),
    ),
    # ---- render: where the output goes -----------------------------------------------------------------------
    Case(
        "render-output-is-folder", R, lambda w: [str(w.inp), "-o", str(w.root)], ["is a folder"], lambda w: str(w.root)
    ),
    Case(
        "render-output-in-readonly-folder",
        R,
        lambda w: [str(w.inp), "-o", str(w.ro / "x.wav")],
        ["cannot write into"],
        lambda w: str(w.ro / "x.wav"),
        needs="readonly",
    ),
    Case(
        "render-output-under-a-file",
        R,
        lambda w: [str(w.inp), "-o", str(w.out / "x.wav")],
        ["is a file, not a folder"],
        lambda w: str(w.out / "x.wav"),
    ),
    Case(
        "render-output-in-proc",
        R,
        lambda w: [str(w.inp), "-o", "/proc/latentsynth-test.wav"],
        ["cannot write into"],
        lambda w: "/proc/latentsynth-test.wav",
    ),
    Case(
        "render-disk-full-keeps-previous-output",
        R,
        lambda w: [str(w.inp), "-o", str(w.out), "--quiet"],
        ["cannot write (file too large)", "nothing was replaced"],
        lambda w: str(w.out),
        fsize_limit=64 * 1024,
    ),
    # ---- render: formats and subtypes ------------------------------------------------------------------------
    Case(
        "render-unknown-extension",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.txt")],
        ["extension '.txt'"],
        lambda w: w.p("x.txt"),
    ),
    Case(
        "render-no-extension", R, lambda w: [str(w.inp), "-o", w.p("noext")], ["no extension"], lambda w: w.p("noext")
    ),
    Case(
        "render-m4a-not-writable",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.m4a")],
        ["extension '.m4a'"],
        lambda w: w.p("x.m4a"),
    ),
    Case(
        "render-mp3-float-subtype",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.mp3"), "--subtype", "FLOAT"],
        ["mp3 cannot hold sample format float"],
        lambda w: w.p("x.mp3"),
    ),
    Case(
        "render-flac-float-subtype",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.flac"), "--subtype", "float"],
        ["flac cannot hold sample format float"],
        lambda w: w.p("x.flac"),
    ),
    Case(
        "render-ogg-pcm24-subtype",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.ogg"), "--subtype", "PCM_24"],
        ["cannot hold sample format pcm_24"],
        lambda w: w.p("x.ogg"),
    ),
    Case(
        "render-unknown-subtype",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--subtype", "PCM_12"],
        ["--subtype", "invalid choice"],
        lambda w: "--subtype",
    ),
    Case(
        "render-mp3-at-96k",
        R,
        lambda w: [w.p("hi.wav"), "-o", w.p("x.mp3")],
        ["cannot store 96000 hz"],
        lambda w: w.p("x.mp3"),
        setup=write_wav("hi.wav", SINE, 96000),
    ),
    Case(
        "render-mp3-three-channels",
        R,
        lambda w: [w.p("three.wav"), "-o", w.p("x.mp3")],
        ["at most 2 channels"],
        lambda w: w.p("x.mp3"),
        setup=write_wav("three.wav", np.stack([SINE] * 3, 1), 44100),
    ),
    # ---- render: values with bounds ------------------------------------------------------------------------------
    Case(
        "render-latent-10",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--latent", "0=10"],
        ["--latent", "out of range"],
        lambda w: "--latent",
    ),
    Case(
        "render-latent-1e9",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--latent", "0=1e9"],
        ["--latent", "out of range"],
        lambda w: "--latent",
    ),
    Case(
        "render-latent-minus-3.5",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--latent", "0=-3.5"],
        ["--latent", "out of range"],
        lambda w: "--latent",
    ),
    Case(
        "render-latent-nan",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--latent", "0=nan"],
        ["--latent", "not a finite number"],
        lambda w: "--latent",
    ),
    Case(
        "render-latent-inf",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--latent", "0=-inf"],
        ["--latent", "not a finite number"],
        lambda w: "--latent",
    ),
    Case(
        "render-latent-not-a-number",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--latent", "0=loud"],
        ["--latent", "not a number"],
        lambda w: "--latent",
    ),
    Case(
        "render-latent-no-equals",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--latent", "0"],
        ["--latent", "not axis=value"],
        lambda w: "--latent",
    ),
    Case(
        "render-latent-axis-too-big",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--latent", "99=1"],
        ["axis must be 0..15"],
        lambda w: "99=1",
    ),
    Case(
        "render-latent-unknown-level",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--latent", "top:0=1"],
        ["no latent level 'top'"],
        lambda w: "top:0=1",
    ),
    Case(
        "render-hop-zero",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--hop", "0"],
        ["--hop", "out of range"],
        lambda w: "--hop",
    ),
    Case(
        "render-hop-negative",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--hop", "-0.2"],
        ["--hop", "out of range"],
        lambda w: "--hop",
    ),
    Case(
        "render-hop-longer-than-window",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--hop", "2"],
        ["--hop", "out of range"],
        lambda w: "--hop",
    ),
    Case(
        "render-hop-nan",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--hop", "nan"],
        ["--hop", "not a finite number"],
        lambda w: "--hop",
    ),
    Case(
        "render-hop-word",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--hop", "fast"],
        ["--hop", "not a number"],
        lambda w: "--hop",
    ),
    Case(
        "render-amount-above-one",
        R,
        lambda w: [str(w.inp), "--morph", CLIP, "-o", w.p("x.wav"), "--amount", "1.5"],
        ["--amount", "out of range"],
        lambda w: "--amount",
    ),
    Case(
        "render-generate-zero",
        R,
        lambda w: ["-o", w.p("x.wav"), "--generate", "0"],
        ["--generate", "out of range"],
        lambda w: "--generate",
    ),
    Case(
        "render-generate-negative",
        R,
        lambda w: ["-o", w.p("x.wav"), "--generate", "-5"],
        ["--generate", "out of range"],
        lambda w: "--generate",
    ),
    Case(
        "render-generate-a-day",
        R,
        lambda w: ["-o", w.p("x.wav"), "--generate", "86400"],
        ["--generate", "out of range"],
        lambda w: "--generate",
    ),
    Case(
        "render-temperature-negative",
        R,
        lambda w: ["-o", w.p("x.wav"), "--generate", "1", "--temperature", "-1"],
        ["--temperature", "out of range"],
        lambda w: "--temperature",
    ),
    Case(
        "render-threads-zero",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--threads", "0"],
        ["--threads", "out of range"],
        lambda w: "--threads",
    ),
    Case(
        "render-threads-fraction",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--threads", "1.5"],
        ["--threads", "not an integer"],
        lambda w: "--threads",
    ),
    Case(
        "render-seed-negative",
        R,
        lambda w: ["-o", w.p("x.wav"), "--generate", "1", "--seed", "-1"],
        ["--seed", "out of range"],
        lambda w: "--seed",
    ),
    Case("render-no-input", R, lambda w: ["-o", w.p("x.wav")], ["an input file is required"]),
    Case("render-no-output", R, lambda w: [str(w.inp)], ["-o/--output", "required"]),
    # ---- render: inputs that cannot be used ---------------------------------------------------------------------
    Case(
        "render-input-missing",
        R,
        lambda w: [w.p("missing.wav"), "-o", w.p("x.wav")],
        ["no such file"],
        lambda w: w.p("missing.wav"),
    ),
    Case(
        "render-input-is-folder", R, lambda w: [str(w.root), "-o", w.p("x.wav")], ["is a folder"], lambda w: str(w.root)
    ),
    Case(
        "render-input-empty-file",
        R,
        lambda w: [w.p("empty.wav"), "-o", w.p("x.wav")],
        ["empty file"],
        lambda w: w.p("empty.wav"),
        setup=text_file("empty.wav", ""),
    ),
    Case(
        "render-input-text-as-wav",
        R,
        lambda w: [w.p("text.wav"), "-o", w.p("x.wav")],
        ["cannot decode"],
        lambda w: w.p("text.wav"),
        setup=text_file("text.wav", "this is not audio\n" * 50),
    ),
    Case(
        "render-input-nan-samples",
        R,
        lambda w: [w.p("nan.wav"), "-o", w.p("x.wav")],
        ["nan or infinite"],
        lambda w: w.p("nan.wav"),
        setup=nan_wav,
    ),
    Case(
        "render-input-zero-frames",
        R,
        lambda w: [w.p("zero.wav"), "-o", w.p("x.wav")],
        ["no audio frames"],
        lambda w: w.p("zero.wav"),
        setup=write_wav("zero.wav", np.zeros(0, np.float32), 22050),
    ),
    Case(
        "render-morph-missing",
        R,
        lambda w: [str(w.inp), "--morph", w.p("nope.wav"), "-o", w.p("x.wav")],
        ["no such file"],
        lambda w: w.p("nope.wav"),
    ),
    Case(
        "render-bundle-missing",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--bundle", w.p("nobundle")],
        [],
        lambda w: w.p("nobundle"),
    ),
    Case(
        "render-bundle-empty-folder",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--bundle", w.p("emptyb")],
        ["manifest.json"],
        lambda w: w.p("emptyb"),
        setup=lambda w: Path(w.p("emptyb")).mkdir(),
    ),
    Case(
        "render-bundle-future-version",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--bundle", w.p("bundle")],
        ["format_version 99"],
        lambda w: w.p("bundle"),
        setup=bad_manifest,
    ),
    Case(
        "render-bundle-corrupt-part",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--bundle", w.p("bundle")],
        ["sha256"],
        lambda w: "encoder.onnx",
        setup=corrupt_part,
    ),
    # ---- train ----------------------------------------------------------------------------------------------
    Case(
        "train-unknown-preset",
        T,
        lambda w: ["no-such-preset", "--data", str(FIXTURES), "--out", w.p("r")],
        ["neither a yaml file nor a preset"],
        lambda w: "no-such-preset",
    ),
    Case(
        "train-steps-zero",
        T,
        lambda w: ["waveform-vae", "--data", str(FIXTURES), "--out", w.p("r"), "--steps", "0"],
        ["--steps", "out of range"],
        lambda w: "--steps",
    ),
    Case(
        "train-steps-negative",
        T,
        lambda w: ["waveform-vae", "--data", str(FIXTURES), "--out", w.p("r"), "--steps", "-5"],
        ["--steps", "out of range"],
        lambda w: "--steps",
    ),
    Case(
        "train-steps-word",
        T,
        lambda w: ["waveform-vae", "--data", str(FIXTURES), "--out", w.p("r"), "--steps", "many"],
        ["--steps", "not an integer"],
        lambda w: "--steps",
    ),
    Case(
        "train-data-missing",
        T,
        lambda w: ["waveform-vae", "--data", w.p("nodata"), "--out", w.p("r")],
        ["not a folder"],
        lambda w: w.p("nodata"),
    ),
    Case(
        "train-data-is-a-file",
        T,
        lambda w: ["waveform-vae", "--data", str(w.inp), "--out", w.p("r")],
        ["not a folder"],
        lambda w: str(w.inp),
    ),
    Case(
        "train-out-is-a-file",
        T,
        lambda w: ["waveform-vae", "--data", str(FIXTURES), "--out", str(w.out)],
        ["is a file"],
        lambda w: str(w.out),
    ),
    Case(
        "train-unknown-override",
        T,
        lambda w: ["waveform-vae", "--data", str(FIXTURES), "--out", w.p("r"), "model.no_such_key=1"],
        ["no_such_key"],
    ),
    Case(
        "train-override-without-equals",
        T,
        lambda w: ["waveform-vae", "--data", str(FIXTURES), "--out", w.p("r"), "model.latent_dim"],
        ["not key=value"],
        lambda w: "model.latent_dim",
    ),
    Case(
        "train-existing-run-without-resume",
        T,
        lambda w: ["waveform-vae", "--data", str(FIXTURES), "--out", str(w.run)],
        ["already holds a training run", "--resume"],
        lambda w: str(w.run),
        needs="run",
    ),
    Case(
        "train-resume-without-checkpoint",
        T,
        lambda w: ["waveform-vae", "--data", str(FIXTURES), "--out", w.p("fresh"), "--resume"],
        ["no checkpoints/last.pt"],
        lambda w: w.p("fresh"),
    ),
    Case(
        "train-resume-other-preset",
        T,
        lambda w: ["vqvae", "--data", str(FIXTURES), "--out", str(w.run), "--resume"],
        ["was started from 'waveform-vae'", "not 'vqvae'"],
        lambda w: str(w.run),
        needs="run",
    ),
    Case(
        "train-resume-other-data",
        T,
        lambda w: ["waveform-vae", "--data", w.p("otherdata"), "--out", str(w.run), "--resume"],
        ["was trained on", "--data"],
        lambda w: w.p("otherdata"),
        setup=other_data,
        needs="run",
    ),
    Case(
        "train-disk-full-during-checkpoint",
        T,
        lambda w: [
            "waveform-vae",
            "--data",
            str(FIXTURES),
            "--out",
            str(w.run),
            "--resume",
            "--steps",
            "5",
            "--logger",
            "none",
            "--no-progress",
            "train.ckpt_every=1",
        ],
        ["cannot save the checkpoint", "previous checkpoint is intact"],
        lambda w: "last.pt",
        fsize_limit=32 * 1024,
        protect=lambda w: [w.run / "checkpoints" / "last.pt"],
        notes_ok=True,
        needs="run",
    ),
    # ---- export ---------------------------------------------------------------------------------------------
    Case(
        "export-out-is-a-file",
        E,
        lambda w: [str(w.run), "--out", str(w.out)],
        ["is a file, not a folder"],
        lambda w: str(w.out),
        needs="run",
    ),
    Case(
        "export-out-is-a-non-bundle-folder",
        E,
        lambda w: [str(w.run), "--out", w.p("stuff")],
        ["is not a bundle"],
        lambda w: w.p("stuff"),
        setup=lambda w: (Path(w.p("stuff")).mkdir(), Path(w.p("stuff/notes.txt")).write_text("x")),
        needs="run",
    ),
    Case(
        "export-out-is-the-run-folder",
        E,
        lambda w: [str(w.run), "--out", str(w.run)],
        ["holds the input"],
        lambda w: str(w.run),
        needs="run",
    ),
    Case(
        "export-out-is-the-data-folder",
        E,
        lambda w: [str(w.run), "--out", w.p("otherdata"), "--data", w.p("otherdata")],
        ["holds the input"],
        lambda w: w.p("otherdata"),
        setup=other_data,
        needs="run",
    ),
    Case(
        "export-out-in-readonly-folder",
        E,
        lambda w: [str(w.run), "--out", str(w.ro / "bundle")],
        ["cannot write into"],
        lambda w: str(w.ro / "bundle"),
        needs="run+readonly",
    ),
    Case(
        "export-checkpoint-missing",
        E,
        lambda w: [w.p("norun"), "--out", w.p("b")],
        ["no such checkpoint"],
        lambda w: w.p("norun"),
    ),
    Case(
        "export-folder-is-not-a-run",
        E,
        lambda w: [str(w.root), "--out", w.p("b")],
        ["no checkpoints/last.pt"],
        lambda w: str(w.root),
    ),
    Case(
        "export-checkpoint-garbage",
        E,
        lambda w: [w.p("junk.pt"), "--out", w.p("b")],
        ["cannot read checkpoint"],
        lambda w: w.p("junk.pt"),
        setup=text_file("junk.pt", "not a checkpoint"),
    ),
    Case(
        "export-stat-chunks-zero",
        E,
        lambda w: [w.p("norun"), "--out", w.p("b"), "--stat-chunks", "0"],
        ["--stat-chunks", "out of range"],
        lambda w: "--stat-chunks",
    ),
    # ---- the app: everything it is given is checked before a window opens ----------------------------------------
    Case(
        "app-hop-too-small",
        A,
        lambda w: ["--hop", "0.01", "--quit-after", "1"],
        ["--hop", "out of range"],
        lambda w: "--hop",
    ),
    Case(
        "app-hop-nan",
        A,
        lambda w: ["--hop", "nan", "--quit-after", "1"],
        ["--hop", "not a finite number"],
        lambda w: "--hop",
    ),
    Case(
        "app-quit-after-negative",
        A,
        lambda w: ["--quit-after", "-1"],
        ["--quit-after", "out of range"],
        lambda w: "--quit-after",
    ),
    Case(
        "app-input-file-missing",
        A,
        lambda w: ["--input-file", w.p("nope.wav"), "--quit-after", "1"],
        ["no such file"],
        lambda w: w.p("nope.wav"),
    ),
    Case(
        "app-input-file-is-text",
        A,
        lambda w: ["--input-file", w.p("t.wav"), "--quit-after", "1"],
        ["cannot decode"],
        lambda w: w.p("t.wav"),
        setup=text_file("t.wav", "text\n" * 100),
    ),
    Case("app-bundle-missing", A, lambda w: ["--bundle", w.p("nob"), "--quit-after", "1"], [], lambda w: w.p("nob")),
    Case(
        "app-record-existing-file",
        A,
        lambda w: ["--record", str(w.out), "--quit-after", "1"],
        ["already exists", "never replaces"],
        lambda w: str(w.out),
    ),
    Case(
        "app-record-input-name-taken",
        A,
        lambda w: ["--record", w.p("take.wav"), "--record-input", "--quit-after", "1"],
        ["already exists"],
        lambda w: w.p("take-input.wav"),
        setup=write_wav("take-input.wav", SINE, 44100),
    ),
    Case(
        "app-record-into-folder",
        A,
        lambda w: ["--record", str(w.root), "--quit-after", "1"],
        ["is a folder"],
        lambda w: str(w.root),
    ),
    Case(
        "app-record-readonly-folder",
        A,
        lambda w: ["--record", str(w.ro / "take.wav"), "--quit-after", "1"],
        ["cannot write into"],
        lambda w: str(w.ro / "take.wav"),
        needs="readonly",
    ),
    Case(
        "app-record-not-wav",
        A,
        lambda w: ["--record", w.p("take.mp3"), "--quit-after", "1"],
        ["written as .wav"],
        lambda w: w.p("take.mp3"),
    ),
    Case(
        "app-record-input-without-record",
        A,
        lambda w: ["--record-input", "--quit-after", "1"],
        ["--record-input needs --record"],
    ),
    Case(
        "app-mode-unknown",
        A,
        lambda w: ["--mode", "turbo", "--quit-after", "1"],
        ["--mode", "invalid choice"],
        lambda w: "--mode",
    ),
    # a device name that does not exist: refused before anything is saved in the settings (checked below)
    Case(
        "app-output-device-unknown",
        A,
        lambda w: ["--output-device", "no such speaker", "--input-file", str(w.inp), "--quit-after", "1"],
        ["no output device named"],
        lambda w: "no such speaker",
    ),
    Case(
        "app-input-device-unknown",
        A,
        lambda w: ["--input-device", "no such mic", "--quit-after", "1"],
        ["no input device named"],
        lambda w: "no such mic",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path, request):
    run_case(case, tmp_path, request)


def _parser_of(main) -> argparse.ArgumentParser:
    """The parser a CLI's ``main`` builds (trainer and export build theirs inside ``main``), caught at parsing."""

    class Built(Exception):
        pass

    def grab(self, *args, **kwargs):
        raise Built(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(argparse.ArgumentParser, "parse_known_args", grab)
        with pytest.raises(Built) as built:
            main([])
    return built.value.args[0]


def test_table_drives_the_real_command_lines(tmp_path):
    """The table is large, its ids distinct, every command has cases, and every option a case passes is one its
    command declares: a renamed or removed option would turn that case into argparse's 'unrecognized arguments'
    exit 2, which proves nothing about the check it was written for."""
    from desktop.app_cli import build_parser as app_parser
    from desktop.render_cli import build_parser as render_parser
    from export.cli import main as export_main
    from trainer.cli import main as train_main

    parsers = {R: render_parser(), A: app_parser(), T: _parser_of(train_main), E: _parser_of(export_main)}
    declared = {cmd: {o for a in p._actions for o in a.option_strings} for cmd, p in parsers.items()}
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)
    assert {c.cmd for c in CASES} == set(parsers)
    (tmp_path / "run").mkdir()
    undeclared = []
    for i, case in enumerate(CASES):
        (tmp_path / str(i)).mkdir()
        work = Work(tmp_path / str(i), tmp_path / "run")
        for arg in map(str, case.argv(work)):
            option = arg.split("=", 1)[0]
            if arg.startswith("-") and not NUMBER.match(arg) and option not in declared[case.cmd]:
                undeclared.append((case.id, option))
    assert not undeclared, undeclared
