"""MATLAB-compatible bicubic ``imresize`` (antialiased when shrinking), in numpy.

Why not OpenCV or PIL: the super-resolution field makes its low-resolution images with
MATLAB's ``imresize(img, 1/s, 'bicubic')``, and benchmark numbers are only comparable when
training and test inputs come from the same kernel. MATLAB differs from ``cv2.resize``
in three ways that each move PSNR by tenths of a dB: the cubic has a = -0.5 (OpenCV uses
-0.75), shrinking widens the kernel by 1/scale (antialiasing; OpenCV's INTER_CUBIC does
not), and borders are mirrored symmetrically (``x[-1] = x[0]``).

MATLAB's convention, reproduced here (``contributions`` in MATLAB's imresize.m):

* output pixel ``x`` (1-based) maps to input coordinate ``u = x / scale + 0.5 * (1 - 1/scale)``
* when shrinking, the kernel is ``scale * cubic(scale * d)`` and its width ``4 / scale``
* taps ``left = floor(u - width / 2)`` .. ``left + ceil(width) + 1``, weights normalised to
  sum to 1, indices outside the image mirrored, all-zero tap columns dropped
* dimensions resized in order of increasing scale factor (rows first on a tie)

Pixels: float32 HxW or HxWxC (RGB or anything else) in [0, 1]; the result is float32 and
is not clipped (bicubic overshoots slightly at edges, as MATLAB's double output does).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["imresize", "cubic", "contributions"]


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return inner + outer


def contributions(in_length: int, out_length: int, scale: float,
                  antialias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(weights, indices), both ``out_length`` x taps: output i = sum_k w[i,k] * in[idx[i,k]].

    ``indices`` are 0-based and already mirrored into [0, in_length).
    """
    kernel_width = 4.0
    shrink = scale < 1 and antialias
    if shrink:
        kernel_width /= scale
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based
    distance = u[:, None] - indices
    weights = scale * cubic(scale * distance) if shrink else cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    # Symmetric mirror of the 1-based indices (MATLAB: aux = [1:n, n:-1:1]).
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep]


def _resize_axis(image: np.ndarray, axis: int, out_length: int, scale: float) -> np.ndarray:
    weights, indices = contributions(image.shape[axis], out_length, scale)
    moved = np.moveaxis(image, axis, 0)
    # Gather-and-sum over the few taps: O(out * taps) work and memory, where a dense
    # (out x in) matrix would be quadratic in the image size for a 24-megapixel photo.
    out = np.zeros((out_length,) + moved.shape[1:], dtype=np.float64)
    for k in range(weights.shape[1]):
        w = weights[:, k].reshape((-1,) + (1,) * (moved.ndim - 1))
        out += w * moved[indices[:, k]]
    return np.moveaxis(out, 0, axis)


def _output_size(shape: tuple[int, int], scale: float | tuple[float, float] | None,
                 output_shape: tuple[int, int] | None) -> tuple[tuple[float, float],
                                                               tuple[int, int]]:
    if scale is None and output_shape is None:
        raise ValueError("imresize needs scale or output_shape")
    if output_shape is not None:
        oh, ow = (int(v) for v in output_shape)
        if oh < 1 or ow < 1:
            raise ValueError(f"output_shape must be positive, got {output_shape!r}")
        if scale is None:
            # MATLAB derives the scale from the size when only the size is given.
            return (oh / shape[0], ow / shape[1]), (oh, ow)
    assert scale is not None
    sh, sw = (scale, scale) if np.isscalar(scale) else tuple(scale)  # type: ignore[misc]
    if not (sh > 0 and sw > 0 and math.isfinite(sh) and math.isfinite(sw)):
        raise ValueError(f"scale must be positive and finite, got {scale!r}")
    if output_shape is None:
        output_shape = (int(math.ceil(shape[0] * sh)), int(math.ceil(shape[1] * sw)))
    return (float(sh), float(sw)), (int(output_shape[0]), int(output_shape[1]))


def imresize(image: np.ndarray, scale: float | tuple[float, float] | None = None,
             output_shape: tuple[int, int] | None = None, uint8_path: bool = False) -> np.ndarray:
    """Resize ``image`` (HxW or HxWxC float in [0, 1]) like MATLAB ``imresize(.., 'bicubic')``.

    ``scale``: a factor (or (rows, cols) factors); the output is ``ceil(size * scale)``.
    ``output_shape``: (rows, cols); with ``scale`` also given, ``scale`` sets the kernel and
    ``output_shape`` the size (as MATLAB does when both are known).
    ``uint8_path``: round to 1/255 steps between the two passes, as MATLAB does for a uint8
    image (it keeps the class between passes). With it, ``round(255 * imresize(...))`` of a
    uint8-valued image reproduces MATLAB's uint8 result (the benchmarks' LR images) except
    for rare +-1 ties; without it ~10 % of pixels differ by 1.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be HxW or HxWxC, got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"image must be float in [0, 1], got dtype {image.dtype}")
    scales, size = _output_size(image.shape[:2], scale, output_shape)
    result = image.astype(np.float64, copy=False)
    # MATLAB order: the dimension with the smaller factor first (fewer pixels to carry),
    # rows first on a tie (np.argsort is stable).
    passes = [int(a) for a in np.argsort(np.asarray(scales), kind="stable")
              if not (size[a] == result.shape[a] and scales[a] == 1.0)]
    for i, axis in enumerate(passes):
        result = _resize_axis(result, axis, size[axis], scales[axis])
        if uint8_path and i < len(passes) - 1:
            result = np.clip(np.round(result * 255.0), 0.0, 255.0) / 255.0
    return result.astype(np.float32)
