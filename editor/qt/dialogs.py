"""Small modal dialogs and message boxes used by the main window.

Every question the app asks goes through a function here, so tests can monkeypatch one
name (``dialogs.ask_save_changes``) instead of driving a modal event loop, and the
wording stays consistent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QMessageBox, QProgressBar, QPushButton, QSpinBox, QWidget)

from editor.core.document import Document
from editor.core.imageio import EXPORT_FORMATS


# -- messages ---------------------------------------------------------------------------
def show_error(parent: QWidget | None, title: str, message: str) -> None:
    """A critical message box with a one-line, human message (never a traceback)."""
    QMessageBox.critical(parent, title, message)


def show_info(parent: QWidget | None, title: str, message: str) -> None:
    QMessageBox.information(parent, title, message)


def ask_open_huge(parent: QWidget | None, path: Path, pixels: int, limit: int) -> bool:
    """Ask before decoding an image beyond the safety limit (decompression bombs and
    accidental 200-megapixel scans both land here)."""
    answer = QMessageBox.question(
        parent, "Very large image",
        f"“{Path(path).name}” has {pixels / 1e6:.0f} megapixels, more than the "
        f"{limit / 1e6:.0f} megapixel safety limit. It may use a lot of memory and be slow.\n\n"
        "Open it anyway?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def ask_save_changes(parent: QWidget | None, name: str) -> str:
    """Returns ``"save"``, ``"discard"`` or ``"cancel"``."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved changes",
                      f"Save the changes to “{name}” as a work file (.ora) before closing?",
                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                      | QMessageBox.StandardButton.Cancel, parent)
    box.setInformativeText("Your edits (layers, masks, history) are lost if you don't save them.")
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    if answer == QMessageBox.StandardButton.Save:
        return "save"
    if answer == QMessageBox.StandardButton.Discard:
        return "discard"
    return "cancel"


def ask_overwrite_original(parent: QWidget | None, path: Path) -> bool:
    """Overwriting the photo the document came from is allowed, but only on an explicit
    yes: it cannot be undone and the original pixels are gone."""
    answer = QMessageBox.warning(
        parent, "Overwrite the original?",
        f"“{Path(path).name}” is the original photo this document was opened from.\n\n"
        "Replace it with the edited, flattened image? This cannot be undone.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Yes


# -- export options ---------------------------------------------------------------------
@dataclass(frozen=True)
class ExportOptions:
    format: str                 # key of imageio.EXPORT_FORMATS: PNG, JPEG, TIFF, WEBP, BMP
    quality: int = 95           # lossy formats (JPEG/WebP)
    bit_depth: int | None = None  # 8 or 16 where the format can store 16 bits, else None


def export_filters() -> list[str]:
    """File dialog filters, one per export format ("PNG (*.png)")."""
    return [f"{info.label} (*{' *'.join(info.extensions)})" for info in EXPORT_FORMATS.values()]


def format_for_filter(name_filter: str) -> str | None:
    for key, info in EXPORT_FORMATS.items():
        if name_filter.startswith(info.label + " ("):
            return key
    return None


class ExportOptionsDialog(QDialog):
    """Quality for lossy formats, bit depth where the format has a choice (default: the
    source's depth, so a 16-bit scan stays 16-bit unless the user asks otherwise).
    The format combo starts at the format of the chosen file name."""

    def __init__(self, fmt: str, default_quality: int, default_bit_depth: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export options")
        layout = QFormLayout(self)
        self.format_combo = QComboBox()
        for key, info in EXPORT_FORMATS.items():
            self.format_combo.addItem(info.label, key)
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(fmt)))
        self.format_combo.setToolTip("File format (the file name's extension follows it)")
        layout.addRow("Format:", self.format_combo)
        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setValue(int(default_quality))
        self.quality_spin.setToolTip("Higher keeps more detail and makes bigger files")
        self.quality_label = QLabel("Quality:")
        layout.addRow(self.quality_label, self.quality_spin)
        self.depth_combo = QComboBox()
        self.depth_combo.addItem("8 bits per channel", 8)
        self.depth_combo.addItem("16 bits per channel", 16)
        self.depth_combo.setCurrentIndex(1 if default_bit_depth >= 16 else 0)
        self.depth_combo.setToolTip("16 bits keep smooth gradients for further editing")
        self.depth_label = QLabel("Bit depth:")
        layout.addRow(self.depth_label, self.depth_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)
        self.format_combo.currentIndexChanged.connect(self._sync_visibility)
        self._sync_visibility()

    def _sync_visibility(self) -> None:
        info = EXPORT_FORMATS[self.format_combo.currentData()]
        for w in (self.quality_label, self.quality_spin):
            w.setVisible(info.lossy)
        for w in (self.depth_label, self.depth_combo):
            w.setVisible(info.supports_16bit)

    def options(self) -> ExportOptions:
        fmt = self.format_combo.currentData()
        info = EXPORT_FORMATS[fmt]
        return ExportOptions(
            format=fmt,
            quality=self.quality_spin.value(),
            bit_depth=self.depth_combo.currentData() if info.supports_16bit else None)


def ask_export_options(parent: QWidget | None, fmt: str, default_quality: int,
                       default_bit_depth: int) -> ExportOptions | None:
    """Options for exporting as ``fmt``; None when cancelled."""
    dlg = ExportOptionsDialog(fmt, default_quality, default_bit_depth, parent)
    if dlg.exec() != QDialog.DialogCode.Accepted:
        return None
    return dlg.options()


# -- compare sources --------------------------------------------------------------------
def compare_source_items(doc: Document) -> list[tuple[str, object]]:
    """("label", source) pairs for the compare combos: the composite, then layers top-first."""
    items: list[tuple[str, object]] = [("Composite (what you see)", "composite")]
    for layer in reversed(doc.layers):
        items.append((f"Layer: {layer.name}", layer.id))
    return items


class CompareSourcesDialog(QDialog):
    """Pick what the before/after compare shows on each side (A = before, B = after)."""

    def __init__(self, doc: Document, a, b, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare sources")
        layout = QFormLayout(self)
        self.a_combo, self.b_combo = QComboBox(), QComboBox()
        for combo, current in ((self.a_combo, a), (self.b_combo, b)):
            for label, source in compare_source_items(doc):
                combo.addItem(label, source)
            combo.setCurrentIndex(max(0, combo.findData(current)))
        self.a_combo.setToolTip("Shown by Before (\\) and on the left of split/side-by-side")
        self.b_combo.setToolTip("Shown on the right of split/side-by-side")
        layout.addRow("A (before):", self.a_combo)
        layout.addRow("B (after):", self.b_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)

    def sources(self) -> tuple[object, object]:
        return self.a_combo.currentData(), self.b_combo.currentData()


def ask_compare_sources(parent: QWidget | None, doc: Document, a, b) -> tuple[object, object] | None:
    dlg = CompareSourcesDialog(doc, a, b, parent)
    if dlg.exec() != QDialog.DialogCode.Accepted:
        return None
    return dlg.sources()


@dataclass
class RunControls:
    """The bottom of a dialog that runs one long job: a progress bar (0–1000), a status
    line, Run / Cancel (disabled until a run starts) and Close."""

    progress_bar: QProgressBar
    status_label: QLabel
    run_button: QPushButton
    cancel_button: QPushButton
    close_button: QPushButton
    buttons: QDialogButtonBox


def run_controls(run_text: str, run_tip: str, cancel_tip: str) -> RunControls:
    from editor.qt.icons import icon

    progress_bar = QProgressBar()
    progress_bar.setRange(0, 1000)
    progress_bar.setValue(0)
    status_label = QLabel("")
    status_label.setWordWrap(True)
    run_button = QPushButton(icon("mdi6.play"), run_text)
    run_button.setToolTip(run_tip)
    cancel_button = QPushButton(icon("mdi6.cancel"), "Cancel")
    cancel_button.setToolTip(cancel_tip)
    cancel_button.setEnabled(False)
    buttons = QDialogButtonBox()
    buttons.addButton(run_button, QDialogButtonBox.ButtonRole.ActionRole)
    buttons.addButton(cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
    close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
    return RunControls(progress_bar, status_label, run_button, cancel_button, close_button,
                       buttons)
