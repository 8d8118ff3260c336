"""8-bit display caches of a document, each with a mip pyramid, kept current from DocEvents.

The canvas never composites the layer stack while it pans or zooms: it blits from these
caches. A ``pixels`` event re-renders only its bbox (in level 0 and in every mip level
above it); ``structure``/``property`` events mark the whole cache stale. All work is lazy:
events only record what is stale, and :meth:`MipCache.ensure` (called by the canvas at
paint time) does it once, however many events arrived since the last paint.

Qt-free (numpy only) so the tests run without a display; the canvas wraps the arrays in
QImages without copying.
"""

from __future__ import annotations

import math
import weakref
from contextlib import contextmanager
from functools import partial
from typing import Callable, Iterator

import cv2
import numpy as np

from editor.core.document import BBox, Document, DocEvent, clip_bbox

#: Rows rendered per band on a full re-render: bounds the float32 temporaries of
#: ``Document.composite`` (a 24-megapixel stack in one go would need ~400 MB per array).
BAND_ROWS = 256

#: Zoom is clamped to 1/64, so no level beyond 2**-6 is ever drawn.
MAX_LEVEL = 6

#: A level smaller than this on its longest side is not worth another halving.
MIN_LEVEL_SIDE = 8

#: More pending rectangles than this collapse into their union: per-rect overhead would
#: exceed the cost of re-rendering some clean pixels.
MAX_DIRTY_RECTS = 24


def premultiplied_rgba8(rgba: np.ndarray) -> np.ndarray:
    """Float32 straight-alpha RGBA in [0, 1] -> uint8 premultiplied RGBA (rounded).

    Premultiplied because that is what QPainter blends fastest and because averaging
    premultiplied pixels is what makes the mip levels correct at transparent edges.
    OpenCV does the float -> uint8 step in one multi-threaded pass (it is ~40 % of a
    slider preview when done with numpy); opaque images, the common case, skip the
    premultiply entirely."""
    work = np.ascontiguousarray(rgba, dtype=np.float32)
    # convertScaleAbs takes |x|: clamp negatives first (NaN -> 0 as well).
    work = cv2.max(work.reshape(work.shape[0], -1), 0.0)
    out = cv2.convertScaleAbs(work, alpha=255.0).reshape(rgba.shape)
    alpha = out[..., 3]
    if alpha.min() < 255:
        a = alpha[..., None].astype(np.uint16)
        out[..., :3] = ((out[..., :3].astype(np.uint16) * a + 127) // 255).astype(np.uint8)
    return out


def mask_hidden8(mask: np.ndarray) -> np.ndarray:
    """A mask (1 = show) -> uint8 'how much is hidden' (255 = fully hidden), for the overlay."""
    return ((1.0 - np.clip(mask, 0.0, 1.0)) * 255.0 + 0.5).astype(np.uint8)


def render_composite(doc: Document, box: BBox) -> np.ndarray:
    return premultiplied_rgba8(doc.composite(box))


def render_layer(doc: Document, layer_id: int, box: BBox) -> np.ndarray:
    layer = doc.layer(layer_id)
    return premultiplied_rgba8(doc.composite(box, layers=[layer], include_hidden=True))


def render_mask(doc: Document, layer_id: int, box: BBox) -> np.ndarray:
    layer = doc.layer(layer_id)
    x0, y0, x1, y1 = box
    if layer.mask is None:
        return np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    return mask_hidden8(layer.mask[y0:y1, x0:x1])


def level_for_zoom(zoom: float, n_levels: int) -> int:
    """The finest level that is still at least as large as the screen wants: the painter
    then only ever shrinks by a factor in (0.5, 1], where bilinear filtering does not alias."""
    if zoom >= 1.0:
        return 0
    k = int(math.floor(math.log2(1.0 / zoom) + 1e-9))
    return max(0, min(k, n_levels - 1))


def _area(b: BBox) -> int:
    return (b[2] - b[0]) * (b[3] - b[1])


def _union(a: BBox, b: BBox) -> BBox:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _halve(src: np.ndarray, box: BBox) -> np.ndarray:
    """2x2 box average of ``src`` producing the next level's ``box``. At an odd right/bottom
    edge the last source row/column is repeated, so edge pixels are not darkened."""
    x0, y0, x1, y1 = box
    sh, sw = src.shape[:2]
    block = src[2 * y0:min(2 * y1, sh), 2 * x0:min(2 * x1, sw)].astype(np.uint16)
    if block.shape[0] % 2:
        block = np.concatenate([block, block[-1:]], axis=0)
    if block.shape[1] % 2:
        block = np.concatenate([block, block[:, -1:]], axis=1)
    total = block[0::2, 0::2] + block[1::2, 0::2] + block[0::2, 1::2] + block[1::2, 1::2]
    total += 2  # round to nearest
    total >>= 2
    return total.astype(np.uint8)


class MipCache:
    """A uint8 rendering (``channels`` 4: premultiplied RGBA, 1: single channel) of a
    ``width`` x ``height`` image plus its 2x mip pyramid.

    ``render(bbox)`` produces the level-0 pixels of a bbox. Levels are allocated on the
    first :meth:`ensure`; ``levels[k]`` is ``ceil(size / 2**k)`` and always current after
    :meth:`ensure`. ``stats`` counts rendered pixels per level (what the tests check).
    """

    def __init__(self, render: Callable[[BBox], np.ndarray], width: int, height: int,
                 channels: int = 4) -> None:
        if channels not in (1, 4):
            raise ValueError(f"channels must be 1 or 4, got {channels!r}")
        self._render = render
        self.channels = channels
        self.width, self.height = int(width), int(height)
        self.levels: list[np.ndarray] = []
        self._full_dirty = True
        self._dirty: list[BBox] = []
        #: Bumped whenever ``levels`` are reallocated, so views drop array wrappers.
        self.generation = 0
        self.stats = {"full_renders": 0, "rendered_pixels": 0, "updated_rects": []}

    # -- invalidation -------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._full_dirty or bool(self._dirty)

    def invalidate(self, bbox: BBox | None = None) -> None:
        """Mark ``bbox`` (default: everything) stale. Cheap; the work happens in ensure()."""
        if self._full_dirty:
            return
        if bbox is None:
            self._full_dirty = True
            self._dirty.clear()
            return
        box = clip_bbox(bbox, self.width, self.height)
        if box is None:
            return
        if box == (0, 0, self.width, self.height):
            self._full_dirty = True
            self._dirty.clear()
            return
        self._add_dirty(box)

    def _add_dirty(self, box: BBox) -> None:
        # Fold overlapping boxes (consecutive brush dabs) together whenever the union costs
        # no more pixels than the two apart; keep distant ones separate.
        changed = True
        while changed:
            changed = False
            for i, other in enumerate(self._dirty):
                merged = _union(box, other)
                if _area(merged) <= _area(box) + _area(other):
                    box = merged
                    del self._dirty[i]
                    changed = True
                    break
        self._dirty.append(box)
        if len(self._dirty) > MAX_DIRTY_RECTS:
            union = self._dirty[0]
            for other in self._dirty[1:]:
                union = _union(union, other)
            self._dirty = [union]

    def resize(self, width: int, height: int) -> None:
        if (int(width), int(height)) != (self.width, self.height):
            self.width, self.height = int(width), int(height)
            self.levels = []
        self.invalidate()

    # -- work -----------------------------------------------------------------------------
    def ensure(self) -> None:
        """Bring every level up to date (no-op when nothing is stale)."""
        if self._full_dirty or not self.levels:
            self._render_all()
        elif self._dirty:
            pending, self._dirty = self._dirty, []
            for box in pending:
                self._render_box(box)

    def level(self, k: int) -> np.ndarray:
        self.ensure()
        return self.levels[max(0, min(k, len(self.levels) - 1))]

    @property
    def n_levels(self) -> int:
        return len(self.levels) if self.levels else len(self._level_sizes())

    def _level_sizes(self) -> list[tuple[int, int]]:
        sizes = [(self.width, self.height)]
        while len(sizes) <= MAX_LEVEL and max(sizes[-1]) > MIN_LEVEL_SIDE:
            w, h = sizes[-1]
            sizes.append(((w + 1) // 2, (h + 1) // 2))
        return sizes

    def _allocate(self) -> None:
        shape_tail = (self.channels,) if self.channels > 1 else ()
        self.levels = [np.zeros((h, w) + shape_tail, dtype=np.uint8)
                       for w, h in self._level_sizes()]
        self.generation += 1

    def _render_all(self) -> None:
        if not self.levels:
            self._allocate()
        base = self.levels[0]
        for y in range(0, self.height, BAND_ROWS):
            y1 = min(self.height, y + BAND_ROWS)
            base[y:y1] = self._rendered((0, y, self.width, y1))
        for k in range(1, len(self.levels)):
            h, w = self.levels[k].shape[:2]
            self.levels[k][...] = _halve(self.levels[k - 1], (0, 0, w, h))
        self._full_dirty = False
        self._dirty.clear()
        self.stats["full_renders"] += 1

    def _render_box(self, box: BBox) -> None:
        x0, y0, x1, y1 = box
        self.levels[0][y0:y1, x0:x1] = self._rendered(box)
        self.stats["updated_rects"].append(box)
        for k in range(1, len(self.levels)):
            # The parent box of a half-open range: floor the start, ceil the end.
            x0, y0, x1, y1 = x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2
            self.levels[k][y0:y1, x0:x1] = _halve(self.levels[k - 1], (x0, y0, x1, y1))

    def _rendered(self, box: BBox) -> np.ndarray:
        out = self._render(box)
        self.stats["rendered_pixels"] += _area(box)
        if self.channels == 1 and out.ndim == 3:
            out = out[..., 0]
        return out


class DocumentCaches:
    """Every display cache of one document: the composite, single layers (for compare,
    built on first use) and the active layer's mask overlay. Several views of the same
    document (side-by-side compare) share one instance, so each is rendered only once.

    Subscribes to the document through a weak reference: dropping the last view that uses
    it is enough to stop the updates.
    """

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        # Renderers close over the document, never over ``self``: a bound method here
        # would make a cycle (caches -> MipCache -> method -> caches) that keeps a closed
        # 24 MP document's pixels alive until the garbage collector happens to run.
        self.composite = MipCache(partial(render_composite, doc), doc.width, doc.height, 4)
        self._layers: dict[int, MipCache] = {}
        self._mask: MipCache | None = None
        self._mask_layer_id: int | None = None
        self._suppressed: set[int] = set()
        self._size = doc.size

        ref = weakref.ref(self)

        def relay(event: DocEvent) -> None:
            me = ref()
            if me is None:
                doc.unsubscribe(relay)
            else:
                me.on_event(event)

        self._relay = relay
        doc.subscribe(relay)

    def close(self) -> None:
        self.doc.unsubscribe(self._relay)

    # -- sources ----------------------------------------------------------------------------
    def layer(self, layer_id: int) -> MipCache | None:
        """The cache of one layer alone (its opacity and mask applied, even when hidden:
        asking to compare against a layer means wanting to see it), or None if it is gone."""
        try:
            self.doc.index_of(layer_id)
        except KeyError:
            self._layers.pop(layer_id, None)
            return None
        cache = self._layers.get(layer_id)
        if cache is None:
            cache = MipCache(partial(render_layer, self.doc, layer_id),
                             self.doc.width, self.doc.height, 4)
            self._layers[layer_id] = cache
        return cache

    def mask_overlay(self) -> MipCache | None:
        """Single-channel 'hidden amount' of the active layer's mask, or None without one."""
        layer = self.doc.active_layer
        if layer is None or layer.mask is None:
            return None
        if self._mask is None or self._mask_layer_id != layer.id:
            self._mask_layer_id = layer.id
            self._mask = MipCache(partial(render_mask, self.doc, layer.id),
                                  self.doc.width, self.doc.height, 1)
        return self._mask

    @contextmanager
    def unchanged_rendering(self, layer_id: int) -> Iterator[None]:
        """Events about ``layer_id`` inside the block do not change what the composite or the
        layer looks like (e.g. adding an all-ones mask), so they must not cost a full
        re-render. The mask overlay still follows them."""
        self._suppressed.add(layer_id)
        try:
            yield
        finally:
            self._suppressed.discard(layer_id)

    # -- events -----------------------------------------------------------------------------
    def on_event(self, event: DocEvent) -> None:
        if self.doc.size != self._size:
            self._size = self.doc.size
            for cache in self._all():
                cache.resize(*self._size)
        kind = event.kind
        suppressed = event.layer_id in self._suppressed
        if kind == "structure":
            self.composite.invalidate()
            for layer_id in list(self._layers):
                # Layers keep their look when the stack is reordered; replace_content
                # (layer_id None) may have swapped them all.
                if event.layer_id is None or event.layer_id == layer_id:
                    self._layers[layer_id].invalidate()
            self._invalidate_mask(None)
        elif kind == "property":
            if event.detail == "name":
                return  # renaming changes no pixel
            self.composite.invalidate()
            if event.detail != "visible" and event.layer_id in self._layers:
                self._layers[event.layer_id].invalidate()
        elif kind == "pixels":
            if not suppressed:
                if self._affects_composite(event):
                    self.composite.invalidate(event.bbox)
                if event.layer_id in self._layers:
                    self._layers[event.layer_id].invalidate(event.bbox)
            if event.detail == "mask" and event.layer_id == self._mask_layer_id:
                self._invalidate_mask(event.bbox)
        elif kind == "active":
            if event.layer_id != self._mask_layer_id:
                self._invalidate_mask(None)

    def _affects_composite(self, event: DocEvent) -> bool:
        try:
            layer = self.doc.layer(event.layer_id)
        except KeyError:
            return True
        if not layer.visible:
            return False
        return not (event.detail == "mask" and not layer.mask_enabled)

    def _invalidate_mask(self, bbox: BBox | None) -> None:
        if self._mask is not None:
            self._mask.invalidate(bbox)

    def _all(self) -> list[MipCache]:
        caches = [self.composite, *self._layers.values()]
        if self._mask is not None:
            caches.append(self._mask)
        return caches
