""""Variants…": a strip of thumbnails of one seeded tool rendered with the seeds s, s+1,
s+2, s+3 (every other setting as on the page), so the retoucher picks a sample of a
generative tool (Face enhance) by eye instead of pressing Sample again and waiting each
time. Clicking a thumbnail sets the page's seed to it, which re-runs the normal preview.

What is rendered: the region the canvas shows of the active layer (what the preview shows),
downscaled to ``THUMB_PX`` on its long side, so four samples take seconds on a CPU.

Threading: the four renders are ONE engine job (editor.engine.jobs). It goes to the
window's engine thread when the page sits in a main window (models are big and the device
is one: the engine's rule is one model job at a time), else to a private EngineThread that
lives for that one render. Cancel cancels the job; closing the strip cancels it too and
ends a private thread. Errors (no face found, missing model) come back as one line.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QToolButton, QVBoxLayout, QWidget)

from editor.engine.jobs import Job, JobResult
from editor.engine.progress import Progress
from editor.qt.engine_thread import EngineThread
from editor.qt.icons import icon
from editor.qt.thumbnails import to_qimage_rgba8
from editor.qt.tool_extras import SEED_PARAM, seed_param

#: How many seeds the strip shows.
COUNT = 4
#: Long side, in pixels, of the image the variants are rendered on.
THUMB_PX = 256
#: Long side of a thumbnail on screen.
ICON_PX = 160

#: Reads the image to render (float32 HxWxC in [0, 1]); called on the worker thread.
Source = Callable[[], np.ndarray]


def variant_seeds(seed: int, lo: int, hi: int, count: int = COUNT) -> list[int]:
    """``seed``, ``seed + 1``, ... wrapping past ``hi`` to ``lo`` (as Sample again does)."""
    span = hi - lo + 1
    return [lo + (seed - lo + i) % span for i in range(count)]


def downscale(image: np.ndarray, long_side: int = THUMB_PX) -> np.ndarray:
    """``image`` shrunk (never enlarged) so its long side is at most ``long_side``."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    h, w = image.shape[:2]
    factor = long_side / max(h, w)
    if factor >= 1.0:
        return image.copy()  # the source may be a view into a layer; tools may write
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    out = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return out[..., None] if image.ndim == 3 and out.ndim == 2 else out


def find_host(widget: QWidget):
    """The main window holding ``widget`` (an object with ``document()`` and
    ``view_canvas()``), or None. Walks the parents rather than asking ``window()``: a
    floating Tool panel dock is a window of its own."""
    w = widget
    while w is not None:
        if callable(getattr(w, "document", None)) and callable(getattr(w, "view_canvas", None)):
            return w
        w = w.parentWidget()
    return None


def window_source(widget: QWidget) -> Source | None:
    """What the preview of ``widget``'s main window shows: the visible part of the active
    layer (the whole layer when the view shows nothing). None without an open document.
    The rectangle is taken now, on the GUI thread; the pixels are read by the worker."""
    host = find_host(widget)
    qdoc = host.document() if host is not None else None
    layer = qdoc.doc.active_layer if qdoc is not None else None
    if layer is None:
        return None
    pixels = layer.pixels
    h, w = pixels.shape[:2]
    x0, y0, x1, y1 = 0, 0, w, h
    canvas = host.view_canvas()
    if canvas is not None:
        rx0, ry0, rx1, ry1 = canvas.visible_doc_rect()
        if rx1 > rx0 and ry1 > ry0:
            x0, y0, x1, y1 = rx0, ry0, min(rx1, w), min(ry1, h)
    # A strided pick down to about twice the target first, as the preview does: the
    # worker never copies a whole 24-megapixel region to make a 256 px image.
    stride = max(1, max(x1 - x0, y1 - y0) // (2 * THUMB_PX))
    return lambda: downscale(pixels[y0:y1:stride, x0:x1:stride])


def render_variants(tool, source: Source, values: dict, seeds: list[int],
                    progress: Progress) -> list[tuple[int, np.ndarray]]:
    """The job: ``tool`` on the downscaled source once per seed (the visible pixels, a
    masked result composited)."""
    image = downscale(np.asarray(source(), dtype=np.float32))
    out = []
    for i, seed in enumerate(seeds):
        progress.set_progress(i / len(seeds), f"Variant {i + 1} of {len(seeds)} (seed {seed})")
        part = progress.sub_progress(i / len(seeds), (i + 1) / len(seeds))
        out.append((seed, tool.apply(image, {**values, SEED_PARAM: seed}, part)))
    progress.set_progress(1.0, "Done")
    return out


def to_pixmap(image: np.ndarray, size: int = ICON_PX) -> QPixmap:
    """A float result of any channel count as a pixmap at most ``size`` on its long side."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[2] < 3:  # grey (+ alpha)
        a = np.concatenate([a[..., :1]] * 3 + [a[..., 1:2]] * (a.shape[2] - 1), axis=2)
    if a.shape[2] == 3:
        a = np.concatenate([a, np.ones_like(a[..., :1])], axis=2)
    pm = QPixmap.fromImage(to_qimage_rgba8(a[..., :4]))
    return pm.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                     Qt.TransformationMode.SmoothTransformation)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class VariantStrip(QDialog):
    """The strip for ``page`` (a ToolPage whose tool has an int seed). ``source`` and
    ``engine`` default to the page's main window (:func:`window_source`, its ``engine``);
    without a window engine each render gets a private thread."""

    def __init__(self, page, source: Source | None = None,
                 engine: EngineThread | None = None) -> None:
        super().__init__(page)
        self.setWindowTitle(f"{page.tool.label} — Variants")
        self.setWindowIcon(icon("mdi6.view-carousel-outline"))
        self.page = page
        self._source = source
        self._shared_engine = engine or getattr(find_host(page), "engine", None)
        if not isinstance(self._shared_engine, EngineThread):
            self._shared_engine = None
        #: The engine running the current render (shared or private), and its job.
        self.engine: EngineThread | None = None
        self.job: Job | None = None
        #: (seed, result) of the last finished render, for tests and the buttons.
        self.variants: list[tuple[int, np.ndarray]] = []

        self.buttons: list[QToolButton] = []
        row = QHBoxLayout()
        for i in range(COUNT):
            b = QToolButton()
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            b.setIconSize(QSize(ICON_PX, ICON_PX))
            b.setMinimumSize(ICON_PX + 12, ICON_PX + 32)
            b.setEnabled(False)
            b.clicked.connect(lambda _=False, i=i: self.choose(i))
            row.addWidget(b)
            self.buttons.append(b)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.cancel_button = QPushButton(icon("mdi6.cancel"), "Cancel")
        self.cancel_button.setToolTip("Stop rendering the variants")
        self.cancel_button.clicked.connect(self.cancel)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress_bar, 1)
        bottom.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addLayout(bottom)

    # -- GUI-thread API ---------------------------------------------------------------------
    def render(self) -> None:
        """(Re)render the variants of the page's current values; a running render is
        cancelled first."""
        self._stop()
        param = seed_param(self.page.tool)
        values = self.page.values()
        lo, hi = (int(v) for v in param.range)
        seeds = variant_seeds(int(values[SEED_PARAM]), lo, hi)
        self.variants = []
        for b, seed in zip(self.buttons, seeds):
            b.setIcon(icon("mdi6.timer-sand"))
            b.setText(f"Seed {seed}")
            b.setToolTip(f"Use seed {seed}")
            b.setEnabled(False)
        source = self._source or window_source(self.page)
        if source is None:
            self._show_message("Open a photo first: the variants are rendered on it.")
            return
        tool = self.page.tool
        self.job = Job(lambda progress: render_variants(tool, source, values, seeds, progress),
                       kind="apply", label=f"{tool.label} variants")
        self.engine = self._shared_engine or EngineThread(self)
        if self.engine is not self._shared_engine:
            self.engine.setObjectName("restora-variants")
        self.engine.progress.connect(self._on_progress)
        self.engine.finished.connect(self._on_finished)
        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self.cancel_button.setEnabled(True)
        self._show_message("Rendering variants…")
        self.engine.submit(self.job)

    def running(self) -> bool:
        return self.job is not None

    def cancel(self) -> None:
        """Stop the render; the thumbnails done so far are not shown (one job, one result)."""
        if self.job is not None:
            self._stop()
            self._show_message("Cancelled.")

    def choose(self, index: int) -> None:
        """Use the seed of thumbnail ``index``: the page's seed changes (-> preview), the
        strip closes."""
        if index >= len(self.variants):
            return
        self.page.set_values({SEED_PARAM: self.variants[index][0]})
        self.close()

    def done(self, result: int) -> None:
        # Esc and the title bar's close both end here (closeEvent alone misses Esc).
        self._stop()
        super().done(result)

    def closeEvent(self, event) -> None:
        self._stop()
        super().closeEvent(event)

    # -- internals ---------------------------------------------------------------------------
    def _stop(self) -> None:
        """Cancel the job and let go of its engine; a private one is ended and waited for
        (its thread is ours, and the job checks for cancel between steps)."""
        job, engine = self.job, self.engine
        self.job = self.engine = None
        if job is not None:
            job.cancel()
        if engine is not None:
            engine.progress.disconnect(self._on_progress)
            engine.finished.disconnect(self._on_finished)
            if engine is not self._shared_engine:
                engine.stop()
                engine.deleteLater()
        self.cancel_button.setEnabled(False)
        self.progress_bar.hide()

    def _on_progress(self, job_id: int, fraction: float, message: str) -> None:
        if self.job is not None and job_id == self.job.id:
            self.progress_bar.setValue(round(1000 * fraction))
            if message:
                self._show_message(message)

    def _on_finished(self, result: JobResult) -> None:
        if self.job is None or result.job.id != self.job.id:
            return  # another job of a shared engine, or one we gave up on
        self._stop()
        if result.cancelled:
            self._show_message("Cancelled.")
            return
        if result.error is not None:
            self._show_message(f"No variants: {_one_line(result.error)}")
            return
        self.variants = list(result.value)
        for b, (seed, image) in zip(self.buttons, self.variants):
            b.setIcon(to_pixmap(image))
            b.setEnabled(True)
        self._show_message("Click a variant to use its seed.")

    def _show_message(self, text: str) -> None:
        self.message.setText(text)


def variants_button(page) -> QPushButton | None:
    """A "Variants…" button for a ToolPage whose tool has an int ``seed`` (None otherwise):
    opens (or re-renders) the page's strip, kept as ``page.variant_strip``."""
    if seed_param(page.tool) is None:
        return None
    button = QPushButton(icon("mdi6.view-carousel-outline"), "Variants…")
    button.setToolTip(f"Render {COUNT} samples (this seed and the next {COUNT - 1}) of the "
                      "visible region side by side and pick one")

    def open_strip() -> None:
        strip = getattr(page, "variant_strip", None)
        if strip is None:
            strip = page.variant_strip = VariantStrip(page)
        strip.show()
        strip.raise_()
        strip.render()

    button.clicked.connect(open_strip)
    return button
