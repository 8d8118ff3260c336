"""Reading and writing photo files: 8/16-bit, alpha, EXIF orientation, ICC profiles.

Pixels come out as float32 RGB or RGBA in [0, 1], straight alpha, converted to sRGB; the
file's original profile, EXIF and depth go into :class:`ImageMeta` so export can give the
photo back as it came. Pillow cannot hold 16-bit colour, so 16-bit PNG goes through OpenCV
and 16-bit TIFF through tifffile (OpenCV's libtiff when tifffile lacks a codec).
Every failure a user can cause raises an :class:`ImageIOError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from editor.core import codecs16, colour, exifmeta
from editor.core.codecs16 import clip01, to_uint16  # noqa: F401 - to_uint16 is public here
from editor.core.meta import ImageMeta

MAX_PIXELS = 200_000_000
OPEN_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})

_READABLE = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "TIFF": "TIFF", "WEBP": "WEBP",
             "BMP": "BMP", "DIB": "BMP"}
# Raising Image.MAX_IMAGE_PIXELS is process-wide; the lock keeps our own loads consistent.
_PIL_LIMIT_LOCK = threading.Lock()


class ImageIOError(ValueError):
    """A file could not be read or written. ``str(err)`` is a one-line message for the user."""

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class ImageLoadError(ImageIOError):
    pass


class ImageSaveError(ImageIOError):
    pass


class ImageTooLargeError(ImageLoadError):
    """The header says the image is over the pixel limit; nothing was decoded. The GUI may
    ask the user and retry with ``allow_huge=True``."""

    def __init__(self, name: str, size: tuple[int, int], limit: int,
                 path: str | os.PathLike | None = None) -> None:
        self.size = size
        self.pixels = int(size[0]) * int(size[1])
        self.limit = int(limit)
        super().__init__(f'"{name}" is {size[0]} x {size[1]} pixels '
                         f'({self.pixels / 1e6:.0f} megapixels), more than the '
                         f'{self.limit / 1e6:g} megapixel safety limit.', path)


@dataclass(frozen=True)
class FormatInfo:
    name: str
    label: str
    extensions: tuple[str, ...]
    supports_alpha: bool
    supports_16bit: bool
    lossy: bool
    max_side: int = 2**31 - 1


EXPORT_FORMATS: dict[str, FormatInfo] = {
    "PNG": FormatInfo("PNG", "PNG", (".png",), True, True, False),
    "JPEG": FormatInfo("JPEG", "JPEG", (".jpg", ".jpeg"), False, False, True, 65500),
    "TIFF": FormatInfo("TIFF", "TIFF", (".tif", ".tiff"), True, True, False),
    "WEBP": FormatInfo("WEBP", "WebP", (".webp",), True, False, True, 16383),
    "BMP": FormatInfo("BMP", "BMP", (".bmp",), False, False, False),
}


def format_for_path(path: str | os.PathLike) -> str | None:
    """Export format name for a file name's extension, or None when it has no known one."""
    suffix = Path(path).suffix.lower()
    for name, info in EXPORT_FORMATS.items():
        if suffix in info.extensions:
            return name
    return None


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (clip01(image) * np.float32(255) + np.float32(0.5)).astype(np.uint8)


def composite_over_white(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., -1:]
    return rgba[..., :-1] * a + (1.0 - a)


# -- loading -----------------------------------------------------------------------------------

def load_image(path: str | os.PathLike, *, allow_huge: bool = False,
               max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, ImageMeta]:
    """Read a PNG, JPEG, TIFF, WebP or BMP file as float32 sRGB RGB (HxWx3) or RGBA (HxWx4).

    EXIF orientation is applied to the pixels; ``meta.exif`` keeps the EXIF with orientation
    reset to 1 and ``meta.icc_profile`` the original profile bytes.
    """
    p = Path(path)
    try:
        if p.is_dir():
            raise ImageLoadError(f'Cannot open "{p.name}": it is a folder, not an image.', p)
        if p.stat().st_size == 0:
            raise ImageLoadError(f'Cannot open "{p.name}": the file is empty.', p)
        fh = open(p, "rb")  # noqa: SIM115 - closed below, Pillow reads lazily from it
    except FileNotFoundError as exc:
        raise ImageLoadError(f'Cannot open "{p.name}": the file does not exist.', p) from exc
    except PermissionError as exc:
        raise ImageLoadError(f'Cannot open "{p.name}": permission denied.', p) from exc
    except OSError as exc:
        raise ImageLoadError(f'Cannot open "{p.name}": {exc.strerror or exc}.', p) from exc
    with fh:
        pixels, meta = _read(fh, p.name, p, allow_huge, max_pixels)
    meta.path = p
    return pixels, meta


def decode_image(data: bytes, name: str = "image", *, allow_huge: bool = False,
                 max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, ImageMeta]:
    """Like :func:`load_image` for an in-memory file (a zip member, the clipboard)."""
    if not data:
        raise ImageLoadError(f'Cannot open "{name}": the file is empty.')
    return _read(io.BytesIO(data), name, None, allow_huge, max_pixels)


def _read(fh: BinaryIO, name: str, path: Path | None, allow_huge: bool,
          max_pixels: int) -> tuple[np.ndarray, ImageMeta]:
    damaged = f'Cannot open "{name}": the file is damaged or incomplete.'
    with _PIL_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # we check size below
        try:
            im = Image.open(fh)
        except UnidentifiedImageError as exc:
            if _has_image_signature(fh):  # e.g. a TIFF cut off before its directory
                raise ImageLoadError(damaged, path) from exc
            raise ImageLoadError(f'Cannot open "{name}": it is not an image in a format '
                                 'Restora reads (PNG, JPEG, TIFF, WebP, BMP).', path) from exc
        except Exception as exc:  # any header parse failure means a broken file
            raise ImageLoadError(damaged, path) from exc
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    with im:
        fmt = _READABLE.get(im.format or "")
        if fmt is None:
            raise ImageLoadError(f'Cannot open "{name}": {im.format} images are not '
                                 'supported.', path)
        if not allow_huge and im.size[0] * im.size[1] > max_pixels:
            raise ImageTooLargeError(name, im.size, max_pixels, path)
        icc = im.info.get("icc_profile") or None
        meta = ImageMeta(format=fmt, mode=im.mode, icc_profile=icc)
        try:
            colour_px, alpha, meta.bit_depth, icc_done = _decode(im, fh)
            exif = exifmeta.read_exif(im)
        except ImageIOError:
            raise
        except codecs16.UnsupportedImage as exc:
            raise ImageLoadError(f'Cannot open "{name}": {exc}.', path) from exc
        except MemoryError as exc:
            raise ImageLoadError(f'Cannot open "{name}": not enough memory.', path) from exc
        except Exception as exc:  # decoders signal damage with many exception types
            raise ImageLoadError(damaged, path) from exc
        dpi = im.info.get("dpi")
    if icc and not icc_done:
        try:
            colour_px = colour.to_srgb(colour_px, icc)
        except colour.ProfileError as exc:
            # Pixels stay as they are; dropping the profile keeps export consistent with that.
            meta.icc_profile = None
            meta.extra["icc_error"] = str(exc)
    if colour_px.shape[2] == 1:
        colour_px = np.repeat(colour_px, 3, axis=2)
    pixels = colour_px if alpha is None else np.concatenate([colour_px, alpha], axis=2)
    orientation = exif.get(exifmeta.ORIENTATION, 1) if exif is not None else 1
    pixels = np.ascontiguousarray(exifmeta.apply_orientation(pixels, orientation),
                                  dtype=np.float32)
    if exif is not None:
        meta.exif = exifmeta.upright_exif_bytes(exif)
    meta.has_alpha = alpha is not None
    if dpi and all(float(d) > 0 for d in dpi[:2]):
        # PNG stores dots per metre: 300 dpi comes back as 299.9994.
        meta.dpi = tuple(float(round(d)) if abs(d - round(d)) < 0.01 else float(d)
                         for d in dpi[:2])
    return pixels, meta


def _has_image_signature(fh: BinaryIO) -> bool:
    fh.seek(0)
    head = fh.read(12)
    return (head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\0", b"MM\0*", b"BM"))
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"))


def _decode(im: Image.Image, fh: BinaryIO):
    """-> (colour HxWx1|3, alpha HxWx1 or None, bit depth, icc already applied)."""
    if im.format == "PNG" and codecs16.is_png_16bit_colour(fh):
        data = fh.read()
        # Pillow's getexif() would otherwise decode the whole PNG again to look for eXIf.
        im.info.setdefault("exif", codecs16.png_exif(data))
        return (*_split(codecs16.decode_opencv(data)), 16, False)
    if im.format == "TIFF" and max(_as_tuple(im.tag_v2.get(258, 8))) > 8:
        wide = codecs16.decode_wide_tiff(fh, _as_tuple(im.tag_v2.get(338, ())),
                                         int(im.tag_v2.get(262, 2)))
        if wide is not None:
            return (*_split(wide), 16, False)
    mode = im.mode
    if mode == "CMYK":
        rgb = colour.cmyk_to_srgb(im, im.info.get("icc_profile"))
        return np.asarray(rgb, dtype=np.float32) / 255.0, None, 8, True
    if mode.startswith("I;16") or mode == "I":
        data = np.asarray(im).astype(np.float32) / np.float32(65535)
        return clip01(data)[..., None], None, 16, False
    if mode == "F":
        return clip01(np.asarray(im, dtype=np.float32))[..., None], None, 16, False
    if mode in ("P", "PA"):
        im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
    elif mode in ("1", "La"):
        im = im.convert("LA" if mode == "La" else "L")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in mode or "a" in mode else "RGB")
    data = np.asarray(im, dtype=np.float32)  # a fresh array: safe to scale in place
    data /= np.float32(255)
    return (*_split(data), 8, False)


def _split(data: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if data.ndim == 2:
        data = data[..., None]
    n = 1 if data.shape[2] in (1, 2) else 3
    alpha = data[..., n:n + 1] if data.shape[2] > n else None
    return data[..., :n], alpha


def _as_tuple(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


# -- saving ------------------------------------------------------------------------------------

def save_image(path: str | os.PathLike, image: np.ndarray, meta: ImageMeta | None = None, *,
               format: str | None = None, quality: int = 95, bit_depth: int | None = None,
               original: str | os.PathLike | None = None,
               overwrite_original: bool = False) -> Path:
    """Write float32 sRGB pixels (HxW gray, RGB or RGBA in [0, 1]) atomically.

    ``format`` defaults to the extension's. ``bit_depth`` defaults to ``meta.bit_depth`` where
    the format can store 16 bits (PNG, TIFF), else 8. Pixels are converted back to
    ``meta.icc_profile`` (embedded); EXIF is kept with orientation 1. Alpha is kept where the
    format has it, else composited over white. Refuses to replace ``original`` unless
    ``overwrite_original``. Returns the path written.
    """
    target = Path(path)
    meta = meta or ImageMeta()
    fmt = _resolve_format(target, format)
    info = EXPORT_FORMATS[fmt]
    if original is not None and not overwrite_original and _same_file(original, target):
        raise ImageSaveError(f'Not saving "{target.name}": it would overwrite the original '
                             'photo. Choose another name.', target)
    if not 1 <= int(quality) <= 100:
        raise ImageSaveError(f'Cannot save "{target.name}": quality must be between 1 and 100, '
                             f'got {quality}.', target)
    depth = bit_depth or (meta.bit_depth if info.supports_16bit else 8)
    if depth not in (8, 16) or (depth == 16 and not info.supports_16bit):
        raise ImageSaveError(f'Cannot save "{target.name}" with {depth} bits per channel: '
                             f'{info.label} supports {"8 or 16" if info.supports_16bit else "8"}.',
                             target)
    colour_px, alpha = _prepare(image, meta, info, target.name)
    colour_px, icc = _to_file_colour(colour_px, meta)
    pixels = colour_px if alpha is None else np.concatenate([colour_px, alpha], axis=2)
    exif = exifmeta.normalise_exif_bytes(meta.exif) if fmt != "BMP" else None
    return atomic_write(target, _writer(fmt, depth, pixels, icc, exif, meta.dpi, int(quality)))


def _resolve_format(target: Path, format: str | None) -> str:
    if format:
        key = format.upper().lstrip(".")
        key = {"JPG": "JPEG", "TIF": "TIFF"}.get(key, key)
    else:
        key = format_for_path(target)
    if key not in EXPORT_FORMATS:
        raise ImageSaveError(f'Cannot save "{target.name}": unknown image format '
                             f'"{format or target.suffix or "no extension"}"; use PNG, JPEG, '
                             'TIFF, WebP or BMP.', target)
    return key


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # the target usually does not exist yet
        return Path(a).resolve() == Path(b).resolve()


def _prepare(image: np.ndarray, meta: ImageMeta, info: FormatInfo,
             name: str) -> tuple[np.ndarray, np.ndarray | None]:
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or 0 in a.shape:
        raise ImageSaveError(f'Cannot save "{name}": expected a gray, RGB or RGBA image, '
                             f'got an array of shape {a.shape}.')
    if max(a.shape[:2]) > info.max_side:
        raise ImageSaveError(f'Cannot save "{name}": {info.label} images can be at most '
                             f'{info.max_side} pixels wide or high.')
    colour_px, alpha = _split(clip01(a))
    if alpha is not None and not meta.has_alpha and alpha.min() >= 1.0:
        alpha = None  # a JPEG that went through the layer stack need not grow an alpha channel
    if alpha is not None and not info.supports_alpha:
        colour_px, alpha = colour_px * alpha + (1.0 - alpha), None
    gray_profile = not meta.icc_profile or _space(meta.icc_profile) == "GRAY"
    if (colour_px.shape[2] == 3 and meta.mode in GRAY_MODES and gray_profile
            and np.array_equal(colour_px[..., 0], colour_px[..., 1])
            and np.array_equal(colour_px[..., 0], colour_px[..., 2])):
        colour_px = colour_px[..., :1]  # a grayscale scan stays a grayscale file
    if colour_px.shape[2] == 1 and info.name == "WEBP":
        colour_px = np.repeat(colour_px, 3, axis=2)
    return colour_px, alpha


def _space(icc: bytes) -> str | None:
    try:
        return colour.profile_colour_space(icc)
    except colour.ProfileError:
        return None


def _to_file_colour(colour_px: np.ndarray, meta: ImageMeta) -> tuple[np.ndarray, bytes | None]:
    icc = meta.icc_profile
    if not icc:
        return colour_px, None
    want = "GRAY" if colour_px.shape[2] == 1 else "RGB"
    if _space(icc) == want:
        try:
            return colour.from_srgb(colour_px, icc), icc
        except colour.ProfileError:
            pass
    # The source profile cannot describe these pixels (a CMYK photo exported as RGB):
    # say what they are, sRGB, rather than leave a colour-managed photo untagged.
    return colour_px, (colour.srgb_profile_bytes() if want == "RGB" else None)


def _writer(fmt: str, depth: int, pixels: np.ndarray, icc: bytes | None, exif: bytes | None,
            dpi: tuple[float, float] | None, quality: int) -> Callable[[BinaryIO], None]:
    def write(fh: BinaryIO) -> None:
        if fmt == "PNG" and depth == 16:
            fh.write(codecs16.encode_png16(pixels, icc=icc, exif=exif, dpi=dpi))
        elif fmt == "TIFF" and depth == 16:
            tags = exifmeta.text_tags(exif, codecs16.TIFF_TEXT_TAGS)
            codecs16.write_tiff16(fh, pixels, icc=icc, text_tags=tags, dpi=dpi)
        else:
            kwargs: dict = {"dpi": dpi} if dpi else {}
            if icc and fmt != "BMP":
                kwargs["icc_profile"] = icc
            if exif:
                kwargs["exif"] = exif
            if fmt == "JPEG":
                # 4:4:4 at high quality: retouchers notice chroma smearing on edges.
                # No optimize=True: Pillow then buffers the whole JPEG in a size it guesses,
                # and noisy photos at high quality overflow it ("Suspension not allowed").
                kwargs.update(quality=quality, subsampling=0 if quality >= 90 else 2)
            elif fmt == "WEBP":
                kwargs.update(quality=quality, lossless=quality >= 100, exact=True)
            elif fmt == "TIFF":
                kwargs["compression"] = "tiff_adobe_deflate"
            _pil_image(to_uint8(pixels)).save(fh, format=fmt, **kwargs)
    return write


def encode_png(image: np.ndarray, bit_depth: int = 8, *, compress_level: int = 6) -> bytes:
    """PNG bytes for float gray (HxW/HxWx1), gray+alpha, RGB or RGBA pixels, 8 or 16 bits."""
    a = np.asarray(image, dtype=np.float32)
    a = a[..., None] if a.ndim == 2 else a
    if bit_depth == 16:
        return codecs16.encode_png16(a, compress_level=compress_level)
    buf = io.BytesIO()
    _pil_image(to_uint8(a)).save(buf, "PNG", compress_level=compress_level)
    return buf.getvalue()


def _pil_image(u: np.ndarray) -> Image.Image:
    if u.shape[2] == 2:
        return Image.merge("LA", [Image.fromarray(np.ascontiguousarray(u[..., i]))
                                  for i in range(2)])
    return Image.fromarray(np.ascontiguousarray(u[..., 0] if u.shape[2] == 1 else u))


def atomic_write(target: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Run ``write`` on a temp file beside ``target``, fsync it and rename it over ``target``.
    On any failure the temp file is removed and an existing ``target`` is left untouched."""
    target = Path(target)
    if target.is_symlink():
        target = target.resolve()  # update the file the link points at, keep the link
    folder, name = target.parent, target.name
    if not folder.is_dir():
        raise ImageSaveError(f'Cannot save "{name}": the folder "{folder}" does not exist.',
                             target)
    if target.is_dir():
        raise ImageSaveError(f'Cannot save "{name}": a folder with that name exists.', target)
    tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        # "x": exclusive create, permissions from the umask as for any new file.
        fh = open(tmp, "xb")  # noqa: SIM115 - closed in the block below
    except OSError as exc:
        raise _save_error(target, exc) from exc
    try:
        with fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))  # keep an existing file's mode
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _save_error(target, exc) from exc
        if isinstance(exc, MemoryError):
            raise ImageSaveError(f'Cannot save "{name}": not enough memory.', target) from exc
        if isinstance(exc, ImageIOError) or not isinstance(exc, Exception):
            raise
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ImageSaveError(f'Cannot save "{name}": {reason}.', target) from exc
    if os.name == "posix":  # make the rename itself durable
        with contextlib.suppress(OSError):
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    return target


def _save_error(target: Path, exc: OSError) -> ImageSaveError:
    folder = target.parent
    reasons = {errno.ENOSPC: "the disk is full",
               getattr(errno, "EDQUOT", -1): "the disk quota is full",
               errno.EACCES: f'no permission to write in "{folder}"',
               errno.EPERM: f'no permission to write in "{folder}"',
               errno.EROFS: f'"{folder}" is on a read-only disk',
               errno.ENOENT: f'the folder "{folder}" does not exist',
               errno.ENAMETOOLONG: "the file name is too long"}
    reason = reasons.get(exc.errno) or exc.strerror or str(exc)
    return ImageSaveError(f'Cannot save "{target.name}": {reason}.', target)
