"""Random real-photo degradations for training the "real photo" x4 model.

A phone photo is not a MATLAB-bicubic downscale: it was blurred by optics and motion,
resampled by some unknown kernel, got sensor noise, then JPEG. A network trained only on
clean bicubic LR treats that noise and those 8x8 blocks as detail and sharpens them. The
pipeline below is a one-pass version of the Real-ESRGAN / BSRGAN recipe, kept moderate
(blur sigma <= 1.6, noise <= 10/255, 30 % clean samples) because the model must also stay
within 1 dB of the quality model on clean images:

    blur (isotropic or anisotropic Gaussian, random size)  ->  downscale x1/s with a random
    kernel (MATLAB bicubic, bilinear, area)  ->  Gaussian or Poisson noise (colour or grey)
    ->  JPEG at a random quality in [30, 95]

with a share of clean MATLAB-bicubic samples. Every random choice comes from the numpy
Generator passed in, so a seed reproduces the exact degradations (training resumes draw the
same ones). Pixels: float32 HxWx3 RGB in [0, 1] in and out; the output is quantised to
8-bit steps, as a real photo file is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from editor.core.imresize import imresize


@dataclass(frozen=True)
class DegradeConfig:
    # Kept moderate on purpose: a first run with sigma <= 3 blur, noise <= 15 levels and
    # 15 % clean samples beat the quality model on noisy JPEGs by only 0.2 dB on the
    # held-out images while losing 0.85 dB on clean ones (it learnt to smooth everything).
    p_clean: float = 0.3           # plain MATLAB bicubic, so clean inputs stay sharp
    p_blur: float = 0.5
    kernel_sizes: tuple[int, ...] = (7, 9, 11, 13, 15, 17, 19, 21)
    sigma_range: tuple[float, float] = (0.2, 1.6)
    p_anisotropic: float = 0.5
    p_noise: float = 0.8
    gauss_sigma_range: tuple[float, float] = (1.0, 10.0)   # in 8-bit levels
    p_poisson: float = 0.3                                  # of noisy samples
    poisson_scale_range: tuple[float, float] = (0.05, 1.5)  # x sqrt(signal) in 8-bit levels
    p_grey_noise: float = 0.4
    p_jpeg: float = 0.8
    jpeg_quality_range: tuple[int, int] = (30, 95)


DEFAULT = DegradeConfig()


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """Normalised ``size`` x ``size`` (odd) Gaussian with axes sigma_x, sigma_y rotated by
    ``theta`` radians; sigma_x == sigma_y gives the isotropic kernel."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and positive, got {size!r}")
    r = size // 2
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float64)
    c, s = np.cos(theta), np.sin(theta)
    u = c * xx + s * yy
    v = -s * xx + c * yy
    kernel = np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (kernel / kernel.sum()).astype(np.float32)


def random_kernel(rng: np.random.Generator, cfg: DegradeConfig = DEFAULT) -> np.ndarray:
    size = int(rng.choice(cfg.kernel_sizes))
    lo, hi = cfg.sigma_range
    if rng.random() < cfg.p_anisotropic:
        sx, sy = rng.uniform(lo, hi), rng.uniform(lo, hi)
        theta = rng.uniform(0.0, np.pi)
    else:
        sx = sy = rng.uniform(lo, hi)
        theta = 0.0
    return gaussian_kernel(size, float(sx), float(sy), float(theta))


def _downscale(image: np.ndarray, scale: int, method: str) -> np.ndarray:
    h, w = image.shape[0] // scale, image.shape[1] // scale
    if method == "matlab":
        return imresize(image, 1.0 / scale, output_shape=(h, w))
    interpolation = {"bilinear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}[method]
    return cv2.resize(image, (w, h), interpolation=interpolation)


def add_noise(image: np.ndarray, rng: np.random.Generator,
              cfg: DegradeConfig = DEFAULT) -> np.ndarray:
    grey = rng.random() < cfg.p_grey_noise
    shape = image.shape[:2] + ((1,) if grey else (image.shape[2],))
    if rng.random() < cfg.p_poisson:
        # Shot noise: variance grows with the signal (a sensor's photon count).
        k = rng.uniform(*cfg.poisson_scale_range) / 255.0
        noise = rng.standard_normal(shape).astype(np.float32)
        level = np.sqrt(np.clip(image if not grey else image.mean(axis=2, keepdims=True),
                                0, 1) * 255.0) * k
        return image + noise * level
    sigma = rng.uniform(*cfg.gauss_sigma_range) / 255.0
    return image + rng.standard_normal(shape).astype(np.float32) * sigma


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through JPEG at ``quality`` (RGB in and out; OpenCV wants BGR, and
    handing it RGB would put the chroma subsampling on the wrong channels)."""
    bgr = cv2.cvtColor(np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8),
                       cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def quantise(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.float32) / 255.0


def degrade(hr: np.ndarray, scale: int, rng: np.random.Generator,
            cfg: DegradeConfig = DEFAULT) -> np.ndarray:
    """A randomly degraded LR of ``hr`` (float32 HxWx3 RGB, sides multiples of ``scale``)."""
    hr = np.ascontiguousarray(hr, dtype=np.float32)
    if rng.random() < cfg.p_clean:
        return quantise(imresize(hr, 1.0 / scale, uint8_path=True))
    image = hr
    if rng.random() < cfg.p_blur:
        image = cv2.filter2D(image, -1, random_kernel(rng, cfg), borderType=cv2.BORDER_REFLECT)
    method = str(rng.choice(("matlab", "bilinear", "area")))
    image = _downscale(image, scale, method)
    if rng.random() < cfg.p_noise:
        image = add_noise(image, rng, cfg)
    image = np.clip(image, 0.0, 1.0)
    if rng.random() < cfg.p_jpeg:
        return jpeg(image, int(rng.integers(cfg.jpeg_quality_range[0],
                                            cfg.jpeg_quality_range[1] + 1)))
    return quantise(image)


def noisy_jpeg(lr: np.ndarray, sigma: float, quality: int, seed: int) -> np.ndarray:
    """The fixed test degradation of the issue: Gaussian noise ``sigma`` (0..1 scale),
    then JPEG ``quality``, seeded. Used for validation of the real-photo model and for its
    benchmark comparison; float32 RGB in [0, 1] in and out."""
    rng = np.random.default_rng(seed)
    noisy = lr.astype(np.float32) + rng.standard_normal(lr.shape).astype(np.float32) * sigma
    return jpeg(np.clip(noisy, 0.0, 1.0), quality)
