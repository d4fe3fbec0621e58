"""Issue 23's hostile inputs: the cases of "Nothing lost, round two", run like the first table (tests/hostile.py):
one line naming the file or option, exit code 2, no traceback, every file that existed unchanged, nothing new."""

from __future__ import annotations

import pytest
from hostile import Case, R, run_case

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
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path, request):
    run_case(case, tmp_path, request)
