"""Photo distortions for the Retouch network's pre-training ("distort and recover"), and the
fixed hidden looks of the Learn-my-look benchmark.

Why: the 17 FiveK pairs are far too few to teach a network what colour and tone ARE. So
it first learns to undo random, plausible edits of good photos — exposure, contrast, gamma,
white balance, saturation and a tone curve — back to the original: afterwards it knows
how to move colour and tone around without harming a photo, and a small set of real
retouches (Expert C, or a user's own before/after pairs) only has to teach it which way.

Every distortion is a global, smooth, monotone-per-channel (or luma-preserving) map, the
kind of edit a retoucher's curves and sliders make, applied in a random order. Each one
comes with its parameter drawn from a numpy Generator, so a seeded stream gives the same
distortions on every machine.

Pixels: float32 HxWx3 RGB in [0, 1] in and out (clipped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: sRGB-ish display gamma: exposure and white balance act on linear light.
GAMMA = 2.2
#: Rec. 601 luma weights, for saturation.
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class DistortConfig:
    """Ranges of the random distortions. ``count`` distortions are picked per image."""

    exposure_ev: tuple[float, float] = (-1.2, 1.2)
    contrast: tuple[float, float] = (0.6, 1.5)
    gamma: tuple[float, float] = (0.65, 1.5)
    white_balance: tuple[float, float] = (0.75, 1.3)   # red and blue gains (green fixed)
    saturation: tuple[float, float] = (0.35, 1.6)
    curve_strength: tuple[float, float] = (0.0, 0.12)  # control-point displacement
    count: tuple[int, int] = (2, 5)


DEFAULT = DistortConfig()


def _to_linear(image: np.ndarray) -> np.ndarray:
    return np.power(np.clip(image, 0.0, 1.0), GAMMA, dtype=np.float32)


def _from_linear(image: np.ndarray) -> np.ndarray:
    return np.power(np.clip(image, 0.0, 1.0), 1.0 / GAMMA, dtype=np.float32)


def exposure(image: np.ndarray, ev: float) -> np.ndarray:
    """Brighter (ev > 0) or darker, in linear light, as a camera's exposure would be."""
    return _from_linear(_to_linear(image) * np.float32(2.0 ** ev))


def contrast(image: np.ndarray, amount: float) -> np.ndarray:
    """Stretch (> 1) or flatten (< 1) around the image's mean luma."""
    pivot = np.float32(float((image @ LUMA).mean()))
    return (image - pivot) * np.float32(amount) + pivot


def gamma(image: np.ndarray, power: float) -> np.ndarray:
    """Midtones darker (power > 1) or lighter; black and white stay."""
    return np.power(np.clip(image, 0.0, 1.0), np.float32(power), dtype=np.float32)


def white_balance(image: np.ndarray, red: float, blue: float) -> np.ndarray:
    """A colour cast: red and blue gains in linear light, renormalised so the brightest
    channel gain is 1 (a cast should not also be an exposure change that clips)."""
    gains = np.array([red, 1.0, blue], np.float32)
    gains /= gains.max()
    return _from_linear(_to_linear(image) * gains)


def saturation(image: np.ndarray, amount: float) -> np.ndarray:
    """Towards grey (< 1) or more colourful (> 1), keeping luma."""
    luma = (image @ LUMA)[..., None]
    return luma + (image - luma) * np.float32(amount)


def tone_curve(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """A monotone curve through (0, 0), ``points`` (k x 2, increasing) and (1, 1), applied
    to every channel alike (piecewise linear through a 256-entry table)."""
    xs = np.concatenate([[0.0], points[:, 0], [1.0]])
    ys = np.concatenate([[0.0], points[:, 1], [1.0]])
    table = np.interp(np.linspace(0.0, 1.0, 256), xs, ys).astype(np.float32)
    return np.interp(np.clip(image, 0.0, 1.0), np.linspace(0.0, 1.0, 256),
                     table).astype(np.float32)


def random_curve_points(rng: np.random.Generator, strength: float, count: int = 3
                        ) -> np.ndarray:
    """``count`` control points displaced up or down by up to ``strength``, kept
    increasing (so the curve never inverts tones)."""
    xs = np.linspace(0.0, 1.0, count + 2)[1:-1]
    ys = xs + rng.uniform(-strength, strength, count)
    ys = np.maximum.accumulate(np.clip(ys, 0.02, 0.98))
    return np.stack([xs, ys], axis=1)


def distort(image: np.ndarray, rng: np.random.Generator,
            cfg: DistortConfig = DEFAULT) -> tuple[np.ndarray, list[dict]]:
    """A random edit of ``image`` and the list of what was done (for logs and tests)."""
    names = ["exposure", "contrast", "gamma", "white_balance", "saturation", "curve"]
    count = int(rng.integers(cfg.count[0], cfg.count[1] + 1))
    chosen = [names[i] for i in rng.permutation(len(names))[:count]]
    out = np.asarray(image, np.float32)
    done: list[dict] = []
    for name in chosen:
        if name == "exposure":
            ev = float(rng.uniform(*cfg.exposure_ev))
            out, info = exposure(out, ev), {"ev": ev}
        elif name == "contrast":
            amount = float(np.exp(rng.uniform(*np.log(cfg.contrast))))
            out, info = contrast(out, amount), {"amount": amount}
        elif name == "gamma":
            power = float(np.exp(rng.uniform(*np.log(cfg.gamma))))
            out, info = gamma(out, power), {"power": power}
        elif name == "white_balance":
            red, blue = np.exp(rng.uniform(*np.log(cfg.white_balance), 2))
            out, info = white_balance(out, float(red), float(blue)), {"red": float(red),
                                                                      "blue": float(blue)}
        elif name == "saturation":
            amount = float(np.exp(rng.uniform(*np.log(cfg.saturation))))
            out, info = saturation(out, amount), {"amount": amount}
        else:
            points = random_curve_points(rng, float(rng.uniform(*cfg.curve_strength)))
            out, info = tone_curve(out, points), {"points": points.round(4).tolist()}
        out = np.clip(out, 0.0, 1.0)
        done.append({"kind": name, **info})
    return out.astype(np.float32), done


# -- the benchmark's hidden look ---------------------------------------------------------------

#: A fixed "look" for the Learn-my-look round trip: faded blacks and a steep S curve, then
#: a warm colour matrix with cross-talk between channels (rows: output R, G, B; each sums
#: to 1, so grey stays grey before the curve). Strong on purpose: the photos themselves
#: score 21.6 dB against their look (the held-out 8), so 30 dB means it was learnt.
HIDDEN_CURVE = np.array([[0.0, 0.10], [0.25, 0.14], [0.5, 0.50], [0.75, 0.90], [1.0, 0.95]],
                        np.float32)
HIDDEN_MATRIX = np.array([[1.20, -0.05, -0.15],
                          [0.05, 0.90, 0.05],
                          [-0.12, 0.08, 1.04]], np.float32)


def hidden_look(image: np.ndarray) -> np.ndarray:
    """The fixed look: colour matrix, then the tone curve (monotone cubic through
    HIDDEN_CURVE), clipped."""
    mixed = np.clip(np.asarray(image, np.float32) @ HIDDEN_MATRIX.T, 0.0, 1.0)
    xs = np.linspace(0.0, 1.0, 1024)
    table = _monotone_cubic(HIDDEN_CURVE[:, 0], HIDDEN_CURVE[:, 1], xs)
    return np.interp(mixed, xs, table).astype(np.float32)


def _monotone_cubic(xk: np.ndarray, yk: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Fritsch–Carlson monotone cubic interpolation (a smooth curve, no overshoot)."""
    xk, yk = xk.astype(np.float64), yk.astype(np.float64)
    h = np.diff(xk)
    delta = np.diff(yk) / h
    m = np.concatenate([[delta[0]], (delta[:-1] + delta[1:]) / 2, [delta[-1]]])
    for i, d in enumerate(delta):
        if d == 0:
            m[i] = m[i + 1] = 0.0
        else:
            a, b = m[i] / d, m[i + 1] / d
            s = a * a + b * b
            if s > 9:
                t = 3 / np.sqrt(s)
                m[i], m[i + 1] = t * a * d, t * b * d
    idx = np.clip(np.searchsorted(xk, xs) - 1, 0, len(h) - 1)
    t = (xs - xk[idx]) / h[idx]
    h00, h10 = 2 * t ** 3 - 3 * t ** 2 + 1, t ** 3 - 2 * t ** 2 + t
    h01, h11 = -2 * t ** 3 + 3 * t ** 2, t ** 3 - t ** 2
    return h00 * yk[idx] + h10 * h[idx] * m[idx] + h01 * yk[idx + 1] + h11 * h[idx] * m[idx + 1]
