"""What the canvas shows and how the pointer acts on it: zoom, before/after compare
(toggle, split, side by side, sources), mask overlay, canvas tool mode and brush.

The single Canvas and the SideBySideView sit in one QStackedWidget; everything here is
applied to both so switching views never loses a setting.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSignalBlocker, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSpinBox, QStackedWidget, QWidget

from editor.qt import dialogs
from editor.qt.canvas import Canvas
from editor.qt.compare_view import SideBySideView
from editor.qt.qt_document import QtDocument
from editor.qt.settings import Settings

CANVAS_MODES = ("pan", "brush", "eraser", "select_rect", "select_ellipse")
#: [ and ] scale the brush by this factor, so small and huge brushes both change usefully.
BRUSH_STEP = 1.25


class BrushControls(QWidget):
    """Size / hardness / opacity of the mask brush, for the canvas toolbar."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.size_spin = QDoubleSpinBox()
        self.size_spin.setRange(1.0, 2000.0)
        self.size_spin.setDecimals(0)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Brush diameter in image pixels ([ smaller, ] larger)")
        self.hardness_spin = QSpinBox()
        self.hardness_spin.setRange(0, 100)
        self.hardness_spin.setSuffix(" %")
        self.hardness_spin.setToolTip("Brush edge hardness (0 % = soft, 100 % = hard)")
        self.opacity_spin = QSpinBox()
        self.opacity_spin.setRange(1, 100)
        self.opacity_spin.setSuffix(" %")
        self.opacity_spin.setToolTip("How much one stroke reveals or hides")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for label, w in (("Size", self.size_spin), ("Hardness", self.hardness_spin),
                         ("Opacity", self.opacity_spin)):
            layout.addWidget(QLabel(label))
            layout.addWidget(w)
        for w in (self.size_spin, self.hardness_spin, self.opacity_spin):
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self.changed)

    def values(self) -> tuple[float, float, float]:
        return (self.size_spin.value(), self.hardness_spin.value() / 100.0,
                self.opacity_spin.value() / 100.0)

    def set_values(self, size: float, hardness: float, opacity: float) -> None:
        with QSignalBlocker(self.size_spin), QSignalBlocker(self.hardness_spin), \
                QSignalBlocker(self.opacity_spin):
            self.size_spin.setValue(size)
            self.hardness_spin.setValue(round(hardness * 100))
            self.opacity_spin.setValue(round(opacity * 100))
        self.changed.emit()


class ViewController(QObject):
    #: The widget the user looks at changed (single canvas <-> side by side).
    viewSwitched = Signal()

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._qdoc: QtDocument | None = None
        self.canvas = Canvas()
        self.side = SideBySideView()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(self.side)
        self.brush = BrushControls()
        self._sources: tuple[object, object] | None = None
        self._compare = "off"
        self.brush.changed.connect(self._apply_brush)
        self.brush.set_values(settings.get("brush/size"), settings.get("brush/hardness"),
                              settings.get("brush/opacity"))
        self.set_mask_overlay(settings.get("view/show_mask_overlay"))

    def canvases(self) -> list[Canvas]:
        return [self.canvas, self.side.left, self.side.right]

    @property
    def side_by_side(self) -> bool:
        return self.stack.currentWidget() is self.side

    def active_canvas(self) -> Canvas:
        """The canvas whose view drives zoom commands and previews (the "after" side when
        comparing side by side)."""
        return self.side.right if self.side_by_side else self.canvas

    def preview_canvases(self) -> list[Canvas]:
        return [self.active_canvas()]

    def selection(self):
        return self.active_canvas().selection()

    # -- document -----------------------------------------------------------------------------
    def set_document(self, qdoc: QtDocument | None) -> None:
        self._qdoc = qdoc
        doc, history = (qdoc.doc, qdoc.history) if qdoc else (None, None)
        if self._sources is not None and doc is not None and doc.layers:
            # Sources picked for the previous photo mean nothing here: back to the usual
            # before/after (bottom layer vs what you see).
            self.canvas.set_compare_sources(doc.layers[0].id, "composite")
        self._sources = None
        self.canvas.set_document(doc, history)
        # The side-by-side pair renders only while shown; a hidden pair costs nothing.
        self.side.set_document(doc if self.side_by_side else None,
                               history if self.side_by_side else None)
        if self.side_by_side and doc is not None:
            self.side.set_sources(*self.compare_sources())
        self.canvas.set_compare_mode(self._compare)

    # -- zoom ---------------------------------------------------------------------------------
    def zoom_in(self) -> None:
        self.active_canvas().zoom_in()

    def zoom_out(self) -> None:
        self.active_canvas().zoom_out()

    def zoom_fit(self) -> None:
        self.active_canvas().zoom_fit()

    def zoom_actual(self) -> None:
        self.active_canvas().zoom_actual()

    # -- compare -----------------------------------------------------------------------------
    def set_compare_mode(self, mode: str) -> None:
        """"off", "before" (show source A: the backslash toggle) or "split"."""
        self._compare = mode
        self.canvas.set_compare_mode(mode)

    def compare_mode(self) -> str:
        return self._compare

    def set_side_by_side(self, on: bool) -> None:
        if on == self.side_by_side:
            return
        doc, history = (self._qdoc.doc, self._qdoc.history) if self._qdoc else (None, None)
        if on:
            self.side.set_document(doc, history)
            if doc is not None:
                self.side.set_sources(*self.compare_sources())
            for c in (self.side.left, self.side.right):
                c.set_mask_overlay(self._settings.get("view/show_mask_overlay"))
                c.set_tool_mode(self.canvas.tool_mode())
                c.set_brush(*self.brush.values())
            self.stack.setCurrentWidget(self.side)
            if doc is not None:
                self.side.left.set_view(self.canvas.zoom(), self.canvas.view_center())
        else:
            if doc is not None:
                self.canvas.set_view(self.side.right.zoom(), self.side.right.view_center())
            self.stack.setCurrentWidget(self.canvas)
            self.side.set_document(None, None)
        self.viewSwitched.emit()

    def compare_sources(self) -> tuple[object, object]:
        if self._sources is not None:
            return self._sources
        getter = getattr(self.canvas, "compare_sources", None)
        if getter is not None:
            return getter()
        doc = self._qdoc.doc if self._qdoc else None
        return (doc.layers[0].id if doc and doc.layers else "composite", "composite")

    def set_compare_sources(self, a, b) -> None:
        self._sources = (a, b)
        self.canvas.set_compare_sources(a, b)
        if self.side_by_side:
            self.side.set_sources(a, b)

    def choose_compare_sources(self, parent: QWidget) -> None:
        if self._qdoc is None:
            return
        chosen = dialogs.ask_compare_sources(parent, self._qdoc.doc, *self.compare_sources())
        if chosen is not None:
            self.set_compare_sources(*chosen)

    # -- overlay, tool mode, brush ---------------------------------------------------------------
    def set_mask_overlay(self, on: bool) -> None:
        self._settings.set("view/show_mask_overlay", on)
        for c in self.canvases():
            c.set_mask_overlay(on)

    def set_tool_mode(self, mode: str) -> None:
        for c in self.canvases():
            c.set_tool_mode(mode)

    def tool_mode(self) -> str:
        return self.canvas.tool_mode()

    def scale_brush(self, factor: float) -> None:
        size = min(2000.0, max(1.0, self.brush.size_spin.value() * factor))
        if factor > 1 and round(size) == round(self.brush.size_spin.value()):
            size += 1  # tiny brushes must still grow
        self.brush.size_spin.setValue(round(size))

    def _apply_brush(self) -> None:
        size, hardness, opacity = self.brush.values()
        for c in self.canvases():
            c.set_brush(size, hardness, opacity)
        self._settings.set("brush/size", size)
        self._settings.set("brush/hardness", hardness)
        self._settings.set("brush/opacity", opacity)

    def clear_selection(self) -> bool:
        """Returns True when there was a selection to clear."""
        had = False
        for c in self.canvases():
            if c.selection() is not None:
                c.clear_selection()
                had = True
        return had

    def select_all(self) -> None:
        canvas = self.active_canvas()
        # set_selection is an extra of our Canvas beyond the shared contract; without it
        # Select All is simply unavailable.
        if self._qdoc is not None and hasattr(canvas, "set_selection"):
            doc = self._qdoc.doc
            canvas.set_selection("rect", (0.0, 0.0, float(doc.width), float(doc.height)))

