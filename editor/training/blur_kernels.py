"""Blur kernels for synthetic training and benchmark pairs: camera shake, linear motion,
defocus and Gaussian blur.

Every kernel is a float32 ``size`` x ``size`` array (``size`` odd, 7–41 px by default),
non-negative, summing to 1, applied as a true convolution (:func:`convolve`, the convention
of scikit-image's deconvolution, so a benchmark can hand the same kernel to Richardson–Lucy
and Wiener). Every random choice comes from the numpy Generator passed in: a seed gives the
same kernels on every machine.

Kernels are centred on their centre of mass (up to the sub-pixel rest of rasterising).
A blur that also shifted the picture would teach the network to move images, and would
cost every method PSNR on a benchmark for a reason that has nothing to do with sharpness.

Camera shake follows Boracchi & Foi (2012), the model behind most synthetic shake since:
the camera's path is a random walk whose velocity changes by Gaussian acceleration, is
pulled back towards the start (a hand holding the camera steady) and now and then jerks
into a new direction (an impulsive shake); the kernel is the time the path spends over each
pixel, rasterised with sub-pixel (bilinear) splatting of many samples along the path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from editor.core.lens_blur import disc_coverage
from editor.training.degrade import gaussian_kernel

#: The issue's kernel sizes (odd, inclusive).
MIN_SIZE, MAX_SIZE = 7, 41
KINDS = ("shake", "linear", "defocus", "gaussian")


@dataclass(frozen=True)
class KernelConfig:
    """What :func:`random_kernel` draws from; fields are fractions of the kernel size or
    probabilities."""

    sizes: tuple[int, int] = (MIN_SIZE, MAX_SIZE)
    # Shake dominates real photos; the others teach lens blur and panning.
    kind_weights: dict[str, float] = field(default_factory=lambda: {
        "shake": 0.5, "linear": 0.2, "defocus": 0.18, "gaussian": 0.12})
    #: Camera-shake path: samples along the path and its length relative to the size.
    shake_steps: int = 256
    shake_length: tuple[float, float] = (1.0, 4.0)
    #: Gaussian sigma as a fraction of the size (the kernel holds ~3 sigma each side).
    gaussian_sigma: tuple[float, float] = (0.04, 0.17)


DEFAULT = KernelConfig()


@dataclass(frozen=True)
class BlurKernel:
    kind: str
    kernel: np.ndarray                     # float32 size x size, >= 0, sums to 1
    params: dict[str, Any]

    @property
    def size(self) -> int:
        return int(self.kernel.shape[0])


# -- helpers -----------------------------------------------------------------------------------

def _check_size(size: int) -> int:
    size = int(size)
    if size < 3 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 3, got {size!r}")
    return size


def random_size(rng: np.random.Generator, sizes: tuple[int, int] = (MIN_SIZE, MAX_SIZE)) -> int:
    """An odd size drawn uniformly from ``sizes`` (inclusive, odd ends)."""
    lo, hi = sizes
    return int(lo + 2 * rng.integers(0, (hi - lo) // 2 + 1))


def normalise(kernel: np.ndarray) -> np.ndarray:
    kernel = np.clip(np.asarray(kernel, dtype=np.float64), 0.0, None)
    total = kernel.sum()
    if not total > 0:
        raise ValueError("a blur kernel needs some positive weight")
    return (kernel / total).astype(np.float32)


def rasterise(points: np.ndarray, size: int, reach: float | None = None) -> np.ndarray:
    """A normalised ``size`` x ``size`` kernel from (N, 2) (x, y) points, each splatted
    bilinearly onto its 4 neighbouring pixels with equal weight (equal exposure time per
    point). Points are first moved so their mean sits on the centre, then scaled about it:
    to ``reach`` (0–1) of the usable radius when given, else shrunk only if some would
    fall outside the grid. Bilinear splatting keeps the mean, so the centre of mass is the
    centre."""
    size = _check_size(size)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    pts = pts - pts.mean(axis=0)
    extent = float(np.abs(pts).max()) if len(pts) else 0.0
    limit = (size - 1) / 2 - 1.0   # bilinear splats reach one pixel further
    if reach is not None and extent > 0:
        pts *= min(max(reach, 0.0), 1.0) * limit / extent
    elif extent > limit:
        pts *= limit / extent
    centre = (size - 1) / 2
    x, y = pts[:, 0] + centre, pts[:, 1] + centre
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    kernel = np.zeros((size, size), dtype=np.float64)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(kernel, (y0 + dy, x0 + dx), wy * wx)
    return normalise(kernel)


def _densify(path: np.ndarray, per_pixel: int = 4) -> np.ndarray:
    """Points every 1/per_pixel px along a polyline, so a fast stretch of the path still
    leaves a continuous streak (a real exposure integrates the whole path)."""
    out = [path[:1]]
    for a, b in zip(path[:-1], path[1:]):
        n = max(1, int(np.ceil(np.hypot(*(b - a)) * per_pixel)))
        t = (np.arange(1, n + 1) / n)[:, None]
        out.append(a + (b - a) * t)
    return np.concatenate(out)


# -- the kernels ---------------------------------------------------------------------------------

def shake_path(steps: int, length: float, rng: np.random.Generator,
               exploration: float = 0.005) -> np.ndarray:
    """(steps, 2) camera positions of a Boracchi–Foi shake trajectory of ``length`` px:
    constant speed, direction changed by Gaussian acceleration (``exploration`` scales it),
    a centripetal pull towards the start and occasional impulsive jerks. Starts at 0."""
    steps = max(2, int(steps))
    step = length / (steps - 1)
    # Per trajectory, as in Boracchi & Foi: some hands are steadier, some jerkier.
    centripetal = 0.7 * rng.random()
    impulse_chance = 0.2 * rng.random()
    jitter = 10.0 * rng.random()
    angle = rng.uniform(0, 2 * np.pi)
    velocity = complex(np.cos(angle), np.sin(angle)) * step
    position = 0j
    path = [position]
    noise = rng.standard_normal((steps - 1, 2))
    jerks = rng.random(steps - 1) < impulse_chance
    twists = rng.uniform(-0.5, 0.5, steps - 1)
    for t in range(steps - 1):
        # An impulsive shake reverses the direction with a random twist (over-correction).
        jerk = 2 * velocity * np.exp(1j * (np.pi + twists[t])) if jerks[t] else 0j
        accel = exploration * (jitter * complex(noise[t, 0], noise[t, 1])
                               - centripetal * position / max(step, 1e-9))
        velocity += jerk + accel * step
        velocity = velocity / (abs(velocity) or 1.0) * step
        position += velocity
        path.append(position)
    return np.array([[p.real, p.imag] for p in path], dtype=np.float64)


def camera_shake(size: int, rng: np.random.Generator, *, length: float | None = None,
                 steps: int = DEFAULT.shake_steps,
                 length_range: tuple[float, float] = DEFAULT.shake_length,
                 extent: float | None = None) -> BlurKernel:
    """A camera-shake kernel: a random trajectory of ``length`` (default: random) steps'
    worth of path, centred and scaled so it reaches ``extent`` (default: a random 0.4–1)
    of the kernel's radius: the size says how far the camera moved."""
    size = _check_size(size)
    if length is None:
        length = rng.uniform(*length_range) * size
    if extent is None:
        extent = rng.uniform(0.4, 1.0)
    path = shake_path(steps, float(length), rng)
    return BlurKernel("shake", rasterise(_densify(path), size, reach=float(extent)),
                      {"size": size, "length": float(length), "extent": float(extent)})


def linear_motion(size: int, length: float, angle: float) -> BlurKernel:
    """A straight streak of ``length`` px at ``angle`` radians (a panning or moving
    subject), centred; ``length`` is capped to fit in the kernel."""
    size = _check_size(size)
    length = float(min(max(length, 1.0), size - 2.0))
    t = np.linspace(-0.5, 0.5, max(2, int(np.ceil(length * 4)) + 1))[:, None]
    points = t * length * np.array([[np.cos(angle), np.sin(angle)]])
    return BlurKernel("linear", rasterise(points, size),
                      {"size": size, "length": length, "angle": float(angle)})


def defocus_disc(size: int, radius: float, supersample: int = 8) -> BlurKernel:
    """An out-of-focus disc of ``radius`` px (a lens' circle of confusion), edge pixels
    weighted by the share of them inside the disc (``supersample``² samples each)."""
    size = _check_size(size)
    radius = float(min(max(radius, 0.5), (size - 1) / 2))
    coverage = disc_coverage(size, radius, supersample)
    return BlurKernel("defocus", normalise(coverage), {"size": size, "radius": radius})


def gaussian(size: int, sigma_x: float, sigma_y: float | None = None,
             theta: float = 0.0) -> BlurKernel:
    """A Gaussian blur (isotropic, or anisotropic rotated by ``theta``)."""
    size = _check_size(size)
    sigma_y = sigma_x if sigma_y is None else sigma_y
    kernel = gaussian_kernel(size, float(sigma_x), float(sigma_y), float(theta))
    return BlurKernel("gaussian", normalise(kernel),
                      {"size": size, "sigma_x": float(sigma_x), "sigma_y": float(sigma_y),
                       "theta": float(theta)})


def random_kernel(rng: np.random.Generator, cfg: KernelConfig = DEFAULT,
                  kind: str | None = None, size: int | None = None) -> BlurKernel:
    """A random kernel of a random (or the given) kind and odd size in ``cfg.sizes``."""
    if kind is None:
        kinds = list(cfg.kind_weights)
        weights = np.array([cfg.kind_weights[k] for k in kinds], dtype=np.float64)
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    if kind not in KINDS:
        raise ValueError(f"kernel kind must be one of {', '.join(KINDS)}, got {kind!r}")
    size = random_size(rng, cfg.sizes) if size is None else _check_size(size)
    if kind == "shake":
        return camera_shake(size, rng, steps=cfg.shake_steps, length_range=cfg.shake_length)
    if kind == "linear":
        return linear_motion(size, rng.uniform(0.3, 1.0) * (size - 2),
                             rng.uniform(0, np.pi))
    if kind == "defocus":
        return defocus_disc(size, rng.uniform(0.25, 1.0) * (size - 1) / 2)
    lo, hi = cfg.gaussian_sigma
    sx = rng.uniform(lo, hi) * size
    sy = sx if rng.random() < 0.5 else rng.uniform(lo, hi) * size
    return gaussian(size, sx, sy, rng.uniform(0, np.pi))


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """True 2D convolution of HxW or HxWxC float32 ``image`` with ``kernel``, borders
    reflected (OpenCV's filter2D correlates, hence the flip)."""
    flipped = np.ascontiguousarray(np.asarray(kernel, dtype=np.float32)[::-1, ::-1])
    return cv2.filter2D(np.ascontiguousarray(image, dtype=np.float32), -1, flipped,
                        borderType=cv2.BORDER_REFLECT_101)


def centre_of_mass(kernel: np.ndarray) -> tuple[float, float]:
    """(x, y) of the kernel's centre of mass relative to its centre pixel."""
    k = np.asarray(kernel, dtype=np.float64)
    ys, xs = np.indices(k.shape)
    c = (k.shape[0] - 1) / 2
    total = k.sum()
    return float((xs * k).sum() / total - c), float((ys * k).sum() / total - c)
