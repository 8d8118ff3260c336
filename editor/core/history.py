"""Undo/redo as small command objects that store *diffs* (bbox + old/new pixels).

Qt-free so it is testable without a display; the Qt History panel is a view of
:class:`History`. A slider drag or a brush stroke is one undo step: consecutive commands
with the same ``merge_key`` fold into the first.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from editor.core.document import BBox, Document, Layer, clip_bbox


class Command:
    label = "Edit"
    #: Commands with equal, non-None merge keys pushed back to back become one step.
    merge_key: object | None = None

    def do(self, doc: Document) -> None:
        raise NotImplementedError

    def undo(self, doc: Document) -> None:
        raise NotImplementedError

    def merge(self, newer: "Command") -> bool:
        """Absorb ``newer`` (already applied to the document). Return False to refuse."""
        return False

    @property
    def nbytes(self) -> int:
        """Memory this step holds on to, for the History panel and the tests."""
        return 0


class AddLayer(Command):
    def __init__(self, layer: Layer, index: int, label: str | None = None) -> None:
        self.layer, self.index = layer, index
        self.label = label or f"New layer “{layer.name}”"
        self._previous_active: int | None = None

    def do(self, doc: Document) -> None:
        prev = doc.active_layer
        self._previous_active = prev.id if prev else None
        doc.insert_layer(self.layer, self.index)

    def undo(self, doc: Document) -> None:
        doc.remove_layer(self.layer.id)
        if self._previous_active is not None:
            try:
                doc.set_active(self._previous_active)
            except KeyError:
                pass

    @property
    def nbytes(self) -> int:
        return self.layer.pixels.nbytes + (0 if self.layer.mask is None else self.layer.mask.nbytes)


class RemoveLayer(Command):
    def __init__(self, layer_id: int) -> None:
        self.layer_id = layer_id
        self.label = "Delete layer"
        self._index = -1
        self._layer: Layer | None = None

    def do(self, doc: Document) -> None:
        self._index, self._layer = doc.remove_layer(self.layer_id)
        self.label = f"Delete layer “{self._layer.name}”"

    def undo(self, doc: Document) -> None:
        assert self._layer is not None
        doc.insert_layer(self._layer, self._index)

    @property
    def nbytes(self) -> int:
        return 0 if self._layer is None else self._layer.pixels.nbytes


class MoveLayer(Command):
    def __init__(self, layer_id: int, new_index: int) -> None:
        self.layer_id, self.new_index = layer_id, new_index
        self.label = "Reorder layers"
        self._old_index = -1

    def do(self, doc: Document) -> None:
        self._old_index = doc.index_of(self.layer_id)
        doc.move_layer(self.layer_id, self.new_index)

    def undo(self, doc: Document) -> None:
        doc.move_layer(self.layer_id, self._old_index)


_PROPERTY_LABELS = {"name": "Rename layer", "visible": "Layer visibility", "opacity": "Layer opacity",
                    "blend_mode": "Blend mode", "mask_enabled": "Mask on/off"}


class SetLayerProperty(Command):
    """Change one layer property. Repeated changes of the same property of the same layer
    (an opacity slider being dragged) merge into a single step when ``mergeable``."""

    def __init__(self, layer_id: int, prop: str, value, mergeable: bool = True) -> None:
        Layer.validate_property(prop, value)
        self.layer_id, self.prop, self.value = layer_id, prop, value
        self.label = _PROPERTY_LABELS[prop]
        self.merge_key = ("prop", layer_id, prop) if mergeable else None
        self._old = None

    def do(self, doc: Document) -> None:
        self._old = getattr(doc.layer(self.layer_id), self.prop)
        doc.set_layer_property(self.layer_id, self.prop, self.value)

    def undo(self, doc: Document) -> None:
        doc.set_layer_property(self.layer_id, self.prop, self._old)

    def merge(self, newer: Command) -> bool:
        assert isinstance(newer, SetLayerProperty)
        self.value = newer.value  # keep our _old: the value before the whole drag
        return True


class SetMask(Command):
    """Add (``mask`` array), replace, or remove (``None``) a layer's mask.

    A constant mask ("reveal all", "hide all") is remembered as its value and shape only:
    a reveal-all mask on a 24-megapixel photo would otherwise pin 96 MB per undo step."""

    def __init__(self, layer_id: int, mask: np.ndarray | None, label: str | None = None) -> None:
        self.layer_id = layer_id
        self.label = label or ("Delete mask" if mask is None else "Add mask")
        self._fill: tuple[float, tuple[int, ...]] | None = None
        if mask is not None:
            mask = np.asarray(mask, dtype=np.float32)
            if mask.size and mask.min() == mask.max():
                self._fill, mask = (float(mask.flat[0]), mask.shape), None
        self.mask = mask
        self._old: np.ndarray | None = None

    def _new_mask(self) -> np.ndarray | None:
        if self._fill is not None:
            value, shape = self._fill
            return np.full(shape, value, dtype=np.float32)
        return None if self.mask is None else self.mask.copy()

    def do(self, doc: Document) -> None:
        self._old = doc.layer(self.layer_id).mask
        doc.set_mask(self.layer_id, self._new_mask())

    def undo(self, doc: Document) -> None:
        doc.set_mask(self.layer_id, self._old)

    @property
    def nbytes(self) -> int:
        return sum(0 if m is None else m.nbytes for m in (self.mask, self._old))


def changed_bbox(old: np.ndarray, new: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight (x0, y0, x1, y1) box around the pixels that differ, relative to the arrays."""
    diff = old != new
    if diff.ndim == 3:
        diff = diff.any(axis=2)
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


class PaintRegion(Command):
    """Replace a rectangle of a layer's ``pixels`` or ``mask``; stores only the changed
    rectangle's old and new values. Brush dabs with the same ``stroke_id`` merge into one
    step (their union box is kept as a list of patches, never a full-canvas copy)."""

    def __init__(self, layer_id: int, target: str, bbox: BBox, new: np.ndarray,
                 label: str = "Paint", stroke_id: object | None = None) -> None:
        if target not in ("pixels", "mask"):
            raise ValueError(f"target must be 'pixels' or 'mask', got {target!r}")
        self.layer_id, self.target = layer_id, target
        self.label = label
        self.merge_key = ("stroke", stroke_id) if stroke_id is not None else None
        self._bbox = bbox
        self._new = np.asarray(new, dtype=np.float32)
        # [(bbox, old, new)] in application order; undone in reverse.
        self._patches: list[tuple[BBox, np.ndarray, np.ndarray]] = []

    def do(self, doc: Document) -> None:
        if self._patches:  # redo
            for bbox, _old, new in self._patches:
                doc.write_region(self.layer_id, self.target, bbox, new)
            return
        bbox = clip_bbox(self._bbox, doc.width, doc.height)
        if bbox is None:
            return
        x0, y0, x1, y1 = bbox
        bx, by = x0 - self._bbox[0], y0 - self._bbox[1]
        new = self._new[by:by + (y1 - y0), bx:bx + (x1 - x0)]
        old = doc.read_region(self.layer_id, self.target, bbox)
        tight = changed_bbox(old, new)
        self._new = None  # free the staging copy
        if tight is None:
            return
        tx0, ty0, tx1, ty1 = tight
        box = (x0 + tx0, y0 + ty0, x0 + tx1, y0 + ty1)
        patch_old = old[ty0:ty1, tx0:tx1].copy()
        patch_new = np.array(new[ty0:ty1, tx0:tx1], dtype=np.float32)
        self._patches.append((box, patch_old, patch_new))
        doc.write_region(self.layer_id, self.target, box, patch_new)

    def undo(self, doc: Document) -> None:
        for bbox, old, _new in reversed(self._patches):
            doc.write_region(self.layer_id, self.target, bbox, old)

    def merge(self, newer: Command) -> bool:
        assert isinstance(newer, PaintRegion)
        if newer.layer_id != self.layer_id or newer.target != self.target:
            return False
        self._patches.extend(newer._patches)
        return True

    @property
    def changed(self) -> bool:
        return bool(self._patches)

    @property
    def nbytes(self) -> int:
        return sum(o.nbytes + n.nbytes for _b, o, n in self._patches)


class Macro(Command):
    """Several commands as one undo step (merge down, flatten, apply tool with mask)."""

    def __init__(self, label: str, commands: list[Command]) -> None:
        self.label = label
        self.commands = list(commands)

    def do(self, doc: Document) -> None:
        for c in self.commands:
            c.do(doc)

    def undo(self, doc: Document) -> None:
        for c in reversed(self.commands):
            c.undo(doc)

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.commands)


class History:
    """Linear undo stack. ``index`` counts applied steps; ``entries[:index]`` are undoable."""

    def __init__(self, doc: Document, limit: int = 200) -> None:
        self.doc = doc
        self.limit = limit
        self.entries: list[Command] = []
        self.index = 0
        self.clean_index = 0
        self._observers: list[Callable[[], None]] = []
        self._merge_open = True

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._observers.append(callback)

    def _changed(self) -> None:
        for cb in list(self._observers):
            cb()

    def push(self, cmd: Command) -> Command:
        """Apply ``cmd`` and record it (merging with the previous step when allowed)."""
        cmd.do(self.doc)
        if isinstance(cmd, PaintRegion) and not cmd.changed:
            return cmd
        del self.entries[self.index:]
        if self.clean_index > self.index:
            self.clean_index = -1
        top = self.entries[-1] if self.entries else None
        if (self._merge_open and top is not None and cmd.merge_key is not None
                and top.merge_key == cmd.merge_key and top.merge(cmd)):
            self._changed()
            return top
        self.entries.append(cmd)
        self.index = len(self.entries)
        self._merge_open = True
        if len(self.entries) > self.limit:
            drop = len(self.entries) - self.limit
            del self.entries[:drop]
            self.index -= drop
            self.clean_index -= drop
        self._changed()
        return cmd

    def end_merge(self) -> None:
        """Close the current merge run (slider released, stroke finished)."""
        self._merge_open = False

    @property
    def can_undo(self) -> bool:
        return self.index > 0

    @property
    def can_redo(self) -> bool:
        return self.index < len(self.entries)

    def undo(self) -> None:
        if not self.can_undo:
            return
        self.index -= 1
        self.entries[self.index].undo(self.doc)
        self._merge_open = False
        self._changed()

    def redo(self) -> None:
        if not self.can_redo:
            return
        self.entries[self.index].do(self.doc)
        self.index += 1
        self._merge_open = False
        self._changed()

    def goto(self, index: int) -> None:
        """Undo or redo until ``index`` steps are applied (History panel click)."""
        index = max(0, min(index, len(self.entries)))
        while self.index > index:
            self.undo()
        while self.index < index:
            self.redo()

    @property
    def undo_label(self) -> str:
        return self.entries[self.index - 1].label if self.can_undo else ""

    @property
    def redo_label(self) -> str:
        return self.entries[self.index].label if self.can_redo else ""

    @property
    def is_clean(self) -> bool:
        return self.index == self.clean_index

    def mark_clean(self) -> None:
        self.clean_index = self.index
        self._changed()

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.entries)
