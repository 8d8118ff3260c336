"""The face toolkit is imported by tools and the CLI at start-up: it must not pull in Qt
(the Qt-free rule) nor pay for dlib and its 100 MB models before a face is looked for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_importing_faces_loads_no_qt_no_dlib_no_torch():
    code = ("import sys, editor.faces; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dlib', 'PySide6', 'torch', 'face_recognition_models')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"
