"""The dependency direction of GUIDE.md, checked on the source: ``qt -> tools -> (engine,
faces, video) -> nets -> torch``, everything may use ``core``. A lower layer importing a
higher one (say video importing a tool) makes the headless parts drag the application in
and turns the layers into a knot; this catches it at the import line, lazy imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import editor

#: package -> the editor packages it may import (itself always allowed).
ALLOWED = {
    "core": set(),
    "engine": {"core"},
    "nets": {"core"},
    "faces": {"core", "engine", "nets"},
    "video": {"core", "engine", "nets"},
    "tools": {"core", "engine", "nets", "faces", "video"},
}


def _editor_imports(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "editor" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


def test_lower_layers_never_import_higher_ones():
    root = Path(editor.__file__).resolve().parent
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((root / package).rglob("*.py")):
            for target, line in _editor_imports(path):
                if target != package and target not in allowed:
                    wrong.append(f"{path.relative_to(root.parent)}:{line} imports editor.{target}")
    assert not wrong, "\n".join(wrong)
