"""Non-blind deconvolution with a prior (editor.core.deconvolution): what the Deblur tool
does with a known kernel — a blurred photo comes back sharper, the sparse solver beats the
quadratic one where the kernel is a little wrong, a heavy prior returns the prior, and
both keep shape, dtype and grey/colour layout."""

import numpy as np
import pytest
from skimage import data

from editor.core import deconvolution as dc
from editor.core.metrics import psnr
from editor.engine.progress import Cancelled, Progress
from editor.training import blur_kernels as bk

# A test-only seed: no training or benchmark stream draws from it.
SEED = 20261207
INNER = np.s_[24:-24, 24:-24]


def _case(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sharp = data.astronaut()[:256, :256].astype(np.float32) / 255.0
    rng = np.random.default_rng(SEED)
    blurry = bk.convolve(sharp, kernel) + rng.normal(0, 0.01, sharp.shape).astype(np.float32)
    return sharp, (np.round(np.clip(blurry, 0, 1) * 255) / 255).astype(np.float32)


@pytest.mark.parametrize("solver", [dc.deconvolve, dc.deconvolve_sparse])
def test_deconvolving_with_the_true_kernel_sharpens(solver):
    kernel = bk.camera_shake(21, np.random.default_rng(SEED)).kernel
    sharp, blurry = _case(kernel)
    out = np.clip(solver(blurry, blurry, kernel), 0, 1)    # prior: the blurry photo itself
    gain = psnr(out[INNER], sharp[INNER]) - psnr(blurry[INNER], sharp[INNER])
    assert gain >= 2.0, f"only {gain:.2f} dB"
    assert out.dtype == np.float32 and out.shape == blurry.shape


def test_the_sparse_solver_rings_less_with_a_slightly_wrong_kernel():
    true = bk.camera_shake(21, np.random.default_rng(SEED)).kernel
    sharp, blurry = _case(true)
    wrong = np.roll(true, 1, axis=1) * 0.5 + true * 0.5      # smeared by half a pixel
    quadratic = np.clip(dc.deconvolve(blurry, blurry, wrong), 0, 1)
    sparse = np.clip(dc.deconvolve_sparse(blurry, blurry, wrong), 0, 1)
    assert psnr(sparse[INNER], sharp[INNER]) > psnr(quadratic[INNER], sharp[INNER]) + 0.3


@pytest.mark.parametrize("solver", [dc.deconvolve, dc.deconvolve_sparse])
def test_a_heavy_prior_weight_returns_the_prior(solver):
    rng = np.random.default_rng(SEED)
    blurry = rng.random((40, 50)).astype(np.float32)
    prior = rng.random((40, 50)).astype(np.float32)
    kernel = np.full((5, 5), 1 / 25, np.float32)
    extra = {"smoothness": 0.0} if solver is dc.deconvolve else {"sparsity": 0.0}
    out = solver(blurry, prior, kernel, prior_weight=1e6, **extra)
    assert out.shape == (40, 50)
    np.testing.assert_allclose(out, prior, atol=1e-4)
    with pytest.raises(ValueError):
        solver(blurry, prior[:10], kernel)


def test_the_sparse_solver_can_be_cancelled():
    progress = Progress()
    progress.cancel()
    image = np.zeros((64, 64, 3), np.float32)
    with pytest.raises(Cancelled):
        dc.deconvolve_sparse(image, image, np.ones((3, 3), np.float32) / 9,
                             check=progress.check_cancelled)


def test_the_shrinkage_zeroes_small_gradients_and_keeps_large_ones():
    v = np.array([-1.0, -0.01, 0.0, 0.01, 1.0], np.float32)
    w = dc._shrink(v, 0.05, dc.EXPONENT)
    assert np.all(w[1:4] == 0)
    assert w[0] < -0.9 and w[4] > 0.9 and w.dtype == np.float32
