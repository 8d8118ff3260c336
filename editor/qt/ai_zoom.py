"""AI zoom ("enhanced loupe"): the visible region rendered through the super-resolution
networks while the canvas is zoomed past 100 %, and "Apply AI zoom".

Preview. Every pan or zoom (debounced) asks the engine for the visible region enlarged to
screen resolution (``editor.tools.ai_zoom``); a newer request supersedes the running one,
and the result is drawn over its region with ``Canvas.show_preview``. The document is
never touched, so there is nothing to undo. Zooming further simply asks again at the new
factor (beyond ×4 the networks run ×2 passes), which is what makes the zoom feel endless.

Apply. "Apply AI zoom" crops the document to the visible region and enlarges it by the
zoom factor, every layer at full quality on the engine thread with progress and Cancel,
landing as ONE undoable step (a ResampleDocument), after which the view shows the new
pixels at 100 % with the same framing as before. We edit in place rather than opening a
new document because that is what the rest of the editor does with size changes: the
result stays in the same history, one Ctrl+Z brings the whole photo back, and the photo
file itself is never overwritten (Save writes a work file, Export asks first) — the
guarantee Topaz/Upscayl users get from a separate output.

The networks are those of the Super-resolution tool's model choice (quality, real photo
or fast), read from its remembered settings, so both agree.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QTimer, Signal

from editor.core.edits import ResampleDocument
from editor.engine.jobs import Job, JobResult
from editor.engine.progress import Progress
from editor.qt import dialogs
from editor.qt.engine_thread import EngineThread
from editor.qt.qt_document import QtDocument
from editor.qt.status_bar import StatusBar
from editor.tools import ai_zoom, superres

#: Pan/zoom bursts (a wheel spin, a drag) coalesce into one request after this pause.
DEBOUNCE_MS = 60
#: Smaller tiles than Apply's, so a superseded preview stops quickly (cancel is per tile).
PREVIEW_TILE = 256


class AiZoomController(QObject):
    """``host`` is the main window: ``document()``, ``view_canvas()`` and ``settings``;
    it also parents the error dialogs."""

    #: A short status message.
    message = Signal(str)
    #: AI zoom was switched on or off (also when an error switched it off).
    enabledChanged = Signal(bool)
    #: An apply started (True) or ended (False).
    busyChanged = Signal(bool)

    def __init__(self, host, engine: EngineThread, status: StatusBar) -> None:
        super().__init__(host)
        self._host = host
        self._engine = engine
        self._status = status
        self._qdoc: QtDocument | None = None
        self._enabled = False
        #: Bumped by every document change: a render of older pixels must not be shown.
        self._generation = 0
        self._doc_version = 0
        self._job: Job | None = None
        self._job_meta: tuple | None = None
        #: (signature, bbox, canvas) of the render on show.
        self._shown: tuple | None = None
        self._apply_job: Job | None = None
        self._apply_meta: dict = {}
        self._key = f"ai-zoom-{id(self)}"
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.request)
        engine.finished.connect(self._on_job_finished)

    # -- state --------------------------------------------------------------------------------
    def set_document(self, qdoc: QtDocument | None) -> None:
        if self._qdoc is not None:
            self._qdoc.docChanged.disconnect(self._on_doc_changed)
        self._drop()
        self.cancel_apply()
        self._qdoc = qdoc
        self._generation += 1
        if qdoc is not None:
            qdoc.docChanged.connect(self._on_doc_changed)
        self.schedule()

    def is_enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, on: bool) -> None:
        on = bool(on)
        if on == self._enabled:
            return
        self._enabled = on
        if on:
            self.schedule()
        else:
            self._drop()
        self.enabledChanged.emit(on)

    @property
    def busy(self) -> bool:
        """True while an apply runs."""
        return self._apply_job is not None

    @property
    def apply_job(self) -> Job | None:
        return self._apply_job

    def showing(self) -> bool:
        """True while an enhanced render is on the canvas."""
        return self._shown is not None

    def mode(self) -> str:
        settings = getattr(self._host, "settings", None)
        if settings is None:
            return superres.TOOL.defaults()["model"]
        return settings.tool_values(superres.TOOL)["model"]

    def can_apply(self) -> bool:
        return (self._qdoc is not None and not self.busy
                and self._host.view_canvas().zoom() > 1.0)

    # -- preview ------------------------------------------------------------------------------
    def schedule(self) -> None:
        """Ask for a render soon (pan/zoom bursts coalesce)."""
        if self._enabled:
            self._timer.start()

    def _on_doc_changed(self, event) -> None:
        if event.kind != "active":
            self._doc_version += 1
        if event.kind in ("structure", "pixels", "property") and event.detail != "name":
            # The canvas has dropped the render already; one of the new pixels follows.
            self._generation += 1
            self._shown = None
            self.schedule()

    def _drop(self) -> None:
        """Stop the running render and take ours off the canvas."""
        self._timer.stop()
        if self._job is not None:
            self._job.cancel()
            self._job = None
        if self._shown is not None:
            _signature, bbox, canvas = self._shown
            if canvas.preview_bbox() == bbox:  # still ours (not replaced by a tool preview)
                canvas.clear_preview()
            self._shown = None

    def view_switched(self) -> None:
        """The canvas the user looks at changed (side by side on/off): render for it."""
        self._drop()
        self.schedule()

    def request(self) -> None:
        """Render the visible region now (if AI zoom is on and the view is magnified)."""
        qdoc = self._qdoc
        if not self._enabled or qdoc is None or self.busy:
            return
        canvas = self._host.view_canvas()
        zoom = canvas.zoom()
        region = ai_zoom.plan_view(canvas.visible_doc_rect(), qdoc.doc.size,
                                   zoom * canvas.devicePixelRatioF())
        if zoom <= 1.0 or region is None:
            self._drop()
            self.message.emit("AI zoom enhances the view past 100 %: zoom in (Ctrl+=)")
            return
        mode = self.mode()
        signature = (self._generation, mode, round(region.factor, 6))
        if self._shown is not None and self._shown[0] == signature \
                and self._shown[2] is canvas and canvas.preview_bbox() == self._shown[1]:
            # A pan within the rendered context needs no new render.
            sx0, sy0, sx1, sy1 = self._shown[1]
            x0, y0, x1, y1 = canvas.visible_doc_rect()
            if sx0 <= x0 and sy0 <= y0 and sx1 >= x1 and sy1 >= y1:
                return
        doc = qdoc.doc

        def render(progress: Progress):
            return ai_zoom.enhance_view(doc, region, mode=mode, progress=progress,
                                        tile=PREVIEW_TILE)

        job = Job(render, kind="preview", label="AI zoom", key=self._key)
        self._job = job
        self._job_meta = (signature, region, canvas)
        self._engine.submit(job)

    def _render_finished(self, result: JobResult) -> None:
        if self._job is None or result.job.id != self._job.id:
            return  # superseded
        signature, region, canvas = self._job_meta
        self._job, self._job_meta = None, None
        if result.cancelled:
            return
        if result.error is not None:
            # Missing weights or memory will not fix themselves on the next pan: say it
            # once and switch off, instead of a dialog per pan.
            self.set_enabled(False)
            dialogs.show_error(self._host, "AI zoom is not available", _one_line(result.error))
            return
        if (not self._enabled or signature[0] != self._generation
                or canvas is not self._host.view_canvas()):
            return
        canvas.show_preview(result.value, region.bbox)
        self._shown = (signature, region.bbox, canvas)
        self.message.emit(f"AI zoom: view enhanced ×{region.factor:.3g}")

    # -- apply --------------------------------------------------------------------------------
    def apply(self) -> Job | None:
        """Crop to the visible region and enlarge it by the zoom factor, as one undoable
        step. Returns the submitted job, or None when nothing could start."""
        qdoc = self._qdoc
        if qdoc is None or self.busy:
            return None
        canvas = self._host.view_canvas()
        zoom = canvas.zoom()
        if zoom <= 1.0:
            self.message.emit("Zoom in past 100 % to choose the region AI zoom enlarges")
            return None
        bbox = canvas.visible_doc_rect()
        if bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
            return None
        doc = qdoc.doc
        # The result at 100 % then looks like the view did: one output pixel per
        # screen pixel of the current zoom.
        factor = zoom
        mode = self.mode()
        stack = list(doc.layers)  # by reference: a size change replaces every layer anyway

        def run(progress: Progress):
            out, n = [], len(stack)
            for i, layer in enumerate(stack):
                sub = progress.sub_progress(i / n, (i + 1) / n)
                out.append(ai_zoom.enhance_layer(layer, bbox, factor, mode=mode, progress=sub))
            return out

        self._drop()
        job = Job(run, kind="apply", label="AI zoom")
        self._apply_job = job
        self._apply_meta = {"qdoc": qdoc, "version": self._doc_version, "bbox": bbox,
                            "factor": factor, "center": canvas.view_center()}
        self._status.start_job(job.id, "AI zoom")
        self._engine.submit(job)
        self.busyChanged.emit(True)
        return job

    def cancel_apply(self) -> None:
        job = self._apply_job
        if job is not None:
            job.cancel()
            # Let go now; the late result is dropped on arrival, so nothing is pushed.
            self._finish_apply(job.id)
            self.message.emit("AI zoom cancelled")

    def _finish_apply(self, job_id: int) -> None:
        self._status.end_job(job_id)
        self._apply_job = None
        self._apply_meta = {}
        self.busyChanged.emit(False)

    def _apply_finished(self, result: JobResult) -> None:
        meta = self._apply_meta
        self._finish_apply(result.job.id)
        if result.cancelled:
            self.message.emit("AI zoom cancelled")
            return
        if result.error is not None:
            dialogs.show_error(self._host, "AI zoom failed", _one_line(result.error))
            return
        qdoc = meta["qdoc"]
        if qdoc is not self._qdoc:
            return
        if self._doc_version != meta["version"]:
            dialogs.show_error(self._host, "AI zoom not applied",
                               "The image was edited while AI zoom was running; "
                               "apply it again.")
            return
        factor = meta["factor"]
        qdoc.push(ResampleDocument(label=f"AI zoom ×{factor:.3g}", new_layers=result.value))
        # Same framing as before, now in real pixels at 100 %.
        x0, y0 = meta["bbox"][:2]
        centre = meta["center"]
        self._host.view_canvas().set_view(
            1.0, QPointF((centre.x() - x0) * factor, (centre.y() - y0) * factor))
        self.message.emit(f"AI zoom applied ({result.seconds:.1f} s)")
        self.schedule()

    def _on_job_finished(self, result: JobResult) -> None:
        if result.job.kind == "preview":
            self._render_finished(result)
        elif self._apply_job is not None and result.job.id == self._apply_job.id:
            self._apply_finished(result)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
