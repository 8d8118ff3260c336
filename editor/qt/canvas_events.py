"""Pointer and keyboard handling of the canvas, as a mixin of :class:`Canvas`.

Split from canvas.py to keep each file about one thing: this one turns mouse, wheel and
key events into view changes, brush strokes (editor/qt/canvas_input.py does the stroke
maths), marquee selections and split-line drags. It relies on the Canvas's view and state
methods (view_to_doc, set_zoom, _pan_by, _set_selection, ...).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QCursor

from editor.qt.canvas_input import MaskStroke, marquee, wheel_zoom

#: How close (screen px) to the split line a press grabs it instead of using the tool.
SPLIT_GRAB_PX = 6


class CanvasInputMixin:
    """Drag state machine. ``self._drag`` is None or one of
    ``("pan", last_pos)``, ``("split",)``, ``("stroke", MaskStroke)``,
    ``("select", start_doc_point, kind, selection_before)``."""

    def _pixel_centre_to_doc(self, pos: QPointF) -> QPointF:
        # A mouse position names a screen pixel; its centre is what the hotspot covers.
        # (At 100 % this puts a dab in the middle of the document pixel under the cursor.)
        return self.view_to_doc(pos + QPointF(0.5, 0.5))

    def _near_split(self, pos: QPointF) -> bool:
        return self._compare == "split" and abs(pos.x() - self._split_x()) <= SPLIT_GRAB_PX

    def _update_cursor(self, pos: QPointF | None = None) -> None:
        shape = Qt.CursorShape.ArrowCursor
        drag = self._drag[0] if self._drag else None
        if drag == "pan":
            shape = Qt.CursorShape.ClosedHandCursor
        elif drag == "split" or (drag is None and pos is not None and self._near_split(pos)):
            shape = Qt.CursorShape.SplitHCursor
        elif self._doc is not None and (self._space or self._mode == "pan"):
            shape = Qt.CursorShape.OpenHandCursor
        elif self._doc is not None:
            shape = Qt.CursorShape.CrossCursor
        self.setCursor(QCursor(shape))

    def mousePressEvent(self, event) -> None:
        pos = event.position()
        button = event.button()
        if self._drag is not None:
            return
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and (
                self._space or (self._mode == "pan" and not self._near_split(pos)))):
            self._drag = ("pan", pos)
        elif button == Qt.MouseButton.LeftButton and self._near_split(pos):
            self._drag = ("split",)
        elif button == Qt.MouseButton.LeftButton and self._doc is not None:
            if self._mode in ("brush", "eraser"):
                self._begin_stroke(self._pixel_centre_to_doc(pos), event.modifiers())
            elif self._mode in ("select_rect", "select_ellipse"):
                # Marquee corners snap to pixel edges, so the raw position is what counts.
                start = self.view_to_doc(pos)
                kind = "rect" if self._mode == "select_rect" else "ellipse"
                self._drag = ("select", (start.x(), start.y()), kind, self._selection)
                self._set_selection(None, notify=False)
        else:
            super().mousePressEvent(event)
            return
        self._update_cursor(pos)
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        self._update_brush_outline()
        self._mouse = QPointF(pos)
        self._update_brush_outline()
        doc_pos = self._pixel_centre_to_doc(pos)
        if self._doc is not None:
            self.cursorMoved.emit(math.floor(doc_pos.x()), math.floor(doc_pos.y()))
        drag = self._drag[0] if self._drag else None
        if drag == "pan":
            delta = pos - self._drag[1]
            self._drag = ("pan", pos)
            self._pan_by(delta.x(), delta.y())
        elif drag == "split":
            self.set_split_position(pos.x() / max(1, self.width()))
        elif drag == "stroke":
            self._drag[1].move_to(doc_pos.x(), doc_pos.y())
        elif drag == "select":
            self._update_marquee(pos, event.modifiers())
        else:
            self._update_cursor(pos)

    def mouseReleaseEvent(self, event) -> None:
        if self._drag is None:
            super().mouseReleaseEvent(event)
            return
        drag = self._drag[0]
        if drag == "pan" and event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            return
        if drag != "pan" and event.button() != Qt.MouseButton.LeftButton:
            return
        if drag == "select":
            self._update_marquee(event.position(), event.modifiers())
        self._end_drag()
        self._update_cursor(event.position())
        event.accept()

    def _begin_stroke(self, doc_pos: QPointF, modifiers) -> None:
        layer = self._doc.active_layer
        if layer is None or self._history is None:
            return
        value = 1.0 if self._mode == "brush" else 0.0
        stroke = MaskStroke(self._doc, self._history, layer.id, value, *self._brush)
        if self._caches is not None:
            # An all-ones mask shows exactly what no mask showed: no re-render for it.
            with self._caches.unchanged_rendering(layer.id):
                stroke.ensure_mask()
        else:
            stroke.ensure_mask()
        start = (doc_pos.x(), doc_pos.y())
        if (modifiers & Qt.KeyboardModifier.ShiftModifier and self._last_stroke_end is not None
                and self._last_stroke_end[0] == layer.id):
            # Shift+click: a straight line from where the last stroke ended (Photoshop).
            stroke.begin(*self._last_stroke_end[1])
            stroke.move_to(*start)
        else:
            stroke.begin(*start)
        self._drag = ("stroke", stroke)

    def _update_marquee(self, pos: QPointF, modifiers) -> None:
        _tag, start, kind, _before = self._drag
        end = self.view_to_doc(pos)
        bbox = marquee(start, (end.x(), end.y()), kind,
                       square=bool(modifiers & Qt.KeyboardModifier.ShiftModifier),
                       from_centre=bool(modifiers & Qt.KeyboardModifier.AltModifier),
                       doc_size=self._doc.size)
        self._set_selection(None if bbox is None else (kind, bbox), notify=False)

    def _end_drag(self) -> None:
        """Finish whatever the pointer was doing (release, Esc, tool or document switch)."""
        drag, self._drag = self._drag, None
        if drag is None:
            return
        if drag[0] == "stroke":
            stroke: MaskStroke = drag[1]
            stroke.finish()
            if stroke.last_point is not None:
                self._last_stroke_end = (stroke.layer_id, stroke.last_point)
            if stroke.committed:
                self.maskStrokeFinished.emit()
        elif drag[0] == "select" and self._selection != drag[3]:
            self.selectionChanged.emit()

    def wheelEvent(self, event) -> None:
        if self._doc is None:
            return
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta == 0:
            event.ignore()
            return
        new = wheel_zoom(self._zoom, delta / 120.0)
        self.set_zoom(new, event.position())
        event.accept()

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self._update_cursor()
        elif key == Qt.Key.Key_Escape:
            if self._drag is not None and self._drag[0] == "select":
                self._set_selection(self._drag[3], notify=False)
                self._drag = None
            elif self._drag is not None:
                self._end_drag()
            elif self._selection is not None:
                self.clear_selection()
            else:
                event.ignore()
                return
        elif key != Qt.Key.Key_Space:
            super().keyPressEvent(event)
            return
        event.accept()

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._update_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        # The Space release may go to another widget; do not stay stuck in pan.
        self._space = False
        super().focusOutEvent(event)

    def leaveEvent(self, event) -> None:
        self._update_brush_outline()
        self._mouse = None
        super().leaveEvent(event)
