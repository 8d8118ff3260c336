"""Qt adaptor over the Qt-free Document/History: re-emits their callbacks as signals.

Why: the core model must not import PySide6, but widgets want signals they can connect
to (and disconnect from when the document is closed). One QtDocument lives as long as
one open document; the main window swaps it when a file is opened.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from editor.core.document import DocEvent, Document
from editor.core.history import Command, History


class QtDocument(QObject):
    #: A layer was added, removed or moved, or the canvas size changed (layer id or None).
    structureChanged = Signal(object)
    #: A layer property changed: (layer id, property name).
    propertyChanged = Signal(int, str)
    #: A layer's pixels or mask changed: (layer id, bbox tuple, "pixels" | "mask").
    pixelsChanged = Signal(int, object, str)
    #: The active layer changed (layer id or None).
    activeChanged = Signal(object)
    #: Every DocEvent, for listeners that do not care which kind (previews, title).
    docChanged = Signal(object)
    #: The undo stack moved (push, undo, redo, goto, mark clean).
    historyChanged = Signal()

    def __init__(self, doc: Document, history: History | None = None,
                 work_path: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.history = history or History(doc)
        #: The .ora file this document is saved to (None until saved as / opened from .ora).
        self.work_path: Path | None = Path(work_path) if work_path else None
        #: Name shown for documents with no file behind them (pasted from the clipboard).
        self.untitled_name = "Untitled"
        self._attached = True
        doc.subscribe(self._on_doc_event)
        self.history.subscribe(self._on_history)

    def detach(self) -> None:
        """Stop forwarding (the model keeps its observer list; a closed document must not
        keep driving widgets of the next one)."""
        if self._attached:
            self.doc.unsubscribe(self._on_doc_event)
            self._attached = False

    # -- forwarding ---------------------------------------------------------------------
    def _on_doc_event(self, ev: DocEvent) -> None:
        if ev.kind == "structure":
            self.structureChanged.emit(ev.layer_id)
        elif ev.kind == "property" and ev.layer_id is not None:
            self.propertyChanged.emit(ev.layer_id, ev.detail)
        elif ev.kind == "pixels" and ev.layer_id is not None:
            self.pixelsChanged.emit(ev.layer_id, ev.bbox, ev.detail or "pixels")
        elif ev.kind == "active":
            self.activeChanged.emit(ev.layer_id)
        self.docChanged.emit(ev)

    def _on_history(self) -> None:
        if self._attached:
            self.historyChanged.emit()

    # -- convenience ----------------------------------------------------------------------
    def push(self, cmd: Command) -> Command:
        return self.history.push(cmd)

    @property
    def display_name(self) -> str:
        if self.work_path is not None:
            return self.work_path.name
        if self.doc.meta.path is not None:
            return Path(self.doc.meta.path).name
        return self.untitled_name

    @property
    def is_clean(self) -> bool:
        return self.history.is_clean

    @property
    def source_path(self) -> Path | None:
        """The original flat file the pixels came from (export must not overwrite it
        without asking)."""
        return Path(self.doc.meta.path) if self.doc.meta.path else None
