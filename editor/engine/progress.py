"""Progress and cancellation, Qt-free (the chaiNNer pattern).

Work calls ``progress.check_cancelled()`` before every tile and stage; it raises
:class:`Cancelled`, which unwinds the job without touching the document.
"""

from __future__ import annotations

import threading
from typing import Callable


class Cancelled(Exception):
    """The user cancelled, or a newer preview superseded this job."""


class Progress:
    """Reports a fraction in [0, 1] and a short message; can be cancelled from another thread.

    ``sub_progress(start, end)`` hands a stage its own 0..1 range inside ours.
    """

    def __init__(self, callback: Callable[[float, str], None] | None = None,
                 cancel_event: threading.Event | None = None) -> None:
        self._callback = callback
        self._cancel = cancel_event or threading.Event()
        self.fraction = 0.0
        self.message = ""

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def set_progress(self, fraction: float, message: str | None = None) -> None:
        self.check_cancelled()
        self.fraction = min(1.0, max(0.0, float(fraction)))
        if message is not None:
            self.message = message
        if self._callback is not None:
            self._callback(self.fraction, self.message)

    def sub_progress(self, start: float, end: float) -> "Progress":
        parent = self

        def forward(fraction: float, message: str) -> None:
            parent.set_progress(start + (end - start) * fraction, message or None)

        return Progress(forward, self._cancel)


#: For callers that do not care (tests, one-off scripts).
def silent() -> Progress:
    return Progress()
