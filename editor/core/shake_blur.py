"""Blind estimation of a camera-shake (or motion) blur kernel from the photo itself, and the
check that decides whether the Deblur tool may trust it.

Why. The Deblur tool's network, sized for a CPU, removes only a small part of a large
shake; deconvolving with the TRUE kernel (the network's result as the prior, as
:mod:`editor.core.deconvolution` does for a lens disc) recovers several times more.
So the kernel is estimated, and used only when the estimate passes a consistency check.

The estimator is the L0-gradient method (Xu, Zheng, Jia, CVPR 2013; Pan et al., CVPR 2014)
in the form Anger, Facciolo and Delbracio analysed (IPOL 2019, "Blind image deblurring
using the l0 gradient prior"), coarse to fine over a Gaussian pyramid of ratio 0.5:

* at each scale, alternate five times: the kernel from the current sharp estimate ``u``,
  ``argmin_k |∇u * k − ∇b|² + γ|k|²`` (closed form in the Fourier domain; then clipped at
  zero, thresholded at a fraction of its peak, isolated islands dropped, centred, and
  normalised), and ``u`` from the kernel, ``argmin_u |k * u − b|² + λ|∇u|_0`` (half-quadratic
  splitting, β tripling from 2λ to 1e5), λ decaying by 1.1 per step;
* the sharp estimate ``u`` (not the kernel) is carried up to the next scale;
* the photo is made grey, stretched to [0, 1], and its borders tapered into a blurred copy
  of itself, so the periodic convolution model sees no seam at the image edge.

The check. A wrong kernel is a disaster (deconvolving a sharp photo with a spurious small
blob loses 10–30 dB), a right one a large gain. A shake is the same across the photo, so the
kernel is also estimated on each half of the crop; the estimate is trusted only when

* the halves' kernels and the whole's have the same shape (normalised cross-correlation,
  at its best shift, of at least :data:`MIN_AGREEMENT` for every pair of the whole and the
  two halves across the long side; or, failing that, between the whole and at least three
  of four halves, the other two cut across the short side),
* the kernel spreads at least :data:`MIN_SPREAD` px (RMS radius about its centre): on a
  sharp or nearly sharp photo the method invents a small blob (RMS radius 0.7–1.7 px on
  the training photos tried); a kernel of :data:`SHARP_SPREAD` px or more is trusted too
  when the reblur check below finds it fits far better (:data:`SMALL_MAX_REBLUR`), and
* given a deblurred estimate of the photo (the Deblur tool's network result), the kernel
  re-blurs it no further from the photo than :data:`MAX_REBLUR` times the estimate itself
  is: this refuses the large, wrong kernels the method can agree on for small discs. A
  large kernel refused by this check (but not so far off that it means no blur) is still
  trusted when the whole and the long-side halves agree on it strongly
  (:data:`STRONG_AGREEMENT`): on a long shake the network removes little, so even the
  right kernel re-blurs its result farther than the ratio allows.

The thresholds were chosen on 150 training photos (``train/natural``, seeded shake, straight
motion, Gaussian, disc blurs and sharp photos, noise 1 %) and the 30 validation pairs of the
deblur training's held-out images, never on the benchmark: see the constants'
comments. The method is sensitive to small changes of its input (cropping the photos by a
pixel moved the 80 photos' mean gain by 0.3 dB), so settings that differed by less than
that there were not told apart. numpy/scipy/OpenCV only, Qt- and torch-free.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
from scipy import fft as sfft
from scipy import ndimage
from scipy.signal import fftconvolve

from editor.core.deconvolution import difference, otf
from editor.core.lens_blur import central_crop

#: Largest kernel estimated (px, odd): the training generator's largest shake.
KERNEL_SIZE = 41
#: L0 weight: start, decay per alternation, floor (IPOL 2019's defaults, for [0, 1] images).
LAMBDA, LAMBDA_DECAY, LAMBDA_MIN = 4e-3, 1 / 1.1, 1e-4
#: Kernel Tikhonov weight γ (IPOL's default, on the unnormalised FFT sums).
GAMMA = 20.0
#: Alternations per scale, pyramid ratio.
ITERATIONS, SCALE = 5, 0.5
#: Kernel values below this fraction of its peak are zeroed (IPOL uses 0.05; on the 80
#: training photos 0.1 gave the better gain after the check, +1.66 against +1.17 dB, in a
#: comparison deconvolving with prior weight 0.02).
THRESHOLD = 0.1
#: Half-quadratic splitting: β from 2λ, times BETA_RATE per step, up to BETA_MAX. IPOL
#: doubles; tripling takes 15 steps instead of 24 and did as well or better on the training
#: photos (after the check +1.66 against +1.39 dB; ×4: +1.59; same comparison).
BETA_RATE, BETA_MAX = 3.0, 1e5
#: Estimation uses the central crop of at most MAX_SIDE px a side (speed: a shake is the
#: same everywhere), so its cost does not grow with the photo: about 1.2 s on 2 cores.
#: Photos above LARGE_PIXELS (where that would be a third of the whole tool's time on a
#: 1-megapixel photo and break its 3 s/MP budget) get a LARGE_SIDE crop, and LARGE_ITERATIONS
#: alternations at the finest scale and at every scale of the halves' check: about 0.6 s.
#: On the 80 training photos that cheaper path gains 0.13 dB less (+1.70 against +1.83 dB
#: over the blurry photo) and on the 30 validation pairs 0.15 dB less (+2.39 against +2.54).
MAX_SIDE, LARGE_SIDE, LARGE_PIXELS, LARGE_ITERATIONS = 512, 384, 500_000, 3
#: Crops smaller than this on their short side are not estimated.
MIN_SIDE = 96
#: Trust: least normalised cross-correlation between kernels, and least RMS radius (px) of
#: the whole's kernel (ρ 0.5–0.8 and radius 1.5–2.5 tried). A kernel is trusted when the
#: halves of the crop (split across its long side) and the whole all agree, or, failing
#: that, when the whole agrees with at least three of four halves (the same two and the two
#: across the short side: a half with little texture gives a poor estimate of a right
#: kernel). Chosen on 80 training photos (``train/natural``: shake, straight motion,
#: Gaussian, small discs, sharp), the 30 validation pairs of the deblur training, and 70
#: more training photos blurred like the benchmark's part 1 (30 shakes 11–41 px, 30 discs of
#: radius 1.5–6 px, 10 sharp; seed stream 0x53313232): the tool's mean gain over the blurry
#: photo went 1.83 / 2.54 / 2.13 dB (the long-side halves only, no reblur check) -> 2.05 /
#: 2.67 / 2.39 dB, photos a trusted kernel left worse than the network alone by over
#: 0.05 dB 2 / 1 / 3 -> 2 / 0 / 1, and none of the 27 sharp photos passed either way.
MIN_AGREEMENT = 0.7
MIN_SPREAD = 1.8
#: How many of the four halves must agree with the whole when the first two's check fails.
MIN_HALVES = 3
#: Reblur check, when the caller has a deblurred estimate ``p`` of the photo ``b`` (the
#: network's result): the kernel is refused when ``|k * p − b|²`` exceeds MAX_REBLUR times
#: ``|p − b|²``. A right kernel re-blurs the sharper estimate back towards the photo (ratio
#: 0.1–1.7 with the TRUE kernel on the photos above); the wrong, consistent kernels the
#: estimator sometimes grows on small discs (9–13 px RMS radius for a 2–4 px disc) blur it
#: far past the photo (ratio 1.5–5). 1.5 and 2 did the same there.
MAX_REBLUR = 2.0
#: A kernel of MIN_SPREAD px or more that the reblur check refuses with a ratio up to
#: NO_BLUR_REBLUR is still trusted when the whole and the two long-side halves all agree on
#: it this well (no three-of-four fallback). Why: the ratio divides by how much the network
#: changed the photo, and on a long shake (25–41 px) the network changes little, so even the
#: right kernel, re-blurring an estimate that is still nearly as blurred as the photo,
#: scores 2–5. The wrong kernels refused there are the ones the halves disagree on. On 320
#: training photos (seed streams 0x53313531, 0x53313532 and 0x53313533: 120 blurred like
#: the benchmark's part 1, 60 long shakes, 30 discs of radius 1.5–6 px, 40 of 1–4 px, 40 from
#: the training kernel mix, 20 Gaussians, 30 sharp; noise 1 %) the right kernels refused
#: so agreed at 0.92–0.94 (the least of the three; deconvolving with them gained +5.3 to
#: +5.8 dB where the network alone lost 0.05–0.47 dB), the wrong ones at most 0.56 (they
#: would have lost 2–26 dB). Checked on 120 more (0x53313534: 30 discs of 1.5–6 px, 40 of
#: 1–4 px, 20 Gaussians, 30 shakes of 7–21 px): one more right kernel trusted (+7.57 dB),
#: no wrong one (those agreed at most 0.54).
STRONG_AGREEMENT = 0.85
#: A kernel of SHARP_SPREAD–MIN_SPREAD px RMS radius is trusted only when it re-blurs the
#: estimate far closer to the photo than that: with the TRUE kernel the ratio is 0.2–0.6 for
#: most small blurs, while the blobs invented on sharp photos gave 0.69 and up. On the
#: photos above this took the mean gains 2.04 / 2.67 / 2.37 -> 2.18 / 2.85 / 2.49 dB; no
#: sharp photo was trusted, and none of the small kernels trusted left a photo worse than
#: the network alone (0.4–0.7 tried; 0.7 did as well, too close to the sharp photos' 0.69).
SMALL_MAX_REBLUR = 0.6
#: A kernel refused because it re-blurs the estimate more than NO_BLUR_REBLUR times farther
#: from the photo than the estimate itself is also means the photo shows no blur: the
#: network found little to change (its change is tiny next to what the kernel would
#: remove), and what it did change is sharpening of a sharp photo. On the 180 training
#: photos above and 100 more near the boundary (40 sharp; discs of radius 1–2.5 px,
#: Gaussians of σ 0.6–1.5 px, shakes of 7–13 px; noise 0.5 and 1 %; stream 0x53313333)
#: sharp photos scored 13.8–792, blurred ones at most 7.8 on the first sets and 88 on the
#: second, all three over 10 there nearly sharp (true RMS radius under 1.3 px, the
#: network gaining +0.4–0.9 dB). At 10 the sharp photos' mean loss went -0.41 -> -0.11 dB
#: (bench-like set) and -2.47 -> -2.10 dB (near-boundary set), sharp photos ending worse
#: 5 -> 2 and 14 -> 6 of 40 (lens discs refused, below, included); no blurred photo became
#: worse than it came. 5 left one badly defocused photo (+1.2 dB) undeblurred; 20 did less.
NO_BLUR_REBLUR = 10.0
#: A kernel estimated smaller than this RMS radius (px) means the photo shows no blur to
#: remove: the Deblur tool then leaves it as it is, because its network sharpens an
#: already sharp photo (haloes; up to −10 dB on the sharp training photos). On the 150
#: training photos above, 11 of the 27 sharp ones fell under it and 6 of the 123 blurred
#: ones (the network gained 0.3 dB on those on average): the mean gains became 2.04 / 2.67 /
#: 2.37 dB, blurred photos ending worse than they came 7 / 0 / 3 -> 5 / 0 / 3, and the worst
#: sharp photo of the bench-like set -3.90 -> -1.39 dB (one sharp training photo, 1.35 px,
#: still loses 10 dB to the network). 0.8–1.2 tried.
SHARP_SPREAD = 1.0


@dataclass(frozen=True)
class ShakeEstimate:
    """``kernel`` (odd square, sums to 1) estimated on the whole crop; ``agreement`` how well
    the halves' kernels agree with it (the least cross-correlation among the whole and the
    two long-side halves, or the third best of the whole's with four halves if that is
    higher; 0 when they were not estimated: a crop too small, a kernel too small to trust
    anyway, or refused by the reblur check); ``spread`` its RMS radius (px); ``reblur`` the
    reblur ratio (NaN without a prior); ``found``: trusted (see the module docstring);
    ``sharp``: the photo was measured and shows no blur (spread under
    :data:`SHARP_SPREAD`, or a reblur ratio over :data:`NO_BLUR_REBLUR`)."""

    kernel: np.ndarray
    agreement: float
    spread: float
    found: bool
    reblur: float = float("nan")
    sharp: bool = False


def _rfft(x: np.ndarray) -> np.ndarray:
    return sfft.rfft2(x, workers=-1)


def _irfft(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return sfft.irfft2(x, s=shape, workers=-1)


def _grad_x(u: np.ndarray) -> np.ndarray:
    return difference(u, 1)


def _grad_y(u: np.ndarray) -> np.ndarray:
    return difference(u, 0)


def _divergence(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Minus the adjoint of the forward differences (circular)."""
    out = difference(px, 1, adjoint=True)
    out += difference(py, 0, adjoint=True)
    return np.negative(out, out=out)


def edgetaper(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` with its outer ``size`` px blended linearly into a box-blurred (circular)
    copy of itself, so that its periodic extension has no jump at the borders."""
    box = np.full((size, size), 1.0 / size**2, np.float32)
    blurred = _irfft(_rfft(image) * otf(box, image.shape), image.shape)
    h, w = image.shape

    def ramp(n: int) -> np.ndarray:
        r = np.ones(n, np.float32)
        edge = np.arange(size, dtype=np.float32) / size
        r[:size], r[-size:] = edge, edge[::-1]
        return r

    weight = np.outer(ramp(h), ramp(w))
    return (weight * image + (1 - weight) * blurred).astype(np.float32)


def l0_restore(blurry: np.ndarray, kernel: np.ndarray, weight: float) -> np.ndarray:
    """``argmin_u |k * u − b|² + weight·|∇u|_0`` by half-quadratic splitting (circular)."""
    shape = blurry.shape
    k = otf(kernel, shape)
    dx = otf(np.array([[0, -1, 1]], np.float32), shape)
    dy = otf(np.array([[0], [-1], [1]], np.float32), shape)
    kb = np.conj(k) * _rfft(blurry)
    kk = np.abs(k) ** 2
    dd = np.abs(dx) ** 2 + np.abs(dy) ** 2
    u = blurry.copy()
    beta = 2.0 * weight
    while beta < BETA_MAX:
        px, py = _grad_x(u), _grad_y(u)
        small = px * px + py * py < weight / beta
        px[small] = 0.0
        py[small] = 0.0
        u = _irfft((kb - beta * _rfft(_divergence(px, py))) / (kk + beta * dd), shape)
        u = u.astype(np.float32, copy=False)
        beta *= BETA_RATE
    return u


def _drop_islands(kernel: np.ndarray) -> np.ndarray:
    """Zero the connected parts (8-neighbour) holding under a tenth of the kernel's mass."""
    labels, count = ndimage.label(kernel > 0, structure=np.ones((3, 3)))
    if count <= 1:
        return kernel
    mass = ndimage.sum(kernel, labels, index=np.arange(1, count + 1))
    keep = np.zeros(count + 1, bool)
    keep[1:] = mass >= 0.1 * mass.sum()
    return kernel * keep[labels]


def _centre_of_mass(kernel: np.ndarray) -> tuple[float, float]:
    """(row, column) of ``kernel``'s centre of mass; its total must be positive."""
    total = kernel.sum()
    yy, xx = np.mgrid[: kernel.shape[0], : kernel.shape[1]]
    return (kernel * yy).sum() / total, (kernel * xx).sum() / total


def _centre(kernel: np.ndarray) -> np.ndarray:
    """``kernel`` shifted (bilinear) so its centre of mass is its middle pixel: a shifted
    kernel deconvolves into a shifted photo."""
    if kernel.sum() <= 0:
        return kernel
    cy, cx = _centre_of_mass(kernel)
    middle = kernel.shape[0] // 2
    return ndimage.shift(kernel, (middle - cy, middle - cx), order=1, mode="constant")


def delta(size: int) -> np.ndarray:
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, size // 2] = 1.0
    return kernel


def estimate_kernel_step(u: np.ndarray, blurry_gx: np.ndarray, blurry_gy: np.ndarray,
                         size: int) -> np.ndarray:
    """The kernel step: ``argmin_k |∇u * k − ∇b|² + γ|k|²`` cropped to ``size`` and cleaned
    (``blurry_g*``: the FFTs of the blurry image's gradients)."""
    ux, uy = _rfft(_grad_x(u)), _rfft(_grad_y(u))
    numerator = np.conj(ux) * blurry_gx + np.conj(uy) * blurry_gy
    full = np.fft.fftshift(_irfft(numerator / (np.abs(ux) ** 2 + np.abs(uy) ** 2 + GAMMA),
                                  u.shape))
    cy, cx, r = u.shape[0] // 2, u.shape[1] // 2, size // 2
    kernel = np.maximum(full[cy - r:cy + r + 1, cx - r:cx + r + 1], 0.0)
    if kernel.max() <= 0:
        return delta(size)
    kernel[kernel < THRESHOLD * kernel.max()] = 0.0
    kernel = np.maximum(_centre(_drop_islands(kernel)), 0.0)
    total = kernel.sum()
    return (kernel / total).astype(np.float32) if total > 0 else delta(size)


def _downscale(image: np.ndarray, factor: float) -> np.ndarray:
    blurred = cv2.GaussianBlur(image, (0, 0), 0.6 * np.sqrt(1 / factor**2 - 1))
    h, w = image.shape
    size = (max(4, round(w * factor)), max(4, round(h * factor)))
    return cv2.resize(blurred, size, interpolation=cv2.INTER_LINEAR)


def _window(shape: tuple[int, ...], size: int) -> int:
    """The kernel size (odd) :func:`estimate_kernel` uses on an image of ``shape`` when asked
    for ``size``: no more than room for it in the image."""
    return max(3, min(size, (min(shape) // 4) * 2 - 1))


def estimate_kernel(grey: np.ndarray, size: int = KERNEL_SIZE,
                    check: Callable[[], None] | None = None, iterations: int = ITERATIONS,
                    fine_iterations: int = ITERATIONS) -> np.ndarray:
    """The blur kernel (odd square, at most ``size`` px, sums to 1) of HxW float ``grey``,
    coarse to fine (see the module docstring), ``iterations`` alternations per scale and
    ``fine_iterations`` at the finest. ``check`` (optional) is called before every
    alternation: a cancel check, it may raise."""
    grey = np.asarray(grey, np.float32)
    size = _window(grey.shape, size)
    low, high = float(grey.min()), float(grey.max())
    grey = (grey - low) / max(high - low, 1e-6)
    grey = edgetaper(grey, size)
    levels, sizes = [grey], [size]
    while True:
        s = int(sizes[-1] * SCALE)
        s += (s + 1) % 2
        if s < 3 or min(levels[-1].shape) * SCALE < 16:
            break
        levels.append(_downscale(levels[-1], SCALE))
        sizes.append(s)
    u = levels[-1].copy()
    kernel = delta(sizes[-1])
    for index in range(len(levels) - 1, -1, -1):
        blurry, ksize = levels[index], sizes[index]
        gx, gy = _rfft(_grad_x(blurry)), _rfft(_grad_y(blurry))
        weight = LAMBDA
        for _ in range(iterations if index else fine_iterations):
            if check is not None:
                check()
            kernel = estimate_kernel_step(u, gx, gy, ksize)
            u = l0_restore(blurry, kernel, weight)
            weight = max(weight * LAMBDA_DECAY, LAMBDA_MIN)
        if index > 0:
            h, w = levels[index - 1].shape
            u = cv2.resize(u, (w, h), interpolation=cv2.INTER_CUBIC)
    return kernel


def spread(kernel: np.ndarray) -> float:
    """RMS radius (px) of ``kernel`` about its centre of mass."""
    total = float(kernel.sum())
    if total <= 0:
        return 0.0
    cy, cx = _centre_of_mass(kernel)
    yy, xx = np.mgrid[: kernel.shape[0], : kernel.shape[1]]
    return float(np.sqrt((kernel * ((yy - cy) ** 2 + (xx - cx) ** 2)).sum() / total))


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two kernels at their best relative shift."""
    c = fftconvolve(a, b[::-1, ::-1], mode="full")
    return float(c.max() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def _grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    return image.mean(axis=2) if image.ndim == 3 else image


def reblur_ratio(kernel: np.ndarray, grey: np.ndarray, prior: np.ndarray) -> float:
    """``|k * p − b|² / |p − b|²`` for the photo ``grey`` (b) and a deblurred estimate of it
    ``prior`` (p), both HxW, away from a kernel-wide border (see :data:`MAX_REBLUR`)."""
    pad = kernel.shape[0]
    if min(grey.shape) <= 4 * pad:
        return float("nan")   # no inside left to compare
    reblurred = fftconvolve(np.pad(prior, pad, mode="reflect"), kernel, mode="same")
    inner = (slice(pad, -pad),) * 2
    fit = float(np.mean((reblurred[pad:-pad, pad:-pad] - grey)[inner] ** 2))
    base = float(np.mean((prior - grey)[inner] ** 2))
    return fit / base if base > 0 else float("inf")


def reblur_on_crop(kernel: np.ndarray, image: np.ndarray, prior: np.ndarray) -> float:
    """:func:`reblur_ratio` of ``kernel`` on the central crop of ``image`` and ``prior``
    (same shape, HxW or HxWxC) that :func:`estimate_shake` works on."""
    side = LARGE_SIDE if image.shape[0] * image.shape[1] > LARGE_PIXELS else MAX_SIDE
    return reblur_ratio(kernel, _grey(central_crop(image, side)),
                        _grey(central_crop(prior, side)))


def _split(grey: np.ndarray, across_long: bool) -> tuple[np.ndarray, np.ndarray]:
    """The two halves of ``grey``, cut across its long side or across its short side."""
    h, w = grey.shape
    if (w >= h) == across_long:
        return grey[:, : w // 2], grey[:, w // 2:]
    return grey[: h // 2], grey[h // 2:]


def _halvable(halves: tuple[np.ndarray, np.ndarray]) -> bool:
    """Are both halves big enough to estimate a kernel on?"""
    return min(min(part.shape) for part in halves) >= MIN_SIDE // 2


class _Stop(Exception):
    """The halves' estimates started ahead are not needed: the whole's kernel was refused."""


def estimate_shake(image: np.ndarray, check: Callable[[], None] | None = None,
                   prior: np.ndarray | None = None) -> ShakeEstimate:
    """Is ``image`` (HxW or HxWxC float in [0, 1]) blurred by one shake kernel, and which?
    Estimated on the central crop of at most :data:`MAX_SIDE` px (:data:`LARGE_SIDE` for
    large photos) and on its halves; ``check`` as for :func:`estimate_kernel`; ``prior``
    (optional, the shape of ``image``): a deblurred estimate of it, for the reblur check."""
    h, w = image.shape[:2]
    large = h * w > LARGE_PIXELS
    side = LARGE_SIDE if large else MAX_SIDE
    cheap = LARGE_ITERATIONS if large else ITERATIONS
    grey = _grey(central_crop(image, side))    # crop first: photos can be huge
    if min(grey.shape) < MIN_SIDE:
        return ShakeEstimate(delta(3), 0.0, 0.0, False)
    size = _window(grey.shape, KERNEL_SIZE)
    halves = _split(grey, across_long=True)
    stop = threading.Event()

    def halves_check() -> None:
        if stop.is_set():
            raise _Stop
        if check is not None:
            check()

    def estimate_part(part: np.ndarray, checked: Callable[[], None] | None = check
                      ) -> np.ndarray:
        return estimate_kernel(part, size, checked, cheap, cheap)

    # The long-side halves' estimates do not depend on the whole's, so they start at once in
    # a second thread (numpy and scipy's FFTs release the GIL): on 2 cores most of their time
    # hides behind the whole's, and they are stopped when the whole's kernel is refused.
    # The results are those of running one after the other.
    with ThreadPoolExecutor(max_workers=2) as pool:
        ahead = (pool.submit(lambda: [estimate_part(part, halves_check) for part in halves])
                 if _halvable(halves) else None)
        try:
            kernel = estimate_kernel(grey, check=check, fine_iterations=cheap)
            radius = spread(kernel)
            small = radius < MIN_SPREAD
            if radius < SHARP_SPREAD or (small and prior is None):
                return ShakeEstimate(kernel, 0.0, radius, False, sharp=radius < SHARP_SPREAD)
            reblur = float("nan")
            # A large kernel that re-blurs too far but not so far as to mean no blur may
            # still be right: see STRONG_AGREEMENT. Its halves must then agree strongly.
            strong = False
            if prior is not None:
                reblur = reblur_ratio(kernel, grey, _grey(central_crop(prior, side)))
                strong = not small and MAX_REBLUR < reblur <= NO_BLUR_REBLUR
                # (NaN, a crop too small to measure it in: a small kernel needs the measure.)
                if ((reblur > MAX_REBLUR and not strong)
                        or (small and not reblur <= SMALL_MAX_REBLUR)):
                    return ShakeEstimate(kernel, 0.0, radius, False, reblur,
                                         sharp=reblur > NO_BLUR_REBLUR)
            if ahead is None:
                return ShakeEstimate(kernel, 0.0, radius, False, reblur)
            first = ahead.result()
        finally:
            stop.set()
        with_whole = [agreement(kernel, part) for part in first]
        agree = min(agreement(first[0], first[1]), *with_whole)
        if strong:
            return ShakeEstimate(kernel, agree, radius, bool(agree >= STRONG_AGREEMENT),
                                 reblur)
        if agree < MIN_AGREEMENT and max(with_whole) >= MIN_AGREEMENT:
            # The other two halves can still make three of four agree with the whole.
            across = _split(grey, across_long=False)
            if _halvable(across):
                with_whole += [agreement(kernel, part) for part in pool.map(estimate_part,
                                                                             across)]
                agree = max(agree, sorted(with_whole)[-MIN_HALVES])
    return ShakeEstimate(kernel, agree, radius, bool(agree >= MIN_AGREEMENT), reblur)
