"""Small previews of layers and masks for the panels (numpy -> QPixmap)."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap


def to_qimage_rgba8(rgba: np.ndarray) -> QImage:
    """float32 RGBA in [0, 1] -> an owning 8-bit RGBA QImage (straight alpha)."""
    arr = np.ascontiguousarray((np.clip(rgba, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    h, w = arr.shape[:2]
    # .copy(): the QImage would otherwise point into ``arr``, which Python frees.
    return QImage(arr.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def _subsample(arr: np.ndarray, size: int) -> np.ndarray:
    # Striding instead of a proper resample: a thumbnail of a 24-megapixel layer must cost
    # microseconds, and a few aliased pixels in a 40 px icon are invisible.
    h, w = arr.shape[:2]
    step = max(1, math.ceil(max(h, w) / size))
    return arr[::step, ::step]


def _checker(w: int, h: int) -> QPixmap:
    pm = QPixmap(w, h)
    pm.fill(QColor(204, 204, 204))
    p = QPainter(pm)
    cell = 5
    for y in range(0, h, cell):
        for x in range((y // cell) % 2 * cell, w, 2 * cell):
            p.fillRect(x, y, cell, cell, QColor(255, 255, 255))
    p.end()
    return pm


def layer_thumbnail(pixels: np.ndarray, size: int = 40) -> QPixmap:
    small = _subsample(pixels, size)
    img = to_qimage_rgba8(small).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                        Qt.TransformationMode.SmoothTransformation)
    pm = _checker(img.width(), img.height())
    p = QPainter(pm)
    p.drawImage(0, 0, img)
    p.end()
    return pm


def mask_thumbnail(mask: np.ndarray, size: int = 40, enabled: bool = True) -> QPixmap:
    """White = shown, black = hidden; a disabled mask is crossed out in red, as in
    Photoshop, so "why does my mask do nothing" is answered at a glance."""
    small = _subsample(mask, size)
    gray = np.repeat(small[..., None], 3, axis=2)
    rgba = np.concatenate([gray, np.ones_like(small)[..., None]], axis=2)
    img = to_qimage_rgba8(rgba).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation)
    pm = QPixmap.fromImage(img)
    if not enabled:
        p = QPainter(pm)
        p.setPen(QPen(QColor(220, 30, 30), 2))
        p.drawLine(0, 0, pm.width(), pm.height())
        p.drawLine(0, pm.height(), pm.width(), 0)
        p.end()
    return pm
