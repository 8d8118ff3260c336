"""Layer menu commands (new, duplicate, delete, reorder, merge, flatten, masks).

Each one builds a History command from :mod:`editor.core.edits`/`history` and pushes it,
so every layer change is one undo step. Refusals (nothing below to merge into, deleting
the last layer) become a status-bar message, not an exception.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject

from editor.core.document import Layer
from editor.core.edits import duplicate_layer, flatten, mask_from_shape, merge_down
from editor.core.history import AddLayer, MoveLayer, RemoveLayer, SetLayerProperty, SetMask


class LayerOps(QObject):
    """``window`` provides ``document()``, ``selection()`` and ``show_message(text)``."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self._w = window

    def _active(self):
        qdoc = self._w.document()
        if qdoc is None or qdoc.doc.active_layer is None:
            return None, None
        return qdoc, qdoc.doc.active_layer

    def new_layer(self) -> None:
        qdoc = self._w.document()
        if qdoc is None:
            return
        doc = qdoc.doc
        names = {l.name for l in doc.layers}
        n = len(doc.layers)
        while f"Layer {n}" in names:
            n += 1
        layer = Layer(np.zeros((doc.height, doc.width, 4), dtype=np.float32), f"Layer {n}")
        # New layers go right above the active one, as in Photoshop/Krita.
        qdoc.push(AddLayer(layer, doc.active_index + 1 if doc.active_layer else len(doc.layers)))

    def duplicate(self) -> None:
        qdoc, layer = self._active()
        if layer is not None:
            qdoc.push(duplicate_layer(qdoc.doc, layer.id))

    def delete(self) -> None:
        qdoc, layer = self._active()
        if layer is None:
            return
        if len(qdoc.doc.layers) == 1:
            # An empty stack has nothing to show, export or preview on.
            self._w.show_message("The last layer cannot be deleted")
            return
        qdoc.push(RemoveLayer(layer.id))

    def move(self, delta: int) -> None:
        """Move the active layer ``delta`` steps up (+) or down (-) the stack."""
        qdoc, layer = self._active()
        if layer is None:
            return
        target = qdoc.doc.index_of(layer.id) + delta
        if 0 <= target < len(qdoc.doc.layers):
            qdoc.push(MoveLayer(layer.id, target))

    def move_up(self) -> None:
        self.move(+1)

    def move_down(self) -> None:
        self.move(-1)

    def merge_down(self) -> None:
        qdoc, layer = self._active()
        if layer is None:
            return
        if qdoc.doc.index_of(layer.id) == 0:
            self._w.show_message("Nothing below this layer to merge into")
            return
        qdoc.push(merge_down(qdoc.doc, layer.id))

    def flatten(self) -> None:
        qdoc = self._w.document()
        if qdoc is not None and qdoc.doc.layers:
            qdoc.push(flatten(qdoc.doc))

    # -- masks ----------------------------------------------------------------------------------
    def add_mask(self) -> None:
        """Reveal-all mask (white): nothing changes on screen until the user paints."""
        qdoc, layer = self._active()
        if layer is None:
            return
        if layer.mask is not None:
            self._w.show_message(f"“{layer.name}” already has a mask")
            return
        doc = qdoc.doc
        qdoc.push(SetMask(layer.id, np.ones((doc.height, doc.width), dtype=np.float32),
                          "Add mask"))

    def mask_from_selection(self) -> None:
        qdoc, layer = self._active()
        if layer is None:
            return
        selection = self._w.selection()
        if selection is None:
            self._w.show_message("Make a rectangle or ellipse selection first (M, L)")
            return
        shape, box = selection
        doc = qdoc.doc
        qdoc.push(SetMask(layer.id, mask_from_shape(doc.width, doc.height, shape, box),
                          "Mask from selection"))

    def delete_mask(self) -> None:
        qdoc, layer = self._active()
        if layer is not None and layer.mask is not None:
            qdoc.push(SetMask(layer.id, None, "Delete mask"))

    def toggle_mask(self) -> None:
        qdoc, layer = self._active()
        if layer is not None and layer.mask is not None:
            qdoc.push(SetLayerProperty(layer.id, "mask_enabled", not layer.mask_enabled,
                                       mergeable=False))
