"""Sharpen: the classic unsharp mask, with Photoshop's three controls.

result = original + amount * weight * (original - gaussian_blur(original, sigma=radius))

``threshold`` is in 0–255 levels, as in Photoshop and GIMP, so numbers users already know
carry over. Instead of their hard on/off cut (which leaves speckles where the detail
hovers around the threshold) the weight ramps from 0 at the threshold to full strength
at 1.5x the threshold; anything at or below the threshold is left exactly alone. The
detail that is compared against the threshold is the largest of the three channels'
differences, and the same weight is used for all three, so an edge is sharpened in every
channel or in none and the sharpening never shifts hues.

Alpha is passed through untouched.
"""

from __future__ import annotations

import cv2
import numpy as np

from editor.engine.progress import Progress
from editor.tools.schema import Param, Tool

# Width of the soft threshold ramp, as a fraction of the threshold.
_RAMP = 0.5


def sharpen(image: np.ndarray, params: dict, progress: Progress) -> np.ndarray:
    """Unsharp-mask an RGB(A) float32 HxWxC image in [0, 1]; returns float32 in [0, 1]
    of the same shape, alpha unchanged."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"sharpen expects an HxWx3 or HxWx4 image, got shape {image.shape}")
    amount = float(params["amount"])
    radius = float(params["radius"])
    threshold = float(params["threshold"]) / 255.0
    progress.set_progress(0.0, "Sharpening")
    if amount == 0.0:
        progress.set_progress(1.0)
        return image.copy()

    rgb = np.ascontiguousarray(image[..., :3])
    progress.check_cancelled()
    # Reflecting the border (cv2's default) keeps the frame edge from being read as an
    # edge and getting a bright/dark rim.
    blurred = cv2.GaussianBlur(rgb, (0, 0), sigmaX=radius, sigmaY=radius,
                               borderType=cv2.BORDER_REFLECT_101)
    progress.set_progress(0.5)

    detail = rgb - blurred
    del blurred
    if threshold > 0.0:
        strength = np.abs(detail).max(axis=2, keepdims=True)
        weight = np.clip((strength - threshold) / (_RAMP * threshold), 0.0, 1.0)
        detail *= weight
        del strength, weight
    progress.check_cancelled()

    out = image.copy()
    out[..., :3] = np.clip(rgb + np.float32(amount) * detail, 0.0, 1.0)
    progress.set_progress(1.0)
    return out


TOOL = Tool(
    id="sharpen",
    label="Sharpen",
    icon="mdi6.image-filter-center-focus",
    help="Unsharp mask: adds contrast along edges.",
    params=(
        Param("amount", float, 1.0, range=(0.0, 5.0), step=0.05, label="Amount",
              help="How much edge contrast is added (0 = none, 1 = 100%)"),
        Param("radius", float, 2.0, range=(0.3, 20.0), step=0.1, decimals=1, suffix=" px",
              label="Radius", help="Width of the edge halo in pixels (Gaussian sigma)"),
        Param("threshold", int, 0, range=(0, 255), step=1, decimals=0, label="Threshold",
              help="Leave detail weaker than this many levels (of 255) alone, "
                   "e.g. skin texture and noise"),
    ),
    run=sharpen,
    preview="full",
    output_suffix="_sharpened",
)
