"""Blind detection of lens (defocus) blur and the kernel-aware refinement the Deblur tool
applies on top of its network when the blur is a lens's.

Why. Out-of-focus blur through a round aperture is a disc: one number, its radius, says
everything about it. Its optical transfer function ``2 J1(2π r ρ) / (2π r ρ)`` has rings of
zeros at radii fixed by ``r`` (the first at ρ ≈ 0.61 / r cycles per pixel), and those rings
stay visible in the blurry photo's power spectrum however the scene looks, because a
natural scene's spectrum is smooth across frequency. So the radius can be read off the
spectrum without a network and without a guess about the scene:

1. :func:`radial_log_spectrum`: Welch's average of Hann-windowed 128-px tiles' power
   spectra, averaged over rings of equal frequency, in log.
2. :func:`match_disc`: both that profile and each candidate disc's ``log |OTF|²`` are
   detrended (the scene's smooth fall-off and the disc's envelope removed by a running
   mean), and the radius whose ripple correlates best with the photo's wins. The
   correlation is the confidence.
3. :func:`estimate_defocus` also matches each half of the image on its own. A lens blur is
   the same everywhere; noise, texture, camera shake or a sharp photo give a weak best
   match at radii that disagree between the halves. Only a confident match whose halves
   agree counts as lens blur.

With the radius known, the Deblur tool deconvolves the photo with the disc
(:mod:`editor.core.deconvolution`), the network's own result as the prior (what the photo
should look like where the disc's zeros hide it). The thresholds were
chosen on held-out training images (``train/natural``'s validation split, seeded blurs),
never on the benchmark (see the constants' comments); the benchmark's numbers are in
``models/RESULTS.md``.

numpy/scipy only, Qt- and torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.special import j1

#: Welch tile (px): 128 resolves the first zero ring up to a 16-px radius.
TILE = 128
#: Ring bins over 0–0.5 cycles per pixel.
BINS = 64
#: Frequencies matched: below LOW the scene dominates, above HIGH 8-bit noise and JPEG do.
LOW, HIGH = 0.02, 0.45
#: Running-mean width (bins) of the detrending.
DETREND = 9
#: Candidate radii (px).
RADII = np.arange(1.0, 16.01, 0.25)
#: Smallest correlation that counts as a lens blur, for the whole image and for each half.
#: On 30 validation pairs: defocus scored 0.59–0.94 (radius within 0.25 px when above 0.7),
#: camera shake at most 0.62. On 80 training photos, each sharp, as JPEG 60, and shaken /
#: moved / Gaussian-blurred: at most 0.85 (a straight motion), and no image passed this
#: together with the halves' agreement; 61 of 80 disc blurs did (radius error <= 0.39 px;
#: the misses mostly radii under 3.2 px, whose first zero ring sits in the noise).
MIN_CONFIDENCE = 0.72
MIN_HALF_CONFIDENCE = 0.6
#: The halves' radii must agree within this fraction (or half a pixel).
AGREEMENT = 0.15
#: Estimation looks at the central crop of at most this many px a side (speed; a lens blur
#: is the same everywhere).
MAX_SIDE = 768


@dataclass(frozen=True)
class DefocusEstimate:
    """``radius`` (px) of the best-matching disc and its ``confidence`` (a correlation in
    [-1, 1]); ``halves`` the radii matched on each half; ``found``: a lens blur."""

    radius: float
    confidence: float
    halves: tuple[float, float] | None
    half_confidences: tuple[float, float] | None
    found: bool


def _grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float64)
    return image.mean(axis=2) if image.ndim == 3 else image


def radial_log_spectrum(grey: np.ndarray, tile: int = TILE, bins: int = BINS
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(ring centres in cycles/px, log of the ring-averaged power) of a grey image at least
    ``tile`` px a side (Welch: half-overlapping Hann-windowed tiles)."""
    h, w = grey.shape
    if min(h, w) < tile:
        raise ValueError(f"need at least {tile}x{tile} px, got {w}x{h}")
    window = np.outer(np.hanning(tile), np.hanning(tile))
    power = np.zeros((tile, tile))
    count = 0
    for y in range(0, h - tile + 1, tile // 2):
        for x in range(0, w - tile + 1, tile // 2):
            part = grey[y:y + tile, x:x + tile]
            power += np.abs(np.fft.fft2((part - part.mean()) * window)) ** 2
            count += 1
    power /= count
    f = np.fft.fftfreq(tile)
    rho = np.hypot(*np.meshgrid(f, f)).ravel()
    edges = np.linspace(0.0, 0.5, bins + 1)
    which = np.clip(np.digitize(rho, edges) - 1, 0, bins)  # corners beyond 0.5 -> bin `bins`
    sums = np.bincount(which, weights=power.ravel(), minlength=bins + 1)[:bins]
    counts = np.bincount(which, minlength=bins + 1)[:bins]
    centres = (edges[:-1] + edges[1:]) / 2
    return centres, np.log(sums / np.maximum(counts, 1) + 1e-12)


def disc_otf(rho: np.ndarray, radius: float) -> np.ndarray:
    """The OTF of a uniform disc of ``radius`` px at frequencies ``rho`` (cycles/px)."""
    x = 2.0 * np.pi * radius * np.maximum(rho, 1e-9)
    return 2.0 * j1(x) / x


def _detrend(values: np.ndarray) -> np.ndarray:
    return values - uniform_filter1d(values, DETREND, mode="nearest")


def match_disc(centres: np.ndarray, log_power: np.ndarray, radii: np.ndarray = RADII
               ) -> tuple[float, float]:
    """(radius, correlation) of the disc whose spectral ripple best matches the profile."""
    band = (centres >= LOW) & (centres <= HIGH)
    ripple = _detrend(log_power)[band]
    ripple = ripple - ripple.mean()
    best = (-1.0, float(radii[0]))
    for radius in radii:
        model = _detrend(np.log(disc_otf(centres, radius) ** 2 + 1e-3))[band]
        model = model - model.mean()
        score = float(ripple @ model / math.sqrt((ripple @ ripple) * (model @ model) + 1e-24))
        if score > best[0]:
            best = (score, float(radius))
    return best[1], best[0]


def central_crop(image: np.ndarray, side: int) -> np.ndarray:
    """The central crop of ``image`` (HxW or HxWxC), at most ``side`` px a side."""
    h, w = image.shape[:2]
    ch, cw = min(h, side), min(w, side)
    y, x = (h - ch) // 2, (w - cw) // 2
    return image[y:y + ch, x:x + cw]


def estimate_defocus(image: np.ndarray) -> DefocusEstimate:
    """Is ``image`` (HxW or HxWxC float in [0, 1]) blurred by a lens, and by what radius?
    Images smaller than one tile, or whose halves are, are never called lens-blurred."""
    grey = _grey(central_crop(np.asarray(image), MAX_SIDE))   # crop first: photos can be huge
    h, w = grey.shape
    if min(h, w) < TILE:
        return DefocusEstimate(0.0, 0.0, None, None, False)
    radius, confidence = match_disc(*radial_log_spectrum(grey))
    # Halves across the longer side, so each still holds whole tiles.
    if w >= h:
        parts = (grey[:, : w // 2], grey[:, w // 2:])
    else:
        parts = (grey[: h // 2], grey[h // 2:])
    if min(min(p.shape) for p in parts) < TILE:
        return DefocusEstimate(radius, confidence, None, None, False)
    matched = [match_disc(*radial_log_spectrum(p)) for p in parts]
    halves = (matched[0][0], matched[1][0])
    half_conf = (matched[0][1], matched[1][1])
    agree = all(abs(r - radius) <= max(0.5, AGREEMENT * radius) for r in halves)
    found = (confidence >= MIN_CONFIDENCE and min(half_conf) >= MIN_HALF_CONFIDENCE
             and agree)
    return DefocusEstimate(radius, confidence, halves, half_conf, bool(found))


def disc_coverage(size: int, radius: float, supersample: int = 8) -> np.ndarray:
    """(size, size) float64: the share of each pixel inside a disc of ``radius`` px centred
    on the middle pixel (``supersample``² samples per pixel). The one disc of the project:
    the training and benchmark blurs (``blur_kernels.defocus_disc``) are built from it too,
    so the tool deconvolves with exactly the disc it was checked against."""
    n = supersample
    offsets = (np.arange(n) + 0.5) / n - 0.5
    grid = np.arange(size) - (size - 1) / 2
    ys = (grid[:, None] + offsets[None, :]).reshape(-1)
    inside = (ys[:, None] ** 2 + ys[None, :] ** 2) <= radius ** 2
    return inside.reshape(size, n, size, n).mean(axis=(1, 3))


def disc_kernel(radius: float, supersample: int = 8) -> np.ndarray:
    """A normalised, anti-aliased disc of ``radius`` px, of odd size 2·ceil(r) + 3 (an
    empty pixel ring around it)."""
    if radius <= 0:
        raise ValueError(f"radius must be positive, got {radius}")
    kernel = disc_coverage(2 * math.ceil(radius) + 3, radius, supersample)
    return kernel / kernel.sum()
