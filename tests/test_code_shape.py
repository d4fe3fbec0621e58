"""Code shape outside tests/: no Python file over 450 lines, no function over 80 (issue 26: files past that size
were doing several jobs). The checker is tried on planted violations first, so an empty tree walk cannot pass."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.source_tree import nodes, parsed, python_files

ROOT = Path(__file__).resolve().parent.parent
MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 80
SKIPPED = {"tests", "build", "dist"}  # and hidden folders (.venv, .git)


def violations(root: Path) -> list[str]:
    """'path: N lines' for each file over the limit and 'path: name() N lines' for each function over it."""
    found = []
    for path in python_files(root):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIPPED or any(p.startswith(".") for p in rel.parts):
            continue
        text = parsed(path)[0]
        lines = len(text.splitlines())
        if lines > MAX_FILE_LINES:
            found.append(f"{rel.as_posix()}: {lines} lines")
        for node in nodes(path):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{rel.as_posix()}: {node.name}() {length} lines")
    return found


def test_the_checker_finds_planted_violations(tmp_path):
    long_body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))  # def line + 80 = 81 lines
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long_function.py").write_text(f"def f():\n{long_body}")
    (tmp_path / "pkg" / "fine.py").write_text("def g():\n    return 1\n" + "\n" * (MAX_FILE_LINES - 2))
    (tmp_path / "pkg" / "long_file.py").write_text("x = 1\n" * (MAX_FILE_LINES + 1))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_long.py").write_text("x = 1\n" * (MAX_FILE_LINES + 1))  # tests are exempt
    assert violations(tmp_path) == [
        f"pkg/long_file.py: {MAX_FILE_LINES + 1} lines",
        f"pkg/long_function.py: f() {MAX_FUNCTION_LINES + 1} lines",
    ]


def test_no_file_or_function_outside_tests_is_too_long():
    assert violations(ROOT) == []
