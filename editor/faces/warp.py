"""Affine geometry shared by detection and alignment: 2x3 matrices, rotated canvases, and
resampling that reads only the source window it needs.

Coordinates are pixel-centre based (pixel (0, 0) covers [-0.5, 0.5]²), the convention of
cv2.warpAffine and of dlib's landmarks, so a matrix and its inverse round-trip exactly.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Pre-shrink with INTER_AREA when a warp shrinks more than this: bicubic and bilinear
#: sample only a 4x4 / 2x2 neighbourhood, so a bigger reduction aliases (skin pores turn
#: into moire, hair into jaggies).
MAX_DIRECT_SHRINK = 0.5


def as_matrix(m) -> np.ndarray:
    return np.asarray(m, np.float64).reshape(2, 3)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The matrix that applies ``inner`` first, then ``outer``."""
    a = np.vstack([as_matrix(outer), (0.0, 0.0, 1.0)])
    b = np.vstack([as_matrix(inner), (0.0, 0.0, 1.0)])
    return (a @ b)[:2]


def invert(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(as_matrix(m))


def translate(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])


def scale(sx: float, sy: float | None = None) -> np.ndarray:
    return np.array([[sx, 0.0, 0.0], [0.0, sx if sy is None else sy, 0.0]])


def map_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to (N, 2) (x, y) points; float64 out."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    m = as_matrix(m)
    return p @ m[:, :2].T + m[:, 2]


def linear_scale(m: np.ndarray) -> float:
    """How much ``m`` magnifies lengths (the geometric mean of its two axes)."""
    return math.sqrt(abs(np.linalg.det(as_matrix(m)[:, :2])))


def resize_matrix(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """The matrix cv2.resize applies when it maps a src_hw image onto dst_hw pixels."""
    sy = dst_hw[0] / src_hw[0]
    sx = dst_hw[1] / src_hw[1]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def rotation_canvas(shape_hw: tuple[int, int], degrees: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Rotate about the image centre (positive = counter-clockwise on screen) onto a canvas
    big enough that no corner is cut. Returns the matrix and the canvas (width, height)."""
    h, w = shape_hw[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    cw = int(math.ceil(w * c + h * s))
    ch = int(math.ceil(w * s + h * c))
    m[0, 2] += (cw - w) / 2.0
    m[1, 2] += (ch - h) / 2.0
    return m, (cw, ch)


def source_window(m: np.ndarray, dsize: tuple[int, int], src_hw: tuple[int, int],
                  pad: int) -> tuple[int, int, int, int]:
    """The (x0, y0, x1, y1) part of the source that the output of ``m`` can read, padded
    for the interpolation kernel and clipped to the source (never empty, so replicate
    borders still see the nearest edge pixels)."""
    w, h = dsize
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]])
    src = map_points(corners, invert(m))
    sh, sw = src_hw[:2]
    x0 = int(np.clip(math.floor(src[:, 0].min()) - pad, 0, sw - 1))
    y0 = int(np.clip(math.floor(src[:, 1].min()) - pad, 0, sh - 1))
    x1 = int(np.clip(math.ceil(src[:, 0].max()) + pad + 1, x0 + 1, sw))
    y1 = int(np.clip(math.ceil(src[:, 1].max()) + pad + 1, y0 + 1, sh))
    return x0, y0, x1, y1


def warp_region(src: np.ndarray, m: np.ndarray, dsize: tuple[int, int], *,
                interpolation: int = cv2.INTER_CUBIC, border: int = cv2.BORDER_REPLICATE,
                border_value: float = 0.0) -> np.ndarray:
    """cv2.warpAffine(src, m, dsize) that touches only the source window the output needs
    (a 24 MP photo stays cheap when the output is a face crop) and pre-shrinks with
    INTER_AREA when ``m`` reduces by more than 2x, so big faces do not alias."""
    m = as_matrix(m)
    s = linear_scale(m)
    pad = 4 + (int(math.ceil(2.0 / s)) if s < MAX_DIRECT_SHRINK else 0)
    x0, y0, x1, y1 = source_window(m, dsize, src.shape, pad)
    window = src[y0:y1, x0:x1]
    m = compose(m, translate(x0, y0))
    if s < MAX_DIRECT_SHRINK and interpolation != cv2.INTER_NEAREST:
        # Shrink to ~1.5x the output scale first; the warp then only reduces by 1/1.5,
        # well within what bicubic handles.
        f = min(1.0, 1.5 * s)
        hw = (max(1, round(window.shape[0] * f)), max(1, round(window.shape[1] * f)))
        if hw != window.shape[:2]:
            small = cv2.resize(window, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
            if small.ndim < window.ndim:
                small = small[..., None]
            m = compose(m, invert(resize_matrix(window.shape[:2], hw)))
            window = small
    channels = window.shape[2] if window.ndim == 3 else 0
    value = (border_value,) * max(1, channels)
    out = cv2.warpAffine(window, m, (int(dsize[0]), int(dsize[1])), flags=interpolation,
                         borderMode=border, borderValue=value)
    if channels == 1 and out.ndim == 2:
        out = out[..., None]
    return out
