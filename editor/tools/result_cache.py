"""Keep the last expensive network result so a strength-only slider move re-blends
instead of re-running the model (the GUIDE's "cache the expensive part")."""

from __future__ import annotations

import threading

import numpy as np


class LastResult:
    """One cached array, keyed by everything it depends on; thread-safe because previews
    run on the engine thread while the GUI may clear the cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry: tuple[tuple, np.ndarray] | None = None

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            if self._entry is not None and self._entry[0] == key:
                return self._entry[1].copy()
        return None

    def put(self, key: tuple, value: np.ndarray) -> None:
        with self._lock:
            self._entry = (key, value.copy())

    def clear(self) -> None:
        with self._lock:
            self._entry = None
