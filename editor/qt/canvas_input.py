"""The canvas's pointer tools without the widget: brush/eraser strokes on a layer mask and
marquee geometry. Qt-free, so the stroke maths is testable and reusable (e.g. by a future
face-region brush); the canvas only feeds it document coordinates.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from editor.core.document import BBox, Document, clip_bbox
from editor.core.history import Command, History, PaintRegion, SetMask

_stroke_ids = itertools.count(1)

#: The per-stroke coverage is tracked in square tiles so a stroke only holds memory for
#: the part of a 24-megapixel mask it touched.
TILE = 256

BRUSH_LABEL = "Mask brush"


def dab_alpha(cx: float, cy: float, size: float, hardness: float) -> tuple[BBox, np.ndarray]:
    """Coverage (0..1, HxW float32) of one round dab centred at document point (cx, cy)
    and the unclipped bbox it covers. Hard part out to ``hardness * radius``, then a
    smoothstep falloff to 0 at the radius; the rim is anti-aliased over one pixel so even a
    hard brush has no jaggies."""
    r = max(float(size), 1.0) / 2.0
    x0, y0 = math.floor(cx - r - 1), math.floor(cy - r - 1)
    x1, y1 = math.ceil(cx + r + 1), math.ceil(cy + r + 1)
    xs = np.arange(x0, x1, dtype=np.float32) + np.float32(0.5 - cx)
    ys = np.arange(y0, y1, dtype=np.float32) + np.float32(0.5 - cy)
    d = np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2)
    alpha = np.clip(np.float32(r + 0.5) - d, 0.0, 1.0)
    hardness = min(max(float(hardness), 0.0), 1.0)
    if hardness < 1.0:
        inner = r * hardness
        t = np.clip((d - inner) / max(r - inner, 1e-6), 0.0, 1.0)
        alpha *= 1.0 - t * t * (3.0 - 2.0 * t)
    return (x0, y0, x1, y1), alpha.astype(np.float32)


class _StrokeCoverage:
    """Per stroke: the mask as it was before the stroke and how far the stroke has moved
    each pixel (the max of its dabs), tile by tile as the stroke reaches them."""

    def __init__(self, mask: np.ndarray) -> None:
        self._mask = mask
        self._tiles: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _tile(self, tx: int, ty: int) -> tuple[np.ndarray, np.ndarray]:
        tile = self._tiles.get((tx, ty))
        if tile is None:
            # First touch of this tile: the mask here is still the pre-stroke mask.
            orig = self._mask[ty * TILE:(ty + 1) * TILE, tx * TILE:(tx + 1) * TILE].copy()
            tile = (orig, np.zeros_like(orig))
            self._tiles[(tx, ty)] = tile
        return tile

    def apply(self, box: BBox, coverage: np.ndarray, target: float) -> np.ndarray:
        """Raise the stroke coverage inside ``box`` to at least ``coverage`` and return the
        new mask values for ``box``: the pre-stroke mask moved toward ``target`` by it."""
        x0, y0, x1, y1 = box
        out = np.empty((y1 - y0, x1 - x0), dtype=np.float32)
        for ty in range(y0 // TILE, (y1 - 1) // TILE + 1):
            for tx in range(x0 // TILE, (x1 - 1) // TILE + 1):
                orig, cov = self._tile(tx, ty)
                ix0, iy0 = max(x0, tx * TILE), max(y0, ty * TILE)
                ix1, iy1 = min(x1, tx * TILE + TILE), min(y1, ty * TILE + TILE)
                t = (slice(iy0 - ty * TILE, iy1 - ty * TILE), slice(ix0 - tx * TILE, ix1 - tx * TILE))
                b = (slice(iy0 - y0, iy1 - y0), slice(ix0 - x0, ix1 - x0))
                np.maximum(cov[t], coverage[b], out=cov[t])
                o = orig[t]
                out[b] = o + (np.float32(target) - o) * cov[t]
        return out


class NewMaskStroke(Command):
    """The all-ones mask a stroke had to create, plus that stroke's dabs: one undo step,
    so Ctrl+Z after the first stroke on a layer leaves it exactly as it was (no mask)."""

    def __init__(self, layer_id: int, width: int, height: int, stroke_id: object) -> None:
        self.label = BRUSH_LABEL
        self.layer_id = layer_id
        self.merge_key = ("stroke", stroke_id)
        self._set_mask = SetMask(layer_id, np.ones((height, width), dtype=np.float32), BRUSH_LABEL)
        self._dabs: list[PaintRegion] = []

    def do(self, doc: Document) -> None:
        self._set_mask.do(doc)
        for dab in self._dabs:  # redo
            dab.do(doc)

    def undo(self, doc: Document) -> None:
        for dab in reversed(self._dabs):
            dab.undo(doc)
        self._set_mask.undo(doc)

    def merge(self, newer: Command) -> bool:
        if not (isinstance(newer, PaintRegion) and newer.layer_id == self.layer_id
                and newer.target == "mask"):
            return False
        self._dabs.append(newer)
        return True

    @property
    def nbytes(self) -> int:
        return self._set_mask.nbytes + sum(d.nbytes for d in self._dabs)


class MaskStroke:
    """One brush (``value`` 1 = reveal) or eraser (``value`` 0 = hide) stroke on a layer's
    mask. Dabs are spaced a quarter of the brush size along the pointer path; ``opacity``
    caps how far this stroke can move any mask pixel, however often it passes over it
    (Photoshop's opacity, as opposed to flow). Every dab is a PaintRegion with this
    stroke's id, so the history folds the stroke into one step."""

    def __init__(self, doc: Document, history: History, layer_id: int, value: float,
                 size: float, hardness: float, opacity: float) -> None:
        self.doc, self.history, self.layer_id = doc, history, layer_id
        self.value = float(value)
        self.size, self.hardness, self.opacity = float(size), float(hardness), float(opacity)
        self.spacing = max(0.5, self.size * 0.25)
        self.stroke_id = ("mask-stroke", next(_stroke_ids))
        self._coverage: _StrokeCoverage | None = None
        self._last: tuple[float, float] | None = None
        self._since_dab = 0.0
        #: Union of every dab box this stroke painted, or None.
        self.changed_bbox: BBox | None = None
        #: True once the stroke has put something on the history (a new mask or a change).
        self.committed = False

    def ensure_mask(self) -> bool:
        """Give the layer its all-ones mask if it has none. Returns True if it was created
        (the caller may then skip re-rendering: an all-ones mask shows the same pixels)."""
        layer = self.doc.layer(self.layer_id)
        if layer.mask is not None:
            return False
        self.history.push(NewMaskStroke(self.layer_id, self.doc.width, self.doc.height,
                                        self.stroke_id))
        self.committed = True
        return True

    def begin(self, x: float, y: float) -> None:
        self._coverage = _StrokeCoverage(self.doc.layer(self.layer_id).mask)
        self._last = (x, y)
        self._since_dab = 0.0
        self._dab(x, y)

    def move_to(self, x: float, y: float) -> None:
        """Lay dabs from the last point to (x, y), carrying the leftover distance so the
        spacing stays even however the pointer events are chopped up."""
        if self._last is None:
            self.begin(x, y)
            return
        lx, ly = self._last
        dist = math.hypot(x - lx, y - ly)
        if dist <= 0.0:
            return
        along = self.spacing - self._since_dab
        while along <= dist:
            f = along / dist
            self._dab(lx + (x - lx) * f, ly + (y - ly) * f)
            along += self.spacing
        self._since_dab = dist - (along - self.spacing)
        self._last = (x, y)

    def finish(self) -> None:
        self.history.end_merge()
        self._coverage = None

    @property
    def last_point(self) -> tuple[float, float] | None:
        return self._last

    def _dab(self, cx: float, cy: float) -> None:
        box, alpha = dab_alpha(cx, cy, self.size, self.hardness)
        clipped = clip_bbox(box, self.doc.width, self.doc.height)
        if clipped is None or self._coverage is None:
            return
        x0, y0, x1, y1 = clipped
        sub = alpha[y0 - box[1]:y1 - box[1], x0 - box[0]:x1 - box[0]]
        if self.opacity != 1.0:
            sub = sub * np.float32(self.opacity)
        new = self._coverage.apply(clipped, sub, self.value)
        cmd = PaintRegion(self.layer_id, "mask", clipped, new, label=BRUSH_LABEL,
                          stroke_id=self.stroke_id)
        self.history.push(cmd)
        self.committed = self.committed or cmd.changed
        self.changed_bbox = clipped if self.changed_bbox is None else (
            min(self.changed_bbox[0], x0), min(self.changed_bbox[1], y0),
            max(self.changed_bbox[2], x1), max(self.changed_bbox[3], y1))


def marquee(start: tuple[float, float], end: tuple[float, float], kind: str, square: bool,
            from_centre: bool, doc_size: tuple[int, int]) -> tuple[float, float, float, float] | None:
    """The selection a marquee drag from ``start`` to ``end`` (document coordinates) makes:
    snapped to whole pixels like Photoshop's marquee, Shift -> square/circle, Alt -> drawn
    from the centre. Rectangles are clipped to the canvas; ellipses keep their shape (the
    mask built from them is clipped anyway). None when it has no area."""
    sx, sy = start
    dx, dy = end[0] - sx, end[1] - sy
    if square:
        side = max(abs(dx), abs(dy))
        dx = math.copysign(side, dx) if dx else side
        dy = math.copysign(side, dy) if dy else side
    if from_centre:
        x0, x1, y0, y1 = sx - dx, sx + dx, sy - dy, sy + dy
    else:
        x0, x1, y0, y1 = sx, sx + dx, sy, sy + dy
    x0, x1 = sorted((round(x0), round(x1)))
    y0, y1 = sorted((round(y0), round(y1)))
    if kind == "rect":
        w, h = doc_size
        x0, x1 = max(0, x0), min(w, x1)
        y0, y1 = max(0, y0), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return (float(x0), float(y0), float(x1), float(y1))


#: The canvas zoom range: 1/64 (a 24 MP photo as a thumbnail) to 64x (retouching pixels).
MIN_ZOOM, MAX_ZOOM = 1.0 / 64.0, 64.0
#: One wheel notch; three notches double the zoom.
WHEEL_STEP = 2.0 ** (1.0 / 3.0)


def wheel_zoom(zoom: float, notches: float, lo: float = MIN_ZOOM, hi: float = MAX_ZOOM) -> float:
    """The zoom after turning the wheel ``notches`` (negative: out), clamped to [lo, hi].
    Passing a power of two lands exactly on it, so 100 % (pixel-exact), 200 %, 50 % ...
    are reachable with the wheel alone."""
    new = min(hi, max(lo, zoom * WHEEL_STEP ** notches))
    a, b = sorted((zoom, new))
    power = 2.0 ** math.floor(math.log2(b))
    return power if a < power < b else new
