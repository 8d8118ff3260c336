"""Status bar: zoom, cursor position, document size/depth, job progress + Cancel, device."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton, QWidget

from editor.qt.icons import icon


class StatusBar(QStatusBar):
    #: The user pressed Cancel while a job was shown.
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.zoom_label = QLabel("")
        self.zoom_label.setToolTip("Zoom (Ctrl+= in, Ctrl+- out, Ctrl+0 fit, Ctrl+1 100 %)")
        self.cursor_label = QLabel("")
        self.cursor_label.setToolTip("Document pixel under the mouse (x, y)")
        self.doc_label = QLabel("")
        self.doc_label.setToolTip("Document size and the source's bits per channel")
        self.job_label = QLabel("")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setMaximumWidth(180)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setIcon(icon("mdi6.close-circle"))
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Cancel the running operation (Esc)")
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.device_label = QLabel("")
        self.device_label.setToolTip("Where tools run (Edit ▸ Preferences to change)")
        for w in (self.job_label, self.progress_bar, self.cancel_button):
            self.addPermanentWidget(w)
        for w in (self.cursor_label, self.doc_label, self.zoom_label, self.device_label):
            self.addPermanentWidget(w)
        self._job_id: int | None = None
        self.end_job(None)

    def set_zoom(self, factor: float) -> None:
        self.zoom_label.setText(f"{factor * 100:.1f} %" if factor < 0.1 else f"{factor * 100:.0f} %")

    def set_cursor(self, x: int, y: int) -> None:
        self.cursor_label.setText(f"{x}, {y} px")

    def set_document_info(self, width: int | None, height: int | None, bit_depth: int | None) -> None:
        if width is None:
            self.doc_label.setText("")
            self.zoom_label.setText("")
            self.cursor_label.setText("")
        else:
            self.doc_label.setText(f"{width} × {height} px, {bit_depth}-bit")

    def set_device(self, name: str) -> None:
        self.device_label.setText(name)

    # -- job progress -----------------------------------------------------------------------
    @property
    def job_id(self) -> int | None:
        return self._job_id

    def start_job(self, job_id: int, label: str) -> None:
        self._job_id = job_id
        self.job_label.setText(label + "…")
        self.progress_bar.setValue(0)
        for w in (self.job_label, self.progress_bar, self.cancel_button):
            w.setVisible(True)
        self.cancel_button.setEnabled(True)

    def set_progress(self, job_id: int, fraction: float, message: str) -> None:
        if job_id != self._job_id:
            return  # a preview or an older job: the bar belongs to the current apply
        self.progress_bar.setValue(int(round(fraction * 1000)))
        if message:
            self.job_label.setText(message + "…")

    def end_job(self, job_id: int | None) -> None:
        if job_id is not None and job_id != self._job_id:
            return
        self._job_id = None
        for w in (self.job_label, self.progress_bar, self.cancel_button):
            w.setVisible(False)
