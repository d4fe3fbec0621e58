"""The playing side works in a process where importing torch fails, and plays without librosa (its light install)."""

import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow  # launches processes, trains/exports or plays in real time

BLOCK_TORCH = textwrap.dedent("""
    import sys
    class _NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('torch', 'models', 'trainer', 'export', 'onnx', 'onnxscript'):
                raise ImportError(f'{name} is blocked in this test: the playing side must not need it')
            return None
    sys.meta_path.insert(0, _NoTorch())
""")


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=300,
    )


def test_torch_is_really_blocked():
    proc = run_blocked("import torch")
    assert proc.returncode != 0 and "blocked in this test" in proc.stderr


def test_render_cli_without_torch(fixtures_dir, tmp_path):
    out = tmp_path / "out.wav"
    proc = run_blocked(f"""
        import sys
        from desktop.render_cli import main
        code = main([{str(fixtures_dir / "drums_loop_tabla.wav")!r}, '-o', {str(out)!r}, '--quiet'])
        assert code == 0, code
        assert not any(m.split('.')[0] == 'torch' for m in sys.modules)
        print('ok')
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.is_file()


def test_every_desktop_module_imports_without_torch():
    proc = run_blocked("""
        import importlib, pkgutil, core, desktop
        names = [m.name for pkg in (core, desktop) for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.')]
        for name in names:
            importlib.import_module(name)
        print(len(names))
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip().splitlines()[-1]) >= 6


def test_playing_without_librosa(fixtures_dir, tmp_path):
    """The light install has no librosa (numba, scikit-learn): render, the engine and the app's modules work,
    and Griffin-Lim says what to install."""
    out = tmp_path / "out.wav"
    block = BLOCK_TORCH.replace("'onnxscript')", "'onnxscript', 'librosa', 'numba', 'sklearn')")
    code = f"""
        import sys
        from desktop.render_cli import main
        assert main([{str(fixtures_dir / "speech_pd_voice.wav")!r}, '-o', {str(out)!r}, '--quiet']) == 0
        import desktop.app, desktop.engine.audio.live, desktop.engine.audio.startup, desktop.ui.views
        from desktop.engine.model.inversion import require_librosa
        try:
            require_librosa()
        except RuntimeError as exc:
            assert "latentsynth[offline]" in str(exc), exc
        else:
            raise AssertionError("librosa was importable")
        assert not any(m.split('.')[0] in ('librosa', 'numba') for m in sys.modules)
        print('ok')
    """
    proc = subprocess.run(
        [sys.executable, "-c", block + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=300,
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]
    assert out.is_file()


def test_engine_and_control_never_import_qt():
    """The engine, remote control and core/ run without Qt (the app wires them to the window)."""
    block = BLOCK_TORCH.replace("'onnxscript')", "'onnxscript', 'PySide6', 'pyqtgraph', 'shiboken6')")
    code = """
        import importlib, pkgutil, core, desktop.engine, desktop.control
        names = [m.name for pkg in (core, desktop.engine, desktop.control)
                 for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.')]
        for name in names:
            importlib.import_module(name)
        print(len(names))
    """
    proc = subprocess.run(
        [sys.executable, "-c", block + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip().splitlines()[-1]) >= 20
