"""qtawesome icons with a safe fallback.

Why a wrapper: a misspelt or removed icon name makes qtawesome raise, and an icon is
never worth a crash at start-up; an empty QIcon keeps the action usable (its text and
tooltip still show).
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtGui import QIcon


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    try:
        import qtawesome as qta
        return qta.icon(name)
    except Exception:  # noqa: BLE001 - any icon failure degrades to "no icon"
        return QIcon()
