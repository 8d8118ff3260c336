"""What the per-face tools (Remove makeup, Portrait edit) share: the colour channels in and
out, finding usable faces with one clear message when there are none, and the last
image's expensive per-face work kept for the sliders. No Qt.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from editor.engine.progress import Progress


class NoFaceFound(ValueError):
    """The image has no face the tool can work on; the message says why."""


def split_rgb(image: np.ndarray, who: str) -> tuple[np.ndarray, int]:
    """-> (RGB HxWx3 float32, colour channel count of the input: 1 grey, 3 RGB)."""
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"{who} expects float pixels in [0, 1], got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"{who} expects an HxW or HxWx1-4 image, got {image.shape}")
    colour = 1 if image.shape[2] in (1, 2) else 3
    rgb = image[..., :colour].astype(np.float32)
    if colour == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    return np.ascontiguousarray(rgb), colour


def merge_rgb(image: np.ndarray, rgb: np.ndarray, colour: int) -> np.ndarray:
    """The RGB result back into the input's channels (grey stays grey, alpha is kept)."""
    if colour == 1:
        rgb = rgb.mean(axis=2, keepdims=True)
    out = np.array(image, dtype=np.float32, copy=True)
    if out.ndim == 2:
        return rgb[..., 0]
    out[..., :colour] = rgb
    return out


def find_usable_faces(rgb: np.ndarray, progress: Progress, min_size: float, purpose: str,
                      embeddings: bool = False):
    """Detected faces at least ``min_size`` px across (with identity vectors when
    ``embeddings``), or NoFaceFound saying why not (``purpose`` ends "the faces found are
    too small ...", e.g. "to work on")."""
    from editor.faces import FaceModelsMissing, detect_faces

    try:
        scan = detect_faces(rgb, min_size=min_size, embeddings=embeddings, progress=progress)
    except FaceModelsMissing as e:
        raise NoFaceFound(str(e)) from None
    if not scan.faces:
        if scan.too_small:
            sizes = ", ".join(f"{f.size:.0f}" for f in scan.too_small)
            raise NoFaceFound(f"the faces found are too small {purpose} ({sizes} px; at least "
                              f"{min_size:.0f} px across is needed)")
        raise NoFaceFound("no face found in this image")
    return scan.faces


def image_key(rgb: np.ndarray, max_pixels: int, *extra) -> tuple | None:
    """A key for the per-image cache (None above ``max_pixels``: not worth keeping)."""
    if rgb.shape[0] * rgb.shape[1] > max_pixels:
        return None
    digest = hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).digest()
    return (digest, rgb.shape, *extra)


class LastResult:
    """One image's expensive work, kept under its key (thread-safe: previews run on the
    engine thread while the GUI may clear it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry: tuple[tuple, tuple] | None = None

    def get(self, key: tuple | None) -> tuple | None:
        if key is None:
            return None
        with self._lock:
            if self._entry is not None and self._entry[0] == key:
                return self._entry[1]
        return None

    def put(self, key: tuple | None, *values) -> None:
        if key is None:
            return
        with self._lock:
            self._entry = (key, values)

    def clear(self) -> None:
        with self._lock:
            self._entry = None


class FaceFinder:
    """A tool's face finding: detection (faces of at least ``min_size`` px, the message
    for smaller ones ending with ``purpose``), or a stand-in set with :meth:`set` (tests
    run the tools on images without real faces)."""

    def __init__(self, min_size: float, purpose: str) -> None:
        self.min_size, self.purpose = min_size, purpose
        self.override = None

    def set(self, finder):
        """Use ``finder(rgb, progress) -> list[Face]`` instead of detection (None:
        detect); returns the previous one."""
        previous, self.override = self.override, finder
        return previous

    def __call__(self, rgb: np.ndarray, progress: Progress):
        if self.override is not None:
            return self.override(rgb, progress)
        return find_usable_faces(rgb, progress, self.min_size, self.purpose)
