"""Non-blind deconvolution with a prior image: what the Deblur tool does once it knows the
blur's kernel (a lens disc, :mod:`editor.core.lens_blur`; a camera shake,
:mod:`editor.core.shake_blur`), with its network's result as the prior ``p`` — what the
photo should look like where the kernel's zeros hide it.

Two solvers, per channel, the photo's borders reflected by the kernel's size first (so the
circular FFT does not wrap one edge onto the other) and padded on to sizes the FFT is fast
at:

* :func:`deconvolve`: ``argmin_x |k*x − b|² + λ|x − p|² + μ|∇x|²``, closed form in the
  Fourier domain (a Wiener filter whose prior mean is the network's result, not grey).
* :func:`deconvolve_sparse`: ``argmin_x |k*x − b|² + λ|x − p|² + τ Σ|∇x|^α`` with α < 1,
  the heavy-tailed gradient prior of natural images (Krishnan & Fergus, NIPS 2009, "Fast
  image deconvolution using hyper-Laplacian priors"), by half-quadratic splitting: an
  auxiliary ``w ≈ ∇x`` alternates between a per-pixel shrinkage and the same closed-form
  Fourier solve, its coupling weight β doubling each step. It keeps edges sharp while
  suppressing the ringing a slightly wrong (estimated) kernel leaves in flat regions: on
  the training photos whose estimated kernels the tool trusts it gained 0.4–0.6 dB over
  :func:`deconvolve` (see :data:`SPARSITY`).

numpy/scipy only, Qt- and torch-free.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import fft as sfft

#: Weight of the network prior (λ) and of the gradient smoothness (μ) in :func:`deconvolve`
#: (validation gain flat for λ 0.005–0.01, lower at 0.02–0.03; μ 0.002–0.01 alike).
PRIOR_WEIGHT = 0.01
SMOOTHNESS = 0.005
#: :func:`deconvolve_sparse`'s gradient weight τ and exponent α, and its splitting schedule
#: (β from BETA_START, doubled after each of STEPS steps). Chosen on training photos only
#: (train/natural, seeded shakes and discs, noise 1 %; and the deblur training's 30
#: validation pairs), with the kernels the tool trusted there: the mean gain over the blurry
#: photo went 2.96 / 3.16 / 3.56 dB (:func:`deconvolve`) -> 3.52 / 3.57 / 4.01 dB on three
#: sets of estimated shakes, and 2.60 -> 2.80 / 2.84 -> 3.15 dB on two sets of detected
#: discs (τ 0.0005–0.004, α 0.5–1, λ 0.005–0.02, β from 0.002–0.016 tried; 7 steps gain
#: 0.02 dB on the discs and none on the shakes, 4 steps lose 0.05 dB on the discs).
SPARSITY, EXPONENT = 0.001, 2.0 / 3.0
BETA_START, STEPS = 0.004, 5
#: τ for a kernel estimated blind (a camera shake's), which is less exact than a lens disc
#: of a measured radius and so leaves more ringing to suppress: 3.52 / 3.57 / 4.01 ->
#: 3.60 / 3.60 / 4.03 dB on the three sets of estimated shakes above (τ 0.002: 3.59 / 3.55
#: / 3.98); on the discs τ 0.0015 loses 0.1–0.15 dB.
ESTIMATED_SPARSITY = 0.0015
#: Steps for large photos (the Deblur tool's cheap path, above
#: :data:`editor.core.shake_blur.LARGE_PIXELS`), where the solve's cost (about 0.07 s per
#: step per megapixel on 2 cores) would break the tool's 3 s/MP budget: 0.05–0.09 dB below
#: STEPS on the trusted training photos above (still 0.15–0.5 dB above :func:`deconvolve`).
LARGE_STEPS = 3


def otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """rfft2 of ``kernel`` (centred on its middle pixel) zero-padded to ``shape``."""
    big = np.zeros(shape, np.float32)
    kh, kw = kernel.shape
    big[:kh, :kw] = kernel
    big = np.roll(big, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return sfft.rfft2(big, workers=-1)


class _Problem:
    """One deconvolution's padded geometry and Fourier operators, shared by both solvers."""

    def __init__(self, blurry: np.ndarray, prior: np.ndarray, kernel: np.ndarray) -> None:
        blurry = np.asarray(blurry, np.float32)
        prior = np.asarray(prior, np.float32)
        if blurry.shape != prior.shape:
            raise ValueError(f"blurry {blurry.shape} and prior {prior.shape} differ")
        self.squeeze = blurry.ndim == 2
        if self.squeeze:
            blurry, prior = blurry[..., None], prior[..., None]
        self.blurry, self.prior = blurry, prior
        self.pad = pad = kernel.shape[0]
        self.h, self.w = h, w = blurry.shape[:2]
        self.mode = "reflect" if min(h, w) > pad else "symmetric"
        # Padded on to sizes the FFT is fast at (1024 + 2·41 = 1106 = 2·7·79 is not).
        self.shape = shape = (sfft.next_fast_len(h + 2 * pad, real=True),
                              sfft.next_fast_len(w + 2 * pad, real=True))
        self.widths = ((pad, shape[0] - h - pad), (pad, shape[1] - w - pad))
        self.k = otf(kernel, shape)
        dx = np.zeros(shape, np.float32)
        dx[0, 0], dx[0, -1] = -1.0, 1.0     # forward differences: roll(x, -1) - x
        dy = np.zeros(shape, np.float32)
        dy[0, 0], dy[-1, 0] = -1.0, 1.0
        # |Dx|² + |Dy|²: the gradient operator's normal equations in the Fourier domain.
        self.grad = (np.abs(sfft.rfft2(dx, workers=-1)) ** 2
                     + np.abs(sfft.rfft2(dy, workers=-1)) ** 2)

    def padded(self, image: np.ndarray, c: int) -> np.ndarray:
        return np.pad(image[..., c], self.widths, mode=self.mode)

    def inside(self, x: np.ndarray) -> np.ndarray:
        return x[self.pad:self.pad + self.h, self.pad:self.pad + self.w]

    def done(self, out: np.ndarray) -> np.ndarray:
        return out[..., 0] if self.squeeze else out


def deconvolve(blurry: np.ndarray, prior: np.ndarray, kernel: np.ndarray,
               prior_weight: float = PRIOR_WEIGHT, smoothness: float = SMOOTHNESS
               ) -> np.ndarray:
    """``argmin_x |k*x − b|² + λ|x − p|² + μ|∇x|²`` per channel (closed form in the Fourier
    domain) for HxWxC (or HxW) float ``blurry`` ``b`` and ``prior`` ``p`` of the same shape.
    float32 out, not clipped."""
    problem = _Problem(blurry, prior, kernel)
    k = problem.k
    denominator = np.abs(k) ** 2 + prior_weight + smoothness * problem.grad
    out = np.empty_like(problem.blurry)
    for c in range(out.shape[2]):
        numerator = (np.conj(k) * sfft.rfft2(problem.padded(problem.blurry, c), workers=-1)
                     + prior_weight * sfft.rfft2(problem.padded(problem.prior, c), workers=-1))
        x = sfft.irfft2(numerator / denominator, s=problem.shape, workers=-1)
        out[..., c] = problem.inside(x)
    return problem.done(out)


def _shrink(v: np.ndarray, threshold: float, exponent: float) -> np.ndarray:
    """The generalised (p-)shrinkage of float32 ``v``, in place (``v`` is returned):
    ``sign(v) max(|v| − t^(2−α) |v|^(α−1), 0)``, written ``v · max(1 − t^(2−α) |v|^(α−2), 0)``;
    the soft threshold at α = 1 (Chartrand 2009): the closed-form stand-in for
    ``argmin_w β(w − v)² + τ|w|^α`` at ``t = τ / 2β``."""
    magnitude = np.abs(v)
    magnitude += np.float32(1e-8)
    if exponent == 2.0 / 3.0:      # |v|^(4/3) by a cube root: four times faster than a power
        power = np.cbrt(magnitude)
        power *= magnitude
    else:
        power = magnitude ** np.float32(2.0 - exponent)
    np.divide(np.float32(threshold ** (2.0 - exponent)), power, out=power)
    np.subtract(np.float32(1.0), power, out=power)
    np.maximum(power, np.float32(0.0), out=power)
    v *= power
    return v


def difference(x: np.ndarray, axis: int, adjoint: bool = False) -> np.ndarray:
    """Circular forward difference ``roll(x, -1) − x`` along ``axis``, or its adjoint
    ``roll(x, 1) − x``."""
    # Slices rather than np.roll, which copies twice over (a third of the solver's time).
    out = np.empty_like(x)
    n = x.shape[axis]

    def part(start: int | None, stop: int | None) -> tuple[slice, ...]:
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, stop)
        return tuple(index)

    if adjoint:      # out[i] = x[i − 1] − x[i]
        np.subtract(x[part(None, n - 1)], x[part(1, None)], out=out[part(1, None)])
        np.subtract(x[part(n - 1, None)], x[part(None, 1)], out=out[part(None, 1)])
    else:            # out[i] = x[i + 1] − x[i]
        np.subtract(x[part(1, None)], x[part(None, n - 1)], out=out[part(None, n - 1)])
        np.subtract(x[part(None, 1)], x[part(n - 1, None)], out=out[part(n - 1, None)])
    return out


def deconvolve_sparse(blurry: np.ndarray, prior: np.ndarray, kernel: np.ndarray,
                      prior_weight: float = PRIOR_WEIGHT, sparsity: float = SPARSITY,
                      exponent: float = EXPONENT, steps: int = STEPS,
                      check: Callable[[], None] | None = None) -> np.ndarray:
    """``argmin_x |k*x − b|² + λ|x − p|² + τ Σ|∇x|^α`` per channel by half-quadratic
    splitting (see the module docstring), starting from the prior; arguments as for
    :func:`deconvolve`, ``check`` (optional) called before every step: a cancel check, it
    may raise. float32 out, not clipped."""
    problem = _Problem(blurry, prior, kernel)
    k, channels = problem.k, problem.blurry.shape[2]
    # All channels at once (C x H x W): one FFT call and one denominator per step.
    b = np.stack([problem.padded(problem.blurry, c) for c in range(channels)])
    x = np.stack([problem.padded(problem.prior, c) for c in range(channels)])
    fixed = np.conj(k) * sfft.rfft2(b, workers=-1)
    fixed += np.float32(prior_weight) * sfft.rfft2(x, workers=-1)
    data_term = np.abs(k) ** 2 + np.float32(prior_weight)
    beta = BETA_START
    for _ in range(steps):
        if check is not None:
            check()
        threshold = sparsity / (2.0 * beta)
        wx = _shrink(difference(x, -1), threshold, exponent)
        wy = _shrink(difference(x, -2), threshold, exponent)
        # The differences' adjoint applied in space (one FFT instead of two):
        # conj(Dx)·F(wx) + conj(Dy)·F(wy) = F(Dxᵀwx + Dyᵀwy).
        adjoint = difference(wx, -1, adjoint=True)
        adjoint += difference(wy, -2, adjoint=True)
        numerator = sfft.rfft2(adjoint, workers=-1)
        numerator *= np.float32(beta)
        numerator += fixed
        numerator /= data_term + np.float32(beta) * problem.grad
        x = sfft.irfft2(numerator, s=problem.shape, workers=-1)
        beta *= 2.0
    out = np.empty_like(problem.blurry)
    for c in range(channels):
        out[..., c] = problem.inside(x[c])
    return problem.done(out)
