"""16-bit colour PNG and TIFF, which Pillow cannot hold (it reduces them to 8 bits).

PNG goes through OpenCV, TIFF through tifffile (with OpenCV's libtiff as the fallback for
compressions that tifffile only decodes with the optional ``imagecodecs`` package). Both are
imported lazily: most photos are 8-bit JPEGs and the imports are slow. Arrays are float32
in [0, 1], RGB order, straight alpha -- OpenCV's BGR order never leaves this module.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

import numpy as np

# IFD0 text tags a 16-bit TIFF keeps from the EXIF (tifffile cannot write an EXIF sub-IFD).
TIFF_TEXT_TAGS = (270, 271, 272, 305, 306, 315, 316, 33432)


class UnsupportedImage(Exception):
    """A well-formed file using a feature we do not read; the message is user-facing."""


def clip01(image: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] with NaN -> 0; fmax/fmin skip NaN, and are much faster than nan_to_num."""
    return np.fmin(np.fmax(np.asarray(image, dtype=np.float32), np.float32(0)), np.float32(1))


def to_uint16(image: np.ndarray) -> np.ndarray:
    return (clip01(image) * np.float32(65535) + np.float32(0.5)).astype(np.uint16)


def is_png_16bit_colour(fh: BinaryIO) -> bool:
    """True for 16-bit RGB, RGBA or gray+alpha PNG. IHDR is always the first chunk: bit depth
    at byte 24, colour type at 25. (Pillow reads 16-bit plain gray itself, as mode I;16.)"""
    fh.seek(24)
    depth_type = fh.read(2)
    fh.seek(0)
    return len(depth_type) == 2 and depth_type[0] == 16 and depth_type[1] in (2, 4, 6)


def decode_opencv(data: bytes) -> np.ndarray:
    """Decode with OpenCV to float32 HxWxC (C = 1..4), RGB(A) order, EXIF orientation NOT
    applied (IMREAD_UNCHANGED ignores it; the caller applies it once for every format)."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError("OpenCV could not decode the image")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] >= 3:
        arr = arr[..., [2, 1, 0, 3][:arr.shape[2]]]
    if arr.dtype.kind == "u":
        return arr.astype(np.float32) / np.float32(np.iinfo(arr.dtype).max)
    return clip01(arr)


def png_exif(data: bytes) -> bytes:
    """The eXIf chunk of a PNG (with the ``Exif`` header Pillow expects), or b"" -- found by
    walking the chunks, because asking Pillow would decode the whole image at 8 bits."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"eXIf":
            return b"Exif\0\0" + data[pos + 8:pos + 8 + length]
        if kind == b"IEND":
            break
        pos += 12 + length
    return b""


def decode_wide_tiff(fh: BinaryIO, extrasamples: tuple[int, ...] = (),
                     photometric: int = 2) -> np.ndarray | None:
    """First page of a 16/32-bit TIFF as float32 HxWx(1|2|3|4) straight alpha, or None when
    the photometric is one we leave to Pillow (CMYK, YCbCr, Lab, palette). ``extrasamples``
    and ``photometric`` (from the header, via Pillow) are used on the OpenCV fallback."""
    import tifffile

    fh.seek(0)
    try:
        with tifffile.TiffFile(fh) as tif:
            page = tif.pages[0]
            photometric = int(page.photometric)
            if photometric not in (0, 1, 2):  # MINISWHITE, MINISBLACK, RGB
                return None
            data = page.asarray()
            if page.axes.startswith("S") and data.ndim == 3:  # planar: samples first
                data = np.moveaxis(data, 0, -1)
            extrasamples = tuple(int(e) for e in page.extrasamples)
    except Exception as exc:  # e.g. "<COMPRESSION.LZW> requires the 'imagecodecs' package"
        if photometric not in (0, 1, 2):
            return None
        fh.seek(0)
        try:
            data = decode_opencv(fh.read())
        except Exception:
            raise exc from None  # tifffile's reason is the more telling one
    if data.dtype.kind == "f":
        data = clip01(data)
    elif data.dtype.kind == "u":
        data = data.astype(np.float32) / np.float32(np.iinfo(data.dtype).max)
    else:
        raise UnsupportedImage("signed integer TIFF samples are not supported")
    if data.ndim == 2:
        data = data[..., None]
    n = 1 if photometric in (0, 1) else 3
    data = np.array(data[..., :n + 1], dtype=np.float32)  # extra channels beyond alpha: dropped
    if photometric == 0:
        data[..., 0] = 1.0 - data[..., 0]
    if data.shape[2] > n and extrasamples[:1] == (1,):  # associated = premultiplied alpha
        alpha = data[..., n:]
        with np.errstate(divide="ignore", invalid="ignore"):
            data[..., :n] = np.where(alpha > 0, np.clip(data[..., :n] / alpha, 0.0, 1.0), 0.0)
    return data


def encode_png16(pixels: np.ndarray, *, icc: bytes | None = None, exif: bytes | None = None,
                 dpi: tuple[float, float] | None = None, compress_level: int = 6) -> bytes:
    """16-bit PNG bytes for float HxWx(1|2|3|4) pixels, with iCCP, pHYs and eXIf chunks."""
    import cv2

    u = to_uint16(pixels)
    if u.shape[2] == 2:  # OpenCV has no gray+alpha PNG
        u = u[..., [0, 0, 0, 1]]
    if u.shape[2] >= 3:
        u = u[..., [2, 1, 0, 3][:u.shape[2]]]
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(u),
                               [cv2.IMWRITE_PNG_COMPRESSION, compress_level])
    if not ok:
        raise ValueError("OpenCV could not encode the PNG")
    data = encoded.tobytes()
    # OpenCV writes no profile, EXIF or density; they may all go right after IHDR.
    extra = b""
    if icc:
        extra += _png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc))
    if dpi:
        extra += _png_chunk(b"pHYs", struct.pack(">IIB", *(round(d / 0.0254) for d in dpi), 1))
    if exif:
        extra += _png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif)
    return data[:33] + extra + data[33:]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def write_tiff16(fh: BinaryIO, pixels: np.ndarray, *, icc: bytes | None = None,
                 text_tags: dict[int, str] | None = None,
                 dpi: tuple[float, float] | None = None) -> None:
    """Deflate-compressed 16-bit TIFF of float HxWx(1|2|3|4) pixels (unassociated alpha)."""
    import tifffile

    kwargs: dict = {}
    if text_tags:
        kwargs["extratags"] = [(tag, "s", 0, value, True) for tag, value in text_tags.items()]
    if dpi:
        kwargs.update(resolution=tuple(float(d) for d in dpi), resolutionunit="INCH")
    n = 1 if pixels.shape[2] in (1, 2) else 3
    tifffile.imwrite(fh, to_uint16(pixels), photometric="minisblack" if n == 1 else "rgb",
                     extrasamples=("unassalpha",) if pixels.shape[2] > n else None,
                     compression="zlib", predictor=True, iccprofile=icc, metadata=None,
                     software=False, **kwargs)
