"""The "Learn my look" dialog: teach the Retouch tool a new style from the user's own
before/after photos (:mod:`editor.training.learn_look`).

The pairs come from two folders (matched by file name) or from the layers of the window's
open document (``beach`` + ``beach after``, see
:func:`editor.training.learn_look.pairs_from_layers`), then a style name, Train. Layer
pairs are read (and shrunk to the training size) when Train is pressed, so editing the
document meanwhile changes nothing in the training. Training runs on a QThread of its own,
not on the engine thread: it takes minutes, and previews and Apply must keep working
meanwhile. The progress bar follows it, Cancel stops it at the next step and saves
nothing; closing the dialog cancels too and waits for the thread. Problems (too few pairs,
an unpaired or unreadable file, a taken name) come back as one line in the dialog; nothing
is written unless training finished. On success the new style is added to the Tool panel's
style list (:func:`refresh_style_choices`) and shown there, selected.
"""

from __future__ import annotations

import weakref
from pathlib import Path

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (QApplication, QComboBox, QDialog, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget)

from editor.engine.progress import Cancelled, Progress
from editor.qt.dialogs import run_controls
from editor.qt.icons import icon
from editor.qt.settings import Settings

RETOUCH_TOOL_ID = "retouch"


class LearnLookWorker(QThread):
    """Reads the pairs and trains; reports through signals only (never touches a widget)."""

    progressed = Signal(float, str)
    succeeded = Signal(object)       # editor.training.learn_look.LookResult
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, pairs, name: str, label: str, parent=None, **learn_options) -> None:
        """``pairs``: a callable that reads the pairs (run on this thread: reading folders
        takes time, and its errors are reported like training's)."""
        super().__init__(parent)
        self.setObjectName("restora-learn-look")
        self._args = (pairs, name, label)
        self._options = learn_options
        self._progress = Progress(lambda f, m: self.progressed.emit(float(f), m or ""))

    def cancel(self) -> None:
        self._progress.cancel()

    def run(self) -> None:
        from editor.training import learn_look

        read_pairs, name, label = self._args
        try:
            pairs = read_pairs()
            result = learn_look.learn_look(pairs, name, label=label or None,
                                           progress=self._progress, **self._options)
        except Cancelled:
            self.cancelled.emit()
        except Exception as error:  # noqa: BLE001 - shown as one line, the thread ends cleanly
            text = str(error).strip().splitlines()
            self.failed.emit(text[0] if text else type(error).__name__)
        else:
            self.succeeded.emit(result)


def refresh_style_choices(panel) -> None:
    """Refill the Retouch page's style combo box of ``panel`` (a ToolPanel) from the live
    style list, keeping the current choice; nothing to do when the panel has no Retouch."""
    if panel is None or panel.tool_combo.findData(RETOUCH_TOOL_ID) < 0:
        return
    panel.page(RETOUCH_TOOL_ID).refresh_choices()


class LearnLookDialog(QDialog):
    """``tool_panel``: the window's ToolPanel to refresh and show the new style in (None:
    just save it). ``learn_options`` go to :func:`editor.training.learn_look.learn_look`
    (tests pass a stand-in base model and a few iterations)."""

    #: A style was saved (its name).
    styleLearned = Signal(str)

    def __init__(self, parent: QWidget | None = None, tool_panel=None,
                 settings: Settings | None = None, **learn_options) -> None:
        super().__init__(parent)
        self.setWindowTitle("Learn My Look")
        self.setWindowIcon(icon("mdi6.school-outline"))
        self._panel = tool_panel
        self._settings = settings or Settings()
        self._options = learn_options
        self.worker: LearnLookWorker | None = None
        self.last_result = None

        from editor.training.learn_look import MIN_PAIRS, TIME_LIMIT_S

        intro = QLabel(f"Show Retouch your own edits: a folder of photos as they were and a "
                       f"folder of the same photos after your editing, paired by file name, "
                       f"or layers of the open document named like 'beach' and 'beach "
                       f"after' (at least {MIN_PAIRS} pairs). A new style is trained on the "
                       f"CPU in at most {TIME_LIMIT_S / 60:.1f} minutes and appears in the "
                       f"Retouch tool.")
        intro.setWordWrap(True)
        self.source_combo = QComboBox()
        self.source_combo.addItem("Two folders", "folders")
        self.source_combo.addItem("Layers of the open document", "layers")
        self.source_combo.setToolTip("Where the before/after pairs come from")
        self.layers_label = QLabel()
        self.layers_label.setWordWrap(True)
        self.before_edit, before_row = self._folder_row("Photos before editing")
        self.after_edit, after_row = self._folder_row("The same photos after editing")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. warm-film")
        self.name_edit.setToolTip("Lower-case letters, digits, '-' or '_'; the name for "
                                  "restora-cli retouch --style")
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("shown in the style list (optional)")
        form = QFormLayout()
        form.addRow("Pairs from:", self.source_combo)
        form.addRow("Before:", before_row)
        form.addRow("After:", after_row)
        form.addRow("Layers:", self.layers_label)
        self._form, self._folder_rows = form, (before_row, after_row)
        form.addRow("Style name:", self.name_edit)
        form.addRow("Label:", self.label_edit)

        controls = run_controls("Train", "Read the pairs and learn the style",
                                "Stop training; nothing is saved")
        self.progress_bar, self.status_label = controls.progress_bar, controls.status_label
        self.train_button, self.cancel_button = controls.run_button, controls.cancel_button
        self.close_button, buttons = controls.close_button, controls.buttons

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(buttons)

        self.train_button.clicked.connect(self.train)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        # Where the last look came from (folders, source), as a retoucher expects.
        self.before_edit.setText(self._settings.get("look/before_dir"))
        self.after_edit.setText(self._settings.get("look/after_dir"))
        self.set_source(self._settings.get("look/source"))
        self.source_combo.currentIndexChanged.connect(self._source_changed)
        self._source_changed()
        self._show_style_problems()

    # -- where the pairs come from --------------------------------------------------------------
    def use_layers(self) -> bool:
        return self.source_combo.currentData() == "layers"

    def set_source(self, source: str) -> None:
        """"folders" or "layers" (anything else: folders)."""
        self.source_combo.setCurrentIndex(max(0, self.source_combo.findData(source)))

    def _document_layers(self) -> list[tuple[str, object]]:
        """(name, pixels) of the window's open document, bottom first (not copied)."""
        window = self.parent()
        current = getattr(window, "document", None)
        holder = current() if callable(current) else None
        doc = getattr(holder, "doc", None)
        return [] if doc is None else [(layer.name, layer.pixels) for layer in doc.layers]

    def _source_changed(self, *_args) -> None:
        layers = self.use_layers()
        self._settings.set("look/source", self.source_combo.currentData())
        for row in self._folder_rows:
            self._form.setRowVisible(row, not layers)
        self._form.setRowVisible(self.layers_label, layers)
        if layers:
            self._describe_layer_pairs()

    def _describe_layer_pairs(self) -> None:
        from editor.training.learn_look import layer_role

        layers = self._document_layers()
        if not layers:
            self.layers_label.setText("No document is open.")
            return
        keys = sorted({layer_role(name)[0] for name, _ in layers
                       if layer_role(name)[1] == "after"})
        shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
        self.layers_label.setText(
            f"{len(keys)} edited layer{'s' if len(keys) != 1 else ''} found"
            + (f": {shown}" if keys else " (name each edited layer like its original plus "
                                         "' after')"))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.use_layers():              # the document may have changed meanwhile
            self._describe_layer_pairs()

    def _folder_row(self, tip: str) -> tuple[QLineEdit, QWidget]:
        edit = QLineEdit()
        edit.setToolTip(tip)
        browse = QPushButton(icon("mdi6.folder-open"), "Browse…")
        browse.setToolTip(f"Choose the folder: {tip.lower()}")
        browse.clicked.connect(lambda: self._browse(edit, tip))
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(edit, 1)
        box.addWidget(browse)
        return edit, row

    def _browse(self, edit: QLineEdit, title: str) -> None:
        start = edit.text() or self.before_edit.text() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, title, start)
        if folder:
            edit.setText(folder)

    def _show_style_problems(self) -> None:
        from editor.tools import retouch_styles

        problems = retouch_styles.problems()
        if problems:
            self.status_label.setText("\n".join(problems))

    # -- training -------------------------------------------------------------------------------
    def busy(self) -> bool:
        return self.worker is not None

    def train(self) -> None:
        if self.busy():
            return
        from editor.training import learn_look

        name = self.name_edit.text().strip()
        if self.use_layers():
            layers = self._document_layers()
            if not layers:
                self.status_label.setText("Open a document with the before/after layers first.")
                return
            # Read now, on this thread, while the layers are as the user sees them: the
            # pairs come out shrunk to the training size (a few MB), so neither a copy of
            # every full-size layer nor the live document goes to the worker.
            try:
                layer_pairs = learn_look.pairs_from_layers(layers)
            except learn_look.LookError as error:
                self.status_label.setText(f"Could not learn the look: {error}")
                return
            pairs = lambda: layer_pairs  # noqa: E731
        else:
            before, after = self.before_edit.text().strip(), self.after_edit.text().strip()
            if not before or not after:
                self.status_label.setText("Choose both folders first.")
                return
            pairs = lambda: learn_look.pairs_from_folders(before, after)  # noqa: E731
        if not name:
            self.status_label.setText("Give the style a name.")
            return
        if not self.use_layers():
            self._settings.set("look/before_dir", self.before_edit.text().strip())
            self._settings.set("look/after_dir", self.after_edit.text().strip())
        self.progress_bar.setValue(0)
        self.status_label.setText("Reading the photos…")
        worker = LearnLookWorker(pairs, name, self.label_edit.text().strip(), self,
                                 **self._options)
        worker.progressed.connect(self._on_progress)
        worker.succeeded.connect(self._on_success)
        worker.failed.connect(self._on_failure)
        worker.cancelled.connect(self._on_cancelled)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self._set_running(True)
        worker.start()

    def cancel(self) -> None:
        if self.worker is not None:
            self.status_label.setText("Cancelling…")
            self.worker.cancel()

    def _set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for edit in (self.before_edit, self.after_edit, self.name_edit, self.label_edit,
                     self.source_combo):
            edit.setEnabled(not running)

    def _on_progress(self, fraction: float, message: str) -> None:
        if self.worker is None:
            return
        self.progress_bar.setValue(round(fraction * 1000))
        if message:
            self.status_label.setText(message)

    def _on_success(self, result) -> None:
        self.last_result = result
        style = result.style
        self.progress_bar.setValue(1000)
        self.status_label.setText(f"Saved the style “{style.label}” ({result.iterations} "
                                  f"steps, {result.seconds:.0f} s). It is selected in the "
                                  "Retouch tool.")
        # Every window's Retouch page (other windows share the tools but not the widgets).
        panels = {id(w.tool_panel): w.tool_panel for w in QApplication.topLevelWidgets()
                  if getattr(w, "tool_panel", None) is not None}
        if self._panel is not None:
            panels[id(self._panel)] = self._panel
        for panel in panels.values():
            refresh_style_choices(panel)
        if self._panel is not None and self._panel.tool_combo.findData(RETOUCH_TOOL_ID) >= 0:
            self._panel.set_tool(RETOUCH_TOOL_ID)
            self._panel.set_values({"style": style.name})
        self.styleLearned.emit(style.name)

    def _on_failure(self, message: str) -> None:
        self.status_label.setText(f"Could not learn the look: {message}")

    def _on_cancelled(self) -> None:
        self.progress_bar.setValue(0)
        self.status_label.setText("Cancelled; nothing was saved.")

    def _on_finished(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.wait()
            worker.deleteLater()
        self._set_running(False)

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Cancel a running training and wait for its thread (closing, tests)."""
        worker = self.worker
        if worker is None:
            return True
        worker.cancel()
        return worker.wait(timeout_ms)

    def done(self, result: int) -> None:  # every way of closing comes through here
        self.stop()
        super().done(result)

    def closeEvent(self, event) -> None:
        self.stop()
        super().closeEvent(event)


#: One dialog per window: reopening it shows the running training, not a second one.
_dialogs: "weakref.WeakKeyDictionary[QWidget, LearnLookDialog]" = weakref.WeakKeyDictionary()


def open_learn_look(window) -> LearnLookDialog:
    """Show the dialog for ``window`` (a MainWindow; its Tool panel gets the new style)."""
    dialog = _dialogs.get(window)
    if dialog is None:
        dialog = LearnLookDialog(window, tool_panel=getattr(window, "tool_panel", None),
                                 settings=getattr(window, "settings", None))
        _dialogs[window] = dialog
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
