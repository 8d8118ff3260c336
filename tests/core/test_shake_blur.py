"""Camera-shake kernel estimation: what the Deblur tool relies on — a shaken photo's kernel
is found with its shape, a sharp photo, a tiny one and a flat one are never called shaken,
and the kernel is a valid blur (non-negative, sums to 1, odd, centred)."""

from __future__ import annotations

import numpy as np
import pytest

from editor.core import shake_blur as sb
from editor.engine.progress import Cancelled, Progress
from editor.training import blur_kernels as bk


def _astronaut(kernel: np.ndarray | None, side: int = 384) -> np.ndarray:
    from skimage import data

    sharp = data.astronaut()[:side, :side].astype(np.float32) / 255.0
    blurred = bk.convolve(sharp, kernel) if kernel is not None else sharp
    rng = np.random.default_rng(20261207)   # test-only seed
    noisy = blurred + rng.normal(0, 0.01, sharp.shape).astype(np.float32)
    return (np.round(np.clip(noisy, 0, 1) * 255) / 255).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_a_shaken_photo_gives_its_kernel(seed):
    true = bk.camera_shake(21, np.random.default_rng(seed)).kernel
    estimate = sb.estimate_shake(_astronaut(true))
    assert estimate.found
    assert sb.agreement(estimate.kernel, true) >= 0.85


def test_the_kernel_is_a_valid_centred_blur():
    true = bk.camera_shake(21, np.random.default_rng(2)).kernel
    kernel = sb.estimate_shake(_astronaut(true)).kernel
    assert kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
    assert kernel.min() >= 0 and abs(float(kernel.sum()) - 1.0) < 1e-5
    yy, xx = np.mgrid[: kernel.shape[0], : kernel.shape[1]]
    middle = kernel.shape[0] // 2
    assert abs((kernel * yy).sum() - middle) < 0.5 and abs((kernel * xx).sum() - middle) < 0.5


def test_a_sharp_photo_is_not_called_shaken_but_sharp():
    estimate = sb.estimate_shake(_astronaut(None))
    assert not estimate.found and estimate.sharp


def test_a_shaken_photo_is_not_called_sharp():
    blurry = _astronaut(bk.camera_shake(21, np.random.default_rng(2)).kernel)
    assert not sb.estimate_shake(blurry).sharp


@pytest.mark.parametrize("shape", [(40, 60, 3), (95, 400), (1, 1)])
def test_small_photos_are_not_estimated(shape):
    estimate = sb.estimate_shake(np.random.default_rng(0).random(shape, dtype=np.float32))
    assert not estimate.found
    assert not estimate.sharp     # not measured: the tool must not take it for sharp


def _reblur_case(radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true disc, grey photo blurred by it, a partly deblurred estimate of the photo: the
    sharp picture under a disc of half the radius)."""
    from skimage import data

    from editor.core.lens_blur import disc_kernel

    sharp = np.repeat(data.camera()[:256, :256, None].astype(np.float32) / 255.0, 3, axis=2)
    true = disc_kernel(radius)
    photo = bk.convolve(sharp, true)[..., 0]
    return true, photo, bk.convolve(sharp, disc_kernel(radius / 2))[..., 0]


def test_the_right_kernel_reblurs_the_estimate_towards_the_photo():
    true, photo, estimate = _reblur_case(3.0)
    assert sb.reblur_ratio(true, photo, estimate) < 1.0


def test_a_far_too_large_kernel_is_refused_by_the_reblur_check():
    from editor.core.lens_blur import disc_kernel

    _, photo, estimate = _reblur_case(2.0)
    assert sb.reblur_ratio(disc_kernel(10.0), photo, estimate) > sb.MAX_REBLUR


def test_a_kernel_refused_by_the_reblur_check_is_not_trusted():
    true = bk.camera_shake(21, np.random.default_rng(2)).kernel
    blurry = _astronaut(true)
    assert sb.estimate_shake(blurry, prior=blurry).found is False   # |k*b - b| > 2|b - b| = 0
    from skimage import data
    sharp = data.astronaut()[:384, :384].astype(np.float32) / 255.0
    trusted = sb.estimate_shake(blurry, prior=sharp)
    assert trusted.found and trusted.reblur < 1.0


def _partly_deblurred(blurry: np.ndarray, step: float) -> np.ndarray:
    """A network result that removed only ``step`` of the blur (a long shake)."""
    from skimage import data
    sharp = data.astronaut()[:384, :384].astype(np.float32) / 255.0
    return blurry + step * (sharp - blurry)


def test_a_kernel_the_halves_agree_on_strongly_is_trusted_past_the_reblur_limit():
    # The network barely deblurred the photo, so the right kernel re-blurs its result far
    # from the photo; the halves agreeing on the kernel is what makes it trusted.
    true = bk.camera_shake(21, np.random.default_rng(2)).kernel
    blurry = _astronaut(true)
    estimate = sb.estimate_shake(blurry, prior=_partly_deblurred(blurry, 0.1))
    assert sb.MAX_REBLUR < estimate.reblur <= sb.NO_BLUR_REBLUR
    assert estimate.found and estimate.agreement >= sb.STRONG_AGREEMENT
    assert sb.agreement(estimate.kernel, true) >= 0.85


def test_past_the_reblur_limit_a_kernel_the_halves_only_roughly_agree_on_is_refused():
    # Two shakes, one per half: the halves agree well enough for the ordinary check, not
    # for the strong one a kernel past the reblur limit needs.
    blurry = _astronaut(bk.camera_shake(21, np.random.default_rng(2)).kernel)
    blurry[:, 192:] = _astronaut(bk.camera_shake(21, np.random.default_rng(5)).kernel.T)[:, 192:]
    estimate = sb.estimate_shake(blurry, prior=_partly_deblurred(blurry, 0.1))
    assert sb.MAX_REBLUR < estimate.reblur <= sb.NO_BLUR_REBLUR
    assert sb.MIN_AGREEMENT <= estimate.agreement < sb.STRONG_AGREEMENT
    assert not estimate.found and not estimate.sharp


def test_a_kernel_that_blurs_far_past_what_the_network_changed_means_no_blur():
    # The Deblur tool leaves such a photo as it is: next to what the kernel would remove,
    # its network found almost nothing to change (on sharp photos it only adds haloes).
    import cv2

    blurry = _astronaut(bk.camera_shake(21, np.random.default_rng(2)).kernel)
    barely = blurry + 0.02 * (blurry - cv2.GaussianBlur(blurry, (0, 0), 2.0))
    estimate = sb.estimate_shake(blurry, prior=barely)
    assert not estimate.found and estimate.reblur > sb.NO_BLUR_REBLUR and estimate.sharp
    sharpened = blurry + 1.5 * (blurry - cv2.GaussianBlur(blurry, (0, 0), 2.0))
    assert not sb.estimate_shake(blurry, prior=sharpened).sharp   # a real change: measured


def test_a_flat_photo_is_not_called_shaken():
    assert not sb.estimate_shake(np.full((200, 300, 3), 0.4, np.float32)).found


def test_the_l0_restore_of_a_delta_blur_keeps_the_edges():
    image = np.zeros((64, 64), np.float32)
    image[:, 32:] = 1.0
    restored = sb.l0_restore(image, sb.delta(3), 4e-3)
    np.testing.assert_allclose(restored[8:-8, 8:-8], image[8:-8, 8:-8], atol=0.02)


def test_estimation_can_be_cancelled():
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        sb.estimate_shake(_astronaut(bk.camera_shake(21, np.random.default_rng(2)).kernel),
                          check=progress.check_cancelled)


def test_a_large_photo_takes_the_cheaper_path_and_still_finds_the_kernel():
    from skimage import data

    true = bk.camera_shake(21, np.random.default_rng(2)).kernel
    sharp = np.pad(data.astronaut().astype(np.float32) / 255.0, ((144, 144), (144, 144), (0, 0)),
                   mode="reflect")
    assert sharp.shape[0] * sharp.shape[1] > sb.LARGE_PIXELS
    rng = np.random.default_rng(20261207)
    blurry = bk.convolve(sharp, true) + rng.normal(0, 0.01, sharp.shape).astype(np.float32)
    estimate = sb.estimate_shake(np.clip(blurry, 0, 1).astype(np.float32))
    assert estimate.found and sb.agreement(estimate.kernel, true) >= 0.85
