"""History panel: every step since the document was opened; click one to go back to it.

Row 0 is the opened document ("Open"); row i is the state after i steps. Steps beyond
the current one stay listed (greyed) until a new edit discards them, as in Photoshop.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from editor.qt.icons import icon
from editor.qt.qt_document import QtDocument


def format_bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


class HistoryPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._qdoc: QtDocument | None = None
        self._labels: list[str] = []
        self.list = QListWidget()
        self.list.setToolTip("Click a step to go back (or forward) to it")
        self.memory_label = QLabel("")
        self.memory_label.setToolTip("Memory the undo history holds on to")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.memory_label)
        self.list.currentRowChanged.connect(self._on_row_changed)
        self._sync()

    def set_document(self, qdoc: QtDocument | None) -> None:
        if self._qdoc is not None:
            self._qdoc.historyChanged.disconnect(self._sync)
        self._qdoc = qdoc
        if qdoc is not None:
            qdoc.historyChanged.connect(self._sync)
        self._labels = []
        self._sync()

    def _sync(self) -> None:
        with QSignalBlocker(self.list):
            if self._qdoc is None:
                self.list.clear()
                self._labels = []
                self.memory_label.setText("")
                return
            history = self._qdoc.history
            labels = ["Open"] + [c.label for c in history.entries]
            # Rebuild only when the steps changed (a slider drag merges into the top step
            # many times a second; only its highlight/memory need refreshing then).
            if labels != self._labels:
                self.list.clear()
                for i, text in enumerate(labels):
                    item = QListWidgetItem(icon("mdi6.file-image") if i == 0 else icon("mdi6.history"),
                                           text)
                    self.list.addItem(item)
                self._labels = labels
            for i in range(self.list.count()):
                item = self.list.item(i)
                font = item.font()
                font.setItalic(i > history.index)  # undone steps, redoable
                item.setFont(font)
                item.setForeground(self.palette().mid() if i > history.index
                                   else self.palette().text())
            self.list.setCurrentRow(history.index)
            self.memory_label.setText(f"{len(history.entries)} steps, "
                                      f"{format_bytes(history.nbytes)}")

    def _on_row_changed(self, row: int) -> None:
        if self._qdoc is not None and row >= 0 and row != self._qdoc.history.index:
            self._qdoc.history.goto(row)
