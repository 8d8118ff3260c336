"""Drawing primitives of the canvas, as plain functions of a QPainter and numbers.

The canvas decides *what* to draw (which source, which region, which zoom); these say
*how*, so canvas.py stays about state and interaction.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPen, QPixmap, QPolygonF

from editor.qt.render_cache import MipCache, level_for_zoom

MASK_OVERLAY_OPACITY = 0.5
PASTEBOARD = QColor(40, 40, 43)
GRID = QColor(150, 150, 150, 90)
HINT = QColor(150, 150, 155)


def checker_brush() -> QBrush:
    """Transparency checkerboard. Used fixed to the screen, not the document, like
    Photoshop: it reads as "no pixels here" rather than as part of the image when panning."""
    tile = QPixmap(16, 16)
    tile.fill(QColor(255, 255, 255))
    p = QPainter(tile)
    p.fillRect(0, 0, 8, 8, QColor(204, 204, 204))
    p.fillRect(8, 8, 8, 8, QColor(204, 204, 204))
    p.end()
    return QBrush(tile)


def overlay_colour_table() -> list[int]:
    # Index = how much the mask hides (0..255) -> red with that much of the overlay opacity.
    return [(round(i * MASK_OVERLAY_OPACITY) << 24) | (255 << 16) for i in range(256)]


class ArrayImages:
    """QImages that wrap cache arrays without copying them. The arrays are updated in
    place, so a wrapper stays valid until its cache reallocates (a new array object, hence
    a new entry); holding the array here keeps the wrapped memory alive."""

    def __init__(self, limit: int = 64) -> None:
        self._images: dict[int, tuple[np.ndarray, QImage]] = {}
        self._limit = limit

    def clear(self) -> None:
        self._images.clear()

    def get(self, array: np.ndarray, fmt: QImage.Format) -> QImage:
        entry = self._images.get(id(array))
        if entry is not None and entry[0] is array:
            return entry[1]
        if len(self._images) >= self._limit:
            self._images.clear()
        h, w = array.shape[:2]
        image = QImage(array.data, w, h, array.strides[0], fmt)
        if fmt == QImage.Format.Format_Indexed8:
            image.setColorTable(overlay_colour_table())
        self._images[id(array)] = (array, image)
        return image


def blit_cache(p: QPainter, images: ArrayImages, cache: MipCache, area: QRectF, zoom: float,
               origin: QPointF, fmt: QImage.Format, window: QRectF | None = None) -> None:
    """Draw the part of ``cache`` under screen ``area``: from the mip level nearest the
    zoom, bilinear when shrinking, nearest-neighbour when enlarging (pixel-exact squares).

    ``window`` (default ``area``) is the whole on-screen part that ``area`` belongs to. The
    image is set up for the window and clipped to the area, so a partial repaint samples
    exactly like a full one (no seams around repainted brush dabs); the raster engine
    only does the work inside the clip."""
    window = area if window is None else window
    cache.ensure()
    k = level_for_zoom(zoom, len(cache.levels))
    level = cache.levels[k]
    lh, lw = level.shape[:2]
    scale = zoom * (1 << k)  # screen pixels per level pixel
    smooth = scale < 1.0
    # Whole level pixels covering the window; when filtering, a margin of real neighbours
    # too, so the filter at the window's edge sees the picture, not a clamped border.
    pad = 2 if smooth else 0
    sx0 = max(0, math.floor((window.left() - origin.x()) / scale) - pad)
    sy0 = max(0, math.floor((window.top() - origin.y()) / scale) - pad)
    sx1 = min(lw, math.ceil((window.right() - origin.x()) / scale) + pad)
    sy1 = min(lh, math.ceil((window.bottom() - origin.y()) / scale) + pad)
    if sx1 <= sx0 or sy1 <= sy0:
        return
    target = QRectF(origin.x() + sx0 * scale, origin.y() + sy0 * scale,
                    (sx1 - sx0) * scale, (sy1 - sy0) * scale)
    p.save()
    p.setClipRect(area, Qt.ClipOperation.IntersectClip)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
    p.drawImage(target, images.get(level, fmt), QRectF(sx0, sy0, sx1 - sx0, sy1 - sy0))
    p.restore()


def paint_grid(p: QPainter, area: QRectF, zoom: float, origin: QPointF,
               doc_size: tuple[int, int]) -> None:
    """One hairline per document pixel edge, only across the repainted area."""
    x_lo, x_hi = (area.left() - origin.x()) / zoom, (area.right() - origin.x()) / zoom
    y_lo, y_hi = (area.top() - origin.y()) / zoom, (area.bottom() - origin.y()) / zoom
    # 1-px fills rather than a translucent pen: several times cheaper to draw.
    for x in range(max(0, math.floor(x_lo)), min(doc_size[0], math.ceil(x_hi)) + 1):
        p.fillRect(QRectF(origin.x() + x * zoom, area.top(), 1, area.height()), GRID)
    for y in range(max(0, math.floor(y_lo)), min(doc_size[1], math.ceil(y_hi)) + 1):
        p.fillRect(QRectF(area.left(), origin.y() + y * zoom, area.width(), 1), GRID)


def paint_selection(p: QPainter, kind: str, rect: QRectF, phase: int) -> None:
    """Marching ants: white underneath, black dashes shifted by ``phase`` on top, so the
    outline shows on any picture and its motion tells it apart from image content."""
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing, kind == "ellipse")
    p.setBrush(Qt.BrushStyle.NoBrush)
    ants = QPen(QColor(0, 0, 0), 0, Qt.PenStyle.CustomDashLine)
    ants.setDashPattern([4, 4])
    ants.setDashOffset(phase)
    for pen in (QPen(QColor(255, 255, 255), 0), ants):
        p.setPen(pen)
        if kind == "ellipse":
            p.drawEllipse(rect)
        else:
            p.drawRect(rect)
    p.restore()


def paint_split_line(p: QPainter, x: float, height: float) -> None:
    p.save()
    p.setPen(QPen(QColor(0, 0, 0, 120), 3))
    p.drawLine(QPointF(x, 0), QPointF(x, height))
    p.setPen(QPen(QColor(255, 255, 255), 1))
    p.drawLine(QPointF(x, 0), QPointF(x, height))
    # A round grip with two arrows in the middle says "drag me sideways".
    cy = height / 2.0
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(255, 255, 255))
    p.setPen(QPen(QColor(0, 0, 0, 140), 1))
    p.drawEllipse(QPointF(x, cy), 7, 7)
    p.setPen(QPen(QColor(60, 60, 60), 1.5))
    for side in (-1, 1):
        p.drawPolyline(QPolygonF([QPointF(x + side * 1.5, cy - 3), QPointF(x + side * 4, cy),
                                  QPointF(x + side * 1.5, cy + 3)]))
    p.restore()


def paint_label(p: QPainter, base_font: QFont, text: str, anchor: QPointF, left_of: bool) -> None:
    """A small dark pill with ``text``; its right edge at ``anchor`` when ``left_of``."""
    p.save()
    font = QFont(base_font)
    font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
    p.setFont(font)
    metrics = p.fontMetrics()
    w, h = metrics.horizontalAdvance(text) + 12, metrics.height() + 6
    box = QRectF(anchor.x() - w if left_of else anchor.x(), anchor.y(), w, h)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(0, 0, 0, 150))
    p.drawRoundedRect(box, 4, 4)
    p.setPen(QColor(240, 240, 240))
    p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
    p.restore()


def paint_brush_outline(p: QPainter, centre: QPointF, radius: float) -> None:
    """Two-tone circle (dark halo, white line): readable on light and dark pixels."""
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(Qt.BrushStyle.NoBrush)
    for pen in (QPen(QColor(0, 0, 0, 150), 3), QPen(QColor(255, 255, 255), 1)):
        p.setPen(pen)
        p.drawEllipse(centre, radius, radius)
    p.restore()


def paint_empty_hint(p: QPainter, rect: QRectF, base_font: QFont) -> None:
    p.save()
    try:
        import qtawesome as qta

        icon = qta.icon("mdi6.image-plus-outline", color=HINT)
        p.drawPixmap(QRectF(rect.center().x() - 32, rect.center().y() - 76, 64, 64).toRect(),
                     icon.pixmap(64, 64))
    except Exception:  # noqa: BLE001 - a missing icon font must not break the canvas
        pass
    font = QFont(base_font)
    font.setPointSizeF(font.pointSizeF() * 1.4)
    p.setFont(font)
    p.setPen(HINT)
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "Drop a photo here")
    p.restore()
