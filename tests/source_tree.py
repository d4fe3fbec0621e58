"""The repository's Python files for the tests that read code (import rules, code shape, one mechanism): listed
without walking hidden folders (.venv alone holds thousands of files), each read, parsed and walked once per test
session."""

from __future__ import annotations

import ast
import os
from functools import lru_cache
from pathlib import Path


def python_files(root: Path) -> list[Path]:
    """Every ``*.py`` under ``root`` outside hidden folders (.venv, .git), sorted."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(folder) / name for name in files if name.endswith(".py")]
    return sorted(found)


def parsed(path: Path) -> tuple[str, ast.Module]:
    """``path``'s text and syntax tree (read again when the file changed). Callers only read the tree."""
    stat = path.stat()
    return _parsed(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=None)
def _parsed(path: str, mtime_ns: int, size: int) -> tuple[str, ast.Module]:
    text = Path(path).read_text(encoding="utf-8")
    return text, ast.parse(text, path)


def nodes(path: Path) -> tuple[ast.AST, ...]:
    """Every node of ``path``'s syntax tree in ``ast.walk``'s order (walked once per file version: the three tests
    each walked every file's 100k-node trees again)."""
    stat = path.stat()
    return _nodes(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=None)
def _nodes(path: str, mtime_ns: int, size: int) -> tuple[ast.AST, ...]:
    return tuple(ast.walk(_parsed(path, mtime_ns, size)[1]))
