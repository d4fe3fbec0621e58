"""Issue 23's hostile inputs: the cases of "Nothing lost, round two", run like the first table (tests/hostile.py):
one line naming the file or option, exit code 2, no traceback, every file that existed unchanged, nothing new."""

from __future__ import annotations

import json

import pytest
from hostile import A, Case, E, R, bundle_copy, corrupt_part, run_case

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time


def _bundle_with_readme(w) -> None:
    (bundle_copy(w) / "README.txt").write_text("how I made this model\n")


def _app_with_a_manifest(w) -> None:
    app = w.root / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "main.py").write_text("print('my work')\n")
    (app / "README.md").write_text("# app\n")
    (app / "manifest.json").write_text(json.dumps({"name": "x"}))


def _factory(name: str):
    from desktop.engine.model.factory import default_bundle_path

    return default_bundle_path().parent / name


def _manifest_value(path: list, value: float):
    """A copy of the default bundle whose manifest holds ``value`` at ``path`` (json writes NaN and Infinity)."""

    def setup(w) -> None:
        mpath = bundle_copy(w) / "manifest.json"
        data = json.loads(mpath.read_text())
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        mpath.write_text(json.dumps(data))

    return setup


CASES = [
    # ---- render: the same file by identity, however the output is spelled (issue 23, item 1) -------------------
    Case(
        "render-output-dotdot-through-a-missing-folder",
        R,
        lambda w: [str(w.inp), "-o", str(w.root / "sub" / ".." / "in.wav")],
        ["is also an input"],
        lambda w: str(w.root / "sub" / ".." / "in.wav"),
    ),
    Case(
        "render-output-dotdot-through-missing-folders-to-the-morph-target",
        R,
        lambda w: [str(w.inp), "--morph", str(w.out), "-o", str(w.root / "a" / "b" / ".." / ".." / "out.wav")],
        ["is also an input"],
        lambda w: str(w.out),
    ),
    # new this round: the output spelled as a folder, or reached through a symlinked folder and a '..'
    Case(
        "render-output-spelled-as-a-folder-over-an-existing-file",
        R,
        lambda w: [str(w.inp), "-o", str(w.out) + "/"],
        ["ends like a folder"],
        lambda w: str(w.out) + "/",
    ),
    Case(
        "render-output-through-a-symlinked-folder-and-dotdot-to-the-input",
        R,
        lambda w: [str(w.inp), "-o", str(w.root / "d" / "sub" / ".." / "in.wav")],
        ["is also an input"],
        lambda w: str(w.root / "d" / "sub" / ".." / "in.wav"),
        setup=lambda w: (w.root / "d").symlink_to(w.root),
    ),
    Case(
        "app-record-spelled-as-a-folder",
        A,
        lambda w: ["--record", w.p("take.wav") + "/", "--quit-after", "1"],
        ["ends like a folder"],
        lambda w: w.p("take.wav") + "/",
    ),
    # ---- one validation: a declared control from the command line passes the registry's check (issue 23 item 5)
    # new this round: --transpose nan used to be refused as out of range, a string control value as "a number"
    Case(
        "render-transpose-nan-on-an-instrument",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--bundle", str(_factory("voice")), "--transpose", "nan"],
        ["transpose", "not a finite number"],
        lambda w: "transpose",
    ),
    Case(
        "render-control-out-of-range-on-an-instrument",
        R,
        lambda w: [str(w.inp), "-o", w.p("x.wav"), "--bundle", str(_factory("violin")), "--control", "loudness=1e9"],
        ["loudness", "out of range"],
        lambda w: "loudness=1e9",
    ),
    # ---- export: replace only a bundle it can read back, delete only its own files (items 3 and 4) ------------
    Case(
        "export-out-is-an-old-bundle-with-a-readme",
        E,
        lambda w: [str(w.run), "--out", str(w.root / "bundle")],
        ["not part of the bundle"],
        lambda w: str(w.root / "bundle" / "README.txt"),
        setup=_bundle_with_readme,
        needs="run",
    ),
    Case(
        "export-out-is-a-folder-with-a-manifest-json",
        E,
        lambda w: [str(w.run), "--out", str(w.root / "app")],
        ["is not a bundle"],
        lambda w: str(w.root / "app"),
        setup=_app_with_a_manifest,
        needs="run",
    ),
    Case(
        "export-out-is-a-bundle-that-fails-its-checksums",
        E,
        lambda w: [str(w.run), "--out", str(w.root / "bundle")],
        ["is not a bundle", "checksum"],
        lambda w: str(w.root / "bundle"),
        setup=corrupt_part,
        needs="run",
    ),
    # ---- a manifest's arrays hold NaN or inf: refused at load, naming manifest.json and the field (issue 23) ----
    Case(
        "render-manifest-nan-in-pca-components",
        R,
        lambda w: [str(w.inp), "--bundle", str(w.root / "bundle"), "-o", w.p("x.wav"), "--latent", "0=1"],
        ["'latent_stats.z.pca_components[2][3]' is NaN"],
        lambda w: str(w.root / "bundle" / "manifest.json"),
        setup=_manifest_value(["latent_stats", "z", "pca_components", 2, 3], float("nan")),
    ),
    Case(
        "render-manifest-inf-in-explained-variance-ratio",
        R,
        lambda w: [str(w.inp), "--bundle", str(w.root / "bundle"), "-o", w.p("x.wav")],
        ["'latent_stats.z.explained_variance_ratio[0]' is inf"],
        lambda w: str(w.root / "bundle" / "manifest.json"),
        setup=_manifest_value(["latent_stats", "z", "explained_variance_ratio", 0], float("inf")),
    ),
    Case(
        "render-manifest-nan-normalization-target",
        R,
        lambda w: [str(w.inp), "--bundle", str(w.root / "bundle"), "-o", w.p("x.wav")],
        ["'normalization.target_dbfs' is NaN"],
        lambda w: str(w.root / "bundle" / "manifest.json"),
        setup=_manifest_value(["normalization", "target_dbfs"], float("nan")),
    ),
    Case(
        "app-manifest-nan-in-latent-mean",
        A,
        lambda w: ["--bundle", str(w.root / "bundle"), "--input-file", str(w.inp), "--quit-after", "1"],
        ["'latent_stats.z.mean[0]' is NaN"],
        lambda w: str(w.root / "bundle" / "manifest.json"),
        setup=_manifest_value(["latent_stats", "z", "mean", 0], float("nan")),
    ),
    # ---- the app: a device index and an OSC host are checked like names (issue 23, ugly) --------------------------
    Case(
        "app-output-device-index-999",
        A,
        lambda w: ["--output-device", "999", "--input-file", str(w.inp), "--quit-after", "1"],
        ["no output device with index 999"],
        lambda w: "999",
    ),
    Case(
        "app-input-device-index-999",
        A,
        lambda w: ["--input-device", "999", "--quit-after", "1"],
        ["no input device with index 999"],
        lambda w: "999",
    ),
    Case(
        "app-osc-out-host-256",
        A,
        lambda w: ["--osc-out", "256.1.1.1:9001", "--quit-after", "1"],
        ["--osc-out", "cannot resolve the host"],
        lambda w: "256.1.1.1",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path, request):
    run_case(case, tmp_path, request)
