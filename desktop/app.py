"""latentsynth: the desktop app (placeholder window until the desktop issue lands)."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="latentsynth")
    p.add_argument("--bundle", default=None)
    p.add_argument("--quit-after", type=float, default=None)
    args = p.parse_args(argv)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QLabel

    from .engine.bundle import load_bundle
    from .engine.render import default_bundle_path

    bundle = load_bundle(args.bundle or default_bundle_path())
    app = QApplication(sys.argv[:1])
    label = QLabel(f"LatentSynth: {bundle.name} ({bundle.manifest.family})")
    label.show()
    if args.quit_after is not None:
        QTimer.singleShot(int(args.quit_after * 1000), app.quit)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
