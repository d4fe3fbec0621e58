"""A table of careless and hostile command lines for render, train, export and the app (issue 13).

Every case runs the real command in a subprocess and must end with exactly one line on stderr,
``PROG: error: ...`` naming the file (or the option) and the problem, exit code 2, no traceback, and every file
that existed before byte-for-byte unchanged, with nothing new left behind.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES, ROOT

CLIP = FIXTURES / "music_rock_mix.wav"  # 4 s, 22.05 kHz, 16-bit mono
MODULES = {"render": "desktop.render_cli", "train": "trainer", "export": "export", "app": "desktop.app"}
PROGS = {
    "render": "latentsynth-render",
    "train": "latentsynth-train",
    "export": "latentsynth-export",
    "app": "latentsynth",
}


@dataclass
class Case:
    id: str
    cmd: str  # render | train | export | app
    argv: Callable[["Work"], list[str]]
    expect: list[str]  # substrings of the error line (case-insensitive)
    names: Callable[["Work"], str] | None = None  # the file (or option) the message must name
    setup: Callable[["Work"], None] | None = None
    fsize_limit: int | None = None  # RLIMIT_FSIZE in bytes: the disk "fills up" at this file size
    protect: Callable[["Work"], list[Path]] | None = None  # compare only these (default: every file in the work dir)
    notes_ok: bool = False  # informational lines before the error line are allowed (the trainer's start line)
    needs: str = ""  # "run": a trained tiny run; "readonly": a folder that refuses writes


class Work:
    """A scratch folder with inputs; ``p(name)`` is a path in it (as a string)."""

    def __init__(self, root: Path, run: Path | None):
        self.root = root
        self.run_src = run
        self.inp = root / "in.wav"
        shutil.copy(CLIP, self.inp)
        self.out = root / "out.wav"
        sf.write(self.out, np.full(1000, 0.25, np.float32), 22050, subtype="PCM_16")  # an earlier result
        self.ro = root / "ro"

    def p(self, name: str) -> str:
        return str(self.root / name)

    @property
    def run(self) -> Path:
        dst = self.root / "run"
        if not dst.exists():
            shutil.copytree(self.run_src, dst)
        return dst


def _bundle_copy(w: Work) -> Path:
    from desktop.engine.render import default_bundle_path

    dst = w.root / "bundle"
    if not dst.exists():
        shutil.copytree(default_bundle_path(), dst)
    return dst


def _corrupt_part(w: Work) -> None:
    enc = _bundle_copy(w) / "encoder.onnx"
    data = bytearray(enc.read_bytes())
    data[len(data) // 2] ^= 0xFF
    enc.write_bytes(bytes(data))


def _bad_manifest(w: Work) -> None:
    (_bundle_copy(w) / "manifest.json").write_text('{"format_version": 99}')


def _write(name: str, x: np.ndarray, sr: int, subtype: str = "PCM_16") -> Callable[[Work], None]:
    return lambda w: sf.write(w.p(name), x, sr, subtype=subtype)


def _text(name: str, text: str) -> Callable[[Work], None]:
    return lambda w: Path(w.p(name)).write_text(text)


def _other_data(w: Work) -> None:
    d = w.root / "otherdata"
    d.mkdir()
    shutil.copy(CLIP, d / "clip.wav")


def _nan_wav(w: Work) -> None:
    x = np.sin(np.arange(22050, dtype=np.float32) * 0.05)
    x[100:110] = np.nan
    sf.write(w.p("nan.wav"), x, 22050, subtype="FLOAT")


R = "render"
T = "train"
E = "export"
A = "app"
SINE = (0.5 * np.sin(np.arange(44100) * 2 * np.pi * 440 / 96000)).astype(np.float32)

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
        setup=_write("hi.wav", SINE, 96000),
    ),
    Case(
        "render-mp3-three-channels",
        R,
        lambda w: [w.p("three.wav"), "-o", w.p("x.mp3")],
        ["at most 2 channels"],
        lambda w: w.p("x.mp3"),
        setup=_write("three.wav", np.stack([SINE] * 3, 1), 44100),
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
        setup=_text("empty.wav", ""),
    ),
    Case(
        "render-input-text-as-wav",
        R,
        lambda w: [w.p("text.wav"), "-o", w.p("x.wav")],
        ["cannot decode"],
        lambda w: w.p("text.wav"),
        setup=_text("text.wav", "this is not audio\n" * 50),
    ),
    Case(
        "render-input-nan-samples",
        R,
        lambda w: [w.p("nan.wav"), "-o", w.p("x.wav")],
        ["nan or infinite"],
        lambda w: w.p("nan.wav"),
        setup=_nan_wav,
    ),
    Case(
        "render-input-zero-frames",
        R,
        lambda w: [w.p("zero.wav"), "-o", w.p("x.wav")],
        ["no audio frames"],
        lambda w: w.p("zero.wav"),
        setup=_write("zero.wav", np.zeros(0, np.float32), 22050),
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
        setup=_bad_manifest,
    ),
    Case(
        "render-bundle-corrupt-part",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--bundle", w.p("bundle")],
        ["sha256"],
        lambda w: "encoder.onnx",
        setup=_corrupt_part,
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
        setup=_other_data,
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
        setup=_other_data,
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
        setup=_text("junk.pt", "not a checkpoint"),
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
        setup=_text("t.wav", "text\n" * 100),
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
        setup=_write("take-input.wav", SINE, 44100),
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


def _snapshot(paths: list[Path]) -> dict[str, str]:
    out = {}
    for p in paths:
        if p.is_symlink():
            out[str(p)] = "link->" + os.readlink(p)
        elif p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            out[str(p)] = "dir"
    return out


def _all_files(root: Path) -> list[Path]:
    return [root] + sorted(root.rglob("*"))


def _make_readonly(folder: Path) -> Callable[[], None]:
    """A folder that refuses new files even for root (chattr +i); chmod 555 for other users."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0
    ):
        pytest.skip("running as root where chattr +i does not work: no read-only folder can be made")
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=False)


def _limit(fsize: int | None):
    if fsize is None:
        return None

    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return apply


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path, request):
    run = request.getfixturevalue("tiny_run") if "run" in case.needs else None
    (tmp_path / "w").mkdir()
    w = Work(tmp_path / "w", run)
    undo = _make_readonly(w.ro) if "readonly" in case.needs else None
    try:
        if "run" in case.needs:
            w.run  # noqa: B018 (copies the trained run into the work folder)
        if case.setup:
            case.setup(w)
        argv = [str(a) for a in case.argv(w)]
        watched = case.protect(w) if case.protect else _all_files(w.root)
        before = _snapshot(watched)
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "LATENTSYNTH_SETTINGS": str(tmp_path / "s.ini"),
            "LATENTSYNTH_STATE_DIR": str(tmp_path / "state"),
        }
        proc = subprocess.run(
            [sys.executable, "-m", MODULES[case.cmd], *argv],
            capture_output=True,
            text=True,
            cwd=str(ROOT),
            env=env,
            timeout=300,
            preexec_fn=_limit(case.fsize_limit),
        )
        after = _snapshot(case.protect(w) if case.protect else _all_files(w.root))
    finally:
        if undo:
            undo()
    err = proc.stderr.strip()
    lines = err.splitlines()
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout: {proc.stdout[-800:]}\nstderr: {err[-2000:]}"
    assert "Traceback" not in err, err
    assert lines, "no message at all"
    if not case.notes_ok:
        assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{err}"
    line = lines[-1]
    print(f"{case.id}: {line}")
    assert line.startswith(f"{PROGS[case.cmd]}: error: "), line
    for text in case.expect:
        assert text.lower() in line.lower(), f"{text!r} not in {line!r}"
    if case.names is not None:
        assert case.names(w) in line, f"the message does not name {case.names(w)}: {line}"
    if case.cmd == A:  # a refused start saves no settings (a bad device name kept would silence the next start)
        assert not (tmp_path / "s.ini").exists(), (tmp_path / "s.ini").read_text()
    assert after == before, "files changed: " + ", ".join(
        sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    )


def test_table_is_large_enough():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)
