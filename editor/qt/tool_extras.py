"""Small pieces of the generated tool pages: a file-name editor for ``path`` parameters
(Face enhance's reference photo) and the "Sample again" button every tool with an integer
``seed`` parameter gets (a generative tool's result is one sample; a new seed is another).
Its neighbour "Variants…" (several seeds side by side) lives in editor.qt.variant_strip.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QToolButton,
                               QWidget)

from editor.qt.icons import icon
from editor.tools.schema import Param

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;All files (*)"


class PathEditor(QWidget):
    """A line edit with a Browse button and a Clear button; emits the new path (str)."""

    valueChanged = Signal(object)

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self.line = QLineEdit()
        self.line.setPlaceholderText("none")
        self.line.setClearButtonEnabled(True)
        self.browse = QToolButton()
        self.browse.setIcon(icon("mdi6.folder-open-outline"))
        self.browse.setToolTip("Choose a file")
        for w in (self.line, self.browse):
            w.setToolTip(param.help)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.line, 1)
        layout.addWidget(self.browse)
        self._last = ""
        self.line.editingFinished.connect(self._on_edited)
        self.line.textChanged.connect(lambda text: None if text else self._on_edited())
        self.browse.clicked.connect(self._on_browse)

    def value(self) -> str:
        return self.line.text().strip()

    def set_value(self, value: str) -> None:
        with QSignalBlocker(self.line):
            self.line.setText(value or "")
        self._last = self.value()

    def _on_edited(self) -> None:
        if self.value() != self._last:
            self._last = self.value()
            self.valueChanged.emit(self._last)

    def _on_browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.param.display_label, self.value(),
                                              IMAGE_FILTER)
        if path:
            self.set_value(path)
            self._last = ""
            self._on_edited()


SEED_PARAM = "seed"


def seed_param(tool) -> Param | None:
    """The tool's int ``seed`` parameter (what makes it a sampler), or None."""
    return next((p for p in tool.params if p.name == SEED_PARAM and p.kind is int), None)


def button_row(*buttons: QWidget | None) -> QWidget:
    """The given buttons (None ones left out) side by side, left-aligned."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for b in buttons:
        if b is not None:
            layout.addWidget(b)
    layout.addStretch(1)
    return row


def sample_again_button(page) -> QPushButton | None:
    """A "Sample again" button for a ToolPage whose tool has an int ``seed`` parameter
    (None otherwise): it moves the seed on by one, which re-runs the preview."""
    param = seed_param(page.tool)
    if param is None:
        return None
    button = QPushButton(icon("mdi6.dice-multiple-outline"), "Sample again")
    button.setToolTip("Another sample of the model (a new seed); Undo keeps the earlier "
                      "result if you applied it")

    def next_seed() -> None:
        lo, hi = param.range
        seed = int(page.values()[SEED_PARAM]) + 1
        page.set_values({SEED_PARAM: int(lo) if seed > hi else seed})

    button.clicked.connect(next_seed)
    return button
