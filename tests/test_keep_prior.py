"""`latentsynth-export --keep-prior-of BUNDLE`: a run whose encoder did not change (a timbre decoder retrained)
keeps the learned prior of the bundle it replaces, once both encoders give the same latents; any other bundle's prior
is refused with one line and exit status 2, and the bundle at --out is left as it was."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from conftest import ROOT, run_cli, train_cli, train_tiny_prior
from core.bundle_io import load_bundle

pytestmark = pytest.mark.slow

VIOLIN = ROOT / "desktop" / "factory" / "violin"


def export(run, out, *more: str):
    return run_cli(["-m", "export", str(run), "--out", str(out), "--stat-chunks", "16", "--no-progress", *more])


def digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def timbre(tmp_path_factory):
    """A tiny timbre run, its bundle with a tiny prior trained into it, and the folder they live in."""
    root = tmp_path_factory.mktemp("keep_prior")
    train_cli("timbre", root / "run", 2)
    plain = export(root / "run", root / "plain")
    assert plain.returncode == 0, plain.stderr[-2000:]
    with_prior, _ = train_tiny_prior(root / "trained", root / "plain", "steps=2")
    return root, root / "run", with_prior


def test_a_new_export_keeps_the_prior_and_says_so(timbre):
    root, run, with_prior = timbre
    proc = export(run, root / "kept", "--keep-prior-of", str(with_prior))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["prior_kept_from"] == str(with_prior)
    assert "prior kept from" in proc.stderr and "encoders agree" in proc.stderr
    kept, source = load_bundle(root / "kept").manifest, load_bundle(with_prior).manifest
    assert kept.prior == source.prior and kept.files["prior.onnx"] == source.files["prior.onnx"]
    assert digest(root / "kept")["prior.onnx"] == digest(with_prior)["prior.onnx"]


def test_the_out_bundle_itself_keeps_its_prior(timbre):
    root, run, with_prior = timbre
    same = root / "same"
    shutil.copytree(with_prior, same)
    before = load_bundle(same).manifest
    proc = export(run, same, "--keep-prior-of", str(same))
    assert proc.returncode == 0, proc.stderr[-2000:]
    after = load_bundle(same).manifest
    assert after.prior == before.prior and after.provenance["created"] >= before.provenance["created"]


def test_another_encoders_prior_is_refused_and_out_is_left_as_it_was(timbre):
    root, run, with_prior = timbre
    # the factory violin: the same analysis, trained on other audio, so its latents' statistics differ
    proc = export(run, root / "refused", "--keep-prior-of", str(VIOLIN))
    assert proc.returncode == 2 and not (root / "refused").exists()
    lines = proc.stderr.strip().splitlines()
    assert (
        lines[-1].startswith(f"latentsynth-export: error: {root / 'refused'}: ")
        and "train its prior again" in lines[-1]
    )
    assert "Traceback" not in proc.stderr
    # an existing --out keeps every file when the prior it asks to keep does not fit
    out = root / "untouched"
    shutil.copytree(VIOLIN, out)
    files = digest(out)
    proc = export(run, out, "--keep-prior-of", str(out))
    assert proc.returncode == 2 and "train its prior again" in proc.stderr
    assert digest(out) == files


def test_a_bundle_without_a_prior_is_named(timbre):
    root, run, _ = timbre
    proc = export(run, root / "none", "--keep-prior-of", str(root / "plain"))
    assert proc.returncode == 2 and not (root / "none").exists()
    assert proc.stderr.strip().splitlines()[-1] == (
        f"latentsynth-export: error: {root / 'plain'}: the bundle has no prior to keep"
    )
