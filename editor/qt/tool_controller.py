"""Preview and apply flow for the tool shown in the Tool panel.

Preview: a parameter change (debounced) or a pan/zoom asks the engine to run the tool on
the visible part of the ACTIVE layer, reduced to screen resolution where that is cheaper;
a newer preview supersedes the running one. Apply: the whole active layer at full
resolution on the engine thread, with progress and Cancel; the result lands as ONE
undoable command. Nothing touches the document until a job has succeeded, so Cancel (or
an error) leaves it exactly as it was.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from editor.core.document import Document, Layer
from editor.core.edits import ResampleDocument, mask_from_shape, new_layer_from_image
from editor.engine.jobs import Job, JobResult
from editor.engine.progress import Progress
from editor.qt import dialogs
from editor.qt.engine_thread import EngineThread
from editor.qt.qt_document import QtDocument
from editor.qt.status_bar import StatusBar
from editor.qt.tool_panel import ToolPanel, has_canvas_preview
from editor.tools.schema import PREVIEW_DEBOUNCE_MS, PREVIEW_MARGIN, Masked, Tool

#: Above this many pixels a "full" preview is computed at screen resolution instead.
FULL_PREVIEW_MAX_PIXELS = 2_000_000
#: "reduced" (model-backed) previews are capped at this many pixels.
REDUCED_PREVIEW_MAX_PIXELS = 1_000_000


def resize_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resample float32 HxW(xC) to ``width`` x ``height`` (area average when shrinking)."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        # Always a new array: the input may be a view into a layer, and the caller (or a
        # tool) may write into the result.
        return np.array(image, dtype=np.float32, order="C", copy=True)
    shrinking = width * height < w * h
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(image, dtype=np.float32), (width, height),
                     interpolation=interp)
    if image.ndim == 3 and out.ndim == 2:  # cv2 drops a single channel axis
        out = out[..., None]
    return out


def with_source_alpha(result: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Tools may return RGB for an RGBA input; keep the source's transparency then (a
    filtered cut-out must stay cut out)."""
    result = np.asarray(result, dtype=np.float32)
    if result.ndim == 3 and result.shape[2] == 3 and source.ndim == 3 and source.shape[2] == 4:
        alpha = resize_image(source[..., 3], result.shape[1], result.shape[0])
        result = np.concatenate([result, alpha[..., None] if alpha.ndim == 2 else alpha], axis=2)
    return result


class ToolController(QObject):
    """``host`` is the main window; it provides ``document()``, ``view_canvas()``,
    ``preview_canvases()`` and ``selection()``, and parents the error dialogs."""

    #: An apply finished: (tool id, True when a result was pushed).
    applied = Signal(str, bool)
    #: A short status message for the window's status bar.
    message = Signal(str)
    #: An apply started (True) or ended (False).
    busyChanged = Signal(bool)

    def __init__(self, host, engine: EngineThread, panel: ToolPanel, status: StatusBar) -> None:
        super().__init__(host)
        self._host = host
        self._engine = engine
        self._panel = panel
        self._status = status
        self._qdoc: QtDocument | None = None
        #: Bumped on every document change that can make a running preview stale.
        self._generation = 0
        #: Bumped on every document edit (a size-changing result computed from an older
        #: version would silently drop those edits).
        self._doc_version = 0
        self._preview_job: Job | None = None
        # job id -> (signature, bbox) of previews in flight; the shown one likewise.
        self._preview_meta: dict[int, tuple[tuple, tuple[int, int, int, int]]] = {}
        self._shown: tuple[tuple, tuple[int, int, int, int]] | None = None
        self._apply_job: Job | None = None
        self._apply_meta: dict = {}
        # Windows may share one engine; each window's previews only supersede its own.
        self._preview_key = f"tool-preview-{id(self)}"

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DEBOUNCE_MS)
        self._timer.timeout.connect(self.request_preview)

        panel.valuesChanged.connect(self._on_values_changed)
        panel.toolChanged.connect(self._on_tool_changed)
        panel.previewToggled.connect(self._on_preview_toggled)
        panel.applyRequested.connect(self.apply)
        engine.finished.connect(self._on_job_finished)

    # -- document binding -----------------------------------------------------------------
    def set_document(self, qdoc: QtDocument | None) -> None:
        if self._qdoc is not None:
            self._qdoc.docChanged.disconnect(self._on_doc_changed)
        self.cancel_preview()
        # A running apply belongs to the old document; its result must not land anywhere.
        self.cancel_apply()
        self._qdoc = qdoc
        self._generation += 1
        if qdoc is not None:
            qdoc.docChanged.connect(self._on_doc_changed)
        self._update_size_info()
        self.schedule_preview()

    @property
    def busy(self) -> bool:
        """True while an apply runs."""
        return self._apply_job is not None

    @property
    def apply_job(self) -> Job | None:
        return self._apply_job

    # -- preview ----------------------------------------------------------------------------
    def schedule_preview(self) -> None:
        """Ask for a preview soon; bursts of slider moves/pans coalesce into one."""
        self._timer.start()

    def _on_values_changed(self) -> None:
        self._update_size_info()
        self.schedule_preview()

    def _on_tool_changed(self, _tool_id: str) -> None:
        self.cancel_preview()
        self._update_size_info()
        self.schedule_preview()

    def _on_preview_toggled(self, on: bool) -> None:
        if on:
            self.schedule_preview()
        else:
            self.cancel_preview()

    def _on_doc_changed(self, event) -> None:
        if event.kind != "active":
            self._doc_version += 1
        if event.kind == "property" and event.detail == "name":
            return  # a rename changes no pixel
        if event.kind in ("active", "structure") or (event.kind == "pixels"
                                                     and event.detail != "mask"):
            # The tool's input (the active layer's pixels) changed: running previews
            # are stale and must not be shown when they arrive.
            self._generation += 1
        # The canvas drops its preview on any visible change; ask for a fresh one.
        self._shown = None
        self._update_size_info()
        self.schedule_preview()

    def cancel_preview(self) -> None:
        """Stop the running preview and take the preview off the canvas."""
        self._timer.stop()
        if self._preview_job is not None:
            self._preview_job.cancel()
            self._preview_job = None
        self._shown = None
        for canvas in self._host.preview_canvases():
            canvas.clear_preview()

    def preview_visible(self) -> bool:
        return self._shown is not None

    def _preview_wanted(self) -> tuple[Tool, QtDocument, Layer] | None:
        tool = self._panel.tool()
        qdoc = self._qdoc
        if (tool is None or qdoc is None or not has_canvas_preview(tool)
                or not self._panel.preview_enabled() or self.busy):
            return None
        layer = qdoc.doc.active_layer
        return None if layer is None else (tool, qdoc, layer)

    def request_preview(self) -> None:
        wanted = self._preview_wanted()
        if wanted is None:
            if self._shown is not None or self._preview_job is not None:
                self.cancel_preview()
            return
        tool, qdoc, layer = wanted
        doc = qdoc.doc
        canvas = self._host.view_canvas()
        x0, y0, x1, y1 = canvas.visible_doc_rect()
        if x1 <= x0 or y1 <= y0:
            return
        # Resolution: what the screen shows of the region (zoom x device pixel ratio).
        area = (x1 - x0) * (y1 - y0)
        factor = 1.0
        if tool.preview == "reduced" or area > FULL_PREVIEW_MAX_PIXELS:
            factor = min(1.0, canvas.zoom() * canvas.devicePixelRatioF())
        if tool.preview == "reduced":
            factor = min(factor, math.sqrt(REDUCED_PREVIEW_MAX_PIXELS / area))
        values = self._panel.values()
        # Size-changing tools (super-resolution) are shown as their result drawn over the
        # region it came from, at screen resolution: the region goes in reduced so that
        # the tool's output has the screen's resolution (at most the result's own), i.e.
        # ``factor`` x ``enlarge`` output pixels per document pixel.
        enlarge = float(values.get("scale", 1.0)) if tool.changes_size else 1.0
        if tool.changes_size:
            screen = canvas.zoom() * canvas.devicePixelRatioF()
            factor = min(1.0, screen / enlarge,
                         math.sqrt(REDUCED_PREVIEW_MAX_PIXELS / area) / enlarge)
        # Apply confines a layer tool to the selection; a size change has no such thing.
        selection = None if tool.changes_size else self._host.selection()
        # Everything but the region that decides what the preview looks like.
        signature = (self._generation, tool.id, tuple(sorted(values.items())), selection,
                     round(factor, 6))
        # The shown preview already covers this view with these settings: a small pan
        # within the margin needs no new job.
        if self._shown is not None and self._shown[0] == signature:
            sx0, sy0, sx1, sy1 = self._shown[1]
            if sx0 <= x0 and sy0 <= y0 and sx1 >= x1 and sy1 >= y1:
                return
        m = PREVIEW_MARGIN
        bbox = (max(0, x0 - m), max(0, y0 - m), min(doc.width, x1 + m), min(doc.height, y1 + m))
        bx0, by0, bx1, by1 = bbox
        in_w = max(1, round((bx1 - bx0) * factor))
        in_h = max(1, round((by1 - by0) * factor))
        out_w = max(1, round((bx1 - bx0) * factor * enlarge))
        out_h = max(1, round((by1 - by0) * factor * enlarge))
        # Strided pick down to at most 2x the target, then a proper area resample in the
        # job: the GUI thread never copies a whole 24-megapixel region.
        stride = max(1, int(1.0 / factor) // 2)
        pixels = layer.pixels  # read on the engine thread; a change re-requests anyway

        def run_preview(progress: Progress) -> np.ndarray:
            crop = pixels[by0:by1:stride, bx0:bx1:stride]
            crop = resize_image(crop, in_w, in_h)
            result = with_source_alpha(tool.apply(crop, values, progress), crop)
            if result.shape[:2] != (out_h, out_w):
                result = resize_image(result, out_w, out_h)
            if selection is not None:
                # Show the effect confined to the selection, as Apply will confine it.
                shape, (sx0, sy0, sx1, sy1) = selection
                sx, sy = out_w / (bx1 - bx0), out_h / (by1 - by0)
                local = ((sx0 - bx0) * sx, (sy0 - by0) * sy, (sx1 - bx0) * sx, (sy1 - by0) * sy)
                result = np.array(result, dtype=np.float32)
                result[..., 3] *= mask_from_shape(out_w, out_h, shape, local)
            return result

        job = Job(run_preview, kind="preview", label=f"{tool.label} preview", key=self._preview_key)
        self._preview_meta[job.id] = (signature, bbox)
        self._preview_job = job
        self._engine.submit(job)

    def _preview_finished(self, result: JobResult) -> None:
        meta = self._preview_meta.pop(result.job.id, None)
        if self._preview_job is None or result.job.id != self._preview_job.id or meta is None:
            return  # superseded
        self._preview_job = None
        if result.cancelled:
            return
        if result.error is not None:
            # Not a modal dialog: it would pop up on every slider move.
            self.message.emit(f"Preview failed: {_one_line(result.error)}")
            return
        signature, bbox = meta
        if signature[0] != self._generation or self._preview_wanted() is None:
            return
        for canvas in self._host.preview_canvases():
            canvas.show_preview(result.value, bbox)
        self._shown = (signature, bbox)

    # -- size info for size-changing tools ------------------------------------------------------
    def _update_size_info(self) -> None:
        tool = self._panel.tool()
        if tool is None or not tool.changes_size or self._qdoc is None:
            self._panel.set_info("")
            return
        doc = self._qdoc.doc
        scale = self._panel.values().get("scale")
        if scale is None:
            self._panel.set_info(f"Current size: {doc.width} × {doc.height} px")
            return
        # Rounded half up, the convention size-changing tools use (see tools/resize.py).
        w = max(1, int(math.floor(doc.width * float(scale) + 0.5)))
        h = max(1, int(math.floor(doc.height * float(scale) + 0.5)))
        self._panel.set_info(f"Result: {w} × {h} px (now {doc.width} × {doc.height} px)")

    # -- apply --------------------------------------------------------------------------------
    def apply(self) -> Job | None:
        """Run the shown tool on the whole active layer (or, for size-changing tools, on
        every layer). Returns the submitted job, or None when nothing could start."""
        tool = self._panel.tool()
        qdoc = self._qdoc
        if tool is None or qdoc is None or self.busy:
            return None
        doc = qdoc.doc
        layer = doc.active_layer
        if layer is None:
            return None
        values = self._panel.values()
        self.cancel_preview()
        if tool.changes_size:
            fn = self._resample_job_fn(tool, values, doc)
        else:
            fn = self._layer_job_fn(tool, values, doc, layer)
        job = Job(fn, kind="apply", label=tool.label)
        self._apply_job = job
        self._apply_meta = {"tool": tool, "qdoc": qdoc, "layer_id": layer.id,
                            "size": doc.size, "version": self._doc_version}
        self._panel.set_apply_enabled(False)
        self._status.start_job(job.id, tool.label)
        self._engine.submit(job)
        self.busyChanged.emit(True)
        return job

    def _layer_job_fn(self, tool: Tool, values: dict, doc: Document, layer: Layer):
        # A private copy taken now: the user may keep editing while the job runs, and the
        # result must be computed from what they saw when they pressed Apply.
        source = layer.pixels.copy()
        width, height = doc.width, doc.height
        selection = self._host.selection()

        def run_apply(progress: Progress):
            result = tool.apply_masked(source, values, progress)
            mask = None
            if isinstance(result, Masked):
                # The tool says where it applies (a face mask): it becomes the layer mask.
                result, mask = result.image, np.asarray(result.mask, np.float32)
            result = with_source_alpha(result, source)
            if result.shape[:2] != (height, width):
                raise ValueError(f"{tool.label} returned {result.shape[1]}×{result.shape[0]} px "
                                 f"for a {width}×{height} px layer")
            if selection is not None:
                shape, box = selection
                confine = mask_from_shape(width, height, shape, box)
                mask = confine if mask is None else mask * confine
            return result, mask

        return run_apply

    def _resample_job_fn(self, tool: Tool, values: dict, doc: Document):
        # Layer objects are snapshotted by reference (a size change rebuilds the whole
        # stack; copying every layer here would double memory for nothing). If the
        # document is edited meanwhile, the result is refused on arrival instead.
        stack = list(doc.layers)

        def run_resample(progress: Progress) -> list[Layer]:
            out: list[Layer] = []
            n = len(stack)
            for i, layer in enumerate(stack):
                sub = progress.sub_progress(i / n, (i + 1) / n)
                pixels = with_source_alpha(tool.apply(layer.pixels, values, sub), layer.pixels)
                h, w = pixels.shape[:2]
                mask = None
                if layer.mask is not None:
                    # Masks are resampled plainly: a restoration model has no business
                    # inventing detail in a selection mask.
                    mask = np.clip(resize_image(layer.mask, w, h), 0.0, 1.0)
                out.append(Layer(pixels, layer.name, layer.visible, layer.opacity,
                                 layer.blend_mode, mask, layer.mask_enabled, id=layer.id))
            sizes = {l.pixels.shape[:2] for l in out}
            if len(sizes) != 1:
                raise ValueError(f"{tool.label} gave layers of different sizes")
            return out

        return run_resample

    def cancel_apply(self) -> None:
        job = self._apply_job
        if job is not None:
            job.cancel()
            # The GUI lets go right away (the worker stops at its next progress check);
            # the late result is dropped on arrival, so nothing is pushed.
            tool = self._apply_meta["tool"]
            self._finish_apply(job.id)
            self.message.emit(f"{job.label} cancelled")
            self.applied.emit(tool.id, False)

    def _finish_apply(self, job_id: int) -> None:
        self._status.end_job(job_id)
        self._apply_job = None
        # Let go of the document/tool references: a closed document must not stay in
        # memory because it was the last one a tool ran on.
        self._apply_meta = {}
        self._panel.set_apply_enabled(True)
        self.busyChanged.emit(False)

    def _apply_finished(self, result: JobResult) -> None:
        meta = self._apply_meta
        tool: Tool = meta["tool"]
        self._finish_apply(result.job.id)
        qdoc: QtDocument = meta["qdoc"]
        if result.cancelled:
            self.message.emit(f"{tool.label} cancelled")
            self.applied.emit(tool.id, False)
            return
        if result.error is not None:
            dialogs.show_error(self._host, f"{tool.label} failed", _one_line(result.error))
            self.applied.emit(tool.id, False)
            return
        if qdoc is not self._qdoc:
            return
        doc = qdoc.doc
        if doc.size != meta["size"]:
            dialogs.show_error(self._host, f"{tool.label} not applied",
                               "The image size changed while the tool was running; apply it again.")
            self.applied.emit(tool.id, False)
            return
        if tool.changes_size:
            if self._doc_version != meta["version"]:
                dialogs.show_error(self._host, f"{tool.label} not applied",
                                   "The image was edited while the tool was running; "
                                   "apply it again.")
                self.applied.emit(tool.id, False)
                return
            qdoc.push(ResampleDocument(label=tool.label, new_layers=result.value))
        else:
            image, mask = result.value
            above = meta["layer_id"]
            if above not in [l.id for l in doc.layers]:
                above = None  # the source layer was deleted meanwhile: land on top
            qdoc.push(new_layer_from_image(doc, image, name=tool.label,
                                           above_layer_id=above, mask=mask))
            # Preview off: it would now show the tool applied twice, on the new layer.
            self._panel.set_preview_enabled(False)
        self.message.emit(f"{tool.label} applied ({result.seconds:.1f} s)")
        self.applied.emit(tool.id, True)

    def _on_job_finished(self, result: JobResult) -> None:
        if result.job.kind == "preview":
            self._preview_finished(result)
        elif self._apply_job is not None and result.job.id == self._apply_job.id:
            self._apply_finished(result)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
