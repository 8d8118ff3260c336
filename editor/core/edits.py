"""Ready-made undoable edits for the layer stack (built from history commands).

The Qt layer panel and menus call these; they are Qt-free so the tests cover them
without a display. Each returns a :class:`Command` to push on a :class:`History`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from editor.core.document import Document, Layer
from editor.core.history import (AddLayer, Command, Macro, PaintRegion, RemoveLayer,
                                 SetMask)


def duplicate_layer(doc: Document, layer_id: int) -> Command:
    src = doc.layer(layer_id)
    return AddLayer(src.copy(f"{src.name} copy"), doc.index_of(layer_id) + 1, "Duplicate layer")


def new_layer_from_image(doc: Document, image: np.ndarray, name: str,
                         above_layer_id: int | None = None, mask: np.ndarray | None = None,
                         label: str | None = None) -> Command:
    """A tool's result as a new layer above ``above_layer_id`` (default: on top), confined
    by ``mask`` when given. This is how every tool lands: nothing destructive."""
    index = len(doc.layers) if above_layer_id is None else doc.index_of(above_layer_id) + 1
    layer = Layer(image, name, mask=None if mask is None else np.array(mask, dtype=np.float32))
    return AddLayer(layer, index, label or name)


def merge_down(doc: Document, layer_id: int) -> Command:
    """Composite a layer into the one below it (the lower layer's mask is baked in first,
    so what the user sees does not change)."""
    index = doc.index_of(layer_id)
    if index == 0:
        raise ValueError("the bottom layer has nothing below to merge into")
    upper, lower = doc.layers[index], doc.layers[index - 1]
    # The lower layer keeps its opacity and blend mode; its mask is baked into its alpha.
    base = Layer(lower.pixels.copy(), lower.name)
    if lower.mask is not None and lower.mask_enabled:
        base.pixels[..., 3] *= lower.mask
    merged = doc.composite(layers=[base, upper]) if upper.visible else base.pixels
    commands: list[Command] = [PaintRegion(lower.id, "pixels", doc.full_bbox, merged, "Merge down")]
    if lower.mask is not None:
        commands.append(SetMask(lower.id, None))
    commands.append(RemoveLayer(upper.id))
    return Macro(f"Merge “{upper.name}” down", commands)


def flatten(doc: Document) -> Command:
    """Replace the visible stack by one opaque-where-painted layer (hidden layers are
    discarded, as in Photoshop)."""
    flat = doc.composite()
    bottom = doc.layers[0]
    commands: list[Command] = [RemoveLayer(l.id) for l in reversed(doc.layers)]
    commands.append(AddLayer(Layer(flat, bottom.name if len(doc.layers) == 1 else "Flattened"), 0))
    return Macro("Flatten image", commands)


class ResampleDocument(Command):
    """Change the canvas size by resampling every layer and mask with ``resample``
    (``fn(HxWxC float32) -> H'xW'xC``), or install ``new_layers`` computed elsewhere (the
    engine thread does the slow part). Stores the old stack: a size change has no
    smaller diff."""

    def __init__(self, resample: Callable[[np.ndarray], np.ndarray] | None = None,
                 label: str = "Resize image", new_layers: list[Layer] | None = None) -> None:
        if resample is None and not new_layers:
            raise ValueError("ResampleDocument needs a resample function or the new layers")
        self.resample, self.label = resample, label
        self._new_layers = new_layers
        self._old: tuple[int, int, list[Layer]] | None = None

    def do(self, doc: Document) -> None:
        self._old = (doc.width, doc.height, list(doc.layers))
        if self._new_layers is None:
            self._new_layers = [self._resampled(layer) for layer in doc.layers]
        h, w = self._new_layers[0].pixels.shape[:2]
        doc.replace_content(w, h, self._new_layers)

    def _resampled(self, layer: Layer) -> Layer:
        pixels = np.clip(self.resample(layer.pixels), 0.0, 1.0)
        mask = None
        if layer.mask is not None:
            mask = np.clip(self.resample(np.repeat(layer.mask[..., None], 3, axis=2))[..., 0], 0, 1)
        return Layer(pixels, layer.name, layer.visible, layer.opacity, layer.blend_mode,
                     mask, layer.mask_enabled, id=layer.id)

    def undo(self, doc: Document) -> None:
        assert self._old is not None
        w, h, layers = self._old
        doc.replace_content(w, h, layers)

    @property
    def nbytes(self) -> int:
        layers = (self._old[2] if self._old else []) + (self._new_layers or [])
        return sum(l.pixels.nbytes + (0 if l.mask is None else l.mask.nbytes) for l in layers)


def mask_from_shape(width: int, height: int, shape: str, bbox: tuple[float, float, float, float],
                    feather: float = 0.0) -> np.ndarray:
    """A canvas-sized mask, 1 inside a rectangle or ellipse (``bbox`` in document pixels,
    anti-aliased by pixel-centre sampling, optionally feathered by ``feather`` px)."""
    x0, y0, x1, y1 = bbox
    if shape not in ("rect", "ellipse"):
        raise ValueError(f"shape must be 'rect' or 'ellipse', got {shape!r}")
    ys = np.arange(height, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(width, dtype=np.float32)[None, :] + 0.5
    if shape == "rect":
        # Signed distance to the rectangle edge, negative inside.
        dx = np.maximum(x0 - xs, xs - x1)
        dy = np.maximum(y0 - ys, ys - y1)
        dist = np.maximum(dx, dy)
    else:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        rx, ry = max((x1 - x0) / 2, 1e-3), max((y1 - y0) / 2, 1e-3)
        r = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
        dist = (r - 1.0) * min(rx, ry)
    soft = max(float(feather), 0.5)
    return np.clip(0.5 - dist / (2 * soft), 0.0, 1.0).astype(np.float32)
