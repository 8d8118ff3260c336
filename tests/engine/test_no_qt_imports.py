"""Only editor.qt (and the app entry) may import PySide6: core, engine, nets, tools, faces,
video and training must run headless (CLI, batch jobs, CI without a display)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import editor

QT_FREE = ("core", "engine", "nets", "tools", "faces", "video", "training")

PROBE = textwrap.dedent("""
    import importlib, pkgutil, sys
    import editor
    failed = []
    for name in sys.argv[1:]:
        try:
            package = importlib.import_module("editor." + name)
        except ModuleNotFoundError:
            continue  # a package that does not exist yet
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".",
                                          onerror=failed.append):
            try:
                importlib.import_module(info.name)
            except Exception as error:
                failed.append(f"{info.name}: {type(error).__name__}: {error}")
    qt = sorted(m for m in sys.modules if m == "PySide6" or m.startswith("PySide6."))
    print("FAILED:", failed)
    print("QT:", qt)
    sys.exit(1 if failed or qt else 0)
""")


def test_headless_packages_never_import_pyside6():
    root = Path(editor.__file__).resolve().parents[1]
    present = [name for name in QT_FREE if (root / "editor" / name).is_dir()]
    assert "engine" in present
    probe = subprocess.run([sys.executable, "-c", PROBE, *present], cwd=root,
                           capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stdout + probe.stderr
