"""File ▸ Video super-resolution…: enlarge a video file or a folder of numbered frames with
the SPMC network (:mod:`editor.tools.video_sr`, run by :mod:`editor.tools.video_pipeline`).

Pick the input (or drop it on the dialog), the output (defaults to ``<name>_x4.mp4`` or
``<folder>_x4`` beside the input), scale / frames / source look (generated from
``video_sr.PARAMS`` by the Tool panel's form), scrub to any frame for a before (bicubic)
/ after (network) preview, Run with a progress bar, ETA and Cancel.

Threads: the dialog has an :class:`EngineThread` of its own, not the window's. A video
takes minutes to hours, and the window's previews and Apply must keep working meanwhile
(the reason Learn my look trains on its own thread too). Probing the input, every preview
and the run are engine jobs: a newer preview supersedes an older one, nothing heavy runs
on the GUI thread. Closing the dialog while a run is going asks first, then cancels it and
waits for the thread; a cancelled or failed run leaves no output (the writer's commit is
all-or-nothing).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QApplication, QDialog, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QMessageBox, QPushButton, QSizePolicy, QSlider,
                               QSpinBox, QVBoxLayout, QWidget)

from editor.engine.jobs import Job
from editor.qt import dialogs
from editor.qt.engine_thread import EngineThread
from editor.qt.dialogs import run_controls
from editor.qt.icons import icon
from editor.qt.settings import Settings
from editor.qt.thumbnails import to_qimage_rgba8
from editor.qt.tool_panel import ToolPage
from editor.tools import video_sr
from editor.tools.schema import Tool
from editor.video.io import VIDEO_SUFFIXES
from editor.tools.video_pipeline import centre_crop, default_output

TITLE = "Video super-resolution"
#: Largest part of a frame (input pixels) the preview upscales: the centre of a bigger
#: frame, so a scrub on 4K footage answers in about a second, not a minute.
PREVIEW_MAX = (480, 270)
PREVIEW_DEBOUNCE_MS = 150
_VIDEO_FILTER = "Videos (" + " ".join(f"*{s}" for s in VIDEO_SUFFIXES) + ")"


def _not_an_image_tool(image, params, progress):
    raise TypeError("video super-resolution runs on a clip (editor.tools.video_pipeline)")


#: The parameter form and its remembered values (settings ``tools/video-sr/*``) reuse the
#: Tool panel's machinery; this Tool is not registered, so it is no image filter.
VIDEO_SR_FORM = Tool(id="video-sr", label=TITLE, params=video_sr.PARAMS,
                     run=_not_an_image_tool, icon="mdi6.movie-open-star")


def ask_stop_run(parent: QWidget | None) -> bool:
    """Closing during a run: stop it (its partial output is removed)?"""
    answer = QMessageBox.question(
        parent, "Stop the video?",
        "The video is still being upscaled. Stop it now? Nothing is written; the frames "
        "done so far are discarded.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def ask_overwrite(parent: QWidget | None, path: Path) -> bool:
    answer = QMessageBox.question(
        parent, "Replace the file?",
        f"“{path.name}” already exists. Replace it when the new video is complete?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def error_text(error: BaseException) -> str:
    """One human line for an error a run or preview met."""
    from editor.engine.weights import WeightsError
    from editor.video.io import VideoError

    if isinstance(error, MemoryError):
        return "Not enough memory."
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    if isinstance(error, (VideoError, WeightsError, ValueError, OSError)):
        lines = str(error).strip().splitlines()
        return lines[0] if lines else type(error).__name__
    return f"Unexpected {type(error).__name__}: {error} (a bug; please report it)."


def _video_drop_path(mime) -> Path | None:
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES:
                return path
    return None


@dataclass(frozen=True)
class PreviewResult:
    path: Path
    index: int
    before: np.ndarray
    after: np.ndarray | None
    crop: tuple[int, int, int, int] | None
    problem: str = ""  # why there is no "after" (no model installed...)


class PreviewPane(QLabel):
    """One side of the comparison: an RGB frame scaled to fit, aspect kept."""

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(placeholder, parent)
        self._pixmap: QPixmap | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(240, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setStyleSheet("QLabel { background: #222; color: #bbb; }")
        self.setWordWrap(True)

    def set_rgb(self, rgb: np.ndarray | None, text: str = "") -> None:
        if rgb is None:
            self._pixmap = None
            self.clear()
            self.setText(text)
            return
        rgba = np.concatenate([rgb, np.ones(rgb.shape[:2] + (1,), np.float32)], axis=2)
        self._pixmap = QPixmap.fromImage(to_qimage_rgba8(rgba))
        self._show()

    def image_size(self) -> tuple[int, int] | None:
        return None if self._pixmap is None else (self._pixmap.width(), self._pixmap.height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._show()

    def _show(self) -> None:
        if self._pixmap is None:
            return
        # Enlarge with nearest pixels (the detail is what is being judged), shrink smoothly.
        smaller = self._pixmap.width() > self.width() or self._pixmap.height() > self.height()
        mode = (Qt.TransformationMode.SmoothTransformation if smaller
                else Qt.TransformationMode.FastTransformation)
        self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio, mode))


class _EngineHolder:
    """The dialog's engine thread, stoppable without the dialog: when the window (and so
    the dialog) is destroyed or the application quits mid-run, the thread must still be
    cancelled and joined, or Qt aborts on a QThread destroyed while running."""

    def __init__(self) -> None:
        self.engine: EngineThread | None = None

    def stop(self, timeout_ms: int = 30_000) -> bool:
        engine, self.engine = self.engine, None
        return engine.stop(timeout_ms) if engine is not None else True


class VideoSRDialog(QDialog):
    """``upscaler_factory(values)`` replaces the network for previews and runs (tests);
    None uses :class:`editor.tools.video_sr.VideoUpscaler` and the installed model."""

    #: The input was probed (its VideoInfo), or could not be (None).
    inputProbed = Signal(object)
    #: A preview arrived (the frame index).
    previewUpdated = Signal(int)
    #: A run ended: its VideoSRSummary, or None when cancelled or failed.
    runFinished = Signal(object)

    def __init__(self, parent: QWidget | None = None, settings: Settings | None = None,
                 upscaler_factory: Callable[[dict], object] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.setWindowIcon(icon("mdi6.movie-open-star"))
        self.setAcceptDrops(True)
        self._settings = settings or Settings()
        self._factory = upscaler_factory
        self._holder = _EngineHolder()
        holder = self._holder  # not self: these run when the dialog may be gone
        self.destroyed.connect(lambda *_: holder.stop())
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(lambda: holder.stop())
        self.info = None                     # VideoInfo of the current input
        self._input_text = ""                # the input last set (the field may be mid-edit)
        self._auto_output = ""               # the output we filled in (replaced on changes)
        self._confirmed_output = ""          # chosen in Save as…, which asked about replacing
        self._probe_job: Job | None = None
        self._preview_job: Job | None = None
        self._run_job: Job | None = None
        self._run_summary: dict = {}
        self.last_summary = None
        self.last_preview: PreviewResult | None = None

        intro = QLabel("Enlarge a video, or a folder of numbered frames, 2–4 times. Each "
                       "frame borrows detail from its neighbours (sub-pixel motion "
                       "compensation), so moving scenes come out sharper than with a "
                       "photo enlarger. Drop a video or a folder here.")
        intro.setWordWrap(True)
        self.input_edit = QLineEdit()
        self.input_edit.setPlaceholderText("a video file or a folder of numbered frames")
        self.input_edit.setToolTip("The video (mp4, mov, mkv, webm, gif) or the folder of "
                                   "numbered images to enlarge")
        self.output_edit = QLineEdit()
        self.output_edit.setToolTip("The video file to write, or a folder for numbered frames "
                                    "(a name without a suffix)")
        self.page = ToolPage(VIDEO_SR_FORM)
        self.page.set_values(self._settings.tool_values(VIDEO_SR_FORM))
        self.info_label = QLabel("")
        self.info_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Input:", self._row(self.input_edit, ("File…", "mdi6.movie-open-outline",
                                                          "Choose a video file",
                                                          self.browse_input_file),
                                        ("Folder…", "mdi6.folder-multiple-image",
                                         "Choose a folder of numbered frames",
                                         self.browse_input_folder)))
        form.addRow("", self.info_label)
        form.addRow("Output:", self._row(self.output_edit, ("Save as…", "mdi6.content-save",
                                                            "Choose the video file to write",
                                                            self.browse_output_file),
                                         ("Folder…", "mdi6.folder-open",
                                          "Write numbered frames into an empty folder",
                                          self.browse_output_folder)))

        # Frame scrubber and the before/after preview.
        self.frame_slider = QSlider(Qt.Orientation.Horizontal)
        self.frame_slider.setToolTip("The frame to preview")
        self.frame_spin = QSpinBox()
        self.frame_spin.setToolTip("The frame to preview (1 is the first)")
        self.frame_count_label = QLabel("of 0")
        scrub = QHBoxLayout()
        scrub.addWidget(QLabel("Frame:"))
        scrub.addWidget(self.frame_slider, 1)
        scrub.addWidget(self.frame_spin)
        scrub.addWidget(self.frame_count_label)
        self.before_pane = PreviewPane("Before: bicubic")
        self.before_pane.setToolTip("The frame enlarged by plain bicubic interpolation")
        self.after_pane = PreviewPane("After: video super-resolution")
        self.after_pane.setToolTip("The same frame from the network, with its neighbours")
        self.before_caption, self.after_caption = QLabel("Before (bicubic)"), QLabel("After")
        panes = QHBoxLayout()
        for caption, pane in ((self.before_caption, self.before_pane),
                              (self.after_caption, self.after_pane)):
            column = QVBoxLayout()
            column.addWidget(caption)
            column.addWidget(pane, 1)
            panes.addLayout(column, 1)
        self.preview_status = QLabel("")

        controls = run_controls("Run", "Upscale every frame and write the output",
                                "Stop; nothing is written")
        self.progress_bar, self.status_label = controls.progress_bar, controls.status_label
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_button, self.cancel_button = controls.run_button, controls.cancel_button
        self.close_button, buttons = controls.close_button, controls.buttons

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.page)
        layout.addLayout(scrub)
        layout.addLayout(panes, 1)
        layout.addWidget(self.preview_status)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(buttons)
        self.resize(900, 720)

        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DEBOUNCE_MS)
        self._preview_timer.timeout.connect(self.request_preview)
        self.input_edit.editingFinished.connect(self._on_input_edited)
        self.page.valuesChanged.connect(self._on_values_changed)
        self.frame_slider.valueChanged.connect(self._on_slider)
        self.frame_spin.valueChanged.connect(self._on_spin)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        self._set_frame_count(0)

    def _row(self, edit: QLineEdit, *buttons) -> QWidget:
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(edit, 1)
        for text, icon_name, tip, slot in buttons:
            button = QPushButton(icon(icon_name), text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            box.addWidget(button)
        return row

    # -- engine ------------------------------------------------------------------------------
    def engine(self) -> EngineThread:
        if self._holder.engine is None:
            engine = EngineThread()
            engine.setObjectName("restora-video-sr")
            engine.finished.connect(self._on_job_finished)
            engine.progress.connect(self._on_job_progress)
            self._holder.engine = engine
        return self._holder.engine

    def _submit(self, fn, kind: str, key: str | None, label: str) -> Job:
        return self.engine().submit(Job(fn, kind=kind, label=label, key=key))

    def busy(self) -> bool:
        return self._run_job is not None

    # -- input and output ------------------------------------------------------------------
    def _start_dir(self) -> str:
        return self._settings.get("files/last_video_dir") or str(Path.home())

    def _remember_dir(self, path: Path) -> None:
        # The folder holding the input (for a frames folder: the folder beside it).
        self._settings.set("files/last_video_dir", str(path.resolve().parent))

    def browse_input_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open a video", self._start_dir(),
                                              f"{_VIDEO_FILTER};;All files (*)")
        if name:
            self.set_input(name)

    def browse_input_folder(self) -> None:
        name = QFileDialog.getExistingDirectory(self, "Open a folder of numbered frames",
                                                self._start_dir())
        if name:
            self.set_input(name)

    def browse_output_file(self) -> None:
        start = self.output_edit.text().strip() or self._start_dir()
        name, _ = QFileDialog.getSaveFileName(self, "Save the video as", start, _VIDEO_FILTER)
        if name:
            self._confirmed_output = name  # the file dialog asked about replacing it
            self.output_edit.setText(name)

    def browse_output_folder(self) -> None:
        name = QFileDialog.getExistingDirectory(self, "Write the frames into (an empty folder)",
                                                self._start_dir())
        if name:
            self.output_edit.setText(name)

    def _on_input_edited(self) -> None:
        # editingFinished also fires when the field merely loses focus: only a new text counts.
        text = self.input_edit.text().strip()
        if text != self._input_text:
            self.set_input(text)

    def set_input(self, path: str | Path) -> None:
        """Show ``path`` as the input, fill in the default output, probe it on the engine
        (frame count, size), then preview its first frame."""
        text = str(path).strip()
        if self.busy():
            return
        self._input_text = text
        with QSignalBlocker(self.input_edit):
            self.input_edit.setText(text)
        self.info = None
        self._set_frame_count(0)
        self._cancel_preview()
        if not text:
            self.info_label.setText("")
            return
        source = Path(text)
        if source.exists():
            self._remember_dir(source)
        self._update_default_output()
        self.info_label.setText("Reading…")

        def probe(progress):
            from editor.video.io import probe as probe_video
            return probe_video(source)

        if self._probe_job is not None:
            self._probe_job.cancel()
        self._probe_job = self._submit(probe, "preview", "video-sr-probe", "Read the video")

    def _update_default_output(self) -> None:
        source = self.input_edit.text().strip()
        current = self.output_edit.text().strip()
        if not source or (current and current != self._auto_output):
            return  # the user chose the output: leave it
        self._auto_output = str(default_output(source, self.page.values()["scale"]))
        self.output_edit.setText(self._auto_output)

    def _on_probed(self, info) -> None:
        self.info = info
        self._show_info()
        self._set_frame_count(info.frame_count)
        self.inputProbed.emit(info)
        self.schedule_preview()

    def _set_frame_count(self, count: int) -> None:
        with QSignalBlocker(self.frame_slider), QSignalBlocker(self.frame_spin):
            self.frame_slider.setRange(0, max(0, count - 1))
            self.frame_slider.setValue(0)
            self.frame_spin.setRange(1 if count else 0, max(0, count))
            self.frame_spin.setValue(1 if count else 0)
        self.frame_count_label.setText(f"of {count}")
        for widget in (self.frame_slider, self.frame_spin):
            widget.setEnabled(count > 1 and not self.busy())
        if not count:
            self.before_pane.set_rgb(None, "Before: bicubic")
            self.after_pane.set_rgb(None, "After: video super-resolution")

    def frame_index(self) -> int:
        return self.frame_slider.value()

    def set_frame(self, index: int) -> None:
        self.frame_slider.setValue(index)

    def _on_slider(self, value: int) -> None:
        with QSignalBlocker(self.frame_spin):
            self.frame_spin.setValue(value + 1)
        self.schedule_preview()

    def _on_spin(self, value: int) -> None:
        with QSignalBlocker(self.frame_slider):
            self.frame_slider.setValue(value - 1)
        self.schedule_preview()

    def _on_values_changed(self) -> None:
        self._settings.set_tool_values(VIDEO_SR_FORM, self.page.values())
        self._update_default_output()
        if self.info is not None:
            self._show_info()
        self.schedule_preview()

    def _show_info(self) -> None:
        """"1280 × 720, 240 frames, 25 fps, h264, with sound → 5120 × 2880"."""
        info, scale = self.info, self.page.values()["scale"]
        audio = ", with sound" if info.has_audio else ""
        rate = f"{float(info.fps):.3g} fps, " if info.kind == "video" else ""
        self.info_label.setText(
            f"{info.width} × {info.height}, {info.frame_count} frames, {rate}{info.codec}{audio}"
            f" → {info.width * scale} × {info.height * scale}")

    # -- preview ------------------------------------------------------------------------------
    def schedule_preview(self) -> None:
        if self.info is not None and not self.busy():
            self._preview_timer.start()

    def request_preview(self) -> None:
        """Ask the engine for the before/after of the current frame; a newer request
        cancels this one (the engine's preview coalescing)."""
        if self.info is None or self.busy():
            return
        source, index, values = self.info.path, self.frame_index(), self.page.values()
        factory = self._factory

        def work(progress):
            return _preview(source, index, values, factory, progress)

        self.preview_status.setText(f"Computing the preview of frame {index + 1}…")
        self._preview_job = self._submit(work, "preview", "video-sr-preview",
                                         "Video super-resolution preview")

    def _cancel_preview(self) -> None:
        self._preview_timer.stop()
        if self._preview_job is not None:
            self._preview_job.cancel()
            self._preview_job = None
        self.preview_status.setText("")

    def _on_preview(self, result: PreviewResult) -> None:
        self.last_preview = result
        values = self.page.values()
        crop = "" if result.crop is None else \
            f" — centre {result.crop[2]} × {result.crop[3]} px of the frame"
        self.before_caption.setText(f"Before: bicubic ×{values['scale']}{crop}")
        self.before_pane.set_rgb(result.before)
        if result.after is None:
            self.after_caption.setText("After")
            self.after_pane.set_rgb(None, result.problem)
        else:
            self.after_caption.setText(f"After: video super-resolution ×{values['scale']}, "
                                       f"{values['frames']} frames")
            self.after_pane.set_rgb(result.after)
        self.preview_status.setText(f"Frame {result.index + 1}")
        self.previewUpdated.emit(result.index)

    # -- run ------------------------------------------------------------------------------------
    def run(self) -> None:
        if self.busy():
            return
        source, target = self.input_edit.text().strip(), self.output_edit.text().strip()
        if not source:
            self.status_label.setText("Choose a video or a folder of frames first.")
            return
        if not target:
            self.status_label.setText("Choose where to write the result.")
            return
        target_path = Path(target)
        # The Save as… dialog asked about replacing its own choice; a typed name is asked here.
        if target_path.is_file() and target != self._confirmed_output:
            if not ask_overwrite(self, target_path):
                return
        values, factory = self.page.values(), self._factory
        holder = self._run_summary = {}

        def work(progress):
            from editor.tools.video_pipeline import run_video_sr

            upscaler = factory(values) if factory is not None else None
            holder["summary"] = run_video_sr(source, target, values, progress,
                                             upscaler=upscaler)
            return holder["summary"]

        self._cancel_preview()
        self.progress_bar.setValue(0)
        self.status_label.setText("Starting…")
        self._run_job = self._submit(work, "apply", None, TITLE)
        self._set_running(True)

    def cancel(self) -> None:
        if self._run_job is not None:
            self.status_label.setText("Cancelling…")
            self._run_job.cancel()

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for widget in (self.input_edit, self.output_edit, self.page):
            widget.setEnabled(not running)
        for widget in (self.frame_slider, self.frame_spin):
            widget.setEnabled(not running and self.frame_spin.maximum() > 1)

    def _on_run_finished(self, result) -> None:
        self._run_job = None
        self._set_running(False)
        # A cancel that came after the output was committed still wrote it.
        summary = result.value if result.ok else self._run_summary.get("summary")
        self.last_summary = summary
        if summary is not None:
            self.progress_bar.setValue(1000)
            self.status_label.setText(
                f"Wrote {summary.output}: {summary.frames} frames of {summary.width} × "
                f"{summary.height}, {summary.seconds_per_frame:.2f} s per frame.")
        elif result.cancelled:
            self.progress_bar.setValue(0)
            self.status_label.setText("Cancelled; nothing was written.")
        else:
            message = error_text(result.error)
            self.progress_bar.setValue(0)
            self.status_label.setText(f"Could not upscale the video: {message}")
            dialogs.show_error(self, TITLE, message)
        self.runFinished.emit(summary)
        self.schedule_preview()

    # -- engine signals -----------------------------------------------------------------------
    def _on_job_progress(self, job_id: int, fraction: float, message: str) -> None:
        if self._run_job is not None and job_id == self._run_job.id:
            self.progress_bar.setValue(round(fraction * 1000))
            if message:
                self.status_label.setText(message)
        elif self._preview_job is not None and job_id == self._preview_job.id:
            self.preview_status.setText(f"Computing the preview… {fraction:.0%}")

    def _on_job_finished(self, result) -> None:
        job = result.job
        if self._run_job is not None and job is self._run_job:
            self._on_run_finished(result)
        elif self._probe_job is not None and job is self._probe_job:
            self._probe_job = None
            if result.ok:
                self._on_probed(result.value)
            elif not result.cancelled:
                self.info_label.setText(error_text(result.error))
                self.inputProbed.emit(None)
        elif self._preview_job is not None and job is self._preview_job:
            self._preview_job = None
            if result.ok:
                self._on_preview(result.value)
            elif not result.cancelled:
                self.preview_status.setText(f"No preview: {error_text(result.error)}")

    # -- drag and drop ------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if not self.busy() and _video_drop_path(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        path = _video_drop_path(event.mimeData())
        if path is not None and not self.busy():
            event.acceptProposedAction()
            self.set_input(path)

    # -- closing --------------------------------------------------------------------------------
    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything and end the engine thread (closing, tests). A running video is
        cancelled: its output is not written."""
        self._preview_timer.stop()
        return self._holder.stop(timeout_ms)

    def done(self, result: int) -> None:  # every way of closing comes through here
        if self.busy():
            if not ask_stop_run(self):
                return
            self.cancel()
        self.stop()
        if self._run_job is not None:  # its result was dropped with the engine
            self._run_job = None
            self._set_running(False)
            self.status_label.setText("Cancelled; nothing was written.")
        self._probe_job = self._preview_job = None
        super().done(result)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.schedule_preview()


def _preview(source: Path, index: int, values: dict, factory, progress) -> PreviewResult:
    """Engine-thread work of one preview: the frame's window, bicubic and network."""
    from editor.engine.weights import WeightsError
    from editor.video.io import open_reader
    from editor.tools.video_pipeline import preview_frame

    with open_reader(source) as reader:
        info = reader.info
        crop = centre_crop(info.width, info.height, *PREVIEW_MAX)
        index = min(index, len(reader) - 1)
        try:
            upscaler = (factory or video_sr.VideoUpscaler)(values)
        except WeightsError as error:
            frame = reader.frame(index)
            if crop is not None:
                x, y, w, h = crop
                frame = frame[y:y + h, x:x + w]
            before = video_sr.bicubic_upscale(frame, int(values["scale"]))
            return PreviewResult(source, index, before, None, crop,
                                 f"No network preview: {error_text(error)}")
        before, after = preview_frame(reader, index, upscaler, progress, crop)
    return PreviewResult(source, index, before, after, crop)


#: One dialog per window: reopening it shows the running video, not a second one.
_dialogs: "weakref.WeakKeyDictionary[QWidget, VideoSRDialog]" = weakref.WeakKeyDictionary()


def open_video_sr(window) -> VideoSRDialog:
    """Show the dialog for ``window`` (a MainWindow; its settings are used)."""
    dialog = _dialogs.get(window)
    if dialog is None:
        dialog = VideoSRDialog(window, settings=getattr(window, "settings", None))
        _dialogs[window] = dialog
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
