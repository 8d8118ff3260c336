"""Image file I/O: what a photographer would notice if it broke -- lost precision, lost alpha,
sideways photos, wrong colours, lost metadata, a destroyed file after a failed save."""

from __future__ import annotations

import errno
import io
import os
import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from editor.core import codecs16
from editor.core import imageio as iio
from editor.core.imageio import (
    EXPORT_FORMATS,
    ImageIOError,
    ImageLoadError,
    ImageSaveError,
    ImageTooLargeError,
    format_for_path,
    load_image,
    save_image,
)
from editor.core.meta import ImageMeta

EPS16 = 2.0 / 65535.0


def _rand(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _u16(a):
    return np.round(a * 65535).astype(np.uint16)


def _one_line_naming(err: ImageIOError, name: str) -> None:
    msg = str(err)
    assert name in msg and "\n" not in msg and "Traceback" not in msg


# -- bit depth and alpha ---------------------------------------------------------------------

@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("ext", ["tif", "png"])
def test_16bit_round_trip_keeps_precision(tmp_path, ext, channels):
    src = _rand((37, 53, channels))
    path = tmp_path / f"photo.{ext}"
    save_image(path, src, ImageMeta(bit_depth=16, has_alpha=channels == 4))
    got, meta = load_image(path)
    assert got.dtype == np.float32 and got.shape == src.shape
    assert meta.bit_depth == 16 and meta.has_alpha == (channels == 4)
    assert np.abs(got - src).max() < EPS16
    # and the file itself really is 16-bit, readable by other software
    raw = tifffile.imread(path) if ext == "tif" else None
    if raw is not None:
        assert raw.dtype == np.uint16
    else:
        assert path.read_bytes()[24] == 16  # IHDR bit depth


def test_16bit_tiff_from_other_software(tmp_path):
    """Planar, associated-alpha and LZW (OpenCV-written) 16-bit TIFFs all load exactly."""
    rgb = _u16(_rand((20, 30, 3), 1))
    alpha = np.full((20, 30, 1), 32768, np.uint16)
    premult = np.round(rgb * (alpha / 65535.0)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb",
                     planarconfig="separate")
    tifffile.imwrite(tmp_path / "assoc.tif", np.concatenate([premult, alpha], 2),
                     photometric="rgb", extrasamples=["assocalpha"])
    import cv2
    cv2.imwrite(str(tmp_path / "lzw.tif"), rgb[..., ::-1])  # OpenCV's default is LZW
    for name in ("planar.tif", "lzw.tif"):
        got, meta = load_image(tmp_path / name)
        assert meta.bit_depth == 16 and np.abs(got - rgb / 65535.0).max() < EPS16, name
    got, meta = load_image(tmp_path / "assoc.tif")
    assert meta.has_alpha and np.allclose(got[..., 3], 0.5, atol=1e-4)
    assert np.abs(got[..., :3] - rgb / 65535.0).max() < 3e-4  # un-premultiplied


def test_alpha_png_round_trip(tmp_path):
    src = _rand((16, 24, 4))
    src[0, :, 3] = 0.0  # fully transparent row keeps its colour (straight alpha)
    save_image(tmp_path / "a.png", src)
    got, meta = load_image(tmp_path / "a.png")
    assert meta.has_alpha and meta.bit_depth == 8 and got.shape == src.shape
    assert np.abs(got - src).max() <= 0.5 / 255 + 1e-6


def test_rgba_tiff_8bit_round_trip(tmp_path):
    src = _rand((16, 24, 4), 3)
    save_image(tmp_path / "a.tiff", src)
    with Image.open(tmp_path / "a.tiff") as im:
        assert im.mode == "RGBA"
    got, meta = load_image(tmp_path / "a.tiff")
    assert meta.format == "TIFF" and meta.has_alpha
    assert np.abs(got - src).max() <= 0.5 / 255 + 1e-6


def test_opaque_document_exports_without_alpha_channel(tmp_path):
    src = np.concatenate([_rand((8, 8, 3)), np.ones((8, 8, 1), np.float32)], 2)
    save_image(tmp_path / "o.png", src, ImageMeta(format="JPEG"))
    with Image.open(tmp_path / "o.png") as im:
        assert im.mode == "RGB"


@pytest.mark.parametrize("ext", ["jpg", "bmp"])
def test_alpha_composited_over_white_where_unsupported(tmp_path, ext):
    src = np.zeros((16, 16, 4), np.float32)
    src[..., 0] = 1.0
    src[:, 8:, 3] = 1.0  # left half transparent, right half opaque red
    save_image(tmp_path / f"w.{ext}", src)
    got, meta = load_image(tmp_path / f"w.{ext}")
    assert got.shape == (16, 16, 3) and not meta.has_alpha
    assert np.allclose(got[4, 2], [1, 1, 1], atol=0.03)
    assert np.allclose(got[4, 13], [1, 0, 0], atol=0.03)


def test_webp_lossless_at_quality_100(tmp_path):
    src = np.round(_rand((12, 20, 4)) * 255) / 255
    save_image(tmp_path / "l.webp", src, quality=100)
    got, _ = load_image(tmp_path / "l.webp")
    assert np.abs(got - src).max() < 1e-6


def test_grayscale_8_and_16_bit(tmp_path):
    g8 = (np.arange(64, dtype=np.uint8).reshape(8, 8) * 4)
    Image.fromarray(g8).save(tmp_path / "g8.png")
    g16 = _u16(_rand((8, 8), 2))
    Image.fromarray(g16).save(tmp_path / "g16.png")
    tifffile.imwrite(tmp_path / "g16.tif", g16)
    got, meta = load_image(tmp_path / "g8.png")
    assert got.shape == (8, 8, 3) and meta.mode == "L" and meta.bit_depth == 8
    assert np.array_equal(got[..., 0], got[..., 2]) and np.allclose(got[..., 1], g8 / 255)
    for name in ("g16.png", "g16.tif"):
        got, meta = load_image(tmp_path / name)
        assert meta.bit_depth == 16 and got.shape == (8, 8, 3), name
        assert np.abs(got[..., 1] - g16 / 65535).max() < EPS16, name
    # a grayscale scan exported unchanged stays a grayscale file with its depth
    save_image(tmp_path / "out16.png", got, meta)
    with Image.open(tmp_path / "out16.png") as im:
        assert im.mode.startswith("I;16")
        assert np.array_equal(np.asarray(im), g16)


def test_gray_alpha_and_palette_images(tmp_path):
    la = np.dstack([np.full((6, 6), 200, np.uint8), np.full((6, 6), 100, np.uint8)])
    Image.merge("LA", [Image.fromarray(la[..., 0]), Image.fromarray(la[..., 1])]
                ).save(tmp_path / "la.png")
    got, meta = load_image(tmp_path / "la.png")
    assert got.shape == (6, 6, 4) and meta.has_alpha and np.allclose(got[0, 0], [200 / 255] * 3
                                                                      + [100 / 255])
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putpixel((0, 0), 0)
    pal.save(tmp_path / "p.png", transparency=0)
    got, meta = load_image(tmp_path / "p.png")
    assert meta.mode == "P" and meta.has_alpha and got.shape == (4, 4, 4)
    assert got[0, 0, 3] == 0.0 and np.allclose(got[1, 1], [1, 0, 0, 1])
    pal.save(tmp_path / "p_opaque.png")
    got, meta = load_image(tmp_path / "p_opaque.png")
    assert got.shape == (4, 4, 3) and not meta.has_alpha


def test_cmyk_jpeg_loads_as_sensible_rgb(tmp_path):
    cmyk = Image.new("CMYK", (16, 16), (255, 0, 0, 0))  # pure cyan ink
    cmyk.paste((0, 0, 0, 255), (8, 0, 16, 16))          # pure black ink
    cmyk.save(tmp_path / "c.jpg", quality=95)
    got, meta = load_image(tmp_path / "c.jpg")
    assert meta.mode == "CMYK" and got.shape == (16, 16, 3)
    assert got[8, 2, 0] < 0.15 and got[8, 2, 1] > 0.85 and got[8, 2, 2] > 0.85
    assert got[8, 13].max() < 0.15


# -- EXIF ------------------------------------------------------------------------------------

def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x013B] = "Ann Photographer"  # Artist
    exif[0x010F] = "Canon"             # Make
    exif.get_ifd(0x8769)[0x829A] = 0.01  # ExposureTime, in the EXIF sub-IFD
    return exif


def test_exif_orientation_applied_and_reset_on_export(tmp_path):
    src = np.zeros((40, 60, 3), np.uint8)
    src[:20, :30] = (255, 0, 0)  # red block top-left as stored
    Image.fromarray(src).save(tmp_path / "o6.jpg", exif=_exif(6), quality=95)
    got, meta = load_image(tmp_path / "o6.jpg")
    # orientation 6: stored image must be turned 90 degrees clockwise to display upright
    assert got.shape == (60, 40, 3)
    expected = np.rot90(src, -1) / 255.0
    assert np.abs(got - expected).mean() < 0.02
    assert got[5, 35, 0] > 0.9 and got[5, 5, 0] < 0.1  # red block now top-right
    out = tmp_path / "out.jpg"
    save_image(out, got, meta)
    with Image.open(out) as im:
        exif = im.getexif()
        assert exif.get(0x0112) == 1
        assert exif.get(0x013B) == "Ann Photographer" and exif.get(0x010F) == "Canon"
        assert float(exif.get_ifd(0x8769)[0x829A]) == pytest.approx(0.01)
    again, _ = load_image(out)
    assert again.shape == (60, 40, 3)  # not rotated a second time


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(tmp_path, orientation):
    src = (np.arange(5 * 7 * 3) % 251).astype(np.uint8).reshape(5, 7, 3)
    im = Image.fromarray(src)
    im.save(tmp_path / "o.png", exif=_exif(orientation))
    with Image.open(tmp_path / "o.png") as reopened:
        expected = np.asarray(ImageOps.exif_transpose(reopened)) / 255.0
    got, _ = load_image(tmp_path / "o.png")
    assert got.shape == expected.shape and np.allclose(got, expected, atol=1e-6)


def test_16bit_png_orientation_applied_once(tmp_path):
    src = _rand((10, 20, 3), 4)
    exif = _exif(8).tobytes()
    (tmp_path / "o.png").write_bytes(codecs16.encode_png16(src, exif=exif))
    got, meta = load_image(tmp_path / "o.png")
    assert meta.bit_depth == 16 and got.shape == (20, 10, 3)
    assert np.abs(got - np.rot90(src, 1)).max() < EPS16


def test_16bit_tiff_keeps_text_exif_and_dpi(tmp_path):
    meta = ImageMeta(bit_depth=16, exif=_exif(1).tobytes(), dpi=(300.0, 300.0))
    save_image(tmp_path / "t.tif", _rand((8, 8, 3)), meta)
    _, back = load_image(tmp_path / "t.tif")
    exif = Image.Exif()
    exif.load(back.exif)
    assert exif[0x013B] == "Ann Photographer" and exif[0x010F] == "Canon"
    assert back.dpi == pytest.approx((300.0, 300.0))


# -- bad input ---------------------------------------------------------------------------------

def _png_bytes(w=8, h=8):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), np.uint8)).save(
        buf, "PNG")
    return buf.getvalue()


def _encoded(fmt, **kwargs):
    buf = io.BytesIO()
    Image.fromarray((_rand((64, 64, 3)) * 255).astype(np.uint8)).save(buf, fmt, **kwargs)
    return buf.getvalue()


def _half(data: bytes) -> bytes:
    return data[:len(data) // 2]


@pytest.mark.parametrize("name, make, reason", [
    ("empty.png", lambda: b"", "empty"),
    ("truncated.png", lambda: _half(_png_bytes(64, 64)), "damaged"),
    ("truncated.jpg", lambda: _half(_encoded("JPEG")), "damaged"),
    ("truncated.tif", lambda: _half(_encoded("TIFF")), "damaged"),  # directory at the end
    ("truncated16.png", lambda: _half(codecs16.encode_png16(_rand((64, 64, 3)))), "damaged"),
    ("text.png", lambda: b"hello, I am a text file\n" * 20, "not an image"),
    ("anim.gif", lambda: _encoded("GIF"), "not supported"),
])
def test_unreadable_files_raise_load_error(tmp_path, name, make, reason):
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(ImageLoadError, match=reason) as info:
        load_image(path)
    _one_line_naming(info.value, name)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="does not exist") as info:
        load_image(tmp_path / "nope.jpg")
    _one_line_naming(info.value, "nope.jpg")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_permission_denied(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    path.write_bytes(_png_bytes())

    def deny(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(ImageLoadError, match="permission denied") as info:
        load_image(path)
    _one_line_naming(info.value, "secret.png")


def _bomb_png(width, height):
    """A PNG whose header promises a vast image; decoding it would exhaust memory."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_huge_header_rejected_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png(100_000, 100_000))
    with pytest.raises(ImageTooLargeError) as info:
        load_image(path)
    assert info.value.pixels == 10**10 and info.value.limit == iio.MAX_PIXELS
    assert isinstance(info.value, ImageLoadError)
    _one_line_naming(info.value, "bomb.png")
    (tmp_path / "small.png").write_bytes(_png_bytes(100, 100))
    with pytest.raises(ImageTooLargeError) as info:
        load_image(tmp_path / "small.png", max_pixels=5000)
    assert (info.value.pixels, info.value.limit) == (10000, 5000)
    got, _ = load_image(tmp_path / "small.png", max_pixels=5000, allow_huge=True)
    assert got.shape == (100, 100, 3)


def test_pillow_bomb_limit_never_escapes(tmp_path, monkeypatch, recwarn):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    (tmp_path / "p.png").write_bytes(_png_bytes(100, 100))  # 10x Pillow's limit
    got, _ = load_image(tmp_path / "p.png")
    assert got.shape == (100, 100, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


# -- saving safely -----------------------------------------------------------------------------

def test_formats_table():
    assert set(EXPORT_FORMATS) >= {"PNG", "JPEG", "TIFF", "WEBP", "BMP"}
    assert EXPORT_FORMATS["PNG"].supports_16bit and not EXPORT_FORMATS["JPEG"].supports_alpha
    assert format_for_path("a/b.JPEG") == "JPEG" and format_for_path("x.tif") == "TIFF"
    assert format_for_path("x.psd") is None
    assert set(iio.OPEN_EXTENSIONS) >= {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}


def test_bit_depth_and_format_arguments(tmp_path):
    img = _rand((8, 8, 3))
    save_image(tmp_path / "a.jpg", img, ImageMeta(bit_depth=16))  # JPEG quietly 8-bit
    with pytest.raises(ImageSaveError, match="16 bits"):
        save_image(tmp_path / "b.jpg", img, bit_depth=16)
    with pytest.raises(ImageSaveError, match="unknown image format"):
        save_image(tmp_path / "c.psd", img)
    save_image(tmp_path / "noext", img, format="png", bit_depth=16)
    assert load_image(tmp_path / "noext")[1].bit_depth == 16
    small = tmp_path / "q10.jpg"
    save_image(small, img, quality=10)
    assert small.stat().st_size < (tmp_path / "a.jpg").stat().st_size


def test_noisy_high_quality_jpeg_saves(tmp_path):
    # Pillow's optimize=True buffer guess overflows on noise at 4:4:4 / q100.
    save_image(tmp_path / "noise.jpg", _rand((400, 400, 3)), quality=100)
    assert load_image(tmp_path / "noise.jpg")[0].shape == (400, 400, 3)


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_failed_write_leaves_existing_file_untouched(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    target.write_bytes(b"precious")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(iio.os, "fsync", disk_full)
    with pytest.raises(ImageSaveError, match="disk is full") as info:
        save_image(target, _rand((8, 8, 3)))
    _one_line_naming(info.value, "keep.png")
    assert target.read_bytes() == b"precious" and _listing(tmp_path) == ["keep.png"]
    monkeypatch.undo()

    def broken_encoder(self, fp, *args, **kwargs):
        fp.write(b"half a file")
        raise RuntimeError("encoder exploded")
    monkeypatch.setattr(Image.Image, "save", broken_encoder)
    with pytest.raises(ImageSaveError):
        save_image(target, _rand((8, 8, 3)))
    assert target.read_bytes() == b"precious" and _listing(tmp_path) == ["keep.png"]


def test_successful_save_replaces_and_keeps_permissions(tmp_path):
    target = tmp_path / "x.png"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    save_image(target, _rand((4, 4, 3)))
    assert load_image(target)[0].shape == (4, 4, 3)
    assert (target.stat().st_mode & 0o777) == 0o640 and _listing(tmp_path) == ["x.png"]


def test_refuses_to_overwrite_original(tmp_path):
    original = tmp_path / "photo.jpg"
    save_image(original, _rand((8, 8, 3)))
    before = original.read_bytes()
    for spelling in (original, tmp_path / "sub" / ".." / "photo.jpg"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(ImageSaveError, match="overwrite the original"):
            save_image(spelling, _rand((8, 8, 3)), original=original)
    assert original.read_bytes() == before
    save_image(original, _rand((8, 8, 3), 1), original=original, overwrite_original=True)
    assert original.read_bytes() != before
    save_image(tmp_path / "edited.jpg", _rand((8, 8, 3)), original=original)


def test_unwritable_or_missing_folder(tmp_path, monkeypatch):
    with pytest.raises(ImageSaveError, match="does not exist"):
        save_image(tmp_path / "missing" / "a.png", _rand((4, 4, 3)))
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.name == "posix" and os.geteuid() != 0:  # root ignores folder permissions
        locked.chmod(0o500)
        try:
            with pytest.raises(ImageSaveError, match="no permission"):
                save_image(locked / "a.png", _rand((4, 4, 3)))
        finally:
            locked.chmod(0o700)

    def deny(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(ImageSaveError, match="no permission") as info:
        save_image(locked / "a.png", _rand((4, 4, 3)))
    _one_line_naming(info.value, "a.png")


def test_dpi_round_trip(tmp_path):
    for ext in ("png", "jpg", "tif"):
        save_image(tmp_path / f"d.{ext}", _rand((4, 4, 3)), ImageMeta(dpi=(240.0, 240.0)))
        assert load_image(tmp_path / f"d.{ext}")[1].dpi == pytest.approx((240, 240), abs=0.5)
