"""Lens-blur detection (editor.core.lens_blur): the radius of a real photo's focus blur is
found, a sharp or shaken photo is not called lens-blurred, and deconvolving with the found
disc sharpens."""

import numpy as np
import pytest
from skimage import data

from editor.core import lens_blur as lb
from editor.core.deconvolution import deconvolve
from editor.core.metrics import psnr
from editor.training import blur_kernels as bk

# A test-only seed: no training or benchmark stream draws from it.
SEED = 20261207


def _photo() -> np.ndarray:
    return data.astronaut().astype(np.float32) / 255.0        # 512x512 RGB photo


def _degrade(sharp: np.ndarray, kernel: np.ndarray, seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blurry = bk.convolve(sharp, kernel)
    blurry = blurry + rng.normal(0.0, 0.01, blurry.shape).astype(np.float32)
    return (np.round(np.clip(blurry, 0, 1) * 255) / 255).astype(np.float32)


def test_disc_kernel_is_a_normalised_symmetric_odd_disc():
    for radius in (1.0, 2.5, 7.3):
        k = lb.disc_kernel(radius)
        assert k.shape[0] == k.shape[1] == 2 * int(np.ceil(radius)) + 3
        assert np.all(k >= 0) and k.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-12)
        np.testing.assert_allclose(k, k.T, atol=1e-12)
        assert k[0].max() == 0.0                 # the outer ring of pixels is empty
    with pytest.raises(ValueError):
        lb.disc_kernel(0.0)


@pytest.mark.parametrize("radius", [3.5, 6.0, 9.25])
def test_the_radius_of_a_focus_blur_is_found(radius):
    blurry = _degrade(_photo(), bk.defocus_disc(2 * int(np.ceil(radius)) + 3, radius).kernel)
    found = lb.estimate_defocus(blurry)
    assert found.found, found
    assert abs(found.radius - radius) <= 0.5, found


def test_sharp_shaken_and_moving_photos_are_not_lens_blurred():
    sharp = _photo()
    rng = np.random.default_rng(SEED)
    shaken = _degrade(sharp, bk.camera_shake(25, rng).kernel)
    moved = _degrade(sharp, bk.linear_motion(21, 15.0, 0.6).kernel)
    for image in (sharp, shaken, moved):
        assert not lb.estimate_defocus(image).found


def test_small_images_are_never_called_lens_blurred():
    blurry = _degrade(_photo()[:100, :300], bk.defocus_disc(13, 5.0).kernel)
    assert not lb.estimate_defocus(blurry).found          # smaller than one Welch tile
    assert not lb.estimate_defocus(np.zeros((3, 3))).found


def test_deconvolving_with_the_found_disc_sharpens():
    sharp = _photo()
    blurry = _degrade(sharp, bk.defocus_disc(15, 6.0).kernel)
    radius = lb.estimate_defocus(blurry).radius
    # Prior = the blurry photo itself: all the gain comes from the disc.
    out = np.clip(deconvolve(blurry, blurry, lb.disc_kernel(radius)), 0, 1)
    inner = np.s_[20:-20, 20:-20]
    gain = psnr(out[inner], sharp[inner]) - psnr(blurry[inner], sharp[inner])
    assert gain >= 2.0, f"only {gain:.2f} dB"
    assert out.dtype == np.float32 and out.shape == blurry.shape
