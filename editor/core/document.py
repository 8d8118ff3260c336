"""The document model: a stack of full-canvas layers, each with an optional mask.

Model owns state; views subscribe. This module is Qt-free: observers are plain callables
receiving a :class:`DocEvent`; the Qt side re-emits them as signals. Mutating methods
here do *not* record history: every user edit goes through a command in
:mod:`editor.core.history`, which calls these methods.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from editor.core.blend import BLEND_MODES, composite_over
from editor.core.meta import ImageMeta

BBox = tuple[int, int, int, int]  # (x0, y0, x1, y1), half-open, in document pixels

_layer_ids = itertools.count(1)

LAYER_PROPERTIES = ("name", "visible", "opacity", "blend_mode", "mask_enabled")


def to_rgba(image: np.ndarray) -> np.ndarray:
    """Return a float32 HxWx4 RGBA copy of a gray (HxW / HxWx1), RGB or RGBA image in [0, 1]."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected HxW, HxWx1, HxWx3 or HxWx4 image, got shape {a.shape}")
    h, w, c = a.shape
    out = np.ones((h, w, 4), dtype=np.float32)
    if c == 1:
        out[..., :3] = a
    else:
        out[..., :c] = a
    return out


def clip_bbox(bbox: BBox, width: int, height: int) -> BBox | None:
    x0, y0, x1, y1 = bbox
    x0, y0 = max(0, int(x0)), max(0, int(y0))
    x1, y1 = min(width, int(x1)), min(height, int(y1))
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


@dataclass(eq=False)
class Layer:
    """One layer: straight-alpha RGBA float32 pixels the size of the canvas, plus an optional
    grayscale mask (1 = show, 0 = hide) that multiplies the layer's alpha."""

    pixels: np.ndarray
    name: str = "Layer"
    visible: bool = True
    opacity: float = 1.0
    blend_mode: str = "normal"
    mask: np.ndarray | None = None
    mask_enabled: bool = True
    id: int = field(default_factory=lambda: next(_layer_ids))

    def __post_init__(self) -> None:
        self.pixels = to_rgba(self.pixels)
        if self.mask is not None:
            self.mask = self._checked_mask(self.mask)
        self.validate_property("opacity", self.opacity)
        self.validate_property("blend_mode", self.blend_mode)

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    def _checked_mask(self, mask: np.ndarray) -> np.ndarray:
        m = np.asarray(mask, dtype=np.float32)
        if m.shape != self.pixels.shape[:2]:
            raise ValueError(f"mask shape {m.shape} does not match layer {self.pixels.shape[:2]}")
        return np.clip(m, 0.0, 1.0)

    @staticmethod
    def validate_property(prop: str, value) -> None:
        if prop not in LAYER_PROPERTIES:
            raise ValueError(f"unknown layer property {prop!r}")
        if prop == "opacity" and not (0.0 <= float(value) <= 1.0):
            raise ValueError(f"opacity must be within [0, 1], got {value!r}")
        if prop == "blend_mode" and value not in BLEND_MODES:
            raise ValueError(f"unknown blend mode {value!r}")
        if prop == "name" and not isinstance(value, str):
            raise ValueError(f"layer name must be text, got {value!r}")

    def effective_alpha(self, bbox: BBox | None = None) -> np.ndarray:
        """Alpha x opacity x mask over ``bbox`` (HxW float32): what actually shows."""
        x0, y0, x1, y1 = bbox or (0, 0, self.width, self.height)
        a = self.pixels[y0:y1, x0:x1, 3] * np.float32(self.opacity)
        if self.mask is not None and self.mask_enabled:
            a = a * self.mask[y0:y1, x0:x1]
        return a

    def copy(self, name: str | None = None) -> "Layer":
        return Layer(self.pixels.copy(), name or self.name, self.visible, self.opacity,
                     self.blend_mode, None if self.mask is None else self.mask.copy(),
                     self.mask_enabled)


@dataclass(frozen=True)
class DocEvent:
    """What changed. ``kind`` is one of: ``structure`` (layers added/removed/moved),
    ``property`` (a layer's name/visibility/opacity/blend/mask flag), ``pixels`` (a layer's
    pixels or mask inside ``bbox``), ``active`` (the selected layer)."""

    kind: str
    layer_id: int | None = None
    bbox: BBox | None = None
    detail: str = ""


class Document:
    """A stack of layers, bottom first. ``meta`` remembers the source file for export."""

    def __init__(self, width: int, height: int, meta: ImageMeta | None = None) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"document size must be positive, got {width}x{height}")
        self.width = int(width)
        self.height = int(height)
        self.meta = meta or ImageMeta()
        self.layers: list[Layer] = []
        self._active_id: int | None = None
        self._observers: list[Callable[[DocEvent], None]] = []

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_image(cls, image: np.ndarray, meta: ImageMeta | None = None,
                   name: str = "Background") -> "Document":
        rgba = to_rgba(image)
        doc = cls(rgba.shape[1], rgba.shape[0], meta)
        doc.insert_layer(Layer(rgba, name), 0)
        return doc

    # -- observers ----------------------------------------------------------------------
    def subscribe(self, callback: Callable[[DocEvent], None]) -> None:
        self._observers.append(callback)

    def unsubscribe(self, callback: Callable[[DocEvent], None]) -> None:
        if callback in self._observers:
            self._observers.remove(callback)

    def _emit(self, event: DocEvent) -> None:
        for cb in list(self._observers):
            cb(event)

    # -- lookup -------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def index_of(self, layer_id: int) -> int:
        for i, layer in enumerate(self.layers):
            if layer.id == layer_id:
                return i
        raise KeyError(f"no layer with id {layer_id}")

    def layer(self, layer_id: int) -> Layer:
        return self.layers[self.index_of(layer_id)]

    @property
    def active_layer(self) -> Layer | None:
        if self._active_id is None:
            return None
        try:
            return self.layer(self._active_id)
        except KeyError:
            return None

    @property
    def active_index(self) -> int:
        layer = self.active_layer
        return -1 if layer is None else self.index_of(layer.id)

    def set_active(self, layer_id: int | None) -> None:
        if layer_id is not None:
            self.index_of(layer_id)  # validates
        if layer_id != self._active_id:
            self._active_id = layer_id
            self._emit(DocEvent("active", layer_id))

    # -- raw mutations (called by history commands) ---------------------------------------
    def insert_layer(self, layer: Layer, index: int) -> None:
        if layer.pixels.shape[:2] != (self.height, self.width):
            raise ValueError(f"layer is {layer.width}x{layer.height}, document is "
                             f"{self.width}x{self.height}")
        if not 0 <= index <= len(self.layers):
            raise ValueError(f"layer index {index} out of range 0..{len(self.layers)}")
        self.layers.insert(index, layer)
        self._active_id = layer.id
        self._emit(DocEvent("structure", layer.id, self.full_bbox))

    def remove_layer(self, layer_id: int) -> tuple[int, Layer]:
        index = self.index_of(layer_id)
        layer = self.layers.pop(index)
        if self._active_id == layer_id:
            self._active_id = (self.layers[min(index, len(self.layers) - 1)].id
                               if self.layers else None)
        self._emit(DocEvent("structure", layer_id, self.full_bbox))
        return index, layer

    def move_layer(self, layer_id: int, new_index: int) -> None:
        if not 0 <= new_index < len(self.layers):
            raise ValueError(f"layer index {new_index} out of range 0..{len(self.layers) - 1}")
        index = self.index_of(layer_id)
        layer = self.layers.pop(index)
        self.layers.insert(new_index, layer)
        self._emit(DocEvent("structure", layer_id, self.full_bbox))

    def set_layer_property(self, layer_id: int, prop: str, value) -> None:
        Layer.validate_property(prop, value)
        layer = self.layer(layer_id)
        if prop == "opacity":
            value = float(value)
        setattr(layer, prop, value)
        self._emit(DocEvent("property", layer_id, self.full_bbox, prop))

    def set_mask(self, layer_id: int, mask: np.ndarray | None) -> None:
        layer = self.layer(layer_id)
        layer.mask = None if mask is None else layer._checked_mask(mask)
        self._emit(DocEvent("pixels", layer_id, self.full_bbox, "mask"))

    def read_region(self, layer_id: int, target: str, bbox: BBox) -> np.ndarray:
        """Copy of a layer's ``pixels`` or ``mask`` inside ``bbox``."""
        layer = self.layer(layer_id)
        x0, y0, x1, y1 = bbox
        arr = layer.pixels if target == "pixels" else layer.mask
        if arr is None:
            raise ValueError(f"layer {layer.name!r} has no mask")
        return arr[y0:y1, x0:x1].copy()

    def write_region(self, layer_id: int, target: str, bbox: BBox, data: np.ndarray) -> None:
        layer = self.layer(layer_id)
        x0, y0, x1, y1 = bbox
        arr = layer.pixels if target == "pixels" else layer.mask
        if arr is None:
            raise ValueError(f"layer {layer.name!r} has no mask")
        arr[y0:y1, x0:x1] = data
        self._emit(DocEvent("pixels", layer_id, bbox, target))

    def replace_content(self, width: int, height: int, layers: list[Layer]) -> None:
        """Swap the whole stack for ``layers`` of a new canvas size (resize/upscale)."""
        for layer in layers:
            if layer.pixels.shape[:2] != (height, width):
                raise ValueError("every layer must match the new canvas size")
        active = self.active_index
        self.width, self.height = int(width), int(height)
        self.layers = list(layers)
        if self.layers:
            self._active_id = self.layers[max(0, min(active, len(self.layers) - 1))].id
        self._emit(DocEvent("structure", None, self.full_bbox, "size"))

    # -- rendering ------------------------------------------------------------------------
    @property
    def full_bbox(self) -> BBox:
        return (0, 0, self.width, self.height)

    def composite(self, bbox: BBox | None = None, layers: list[Layer] | None = None,
                  include_hidden: bool = False) -> np.ndarray:
        """Flatten ``layers`` (default: the visible stack) over a transparent backdrop.
        Returns straight-alpha RGBA float32 for ``bbox``."""
        x0, y0, x1, y1 = bbox or self.full_bbox
        out = np.zeros((y1 - y0, x1 - x0, 4), dtype=np.float32)
        for layer in (self.layers if layers is None else layers):
            if not (layer.visible or include_hidden):
                continue
            alpha = layer.effective_alpha((x0, y0, x1, y1))
            if not out[..., 3].any():
                # Fast path: nothing underneath, so every blend mode reduces to a copy.
                out[..., :3] = layer.pixels[y0:y1, x0:x1, :3]
                out[..., 3] = alpha
                continue
            out = composite_over(out, layer.pixels[y0:y1, x0:x1], alpha, layer.blend_mode)
        return out
