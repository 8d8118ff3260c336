"""Face regions panel: detect the faces of the active layer (on the engine thread, with
progress and Cancel), list them with thumbnails, and turn the chosen faces × regions
(whole face, skin, eyes, brows, lips, mouth) into the active layer's mask — one undoable
step, an ordinary mask the retoucher refines with the brush afterwards."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QGridLayout, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from editor.core.history import SetMask
from editor.engine.jobs import Job, JobResult
from editor.qt.icons import icon
from editor.qt.thumbnails import layer_thumbnail

THUMB = 56
#: Regions ticked when the panel first shows (the Remove-makeup default).
DEFAULT_REGIONS = ("face",)


def _region_list() -> tuple[tuple[str, str], ...]:
    from editor.faces.regions import REGIONS

    return tuple(REGIONS)


class FacePanel(QWidget):
    """``host`` gives ``document()``; ``engine`` runs detection; ``status`` shows progress."""

    message = Signal(str)

    def __init__(self, host, engine, status, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._host, self._engine, self._status = host, engine, status
        self._qdoc = None
        self._job: Job | None = None
        self._faces: list = []
        self._shape: tuple[int, int] | None = None

        self.detect_button = QPushButton(icon("mdi6.face-recognition"), "Detect faces")
        self.detect_button.setToolTip("Find the faces in the active layer (68 landmarks each)")
        self.detect_button.clicked.connect(self.detect)
        self.info = QLabel("No faces detected yet.")
        self.info.setWordWrap(True)
        self.faces_list = QListWidget()
        self.faces_list.setIconSize(QSize(THUMB, THUMB))
        self.faces_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.faces_list.setToolTip("Faces found; select the ones the mask should cover "
                                   "(Ctrl/Shift-click for several)")
        self.faces_list.itemSelectionChanged.connect(self._update_state)

        self.region_boxes: dict[str, QCheckBox] = {}
        grid = QGridLayout()
        for i, (key, label) in enumerate(_region_list()):
            box = QCheckBox(label)
            box.setChecked(key in DEFAULT_REGIONS)
            box.setToolTip(f"Include the {label.lower()} of each selected face in the mask")
            box.toggled.connect(self._update_state)
            self.region_boxes[key] = box
            grid.addWidget(box, i // 2, i % 2)

        self.mask_button = QPushButton(icon("mdi6.drama-masks"), "Set as layer mask")
        self.mask_button.setToolTip("Replace the active layer's mask with the selected faces' "
                                    "regions (feathered; undoable)")
        self.mask_button.clicked.connect(self.set_layer_mask)

        top = QHBoxLayout()
        top.addWidget(self.detect_button)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.info)
        layout.addWidget(self.faces_list, 1)
        layout.addWidget(QLabel("Regions:"))
        layout.addLayout(grid)
        layout.addWidget(self.mask_button)
        engine.finished.connect(self._on_job_finished)
        self._update_state()

    # -- document ------------------------------------------------------------------------------
    def set_document(self, qdoc) -> None:
        if self._qdoc is not None:
            try:
                self._qdoc.docChanged.disconnect(self._on_doc_changed)
            except (RuntimeError, TypeError):
                pass
        self.cancel()
        self._qdoc = qdoc
        self._set_faces([], None, "No faces detected yet.")
        if qdoc is not None:
            qdoc.docChanged.connect(self._on_doc_changed)
        self._update_state()

    def _on_doc_changed(self, event) -> None:
        doc = self._qdoc.doc if self._qdoc is not None else None
        if self._faces and doc is not None and (doc.height, doc.width) != self._shape:
            # Landmarks of another image size would land in the wrong place.
            self._set_faces([], None, "The image size changed: detect the faces again.")

    # -- detection -----------------------------------------------------------------------------
    def detect(self) -> Job | None:
        qdoc = self._qdoc
        if qdoc is None or self._job is not None or qdoc.doc.active_layer is None:
            return None
        pixels = qdoc.doc.active_layer.pixels.copy()

        def run(progress):
            from editor.faces import detect_faces

            return detect_faces(pixels, progress=progress)

        job = Job(run, kind="apply", label="Detect faces")
        self._job = job
        self._shape = pixels.shape[:2]
        self._pixels = pixels
        self.info.setText("Detecting faces…")
        self._status.start_job(job.id, "Detecting faces")
        self._engine.submit(job)
        self._update_state()
        return job

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _on_job_finished(self, result: JobResult) -> None:
        if self._job is None or result.job.id != self._job.id:
            return
        self._job = None
        self._status.end_job(result.job.id)
        pixels, self._pixels = self._pixels, None
        if result.cancelled:
            self.info.setText("Face detection cancelled.")
        elif result.error is not None:
            text = str(result.error).strip().splitlines()
            self.info.setText("Face detection failed: " + (text[0] if text else "error"))
            self.message.emit(self.info.text())
        else:
            scan = result.value
            parts = [f"{len(scan.faces)} face{'s' if len(scan.faces) != 1 else ''} found"]
            if scan.too_small:
                parts.append(f"{len(scan.too_small)} too small to use (< 24 px)")
            if not scan.faces and not scan.too_small:
                parts = ["No face found in the active layer"]
            self._set_faces(scan.faces, self._shape, "; ".join(parts) + ".", pixels)
            self.message.emit(self.info.text())
        self._update_state()

    def _set_faces(self, faces, shape, text: str, pixels: np.ndarray | None = None) -> None:
        self._faces = list(faces)
        self._shape = shape
        self.faces_list.clear()
        for i, face in enumerate(self._faces):
            item = QListWidgetItem(f"Face {i + 1}\n{face.size:.0f} px, roll {face.roll:+.0f}°")
            if pixels is not None:
                x0, y0, x1, y1 = (int(round(v)) for v in face.box)
                crop = pixels[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
                if crop.size:
                    item.setIcon(QIcon(layer_thumbnail(crop, THUMB)))
            item.setToolTip(f"Face {i + 1}: box {face.box[0]:.0f},{face.box[1]:.0f} – "
                            f"{face.box[2]:.0f},{face.box[3]:.0f}")
            self.faces_list.addItem(item)
        self.faces_list.selectAll()
        self.info.setText(text)

    # -- mask ------------------------------------------------------------------------------------
    def faces(self) -> list:
        return list(self._faces)

    def selected_faces(self) -> list:
        rows = sorted(self.faces_list.row(i) for i in self.faces_list.selectedItems())
        return [self._faces[r] for r in rows]

    def selected_regions(self) -> list[str]:
        return [k for k, box in self.region_boxes.items() if box.isChecked()]

    def set_layer_mask(self) -> bool:
        qdoc = self._qdoc
        faces, regions = self.selected_faces(), self.selected_regions()
        if qdoc is None or not faces or not regions or qdoc.doc.active_layer is None:
            return False
        from editor.faces import faces_mask

        doc = qdoc.doc
        mask = faces_mask(faces, (doc.height, doc.width), regions)
        labels = dict(_region_list())
        what = ", ".join(labels[r].lower() for r in regions)
        qdoc.push(SetMask(doc.active_layer.id, mask, f"Face mask ({what})"))
        self.message.emit(f"Layer mask set from {len(faces)} face(s): {what}")
        return True

    def _update_state(self) -> None:
        busy = self._job is not None
        self.detect_button.setEnabled(self._qdoc is not None and not busy)
        self.mask_button.setEnabled(bool(self.selected_faces()) and bool(self.selected_regions())
                                    and not busy)
