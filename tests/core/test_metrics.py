"""PSNR / SSIM on the Y channel, as the super-resolution field computes them: a wrong luma
formula, border or SSIM window would shift every benchmark number by tenths of a dB."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.color import rgb2ycbcr
from skimage.metrics import structural_similarity

from editor.core.metrics import crop_border, psnr, psnr_y, rgb_to_y, ssim, ssim_y


def _photo(h: int, w: int, seed: int = 0, channels: int | None = 3) -> np.ndarray:
    """Smooth structure plus fine texture, in [0, 1]: SSIM's structure term needs both."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h)[:, None]
    x = np.linspace(0, 1, w)[None, :]
    base = 0.5 + 0.3 * np.sin(6 * x + 2 * y) * np.cos(4 * y)
    shape = (h, w) if channels is None else (h, w, channels)
    noise = rng.normal(0.0, 0.08, size=shape)
    image = (base if channels is None else base[..., None]) + noise
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _skimage_ssim(a, b, data_range=1.0, **kwargs):
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=data_range, **kwargs)


# -- luma ------------------------------------------------------------------------------------

def test_rgb_to_y_is_bt601_studio_range():
    black, white = np.zeros((1, 1, 3)), np.ones((1, 1, 3))
    assert rgb_to_y(black)[0, 0] == pytest.approx(16 / 255)
    assert rgb_to_y(white)[0, 0] == pytest.approx(235 / 255)
    red = np.array([[[1.0, 0.0, 0.0]]])
    assert rgb_to_y(red)[0, 0] == pytest.approx((16 + 65.481) / 255)


def test_rgb_to_y_matches_matlab_rgb2ycbcr_via_skimage():
    image = _photo(20, 30, seed=1)
    expected = rgb2ycbcr(image.astype(np.float64))[..., 0] / 255.0
    np.testing.assert_allclose(rgb_to_y(image), expected, atol=1e-9)


def test_rgb_to_y_rejects_non_rgb():
    with pytest.raises(ValueError, match="HxWx3"):
        rgb_to_y(np.zeros((4, 4)))


# -- PSNR ------------------------------------------------------------------------------------

def test_identical_images_have_infinite_psnr():
    image = _photo(16, 16)
    assert psnr(image, image) == math.inf
    assert psnr_y(image, image, border=2) == math.inf


@pytest.mark.parametrize("offset", [1 / 255, 0.01, 0.1])
def test_constant_offset_gives_the_analytic_psnr(offset):
    a = np.full((8, 9), 0.4)
    assert psnr(a + offset, a) == pytest.approx(-20 * math.log10(offset), abs=1e-9)
    # The same error on a 0..255 scale with a peak of 255 is the same PSNR.
    assert psnr(255 * (a + offset), 255 * a, data_range=255) == \
        pytest.approx(-20 * math.log10(offset), abs=1e-9)


def test_psnr_y_of_a_grey_offset_scales_by_the_luma_gain():
    hr = _photo(24, 24, seed=2).astype(np.float64)
    offset = 0.02
    # Y gains (65.481 + 128.553 + 24.966) / 255 = 219/255 per unit of a grey change.
    expected = -20 * math.log10(offset * 219 / 255)
    assert psnr_y(hr + offset, hr, border=0) == pytest.approx(expected, abs=1e-6)


def test_psnr_y_ignores_the_cropped_border():
    hr = _photo(20, 20, seed=3)
    sr = hr.copy()
    sr[:3] = 0.0       # damage only inside a 3-pixel border
    sr[:, -3:] = 1.0
    assert psnr_y(sr, hr, border=3) == math.inf
    assert psnr_y(sr, hr, border=2) < 40


def test_psnr_rejects_mismatched_shapes_and_bad_range():
    with pytest.raises(ValueError, match="shape"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="data_range"):
        psnr(np.zeros((4, 4)), np.zeros((4, 4)), data_range=0)


def test_crop_border_leaves_something():
    assert crop_border(np.zeros((10, 12)), 2).shape == (6, 8)
    with pytest.raises(ValueError, match="nothing left"):
        crop_border(np.zeros((4, 4)), 2)


# -- SSIM ------------------------------------------------------------------------------------

def test_identical_images_have_ssim_one():
    image = _photo(32, 40, channels=None)
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("shape,seed,noise", [((40, 57), 0, 0.05), ((64, 64), 1, 0.2),
                                               ((11, 30), 2, 0.1), ((97, 33), 3, 0.01)])
def test_ssim_matches_skimage(shape, seed, noise):
    a = _photo(*shape, seed=seed, channels=None).astype(np.float64)
    rng = np.random.default_rng(seed + 10)
    b = np.clip(a + rng.normal(0, noise, size=a.shape), 0, 1)
    assert ssim(a, b) == pytest.approx(_skimage_ssim(a, b), abs=1e-4)


def test_ssim_matches_skimage_on_the_255_scale():
    a = np.round(_photo(48, 48, seed=4, channels=None) * 255).astype(np.float64)
    b = np.clip(a + np.random.default_rng(5).normal(0, 6, size=a.shape), 0, 255)
    assert ssim(a, b, data_range=255) == pytest.approx(_skimage_ssim(a, b, 255), abs=1e-4)


def test_multichannel_ssim_is_the_channel_mean_like_skimage():
    a = _photo(30, 30, seed=6).astype(np.float64)
    b = np.clip(a + np.random.default_rng(7).normal(0, 0.05, size=a.shape), 0, 1)
    assert ssim(a, b) == pytest.approx(_skimage_ssim(a, b, channel_axis=2), abs=1e-4)


def test_ssim_y_matches_skimage_on_cropped_luma():
    hr = _photo(50, 60, seed=8)
    sr = np.clip(hr + np.random.default_rng(9).normal(0, 0.04, size=hr.shape), 0, 1)
    border = 4
    expected = _skimage_ssim(rgb_to_y(sr)[border:-border, border:-border],
                             rgb_to_y(hr)[border:-border, border:-border])
    assert ssim_y(sr, hr, border) == pytest.approx(expected, abs=1e-4)


def test_ssim_drops_with_more_noise():
    a = _photo(40, 40, seed=11, channels=None)
    rng = np.random.default_rng(12)
    mild = np.clip(a + rng.normal(0, 0.02, a.shape), 0, 1)
    strong = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    assert 1.0 > ssim(mild, a) > ssim(strong, a) > 0.0


def test_ssim_rejects_images_smaller_than_the_window():
    with pytest.raises(ValueError, match="11x11"):
        ssim(np.zeros((10, 20)), np.zeros((10, 20)))
