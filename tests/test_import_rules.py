"""The arrows of docs/architecture.md, read from the source (ast, nothing imported): who may import whom.

core/ (what every side shares) imports only the standard library, numpy, onnxruntime, soundfile and soxr (librosa
as an optional fallback); desktop/ never imports torch or the training side; the engine and remote control never
import Qt; trainer/, export/ and models/ never import the player. A planted violation of each rule is caught.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from conftest import ROOT
from tests.source_tree import nodes, python_files

QT = frozenset({"PySide6", "shiboken6", "pyqtgraph"})
TRAINING_SIDE = frozenset({"torch", "models", "trainer", "export", "onnx", "onnxscript"})
CORE_THIRD_PARTY = frozenset({"numpy", "onnxruntime", "soundfile", "soxr", "librosa"})

# (folder, what files there must not import, why); folders are relative to the repository root
FORBIDDEN = [
    ("desktop", TRAINING_SIDE, "the player installs without torch and the training side"),
    ("desktop/engine", QT, "the engine runs without Qt (the app wires it to the window)"),
    ("desktop/control", QT, "remote control runs without Qt"),
    ("trainer", {"desktop"}, "shared code lives in core/"),
    ("export", {"desktop"}, "shared code lives in core/"),
    ("models", {"desktop", "trainer", "export"}, "models are torch modules only"),
]
# folder -> the only top-level modules its files may import besides the standard library and itself
ONLY = {"core": CORE_THIRD_PARTY}


def imported(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in ``path``: top level or inside a function, relative imports
    resolved against the file's package, and ``importlib.import_module`` / ``__import__`` of a literal name."""
    package = list(path.relative_to(root).parent.parts)
    found = []
    for node in nodes(path):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def violations(root: Path) -> list[str]:
    """Every import under ``root`` that breaks FORBIDDEN or ONLY, as 'file:line imports module (why)'."""
    problems = []
    ruled = [folder for folder, _, _ in FORBIDDEN] + list(ONLY)
    for path in python_files(root):
        rel = path.relative_to(root)
        if rel.parts[0].startswith(".") or not any(rel.is_relative_to(folder) for folder in ruled):
            continue  # no rule reads it (tests/, scripts/, benchmarks/): not parsed
        for line, module in imported(path, root):
            top = module.split(".")[0]
            for folder, names, why in FORBIDDEN:
                if rel.is_relative_to(folder) and top in names:
                    problems.append(f"{rel}:{line} imports {module} ({why})")
            for folder, allowed in ONLY.items():
                own = Path(folder).parts[0]
                if rel.is_relative_to(folder) and top not in allowed | {own} | sys.stdlib_module_names:
                    problems.append(
                        f"{rel}:{line} imports {module} ({folder}/ takes only the standard library and "
                        f"{', '.join(sorted(allowed))})"
                    )
    return problems


def test_the_tree_keeps_the_import_rules():
    for folder in [f for f, _, _ in FORBIDDEN] + list(ONLY):
        assert any((ROOT / folder).rglob("*.py")), f"{folder}/ has no Python files: the rule checks nothing"
    assert violations(ROOT) == []


def test_a_planted_violation_of_each_rule_is_caught(tmp_path):
    bad = {
        "desktop/ui/view.py": "def draw():\n    import torch\n",
        "desktop/engine/audio/chain.py": "from PySide6 import QtCore\n",
        "desktop/engine/model/part.py": "from ...control import osc\nimport importlib\nimportlib.import_module('pyqtgraph')\n",
        "desktop/control/osc.py": "import shiboken6\n",
        "core/bundle.py": "from desktop.engine.audio import live\n",
        "core/session.py": "import torch.nn as nn\n",
        "core/audiofile.py": "import scipy.signal\n",
        "trainer/data.py": "from desktop.engine.audiofile import load_audio\n",
        "export/cli.py": "from desktop import cli_values\n",
        "models/vae.py": "from trainer.losses import mel_loss\n",
    }
    good = {
        "desktop/engine/audio/live.py": "import numpy as np\nfrom core.session import ModelRunner\nfrom . import ring\n",
        "desktop/ui/window.py": "from PySide6 import QtWidgets\nfrom ..engine.audio import live\n",
        "core/render.py": "import json\nimport onnxruntime\nfrom .session import ModelRunner\n",
        "trainer/cli.py": "import torch\nfrom core.cli_values import bounded\nfrom models import registry\n",
        "export/streaming.py": "from core.bundle import Streaming\nfrom trainer import checkpoint\n",
        "models/sfvae.py": "import torch\nfrom .family import AudioAutoencoder\n",
        "benchmarks/speed.py": "import torch\nfrom desktop.engine.audio import live\n",
    }
    for rel, text in {**bad, **good}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = violations(tmp_path)
    caught = {p.split(":")[0] for p in found}
    assert caught == set(bad), found
    assert "desktop/engine/model/part.py:3 imports pyqtgraph" in "\n".join(found)  # a dynamic import is seen
    assert len([p for p in found if p.startswith("desktop/engine/model/part.py")]) == 1  # engine -> control is fine
