"""The document canvas: zoom/pan view, mask brush, marquee, tool previews, before/after.

Rendering never composites the layer stack on pan or zoom: it blits the visible part of
an 8-bit cache (editor/qt/render_cache.py), from the mip level nearest the zoom when zoomed
out, and nearest-neighbour from full resolution at >= 100 %, so a document pixel is an
exact screen square. Document events only mark cache regions stale and schedule a repaint
of the matching screen region; the cache does the work once, at the next paint.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import shiboken6
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPainter, QRegion
from PySide6.QtWidgets import QWidget

from editor.core.document import Document, DocEvent, to_rgba
from editor.core.history import History
from editor.qt import canvas_paint as paint
from editor.qt.canvas_events import CanvasInputMixin
from editor.qt.canvas_input import MAX_ZOOM, MIN_ZOOM
from editor.qt.render_cache import DocumentCaches, MipCache, premultiplied_rgba8

#: Ctrl+= / Ctrl+- stops, the ones Photoshop users know.
ZOOM_STEPS = (1 / 64, 1 / 48, 1 / 32, 1 / 24, 1 / 16, 1 / 12, 1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2,
              2 / 3, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0)
GRID_ZOOM = 8.0
TOOL_MODES = ("pan", "brush", "eraser", "select_rect", "select_ellipse")
COMPARE_MODES = ("off", "before", "after", "split")
#: Pixels of the document that panning always leaves on screen, so it cannot get lost.
KEEP_VISIBLE_PX = 48
FIT_MARGIN_PX = 8
RGBA_FORMAT = QImage.Format.Format_RGBA8888_Premultiplied


class Canvas(CanvasInputMixin, QWidget):
    zoomChanged = Signal(float)
    cursorMoved = Signal(int, int)
    viewChanged = Signal()
    selectionChanged = Signal()
    maskStrokeFinished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # Every paint fills its whole update rect, so Qt need not erase it first.
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(64, 48)
        self._doc: Document | None = None
        self._history: History | None = None
        self._caches: DocumentCaches | None = None
        self._relay = None
        self._doc_size = (0, 0)
        self._zoom = 1.0
        self._offset = QPointF(0.0, 0.0)  # screen position of document (0, 0)
        self._fit = True  # follow widget resizes until the user zooms or pans
        self._mode = "pan"
        self._brush = (40.0, 0.8, 1.0)
        self._selection: tuple[str, tuple[float, float, float, float]] | None = None
        self._overlay = False
        self._preview: tuple[QImage, tuple[int, int, int, int], np.ndarray] | None = None
        self._compare = "off"
        self._sources: tuple[object, object] = (None, "composite")  # None: bottom layer
        self._split = 0.5
        self._drag: tuple | None = None
        self._space = False
        self._mouse: QPointF | None = None
        self._images = paint.ArrayImages()
        self._checker = paint.checker_brush()
        self._ants_phase = 0
        self._ants = QTimer(self)
        self._ants.setInterval(150)
        self._ants.timeout.connect(self._march_ants)
        self._last_stroke_end: tuple[int, tuple[float, float]] | None = None

    def sizeHint(self) -> QSize:
        return QSize(800, 600)

    # -- document ----------------------------------------------------------------------------
    def set_document(self, doc: Document | None, history: History | None,
                     caches: DocumentCaches | None = None) -> None:
        """Show ``doc``; ``caches`` lets several views of one document share renderings."""
        if caches is not None and caches.doc is not doc:
            raise ValueError("caches belong to another document")
        self._end_drag()
        if self._doc is not None and self._relay is not None:
            self._doc.unsubscribe(self._relay)
        self._relay = None
        had_selection = self._selection is not None
        self._doc, self._history = doc, history
        if doc is None:
            self._caches = None
        else:
            self._caches = caches if caches is not None else DocumentCaches(doc)
        self._images.clear()
        self._selection, self._preview, self._last_stroke_end = None, None, None
        self._ants.stop()
        if doc is not None:
            ref = weakref.ref(self)

            def relay(event: DocEvent, doc=doc) -> None:
                me = ref()
                if me is None or not shiboken6.isValid(me):
                    doc.unsubscribe(relay)  # the widget is gone; stop listening
                else:
                    me._on_doc_event(event)

            self._relay = relay
            doc.subscribe(relay)
            self._doc_size = doc.size
            self.zoom_fit()
        self._update_cursor()
        self.update()
        if had_selection:
            self.selectionChanged.emit()

    def document(self) -> Document | None:
        return self._doc

    def caches(self) -> DocumentCaches | None:
        return self._caches

    def _on_doc_event(self, event: DocEvent) -> None:
        repaint_all = event.kind in ("structure", "property")
        if event.kind in ("structure", "pixels") or (event.kind == "property"
                                                     and event.detail != "name"):
            # A preview shows the old pixels; the main window asks for a fresh one.
            if self._preview is not None:
                self._preview = None
                repaint_all = True
        if event.kind == "structure" and self._doc is not None and self._doc.size != self._doc_size:
            self._on_doc_resized()
        if event.kind == "pixels" and event.bbox is not None and not repaint_all:
            self.update(self._doc_rect_on_screen(event.bbox).toAlignedRect().adjusted(-2, -2, 2, 2))
        elif event.kind != "active" or self._overlay:
            self.update()

    def _on_doc_resized(self) -> None:
        # Resize/upscale: keep the same part of the picture in the middle of the view.
        (ow, oh), (nw, nh) = self._doc_size, self._doc.size
        centre = self.view_center()
        self._doc_size = (nw, nh)
        self._images.clear()  # the caches reallocated; do not keep the old arrays alive
        if self._selection is not None:
            self.clear_selection()
        if self._fit:
            self.zoom_fit()
        else:
            self.set_view(self._zoom, QPointF(centre.x() * nw / ow, centre.y() * nh / oh))

    # -- view --------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self._zoom

    def _origin(self) -> QPointF:
        # At >= 100 % the document origin sits on a whole screen pixel, so every document
        # pixel covers the same integer block of screen pixels.
        if self._zoom >= 1.0:
            return QPointF(math.floor(self._offset.x() + 0.5), math.floor(self._offset.y() + 0.5))
        return QPointF(self._offset)

    def doc_to_view(self, point: QPointF) -> QPointF:
        return point * self._zoom + self._origin()

    def view_to_doc(self, point: QPointF) -> QPointF:
        return (point - self._origin()) / self._zoom

    def _doc_rect_on_screen(self, bbox) -> QRectF:
        x0, y0, x1, y1 = bbox
        return QRectF(self.doc_to_view(QPointF(x0, y0)), self.doc_to_view(QPointF(x1, y1)))

    def _centre(self) -> QPointF:
        return QPointF(self.width() / 2.0, self.height() / 2.0)

    def _apply_view(self, zoom: float, offset: QPointF) -> None:
        zoom_changed = zoom != self._zoom
        moved = zoom_changed or offset != self._offset
        self._zoom, self._offset = zoom, QPointF(offset)
        if moved:
            self.update()
            if zoom_changed:
                self.zoomChanged.emit(zoom)
            self.viewChanged.emit()

    def set_zoom(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the document point under ``anchor`` (default: the view centre) still."""
        factor = min(MAX_ZOOM, max(MIN_ZOOM, float(factor)))
        anchor = self._centre() if anchor is None else QPointF(anchor)
        doc_point = self.view_to_doc(anchor)
        self._fit = False
        self._apply_view(factor, anchor - doc_point * factor)

    def zoom_in(self) -> None:
        self.set_zoom(next((z for z in ZOOM_STEPS if z > self._zoom * 1.001), MAX_ZOOM))

    def zoom_out(self) -> None:
        self.set_zoom(next((z for z in reversed(ZOOM_STEPS) if z < self._zoom / 1.001), MIN_ZOOM))

    def zoom_fit(self) -> None:
        """Whole document in view, centred (small documents are enlarged, as in Photoshop)."""
        if self._doc is None:
            return
        w, h = self._doc.size
        avail_w = max(1, self.width() - 2 * FIT_MARGIN_PX)
        avail_h = max(1, self.height() - 2 * FIT_MARGIN_PX)
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, min(avail_w / w, avail_h / h)))
        self._apply_view(zoom, self._centre() - QPointF(w / 2.0, h / 2.0) * zoom)
        self._fit = True

    def is_fit_to_view(self) -> bool:
        """True after zoom_fit() until the user zooms or pans: resizes then refit."""
        return self._fit

    def zoom_actual(self) -> None:
        self.set_zoom(1.0)

    def visible_doc_rect(self) -> tuple[int, int, int, int]:
        if self._doc is None:
            return (0, 0, 0, 0)
        tl = self.view_to_doc(QPointF(0, 0))
        br = self.view_to_doc(QPointF(self.width(), self.height()))
        x0 = min(self._doc.width, max(0, math.floor(tl.x())))
        y0 = min(self._doc.height, max(0, math.floor(tl.y())))
        x1 = min(self._doc.width, max(x0, math.ceil(br.x())))
        y1 = min(self._doc.height, max(y0, math.ceil(br.y())))
        return (x0, y0, x1, y1)

    def set_view(self, zoom: float, center_doc: QPointF) -> None:
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, float(zoom)))
        self._fit = False
        self._apply_view(zoom, self._centre() - QPointF(center_doc) * zoom)

    def view_center(self) -> QPointF:
        # From the unrounded offset, so syncing two views never accumulates rounding.
        return (self._centre() - self._offset) / self._zoom

    def _pan_by(self, dx: float, dy: float) -> None:
        if self._doc is None:
            return
        ox, oy = self._offset.x() + dx, self._offset.y() + dy
        dw, dh = self._doc.width * self._zoom, self._doc.height * self._zoom
        keep_x, keep_y = min(KEEP_VISIBLE_PX, dw), min(KEEP_VISIBLE_PX, dh)
        ox = min(self.width() - keep_x, max(keep_x - dw, ox))
        oy = min(self.height() - keep_y, max(keep_y - dh, oy))
        self._fit = False
        self._apply_view(self._zoom, QPointF(ox, oy))

    def resizeEvent(self, event) -> None:
        old = event.oldSize()
        if self._doc is not None:
            if self._fit or old.width() <= 0 or old.height() <= 0:
                self.zoom_fit()
            else:
                # Keep the picture's centre in the centre, like every editor does.
                shift = QPointF((self.width() - old.width()) / 2.0, (self.height() - old.height()) / 2.0)
                self._apply_view(self._zoom, self._offset + shift)
        super().resizeEvent(event)

    # -- tools -------------------------------------------------------------------------------
    def set_tool_mode(self, mode: str) -> None:
        if mode not in TOOL_MODES:
            raise ValueError(f"unknown tool mode {mode!r}; expected one of {TOOL_MODES}")
        if mode != self._mode:
            self._end_drag()
            self._mode = mode
            self._update_cursor()
            self.update()

    def tool_mode(self) -> str:
        return self._mode

    def set_brush(self, size: float, hardness: float, opacity: float) -> None:
        if not 1.0 <= float(size) <= 2000.0:
            raise ValueError(f"brush size must be within 1..2000 px, got {size!r}")
        if not 0.0 <= float(hardness) <= 1.0:
            raise ValueError(f"brush hardness must be within 0..1, got {hardness!r}")
        if not 0.0 <= float(opacity) <= 1.0:
            raise ValueError(f"brush opacity must be within 0..1, got {opacity!r}")
        self._update_brush_outline()
        self._brush = (float(size), float(hardness), float(opacity))
        self._update_brush_outline()

    def brush(self) -> tuple[float, float, float]:
        return self._brush

    # -- selection ---------------------------------------------------------------------------
    def selection(self) -> tuple[str, tuple[float, float, float, float]] | None:
        return self._selection

    def set_selection(self, kind: str, bbox: tuple[float, float, float, float]) -> None:
        if kind not in ("rect", "ellipse"):
            raise ValueError(f"selection kind must be 'rect' or 'ellipse', got {kind!r}")
        self._set_selection((kind, tuple(float(v) for v in bbox)), notify=True)

    def clear_selection(self) -> None:
        self._set_selection(None, notify=True)

    def _set_selection(self, selection, notify: bool) -> None:
        changed = selection != self._selection
        self._update_selection_area()
        self._selection = selection
        self._update_selection_area()
        if selection is None:
            self._ants.stop()
        elif not self._ants.isActive():
            self._ants.start()
        if changed and notify:
            self.selectionChanged.emit()

    def _selection_on_screen(self) -> QRectF | None:
        if self._selection is None:
            return None
        return self._doc_rect_on_screen(self._selection[1])

    def _update_selection_area(self) -> None:
        # Only the band the outline can be in: the ants march several times a second, and
        # repainting a select-all's whole interior for that would cost a full frame each time.
        rect = self._selection_on_screen()
        if rect is None:
            return
        outer = rect.toAlignedRect().adjusted(-2, -2, 2, 2)
        if self._selection[0] == "ellipse":
            # An ellipse never enters the rectangle inscribed in it (half-axes / sqrt(2)).
            inset = QPointF(rect.width(), rect.height()) * (0.5 - 0.5 / math.sqrt(2.0))
            inner = rect.adjusted(inset.x(), inset.y(), -inset.x(), -inset.y())
            inner_rect = inner.toAlignedRect().adjusted(3, 3, -3, -3)
        else:
            inner_rect = rect.toAlignedRect().adjusted(3, 3, -3, -3)
        region = QRegion(outer)
        if inner_rect.isValid():
            region = region.subtracted(QRegion(inner_rect))
        self.update(region)

    def _march_ants(self) -> None:
        self._ants_phase = (self._ants_phase + 1) % 8
        self._update_selection_area()

    # -- overlays ----------------------------------------------------------------------------
    def set_mask_overlay(self, on: bool) -> None:
        if bool(on) != self._overlay:
            self._overlay = bool(on)
            self.update()

    def mask_overlay_enabled(self) -> bool:
        return self._overlay

    def show_preview(self, image: np.ndarray, bbox: tuple[int, int, int, int]) -> None:
        x0, y0, x1, y1 = (int(v) for v in bbox)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"preview bbox must have an area, got {bbox!r}")
        pixels = np.ascontiguousarray(premultiplied_rgba8(to_rgba(image)))
        h, w = pixels.shape[:2]
        qimage = QImage(pixels.data, w, h, pixels.strides[0], QImage.Format.Format_RGBA8888_Premultiplied)
        if self._preview is not None:
            self.update(self._doc_rect_on_screen(self._preview[1]).toAlignedRect())
        self._preview = (qimage, (x0, y0, x1, y1), pixels)
        self.update(self._doc_rect_on_screen((x0, y0, x1, y1)).toAlignedRect())

    def clear_preview(self) -> None:
        if self._preview is not None:
            self.update(self._doc_rect_on_screen(self._preview[1]).toAlignedRect())
            self._preview = None

    def preview_bbox(self) -> tuple[int, int, int, int] | None:
        return None if self._preview is None else self._preview[1]

    # -- compare -----------------------------------------------------------------------------
    def set_compare_mode(self, mode: str) -> None:
        """"off", "before" (source A only), "split" (A | B), or "after" (source B only,
        used by the right half of the side-by-side view)."""
        if mode not in COMPARE_MODES:
            raise ValueError(f"unknown compare mode {mode!r}; expected one of {COMPARE_MODES}")
        if mode != self._compare:
            self._compare = mode
            self._update_cursor()
            self.update()

    def compare_mode(self) -> str:
        return self._compare

    def set_compare_sources(self, a, b) -> None:
        for source in (a, b):
            if source != "composite" and (not isinstance(source, (int, np.integer))
                                          or isinstance(source, bool)):
                raise ValueError(f"compare source must be 'composite' or a layer id, got {source!r}")
        self._sources = (a if a == "composite" else int(a), b if b == "composite" else int(b))
        self.update()

    def compare_sources(self) -> tuple[object, object]:
        return (self._resolve(0), self._resolve(1))

    def split_position(self) -> float:
        return self._split

    def set_split_position(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction != self._split:
            self._split = fraction
            self.update()

    def _split_x(self) -> int:
        return round(self._split * self.width())

    def _resolve(self, which: int):
        """Source A or B as "composite" or an existing layer id. A layer that has gone away
        (deleted, flattened) falls back to the bottom layer, the usual "before"."""
        source = self._sources[which]
        if source == "composite" or self._doc is None:
            return source
        ids = [layer.id for layer in self._doc.layers]
        if source in ids:
            return source
        return ids[0] if ids else "composite"

    def _source_cache(self, source) -> MipCache | None:
        if self._caches is None:
            return None
        if source == "composite":
            return self._caches.composite
        return self._caches.layer(source)

    def _source_label(self, which: int) -> str:
        source = self._resolve(which)
        name = "Before" if which == 0 else "After"
        if source != "composite" and self._doc is not None:
            return f"{name} · {self._doc.layer(source).name}"
        return name

    # -- painting ----------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        clip = QRectF(event.rect())
        p.fillRect(clip, paint.PASTEBOARD)
        if self._doc is None:
            paint.paint_empty_hint(p, QRectF(self.rect()), self.font())
            return
        doc_rect = self._doc_rect_on_screen((0, 0, self._doc.width, self._doc.height))
        full = QRectF(self.rect())
        if self._compare == "split":
            x = self._split_x()
            parts = [(self._resolve(0), QRectF(0, 0, x, self.height())),
                     (self._resolve(1), QRectF(x, 0, self.width() - x, self.height()))]
        elif self._compare == "before":
            parts = [(self._resolve(0), full)]
        elif self._compare == "after":
            parts = [(self._resolve(1), full)]
        else:
            parts = [("composite", full)]
        for source, region in parts:
            window = region.intersected(doc_rect)
            area = window.intersected(clip)
            if not area.isEmpty():
                self._paint_source(p, source, area, window)
        window = doc_rect.intersected(full)
        area = window.intersected(clip)
        if not area.isEmpty():
            overlay = self._caches.mask_overlay() if self._overlay else None
            if overlay is not None:
                paint.blit_cache(p, self._images, overlay, area, self._zoom, self._origin(),
                                 QImage.Format.Format_Indexed8, window)
            if self._zoom >= GRID_ZOOM:
                paint.paint_grid(p, area, self._zoom, self._origin(), self._doc.size)
        selection = self._selection_on_screen()
        if selection is not None:
            paint.paint_selection(p, self._selection[0], selection, self._ants_phase)
        if self._compare == "split":
            x = self._split_x()
            paint.paint_split_line(p, x, self.height())
            paint.paint_label(p, self.font(), self._source_label(0), QPointF(x - 8, FIT_MARGIN_PX), True)
            paint.paint_label(p, self.font(), self._source_label(1), QPointF(x + 8, FIT_MARGIN_PX), False)
        elif self._compare in ("before", "after"):
            paint.paint_label(p, self.font(), self._source_label(0 if self._compare == "before" else 1),
                              QPointF(FIT_MARGIN_PX, FIT_MARGIN_PX), False)
        if self._brush_outline_rect() is not None:
            paint.paint_brush_outline(p, self._mouse, self._brush[0] / 2.0 * self._zoom)

    def _paint_source(self, p: QPainter, source, area: QRectF, window: QRectF) -> None:
        p.save()
        p.setClipRect(area, Qt.ClipOperation.IntersectClip)
        p.fillRect(area, self._checker)
        cache = self._source_cache(source)
        if cache is not None:
            paint.blit_cache(p, self._images, cache, area, self._zoom, self._origin(),
                             RGBA_FORMAT, window)
        if source == "composite" and self._preview is not None:
            image, bbox, _pixels = self._preview
            # Pixel-exact when the preview has the document's resolution and we enlarge.
            exact = self._zoom >= 1.0 and (image.width(), image.height()) == (
                bbox[2] - bbox[0], bbox[3] - bbox[1])
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not exact)
            p.drawImage(self._doc_rect_on_screen(bbox), image, QRectF(image.rect()))
        p.restore()

    def _brush_outline_rect(self) -> QRect | None:
        if self._mouse is None or self._mode not in ("brush", "eraser") or self._doc is None:
            return None
        r = self._brush[0] / 2.0 * self._zoom + 4
        return QRectF(self._mouse.x() - r, self._mouse.y() - r, 2 * r, 2 * r).toAlignedRect()

    def _update_brush_outline(self) -> None:
        rect = self._brush_outline_rect()
        if rect is not None:
            self.update(rect)
