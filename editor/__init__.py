"""Restora: a local, non-destructive photo editor for retouchers.

Package layout (dependency direction, never the other way):
``qt -> tools -> (engine, faces, video) -> nets -> torch``; everything may use ``core``.
Only ``editor.qt`` (and ``editor.app``) import PySide6.
"""

__version__ = "0.1.0"
