"""EXIF handling for image I/O: applying orientation to pixels and keeping the rest.

Orientation is applied to the pixels on load, so every EXIF blob we keep or write says
orientation 1 -- otherwise viewers would rotate the exported photo a second time.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

ORIENTATION = 0x0112
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
# IFD0 tags that describe the photo rather than the file's layout.
_DESCRIPTIVE_TAGS = (270, 271, 272, ORIENTATION, 305, 306, 315, 316, 33432)


def read_exif(im: Image.Image) -> Image.Exif | None:
    """The EXIF of an opened image, or None when it has none."""
    exif = im.getexif()
    if not len(exif) and not exif.get_ifd(EXIF_IFD):
        return None
    if im.format == "TIFF":
        # A TIFF's IFD0 is its EXIF IFD0 too, full of strip offsets and sizes that would be
        # nonsense in another file: keep only the descriptive tags and the sub-IFDs.
        keep = Image.Exif()
        for tag in _DESCRIPTIVE_TAGS:
            if tag in exif:
                keep[tag] = exif[tag]
        for ifd in (EXIF_IFD, GPS_IFD):
            sub = exif.get_ifd(ifd)
            if sub:
                keep.get_ifd(ifd).update(sub)
        exif = keep if len(keep) or keep.get_ifd(EXIF_IFD) else None
    return exif


def upright_exif_bytes(exif: Image.Exif) -> bytes | None:
    """Serialise ``exif`` (``Exif\\0\\0`` header included) with orientation set to 1."""
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1
    try:
        return exif.tobytes()
    except Exception:  # odd vendor tags Pillow cannot re-serialise: lose EXIF, not the photo
        return None


def normalise_exif_bytes(data: bytes | None) -> bytes | None:
    """Re-serialise stored EXIF bytes with orientation 1; None when unreadable."""
    if not data:
        return None
    try:
        exif = Image.Exif()
        exif.load(data)
    except Exception:
        return None
    return upright_exif_bytes(exif)


def text_tags(data: bytes | None, tags: tuple[int, ...]) -> dict[int, str]:
    """The IFD0 text values among ``tags`` (Make, Artist, ...) found in EXIF bytes."""
    if not data:
        return {}
    exif = Image.Exif()
    try:
        exif.load(data)
    except Exception:
        return {}
    return {t: exif[t] for t in tags if isinstance(exif.get(t), str)}


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an HxWxC array the way EXIF ``orientation`` says (as ``ImageOps.exif_transpose``
    does), so it displays upright with orientation 1. Returns a view when possible."""
    if orientation == 2:
        return pixels[:, ::-1]
    if orientation == 3:
        return pixels[::-1, ::-1]
    if orientation == 4:
        return pixels[::-1]
    if orientation == 5:
        return pixels.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(pixels, -1)
    if orientation == 7:
        return pixels[::-1, ::-1].transpose(1, 0, 2)
    if orientation == 8:
        return np.rot90(pixels, 1)
    return pixels
