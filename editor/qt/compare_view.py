"""Side-by-side before/after: two canvases that zoom and pan as one."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QWidget

from editor.core.document import Document
from editor.core.history import History
from editor.qt.canvas import Canvas
from editor.qt.render_cache import DocumentCaches


class SideBySideView(QWidget):
    """``left`` shows compare source A, ``right`` source B. Zooming or panning either one
    moves the other to the same zoom and the same document point at its centre. Both share
    one set of render caches, so the document is rendered once, not twice."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.left = Canvas(self)
        self.right = Canvas(self)
        self.left.set_compare_mode("before")
        self.right.set_compare_mode("after")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.left, 1)
        layout.addWidget(self.right, 1)
        self._syncing = False
        self.left.viewChanged.connect(lambda: self._follow(self.left, self.right))
        self.right.viewChanged.connect(lambda: self._follow(self.right, self.left))

    def set_document(self, doc: Document | None, history: History | None,
                     caches: DocumentCaches | None = None) -> None:
        """``caches``: optionally reuse another view's renderings of ``doc`` (e.g. the main
        canvas's), so switching to side by side does not render the picture again."""
        self._syncing = True  # both fit independently; then the right one follows the left
        try:
            self.left.set_document(doc, history, caches=caches)
            self.right.set_document(doc, history, caches=self.left.caches())
        finally:
            self._syncing = False
        self._follow(self.left, self.right)

    def set_sources(self, a, b) -> None:
        self.left.set_compare_sources(a, b)
        self.right.set_compare_sources(a, b)

    def canvases(self) -> tuple[Canvas, Canvas]:
        return (self.left, self.right)

    def _follow(self, leader: Canvas, follower: Canvas) -> None:
        # The follower's own viewChanged comes back here while _syncing: ignoring it is
        # what keeps the two from bouncing the view between them.
        if self._syncing or leader.document() is None:
            return
        self._syncing = True
        try:
            if leader.is_fit_to_view():
                follower.zoom_fit()  # keep following window resizes, like the leader does
            else:
                follower.set_view(leader.zoom(), leader.view_center())
        finally:
            self._syncing = False
