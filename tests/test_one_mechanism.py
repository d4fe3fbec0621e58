"""One mechanism per idea, read from the source (ast, nothing imported): outside tests/, onnxruntime sessions are
opened only by ``core.session.open_session``, and no file imports a private name (``_x``) of another package (a
library's private helper changes without notice: librosa's YIN internals did). The checker is tried on planted
violations first, so an empty walk cannot pass (issue 26)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT
from tests.source_tree import nodes, python_files

SKIPPED = {"tests", "build", "dist"}  # and hidden folders (.venv, .git)
SESSION_HOME = "core/session.py"


def _own_packages(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}


def violations(root: Path) -> list[str]:
    """'path:line what' for every InferenceSession built outside SESSION_HOME and every private name imported
    from a package that is not this repository's."""
    own = _own_packages(root)
    found = []
    for path in python_files(root):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIPPED or any(p.startswith(".") for p in rel.parts):
            continue
        for node in nodes(path):
            if isinstance(node, ast.Call) and rel.as_posix() != SESSION_HOME:
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name == "InferenceSession":
                    found.append(f"{rel.as_posix()}:{node.lineno} opens a session (use core.session.open_session)")
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                if node.module.split(".")[0] in own:
                    continue
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private or any(part.startswith("_") for part in node.module.split(".")[1:]):
                    found.append(f"{rel.as_posix()}:{node.lineno} imports private {node.module} {private}")
    return found


def test_the_checker_finds_planted_violations(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "session.py").write_text("import onnxruntime as ort\ns = ort.InferenceSession('a.onnx')\n")
    (tmp_path / "pkg" / "pitch.py").write_text("from librosa.core.pitch import _parabolic_interpolation\n")
    (tmp_path / "pkg" / "inner.py").write_text("from sklearn.utils._param_validation import Interval\n")
    (tmp_path / "pkg" / "own.py").write_text("from pkg.session import _private\nfrom __future__ import annotations\n")
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "session.py").write_text("import onnxruntime as ort\ns = ort.InferenceSession('a.onnx')\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text("from onnxruntime import InferenceSession\ns = InferenceSession('a')\n")
    found = violations(tmp_path)
    assert found == [
        "pkg/inner.py:1 imports private sklearn.utils._param_validation []",
        "pkg/pitch.py:1 imports private librosa.core.pitch ['_parabolic_interpolation']",
        "pkg/session.py:2 opens a session (use core.session.open_session)",
    ], found


def test_sessions_come_from_one_factory_and_no_private_imports():
    assert violations(ROOT) == []
