"""Resize: scale the whole image by a factor with a choice of resampling filter.

Pillow's resampler does the work on 32-bit float ("F") planes, one channel at a time.
We use it rather than OpenCV because Pillow widens the filter support by the reduction
factor when shrinking (true antialiasing for every filter), while cv2's cubic/Lanczos
sample a fixed 4x4 / 8x8 neighbourhood and alias on strong reductions. Working in float
keeps 16-bit sources at full precision; cubic and Lanczos ring slightly past the input
range near hard edges, so the result is clipped back to [0, 1].

Alpha is resized premultiplied: averaging straight colours would drag the (invisible)
colour of transparent pixels into the visible edge as a dark or coloured fringe.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from editor.engine.progress import Progress
from editor.tools.schema import Param, Tool

_FILTERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}

#: Refuse results larger than this (an 8x enlargement of a big photo would otherwise try
#: to allocate tens of GB and die with an unhelpful MemoryError halfway through).
MAX_OUTPUT_PIXELS = 500_000_000

# Below this premultiplied alpha the un-premultiplied colour is numerically meaningless,
# so we fall back to the straight-resized colour (it is almost invisible anyway).
_ALPHA_EPS = 1.0 / 4096.0


def output_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """Size (width, height) of the result: each side times ``scale``, rounded half up
    (not Python's banker's rounding, so 5 px x 0.5 gives 3 like 7 px x 0.5 gives 4),
    never smaller than 1 px."""
    return (max(1, int(math.floor(width * scale + 0.5))),
            max(1, int(math.floor(height * scale + 0.5))))


def _resize_plane(plane: np.ndarray, size: tuple[int, int], resample) -> np.ndarray:
    """Resize one HxW float32 plane to ``size`` (width, height)."""
    img = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))  # mode "F"
    return np.asarray(img.resize(size, resample), dtype=np.float32)


def _resize_channels(image: np.ndarray, size: tuple[int, int], resample,
                     progress: Progress, start: float, end: float) -> np.ndarray:
    """Resize every channel of an HxWxC image, reporting progress from start to end."""
    w, h = size
    c = image.shape[2]
    out = np.empty((h, w, c), dtype=np.float32)
    for i in range(c):
        progress.check_cancelled()
        out[..., i] = _resize_plane(image[..., i], size, resample)
        progress.set_progress(start + (end - start) * (i + 1) / c)
    return out


def resize(image: np.ndarray, params: dict, progress: Progress) -> np.ndarray:
    """Resize an RGB(A) float32 HxWxC image in [0, 1] by ``params['scale']`` with filter
    ``params['method']``; returns float32 RGB(A) of :func:`output_size`, clipped to [0, 1]."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"resize expects an HxWx3 or HxWx4 image, got shape {image.shape}")
    h, w, c = image.shape
    size = output_size(w, h, float(params["scale"]))
    if size[0] * size[1] > MAX_OUTPUT_PIXELS:
        raise ValueError(f"scale: the result would be {size[0]}x{size[1]} pixels, more than "
                         f"the {MAX_OUTPUT_PIXELS // 1_000_000} megapixel limit")
    resample = _FILTERS[params["method"]]
    progress.set_progress(0.0, "Resizing")

    if size == (w, h):
        # Pillow returns an untouched copy at the same size; skip the round trip.
        progress.set_progress(1.0)
        return np.clip(image, 0.0, 1.0)

    if c == 3 or bool(np.all(image[..., 3] >= 1.0)):
        # Opaque: premultiplying changes nothing, so resize the channels directly.
        out = _resize_channels(image, size, resample, progress, 0.0, 1.0)
        return np.clip(out, 0.0, 1.0, out=out)

    alpha = image[..., 3:4]
    premultiplied = np.concatenate([image[..., :3] * alpha, alpha], axis=2)
    resized = _resize_channels(premultiplied, size, resample, progress, 0.0, 0.6)
    new_alpha = np.clip(resized[..., 3:4], 0.0, 1.0)
    visible = new_alpha > _ALPHA_EPS
    with np.errstate(divide="ignore", invalid="ignore"):
        rgb = np.where(visible, resized[..., :3] / np.maximum(new_alpha, _ALPHA_EPS), 0.0)
    if not bool(np.all(visible)):
        straight = _resize_channels(image[..., :3], size, resample, progress, 0.6, 1.0)
        rgb = np.where(visible, rgb, straight)
    out = np.concatenate([rgb, new_alpha], axis=2).astype(np.float32, copy=False)
    progress.set_progress(1.0)
    return np.clip(out, 0.0, 1.0, out=out)


TOOL = Tool(
    id="resize",
    label="Resize",
    icon="mdi6.resize",
    help="Scale the whole image up or down by a factor.",
    params=(
        Param("scale", float, 2.0, range=(0.25, 8.0), step=0.05, decimals=2, suffix="×",
              label="Scale", help="Size factor for width and height (0.5 halves, 2 doubles)"),
        Param("method", "choice", "bicubic", label="Method",
              choices=(("bicubic", "Bicubic (smooth)"),
                       ("lanczos", "Lanczos (sharper)"),
                       ("bilinear", "Bilinear (soft)"),
                       ("area", "Area average (box)"),
                       ("nearest", "Nearest neighbour (hard pixels)")),
              help="Resampling filter; every filter is antialiased when shrinking"),
    ),
    run=resize,
    preview="full",
    changes_size=True,
    output_suffix="_resized",
)
