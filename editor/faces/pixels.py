"""Pixel-format conversions at the face toolkit's edge: the detectors want 8-bit RGB, the
rest of the editor speaks float32 in [0, 1]."""

from __future__ import annotations

import numpy as np

#: Convert big photos this many rows at a time, so a 24 MP float image does not need a
#: second and third full-size float temporary just to become 8-bit.
_ROWS_PER_CHUNK = 512


def _check_shape(image: np.ndarray) -> None:
    if image.ndim == 2:
        return
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        return
    raise ValueError(f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got {image.shape}")


def _rgb_view(image: np.ndarray) -> np.ndarray:
    """Grey photos become three equal channels; alpha is dropped (a face behind
    transparency is still a face)."""
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] == 4:
        image = image[..., :3]
    if image.shape[2] == 1:
        image = np.broadcast_to(image, image.shape[:2] + (3,))
    return image


def as_rgb_u8(image: np.ndarray) -> np.ndarray:
    """A C-contiguous uint8 RGB (H, W, 3) copy of a float [0, 1], uint8 or uint16 image."""
    image = np.asarray(image)
    _check_shape(image)
    rgb = _rgb_view(image)
    if image.dtype == np.uint8:
        return np.ascontiguousarray(rgb)
    if image.dtype == np.uint16:
        out = np.empty(rgb.shape, np.uint8)
        for y in range(0, rgb.shape[0], _ROWS_PER_CHUNK):
            rows = rgb[y:y + _ROWS_PER_CHUNK].astype(np.uint32)
            out[y:y + _ROWS_PER_CHUNK] = (rows * 255 + 32767) // 65535
        return out
    if image.dtype.kind == "f":
        out = np.empty(rgb.shape, np.uint8)
        for y in range(0, rgb.shape[0], _ROWS_PER_CHUNK):
            rows = np.clip(rgb[y:y + _ROWS_PER_CHUNK].astype(np.float32), 0.0, 1.0)
            out[y:y + _ROWS_PER_CHUNK] = (rows * np.float32(255) + np.float32(0.5)).astype(np.uint8)
        return out
    raise ValueError(f"unsupported image dtype {image.dtype} (use float in [0, 1], uint8 or uint16)")


def as_float(image: np.ndarray) -> np.ndarray:
    """float32 in [0, 1], channels kept as they are; no copy when already float32."""
    image = np.asarray(image)
    if image.dtype == np.float32:
        return image
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255)
    if image.dtype == np.uint16:
        return image.astype(np.float32) / np.float32(65535)
    if image.dtype.kind == "f":
        return image.astype(np.float32)
    raise ValueError(f"unsupported image dtype {image.dtype} (use float in [0, 1], uint8 or uint16)")


def luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of an RGB(A) image (grey images pass through), float32."""
    image = as_float(image)
    if image.ndim == 2:
        return image
    if image.shape[2] < 3:
        return image[..., 0]
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return np.float32(0.2126) * r + np.float32(0.7152) * g + np.float32(0.0722) * b
