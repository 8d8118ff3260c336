"""Opening, pasting, saving work files (.ora) and exporting flat images.

Rules a retoucher relies on:
- A failed open leaves the current document exactly as it was.
- Ctrl+S only ever writes a layered .ora work file; a flat format never replaces the
  photo the document came from unless Export As is pointed at it AND the user confirms.
- Unsaved edits are never dropped without asking.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QFileDialog

from editor.core.document import Document
from editor.core.edits import new_layer_from_image
from editor.core.imageio import (EXPORT_FORMATS, OPEN_EXTENSIONS, ImageIOError,
                                 ImageTooLargeError, format_for_path, load_image, save_image)
from editor.core.ora import load_ora, save_ora
from editor.qt import dialogs
from editor.qt.dialogs import ExportOptions

WORK_SUFFIX = ".ora"


def open_filter() -> str:
    images = " ".join(f"*{e}" for e in (*OPEN_EXTENSIONS, WORK_SUFFIX))
    return (f"Images and work files ({images});;Restora work files (*{WORK_SUFFIX});;"
            "All files (*)")


def is_openable(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in (*OPEN_EXTENSIONS, WORK_SUFFIX)


def qimage_to_rgba(image: QImage) -> np.ndarray:
    """A QImage (clipboard, drag and drop) as float32 RGBA HxWx4 in [0, 1], straight alpha.
    Deep (16-bit) images keep their precision."""
    deep = image.depth() > 32
    fmt = QImage.Format.Format_RGBA64 if deep else QImage.Format.Format_RGBA8888
    img = image.convertToFormat(fmt)
    dtype, scale = (np.uint16, 65535.0) if deep else (np.uint8, 255.0)
    h, w = img.height(), img.width()
    itemsize = np.dtype(dtype).itemsize
    # Rows may be padded: read bytesPerLine-wide rows, then keep the w*4 real values.
    buf = np.frombuffer(img.constBits(), dtype=dtype, count=img.sizeInBytes() // itemsize)
    rows = buf.reshape(h, img.bytesPerLine() // itemsize)[:, : w * 4]
    return (rows.reshape(h, w, 4).astype(np.float32) / np.float32(scale))


def place_on_canvas(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre ``image`` on a transparent width x height canvas, cropping what sticks out
    (layers are always the size of the document)."""
    out = np.zeros((height, width, 4), dtype=np.float32)
    h, w = image.shape[:2]
    ox, oy = (width - w) // 2, (height - h) // 2
    dx0, dy0 = max(0, ox), max(0, oy)
    dx1, dy1 = min(width, ox + w), min(height, oy + h)
    if dx1 > dx0 and dy1 > dy0:
        out[dy0:dy1, dx0:dx1] = image[dy0 - oy:dy1 - oy, dx0 - ox:dx1 - ox]
    return out


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # the target does not exist yet
        return Path(a).resolve() == Path(b).resolve()


@contextmanager
def wait_cursor():
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QApplication.restoreOverrideCursor()


class FileOps(QObject):
    """File commands of one main window. ``window`` provides ``document()``,
    ``set_document(doc, work_path)``, ``settings`` and ``show_message(text)``."""

    recentChanged = Signal()

    def __init__(self, window) -> None:
        super().__init__(window)
        self._w = window

    @property
    def _settings(self):
        return self._w.settings

    # -- open ---------------------------------------------------------------------------------
    def open_dialog(self) -> bool:
        start = self._settings.get("files/last_open_dir")
        path, _ = QFileDialog.getOpenFileName(self._w, "Open", start, open_filter())
        return bool(path) and self.open_path(path)

    def open_path(self, path: str | os.PathLike) -> bool:
        """Open ``path`` in this window (after offering to save the current document).
        On any failure the current document is left as it was."""
        path = Path(path)
        if not self.maybe_save():
            return False
        doc = self.load_document(path)
        if doc is None:
            return False
        self._w.set_document(doc, work_path=path if path.suffix.lower() == WORK_SUFFIX else None)
        self._settings.set("files/last_open_dir", str(path.parent))
        self._settings.add_recent(path)
        self.recentChanged.emit()
        self._w.show_message(f"Opened {path.name}")
        return True

    def load_document(self, path: Path) -> Document | None:
        """Read ``path`` into a new Document, or report why not (None)."""
        try:
            with wait_cursor():
                if path.suffix.lower() == WORK_SUFFIX:
                    return load_ora(path)
                try:
                    image, meta = load_image(path)
                except ImageTooLargeError as too_big:
                    image = None
                    pixels, limit = too_big.pixels, too_big.limit
            if image is None:
                # Asked outside the wait cursor: the question needs a normal pointer.
                if not dialogs.ask_open_huge(self._w, path, pixels, limit):
                    return None
                with wait_cursor():
                    image, meta = load_image(path, allow_huge=True)
            return Document.from_image(image, meta)
        except ImageIOError as error:
            dialogs.show_error(self._w, "Cannot open", str(error))
        except MemoryError:
            dialogs.show_error(self._w, "Cannot open",
                               f'Cannot open "{path.name}": not enough memory.')
        except Exception as error:  # noqa: BLE001 - a broken work file must not crash the app
            dialogs.show_error(self._w, "Cannot open", f'Cannot open "{path.name}": {error}')
        return None

    def open_recent(self, path: str) -> bool:
        if not Path(path).exists():
            self._settings.remove_recent(path)
            self.recentChanged.emit()
            dialogs.show_info(self._w, "File not found",
                              f"“{Path(path).name}” no longer exists at {Path(path).parent}; "
                              "it was removed from the recent files.")
            return False
        return self.open_path(path)

    def prune_recent(self) -> list[str]:
        """Drop recent entries whose files are gone; returns the names removed."""
        gone = [p for p in self._settings.recent_files() if not Path(p).exists()]
        for p in gone:
            self._settings.remove_recent(p)
        if gone:
            self.recentChanged.emit()
        return [Path(p).name for p in gone]

    # -- clipboard ------------------------------------------------------------------------------
    def paste(self, as_new_document: bool = False) -> bool:
        """Clipboard image -> new layer (document open) or new document."""
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self._w.show_message("The clipboard holds no image")
            return False
        rgba = qimage_to_rgba(image)
        qdoc = self._w.document()
        if qdoc is None or as_new_document:
            if not self.maybe_save():
                return False
            self._w.set_document(Document.from_image(rgba, name="Pasted"), work_path=None)
            return True
        doc = qdoc.doc
        layer_pixels = place_on_canvas(rgba, doc.width, doc.height)
        active = doc.active_layer
        qdoc.push(new_layer_from_image(doc, layer_pixels, "Pasted",
                                       above_layer_id=active.id if active else None,
                                       label="Paste as layer"))
        return True

    # -- unsaved changes ----------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """True when it is fine to drop the current document (clean, saved, or the user
        chose Discard)."""
        qdoc = self._w.document()
        if qdoc is None or qdoc.is_clean:
            return True
        answer = dialogs.ask_save_changes(self._w, qdoc.display_name)
        if answer == "save":
            return self.save_work()
        return answer == "discard"

    # -- work files (.ora) --------------------------------------------------------------------
    def save_work(self) -> bool:
        qdoc = self._w.document()
        if qdoc is None:
            return False
        if qdoc.work_path is not None:
            return self.write_work(qdoc.work_path)
        return self.save_work_as()

    def save_work_as(self, path: str | os.PathLike | None = None) -> bool:
        qdoc = self._w.document()
        if qdoc is None:
            return False
        if path is None:
            start = self._settings.get("files/last_work_dir")
            src = qdoc.work_path or qdoc.source_path
            if src is not None:
                start = str(Path(start or src.parent) / (src.stem + WORK_SUFFIX))
            path, _ = QFileDialog.getSaveFileName(
                self._w, "Save Work As", start, f"Restora work file (*{WORK_SUFFIX})")
            if not path:
                return False
        path = Path(path)
        if path.suffix.lower() != WORK_SUFFIX:
            # Appending (not replacing) the suffix: "photo.jpg" must never be written to.
            path = path.with_name(path.name + WORK_SUFFIX)
        return self.write_work(path)

    def write_work(self, path: Path) -> bool:
        qdoc = self._w.document()
        try:
            with wait_cursor():
                save_ora(path, qdoc.doc)
        except ImageIOError as error:
            dialogs.show_error(self._w, "Cannot save", str(error))
            return False
        except OSError as error:
            dialogs.show_error(self._w, "Cannot save",
                               f'Cannot save "{path.name}": {error.strerror or error}.')
            return False
        qdoc.work_path = path
        qdoc.history.mark_clean()
        self._settings.set("files/last_work_dir", str(path.parent))
        self._settings.add_recent(path)
        self.recentChanged.emit()
        self._w.show_message(f"Saved {path.name}")
        return True

    # -- export -------------------------------------------------------------------------------
    def export_dialog(self) -> bool:
        qdoc = self._w.document()
        if qdoc is None:
            return False
        fmt = self._settings.get("export/format")
        if fmt not in EXPORT_FORMATS:
            fmt = "PNG"
        filters = dialogs.export_filters()
        selected = filters[list(EXPORT_FORMATS).index(fmt)]
        folder = self._settings.get("files/last_export_dir")
        src = qdoc.source_path or qdoc.work_path
        if not folder and src is not None:
            folder = str(src.parent)
        stem = src.stem if src is not None else qdoc.display_name
        start = str(Path(folder or ".") / (stem + EXPORT_FORMATS[fmt].extensions[0]))
        path, chosen_filter = QFileDialog.getSaveFileName(
            self._w, "Export As", start, ";;".join(filters), selected)
        if not path:
            return False
        path = Path(path)
        fmt = format_for_path(path) or dialogs.format_for_filter(chosen_filter) or fmt
        quality_key = "export/webp_quality" if fmt == "WEBP" else "export/jpeg_quality"
        options = dialogs.ask_export_options(self._w, fmt, self._settings.get(quality_key),
                                             qdoc.doc.meta.bit_depth)
        if options is None:
            return False
        extensions = EXPORT_FORMATS[options.format].extensions
        if path.suffix.lower() not in extensions:
            # No extension typed, or the format was changed in the options: the file name
            # follows the format (replacing another image extension, else appended).
            path = (path.with_suffix(extensions[0]) if format_for_path(path)
                    else path.with_name(path.name + extensions[0]))
        return self.export_to(path, options)

    def export_to(self, path: str | os.PathLike, options: ExportOptions) -> bool:
        """Flatten the document and write it to ``path``. Overwriting the photo the document
        was opened from needs an explicit yes."""
        qdoc = self._w.document()
        if qdoc is None:
            return False
        path = Path(path)
        doc = qdoc.doc
        original = qdoc.source_path
        overwrite = False
        if original is not None and same_file(original, path):
            if not dialogs.ask_overwrite_original(self._w, path):
                return False
            overwrite = True
        try:
            with wait_cursor():
                image = doc.composite()
                if bool(np.all(image[..., 3] >= 1.0)):
                    image = image[..., :3]  # opaque: no needless alpha channel in the file
                save_image(path, image, meta=doc.meta, format=options.format,
                           quality=options.quality, bit_depth=options.bit_depth,
                           original=original, overwrite_original=overwrite)
        except ImageIOError as error:
            dialogs.show_error(self._w, "Cannot export", str(error))
            return False
        except MemoryError:
            dialogs.show_error(self._w, "Cannot export",
                               f'Cannot export "{path.name}": not enough memory.')
            return False
        self._settings.set("files/last_export_dir", str(path.parent))
        self._settings.set("export/format", options.format)
        if options.format == "JPEG":
            self._settings.set("export/jpeg_quality", options.quality)
        elif options.format == "WEBP":
            self._settings.set("export/webp_quality", options.quality)
        self._w.show_message(f"Exported {path.name}")
        return True
