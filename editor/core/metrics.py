"""Image quality metrics the way the super-resolution field reports them: PSNR and SSIM,
on the luma (Y) channel, with a border cropped.

Why a module of our own rather than ``skimage.metrics`` alone: SR papers do not score
RGB. They convert to ITU-R BT.601 luma as MATLAB's ``rgb2ycbcr`` does (studio range,
Y in [16, 235] of 255), crop ``scale`` pixels from every side (the network sees no
context there, and bicubic LR makers disagree at the edges), and run SSIM with Wang et
al.'s 11x11 Gaussian window (sigma 1.5), population covariances and no padding. Getting
any of these wrong moves numbers by tenths of a dB, which is the size of the differences
between methods, so every benchmark in the project goes through these functions.

Pixels: float RGB HxWx3 in [0, 1] (the core's contract); ``psnr``/``ssim`` take any two
arrays of the same shape and a ``data_range``. Pure numpy + scipy.ndimage.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

__all__ = ["rgb_to_y", "psnr", "psnr_y", "ssim", "ssim_y", "crop_border",
           "SSIM_WINDOW", "SSIM_SIGMA"]

#: BT.601 studio-swing luma weights (MATLAB ``rgb2ycbcr``), for RGB in [0, 1] and Y in
#: 0..255 units; divided by 255 below so Y stays on the [0, 1] scale of the pixels.
_Y_OFFSET = 16.0
_Y_WEIGHTS = (65.481, 128.553, 24.966)

#: Wang et al.'s SSIM window: 11x11 Gaussian, sigma 1.5, stability constants K1, K2.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of float RGB ``image`` (HxWx3, [0, 1]) as float64 HxW on the [0, 1]
    scale: ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255``, so black is 16/255 and
    white 235/255: what MATLAB's ``rgb2ycbcr`` (the SR field's Y) gives for double RGB.
    Not rounded to 8 bits (MATLAB rounds for uint8 input; scores then differ by ~0.01 dB)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"rgb_to_y expects an HxWx3 RGB image, got shape {image.shape}")
    rgb = image.astype(np.float64, copy=False)
    wr, wg, wb = _Y_WEIGHTS
    return (_Y_OFFSET + wr * rgb[..., 0] + wg * rgb[..., 1] + wb * rgb[..., 2]) / 255.0


def crop_border(image: np.ndarray, border: int) -> np.ndarray:
    """``image`` without ``border`` pixels on each of its four sides (a view)."""
    border = int(border)
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border!r}")
    if border == 0:
        return image
    if image.shape[0] <= 2 * border or image.shape[1] <= 2 * border:
        raise ValueError(f"a {image.shape[1]}x{image.shape[0]} image has nothing left "
                         f"after cropping {border} px from each side")
    return image[border:-border, border:-border]


def _same_shape(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError("cannot score an empty image")
    return a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)


def psnr(a: np.ndarray, b: np.ndarray, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)`` over all
    elements; ``inf`` for identical images."""
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range!r}")
    a, b = _same_shape(a, b)
    diff = a - b
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(float(data_range) ** 2 / mse)


def _luma(image: np.ndarray) -> np.ndarray:
    # HxW is taken to be luma already (a grey benchmark image read as one channel).
    image = np.asarray(image)
    return image.astype(np.float64, copy=False) if image.ndim == 2 else rgb_to_y(image)


def psnr_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """PSNR of the BT.601 luma of RGB ``sr`` against ``hr`` (HxWx3 in [0, 1]), with
    ``border`` pixels cropped on each side: the field's "PSNR (Y)". Neither image is
    quantised here; callers that score saved results round to 8 bits first."""
    return psnr(_luma(crop_border(np.asarray(sr), border)),
                _luma(crop_border(np.asarray(hr), border)), data_range=1.0)


def _gaussian_mean(x: np.ndarray) -> np.ndarray:
    # scipy's truncate is in sigmas: radius int(3.5 * 1.5 + 0.5) = 5, an 11-tap window
    # normalised over its taps, the same kernel as MATLAB's fspecial('gaussian', 11, 1.5).
    truncate = ((SSIM_WINDOW - 1) // 2) / SSIM_SIGMA
    return ndimage.gaussian_filter(x, sigma=SSIM_SIGMA, truncate=truncate, mode="reflect")


def _ssim_plane(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    pad = (SSIM_WINDOW - 1) // 2
    if min(a.shape) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} "
                         f"pixels, got {a.shape[1]}x{a.shape[0]}")
    mu_a, mu_b = _gaussian_mean(a), _gaussian_mean(b)
    # Population (not sample) covariances, as in Wang et al.'s reference code.
    var_a = _gaussian_mean(a * a) - mu_a * mu_a
    var_b = _gaussian_mean(b * b) - mu_b * mu_b
    cov = _gaussian_mean(a * b) - mu_a * mu_b
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / \
        ((mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2))
    # Only windows wholly inside the image count: the reflected border would otherwise
    # invent structure. This is MATLAB's 'valid' filtering, and what skimage does too.
    return float(ssim_map[pad:-pad, pad:-pad].mean(dtype=np.float64))


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 1.0) -> float:
    """Structural similarity of two single-channel images (HxW) with an 11x11 Gaussian
    window, sigma 1.5, K1 = 0.01, K2 = 0.03, population covariances, averaged over the
    windows that lie wholly inside the image. HxWxC images give the mean over channels.
    Equals ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=data_range)``."""
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range!r}")
    a, b = _same_shape(a, b)
    if a.ndim == 2:
        return _ssim_plane(a, b, float(data_range))
    if a.ndim == 3:
        return float(np.mean([_ssim_plane(a[..., c], b[..., c], float(data_range))
                              for c in range(a.shape[2])]))
    raise ValueError(f"ssim expects HxW or HxWxC images, got shape {a.shape}")


def ssim_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """SSIM of the BT.601 luma of RGB ``sr`` against ``hr`` with ``border`` pixels cropped
    on each side: the field's "SSIM (Y)"."""
    return ssim(_luma(crop_border(np.asarray(sr), border)),
                _luma(crop_border(np.asarray(hr), border)), data_range=1.0)
