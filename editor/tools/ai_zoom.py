"""AI zoom ("enhanced loupe"), the Qt-free part: which document region to enhance for a
view, and how a region becomes its upscaled pixels.

Zoomed past 100 %, the canvas magnifies document pixels into blocks. AI zoom instead
renders the visible region through the super-resolution networks at the screen's
resolution (``zoom x device pixel ratio`` output pixels per document pixel), so every
further zoom step brings new, network-made detail: beyond ×4, ×2 passes follow, as in
the Super-resolution tool (:func:`editor.tools.superres.upscale`), which is what gives
the "infinite zoom" feel. Nothing here changes the document; :func:`enhance_layer` makes
the pixels an "Apply AI zoom" command installs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from editor.core.document import Document, Layer
from editor.engine.progress import Progress
from editor.tools.resize import output_size
from editor.tools.superres import ModelSource, resample_to, upscale

BBox = tuple[int, int, int, int]

#: Output pixels one enhanced view may have: a 4K screen; larger views are rendered at a
#: lower factor and the canvas smooths them up the rest of the way.
MAX_VIEW_PIXELS = 8_300_000
#: Real-image context added around the visible region, in screen pixels, so the networks
#: see true neighbours at the view's edges (and a small pan needs no new render) ...
CONTEXT_SCREEN_PX = 48
#: ... but never more than this many document pixels, which at low zoom is plenty.
MAX_CONTEXT_PX = 16


@dataclass(frozen=True)
class ZoomRegion:
    """A document region (x0, y0, x1, y1) and the factor it is enlarged by."""

    bbox: BBox
    factor: float

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the enhanced pixels: each side times ``factor``, rounded
        half up, as the Super-resolution tool rounds."""
        x0, y0, x1, y1 = self.bbox
        return output_size(x1 - x0, y1 - y0, self.factor)


def plan_view(visible: BBox, doc_size: tuple[int, int], screen_factor: float,
              max_pixels: int = MAX_VIEW_PIXELS) -> ZoomRegion | None:
    """The region to enhance for a view showing document rectangle ``visible`` at
    ``screen_factor`` screen pixels per document pixel; None when there is nothing to
    enhance (an empty view, or not magnified)."""
    x0, y0, x1, y1 = visible
    width, height = doc_size
    if x1 <= x0 or y1 <= y0 or not screen_factor > 1.0:
        return None
    margin = min(MAX_CONTEXT_PX, max(1, math.ceil(CONTEXT_SCREEN_PX / screen_factor)))
    bbox = (max(0, x0 - margin), max(0, y0 - margin),
            min(width, x1 + margin), min(height, y1 + margin))
    area = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1])
    factor = min(float(screen_factor), math.sqrt(max_pixels / area))
    return ZoomRegion(bbox, factor) if factor > 1.0 else None


def enhance_view(doc: Document, region: ZoomRegion, *, mode: str = "quality",
                 progress: Progress | None = None, source: ModelSource | None = None,
                 tile: int | None = None) -> np.ndarray:
    """The visible composite inside ``region.bbox``, enlarged through the networks to
    ``region.size``: straight RGBA float32, ready for ``Canvas.show_preview``."""
    pixels = doc.composite(region.bbox)
    return upscale(pixels, region.factor, mode=mode, progress=progress, source=source,
                   tile=tile)


def enhance_layer(layer: Layer, bbox: BBox, factor: float, *, mode: str = "quality",
                  progress: Progress | None = None, source: ModelSource | None = None) -> Layer:
    """``layer`` cropped to ``bbox`` and enlarged by ``factor`` (pixels through the
    networks, the mask by plain antialiased bicubic: a network has no business inventing
    detail in a mask). Same id, name and properties."""
    x0, y0, x1, y1 = bbox
    pixels = upscale(layer.pixels[y0:y1, x0:x1], factor, mode=mode, progress=progress,
                     source=source)
    mask = None
    if layer.mask is not None:
        h, w = pixels.shape[:2]
        mask = np.clip(resample_to(np.ascontiguousarray(layer.mask[y0:y1, x0:x1]), w, h),
                       0.0, 1.0).astype(np.float32)
    return Layer(pixels, layer.name, layer.visible, layer.opacity, layer.blend_mode, mask,
                 layer.mask_enabled, id=layer.id)
