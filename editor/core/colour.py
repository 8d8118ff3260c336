"""Colour management: moving pixels between a file's embedded ICC profile and sRGB.

The editor works in sRGB. Most photo profiles (sRGB, Adobe RGB, ProPhoto, Display P3, gray
gamma profiles) are *matrix/TRC* profiles: three tone curves and a 3x3 matrix to the D50
connection space. We evaluate those ourselves in float32, because Pillow's ImageCms only
transforms 8-bit RGB and would throw away half of a 16-bit file's precision. Profiles built
from lookup tables (CMYK, some v4 RGB profiles) fall back to ImageCms at 8 bits per channel.

All arrays are float32 in [0, 1], RGB order; alpha is never passed in here.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from PIL import Image, ImageCms

# Large images are converted in bands so temporaries stay a few tens of megabytes.
_BAND_PIXELS = 1 << 20
_LUT_TAGS = (b"A2B0", b"A2B1", b"A2B2", b"B2A0", b"B2A1", b"B2A2")


class ProfileError(ValueError):
    """An embedded ICC profile that is damaged or does not fit the image's channels."""


def srgb_decode(v: np.ndarray) -> np.ndarray:
    """sRGB-encoded values -> linear light (IEC 61966-2-1)."""
    v = np.asarray(v, dtype=np.float32)
    return np.where(v <= 0.04045, v / 12.92,
                    np.power((np.maximum(v, 0.04045) + 0.055) / 1.055, 2.4)).astype(np.float32)


def srgb_encode(lin: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB-encoded values; negative light is clipped to black."""
    lin = np.clip(np.asarray(lin, dtype=np.float32), 0.0, None)
    return np.where(lin <= 0.0031308, lin * 12.92,
                    1.055 * np.power(np.maximum(lin, 0.0031308), 1.0 / 2.4) - 0.055
                    ).astype(np.float32)


@lru_cache(maxsize=1)
def srgb_profile_bytes() -> bytes:
    """littleCMS's built-in sRGB profile, used as the editing space and for tagging exports."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def profile_colour_space(icc: bytes) -> str:
    """The data colour space of a profile: 'RGB', 'GRAY', 'CMYK', 'LAB', ..."""
    if len(icc) < 132 or icc[36:40] != b"acsp":
        raise ProfileError("the embedded colour profile is damaged")
    return icc[16:20].decode("latin-1").strip()


def profile_description(icc: bytes) -> str:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return (ImageCms.getProfileDescription(profile) or "").strip()
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError):
        return ""


# -- matrix/TRC profiles ----------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Curve:
    """One ICC tone curve, device value -> linear light."""

    gamma: float | None = None              # 'curv' with one entry or 'para' type 0
    table: np.ndarray | None = None         # 'curv' with many entries
    para: tuple[int, tuple[float, ...]] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.clip(x, 0.0, 1.0)
        if self.gamma is not None:
            return np.power(x, np.float32(self.gamma))
        if self.table is not None:
            return np.interp(x, np.linspace(0.0, 1.0, self.table.size), self.table
                             ).astype(np.float32)
        kind, p = self.para
        g, a, b, c, d, e, f = (p + (0.0,) * 7)[:7]
        x = x.astype(np.float64)
        powered = lambda: np.power(np.maximum(a * x + b, 0.0), g)  # noqa: E731
        if kind == 1:
            y = np.where(x >= -b / a, powered(), 0.0)
        elif kind == 2:
            y = np.where(x >= -b / a, powered() + c, c)
        elif kind == 3:
            y = np.where(x >= d, powered(), c * x)
        else:
            y = np.where(x >= d, powered() + e, c * x + f)
        return np.clip(y, 0.0, 1.0).astype(np.float32)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        y = np.clip(y, 0.0, 1.0)
        if self.gamma is not None:
            return np.power(y, np.float32(1.0 / self.gamma))
        grid, values = self._inverse_samples
        return np.interp(y, values, grid).astype(np.float32)

    @cached_property
    def _inverse_samples(self) -> tuple[np.ndarray, np.ndarray]:
        if self.table is not None:
            grid = np.linspace(0.0, 1.0, self.table.size)
            values = self.table.astype(np.float64)
        else:
            grid = np.linspace(0.0, 1.0, 65537)
            values = self.forward(grid).astype(np.float64)
        # np.interp needs increasing sample points; real curves can have flat or noisy steps.
        return grid, np.maximum.accumulate(values)


@dataclass(frozen=True, eq=False)
class MatrixShaper:
    """Curves (3 for RGB, 1 for gray) and, for RGB, the device -> XYZ(D50) matrix."""

    curves: tuple[_Curve, ...]
    matrix: np.ndarray | None


def _s15(data: bytes, offset: int, count: int) -> tuple[float, ...]:
    return tuple(v / 65536.0 for v in struct.unpack_from(f">{count}i", data, offset))


def _parse_tags(icc: bytes) -> dict[bytes, bytes]:
    (count,) = struct.unpack_from(">I", icc, 128)
    tags = {}
    for i in range(min(count, 1000)):
        sig, offset, size = struct.unpack_from(">4sII", icc, 132 + 12 * i)
        if offset + size > len(icc):
            raise ProfileError("the embedded colour profile is truncated")
        tags[sig] = icc[offset:offset + size]
    return tags


def _parse_curve(data: bytes) -> _Curve:
    kind = data[:4]
    if kind == b"curv":
        (n,) = struct.unpack_from(">I", data, 8)
        if n == 0:
            return _Curve(gamma=1.0)
        if n == 1:
            return _Curve(gamma=struct.unpack_from(">H", data, 12)[0] / 256.0)
        table = np.frombuffer(data, dtype=">u2", count=n, offset=12).astype(np.float32) / 65535
        return _Curve(table=table)
    if kind == b"para":
        (func,) = struct.unpack_from(">H", data, 8)
        nparams = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}.get(func)
        if nparams is None:
            raise ProfileError(f"unknown parametric curve type {func}")
        params = _s15(data, 12, nparams)
        if func == 0:
            return _Curve(gamma=params[0])
        return _Curve(para=(func, params))
    raise ProfileError(f"unsupported tone curve type {kind!r}")


@lru_cache(maxsize=16)
def matrix_shaper(icc: bytes) -> MatrixShaper | None:
    """Parse a matrix/TRC profile; None when the profile needs lookup tables (use ImageCms)."""
    space = profile_colour_space(icc)
    try:
        tags = _parse_tags(icc)
        # littleCMS prefers lookup tables over the matrix when both exist; so must we.
        if any(t in tags for t in _LUT_TAGS):
            return None
        if space == "GRAY" and b"kTRC" in tags:
            return MatrixShaper((_parse_curve(tags[b"kTRC"]),), None)
        needed = (b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC")
        if space != "RGB" or not all(t in tags for t in needed):
            return None
        columns = [_s15(tags[t], 8, 3) for t in needed[:3]]
        curves = tuple(_parse_curve(tags[t]) for t in needed[3:])
    except struct.error as exc:
        raise ProfileError("the embedded colour profile is damaged") from exc
    matrix = np.array(columns, dtype=np.float64).T
    if abs(np.linalg.det(matrix)) < 1e-6:
        raise ProfileError("the embedded colour profile has a degenerate matrix")
    return MatrixShaper(curves, matrix)


def _srgb_matrix() -> np.ndarray:
    return matrix_shaper(srgb_profile_bytes()).matrix


@lru_cache(maxsize=16)
def is_srgb_equivalent(icc: bytes) -> bool:
    """True when converting to/from this profile would not change sRGB pixels noticeably,
    so the transform (and its rounding) can be skipped."""
    try:
        shaper = matrix_shaper(icc)
    except ProfileError:
        return False
    if shaper is None:
        # Table-based v4 sRGB profiles: trust the name rather than paying an 8-bit transform.
        return profile_colour_space(icc) == "RGB" and profile_description(icc).startswith("sRGB")
    probe = np.linspace(0.0, 1.0, 1024, dtype=np.float32)
    reference = srgb_decode(probe)
    if any(np.abs(c.forward(probe) - reference).max() > 2e-3 for c in shaper.curves):
        return False
    return shaper.matrix is None or bool(np.abs(shaper.matrix - _srgb_matrix()).max() < 3e-3)


def _banded(fn, pixels: np.ndarray) -> np.ndarray:
    out = np.empty(pixels.shape, dtype=np.float32)
    rows = max(1, _BAND_PIXELS // max(1, pixels.shape[1]))
    for y in range(0, pixels.shape[0], rows):
        out[y:y + rows] = fn(pixels[y:y + rows])
    return out


def _channels(pixels: np.ndarray, icc: bytes) -> tuple[np.ndarray, str]:
    a = np.asarray(pixels, dtype=np.float32)
    if a.ndim == 2:
        a = a[..., None]
    space = profile_colour_space(icc)
    want = {"RGB": 3, "GRAY": 1}.get(space)
    if want is None or a.ndim != 3 or a.shape[2] != want:
        raise ProfileError(f"a {space} colour profile does not fit an image with "
                           f"{a.shape[-1] if a.ndim == 3 else '?'} colour channel(s)")
    return a, space


def to_srgb(pixels: np.ndarray, icc: bytes) -> np.ndarray:
    """Convert RGB (HxWx3) or gray (HxWx1) pixels encoded in profile ``icc`` to sRGB.
    Gray stays one channel (sRGB-encoded gray). Out-of-gamut colours are clipped."""
    a, space = _channels(pixels, icc)
    if is_srgb_equivalent(icc):
        return a.copy()
    shaper = matrix_shaper(icc)
    if shaper is None:
        return _cms(a, icc, srgb_profile_bytes(), "L" if space == "GRAY" else "RGB", "RGB")
    # Gray: the profile's gray is achromatic light of the same luminance in sRGB.
    to_srgb_lin = (None if shaper.matrix is None else
                   (np.linalg.inv(_srgb_matrix()) @ shaper.matrix).T.astype(np.float32))

    def convert(band: np.ndarray) -> np.ndarray:
        lin = np.stack([c.forward(band[..., i]) for i, c in enumerate(shaper.curves)], -1)
        return np.clip(srgb_encode(lin if to_srgb_lin is None else lin @ to_srgb_lin), 0, 1)
    return _banded(convert, a)


def from_srgb(pixels: np.ndarray, icc: bytes) -> np.ndarray:
    """Inverse of :func:`to_srgb`: sRGB pixels -> values encoded for profile ``icc``."""
    a, space = _channels(pixels, icc)
    if is_srgb_equivalent(icc):
        return a.copy()
    shaper = matrix_shaper(icc)
    if shaper is None:
        return _cms(a, srgb_profile_bytes(), icc, "RGB", "L" if space == "GRAY" else "RGB")
    from_srgb_lin = (None if shaper.matrix is None else
                     (np.linalg.inv(shaper.matrix) @ _srgb_matrix()).T.astype(np.float32))

    def convert(band: np.ndarray) -> np.ndarray:
        lin = srgb_decode(band)
        lin = lin if from_srgb_lin is None else lin @ from_srgb_lin
        return np.stack([c.inverse(lin[..., i]) for i, c in enumerate(shaper.curves)], -1)
    return _banded(convert, a)


# -- lookup-table profiles via littleCMS (8 bits per channel) -------------------------------

@lru_cache(maxsize=8)
def _transform(src: bytes, dst: bytes, in_mode: str, out_mode: str):
    try:
        return ImageCms.buildTransform(
            ImageCms.ImageCmsProfile(io.BytesIO(src)), ImageCms.ImageCmsProfile(io.BytesIO(dst)),
            in_mode, out_mode, renderingIntent=ImageCms.Intent.PERCEPTUAL)
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError) as exc:
        raise ProfileError(f"the embedded colour profile cannot be used ({exc})") from exc


def _cms(a: np.ndarray, src: bytes, dst: bytes, in_mode: str, out_mode: str) -> np.ndarray:
    u8 = np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    if in_mode == "RGB" and u8.shape[2] == 1:
        u8 = np.repeat(u8, 3, axis=2)
    im = Image.fromarray(u8[..., 0] if in_mode == "L" else u8)
    out = np.asarray(ImageCms.applyTransform(im, _transform(src, dst, in_mode, out_mode)),
                     dtype=np.float32) / 255.0
    # sRGB is an RGB space, so gray goes in (or comes out) as RGB and stays one channel here.
    return out[..., None] if out.ndim == 2 else out[..., :a.shape[2]]


def cmyk_to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert a Pillow CMYK image to sRGB, through its profile when it has a usable one.
    (Pillow has already undone the inversion of Adobe-written CMYK JPEGs.)"""
    if icc:
        try:
            if profile_colour_space(icc) == "CMYK":
                return ImageCms.applyTransform(im, _transform(icc, srgb_profile_bytes(),
                                                              "CMYK", "RGB"))
        except (ProfileError, ImageCms.PyCMSError):
            pass  # a broken profile should not stop the photo from opening
    return im.convert("RGB")
