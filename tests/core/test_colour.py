"""Colour management: photos with embedded profiles are edited in sRGB and exported back
into their own profile, without losing 16-bit precision on the common matrix profiles."""

from __future__ import annotations

import io

import numpy as np
import tifffile
from PIL import Image, ImageCms

from editor.core import colour
from editor.core.imageio import load_image, save_image

EPS16 = 2.0 / 65535.0


def _rand(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _u16(a):
    return np.round(a * 65535).astype(np.uint16)


def _cms(u8, src, dst):
    t = ImageCms.buildTransform(ImageCms.ImageCmsProfile(io.BytesIO(src)),
                                ImageCms.ImageCmsProfile(io.BytesIO(dst)), "RGB", "RGB")
    return np.asarray(ImageCms.applyTransform(Image.fromarray(u8), t))


def test_float_icc_conversion_agrees_with_littlecms(adobe_like_icc):
    u8 = np.random.default_rng(5).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    srgb = colour.srgb_profile_bytes()
    ours = colour.to_srgb(u8 / np.float32(255), adobe_like_icc)
    assert np.abs(ours * 255 - _cms(u8, adobe_like_icc, srgb)).max() <= 2.0
    back = colour.from_srgb(u8 / np.float32(255), adobe_like_icc)
    assert np.abs(back * 255 - _cms(u8, srgb, adobe_like_icc)).max() <= 2.0
    assert not colour.is_srgb_equivalent(adobe_like_icc)
    assert colour.is_srgb_equivalent(srgb)


def test_icc_profile_converted_on_load_and_restored_on_export(tmp_path, adobe_like_icc):
    srgb_px = np.random.default_rng(6).integers(30, 220, (24, 24, 3)).astype(np.uint8)
    encoded = _cms(srgb_px, colour.srgb_profile_bytes(), adobe_like_icc)
    Image.fromarray(encoded).save(tmp_path / "adobe.png", icc_profile=adobe_like_icc)
    got, meta = load_image(tmp_path / "adobe.png")
    assert meta.icc_profile == adobe_like_icc
    # editing happens in sRGB (two 8-bit quantisations apart from the source)
    assert np.abs(got * 255 - srgb_px).max() <= 4.0
    save_image(tmp_path / "out.png", got, meta)
    with Image.open(tmp_path / "out.png") as im:
        assert im.info["icc_profile"] == adobe_like_icc
        assert np.abs(np.asarray(im, np.int16) - encoded).max() <= 1


def test_16bit_icc_round_trip_keeps_precision(tmp_path, adobe_like_icc):
    raw = _u16(_rand((20, 20, 3), 7) * 0.8 + 0.1)
    tifffile.imwrite(tmp_path / "in.tif", raw, photometric="rgb", iccprofile=adobe_like_icc)
    got, meta = load_image(tmp_path / "in.tif")
    assert meta.icc_profile == adobe_like_icc and meta.bit_depth == 16
    save_image(tmp_path / "out.tif", got, meta)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.pages[0].iccprofile == adobe_like_icc
        out = tif.pages[0].asarray()
    # in-gamut colours survive Adobe RGB -> sRGB float -> Adobe RGB at 16-bit precision
    in_gamut = (got > 1e-4).all(-1) & (got < 1 - 1e-4).all(-1)
    assert in_gamut.mean() > 0.5
    assert np.abs(out[in_gamut].astype(int) - raw[in_gamut]).max() <= 2


def test_srgb_profile_bytes_identical_and_16bit_exact(tmp_path):
    srgb = colour.srgb_profile_bytes()
    raw = _u16(_rand((10, 10, 3), 8))
    tifffile.imwrite(tmp_path / "s.tif", raw, photometric="rgb", iccprofile=srgb)
    got, meta = load_image(tmp_path / "s.tif")
    save_image(tmp_path / "s.png", got, meta)
    with Image.open(tmp_path / "s.png") as im:
        assert im.info["icc_profile"] == srgb
    back, _ = load_image(tmp_path / "s.png")
    assert np.abs(back - raw / 65535).max() < EPS16


def test_gray_profile_16bit(tmp_path, gray22_icc):
    raw = _u16(_rand((8, 8), 9))
    Image.fromarray(raw).save(tmp_path / "g.png", icc_profile=gray22_icc)
    got, meta = load_image(tmp_path / "g.png")
    expected = colour.srgb_encode(np.power(raw / 65535.0, 2.2))
    assert np.abs(got[..., 0] - expected).max() < 1e-3
    save_image(tmp_path / "g_out.png", got, meta)
    with Image.open(tmp_path / "g_out.png") as im:
        assert im.info["icc_profile"] == gray22_icc
        assert np.abs(np.asarray(im).astype(int) - raw).max() <= 16


def test_table_profiles_fall_back_to_littlecms(monkeypatch, adobe_like_icc, gray22_icc):
    cases = [(_rand((8, 8, 3), 10), adobe_like_icc), (_rand((8, 8, 1), 11), gray22_icc)]
    exact = [(colour.to_srgb(px, icc), colour.from_srgb(px, icc)) for px, icc in cases]
    monkeypatch.setattr(colour, "matrix_shaper", lambda icc: None)  # as for a LUT profile
    for (px, icc), (to_exact, from_exact) in zip(cases, exact, strict=True):
        # littleCMS's 8-bit tables are coarse near black on steep gamma curves
        assert np.abs(colour.to_srgb(px, icc) - to_exact).max() < 5 / 255
        assert np.abs(colour.from_srgb(px, icc) - from_exact).max() < 5 / 255


def test_broken_profile_does_not_stop_loading(tmp_path):
    Image.new("RGB", (4, 4), (10, 20, 30)).save(tmp_path / "b.png", icc_profile=b"junk" * 40)
    got, meta = load_image(tmp_path / "b.png")
    assert np.allclose(got[0, 0], np.array([10, 20, 30]) / 255)
    assert meta.icc_profile is None and "icc_error" in meta.extra
