"""The main window: an orchestrator that wires the pieces together.

It owns the current document (a QtDocument) and hands it to the canvas, the panels and
the controllers; the work itself lives elsewhere: actions/menus in ``actions.py``, files
in ``file_ops.py``, layer commands in ``layer_ops.py``, preview/apply in
``tool_controller.py``, zoom/compare/brush in ``view_controller.py``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import QDialog, QDockWidget, QMainWindow, QWidget

from editor.core.document import Document
from editor.qt import dialogs
from editor.qt.actions import Actions
from editor.qt.ai_zoom import AiZoomController
from editor.qt.engine_thread import EngineThread
from editor.qt.file_ops import FileOps, is_openable
from editor.qt.face_panel import FacePanel
from editor.qt.history_panel import HistoryPanel
from editor.qt.layer_ops import LayerOps
from editor.qt.layers_panel import LayersPanel
from editor.qt.preferences_dialog import PreferencesDialog, apply_engine_settings
from editor.qt.qt_document import QtDocument
from editor.qt.settings import Settings
from editor.qt.status_bar import StatusBar
from editor.qt.tool_controller import ToolController
from editor.qt.tool_panel import ToolPanel
from editor.qt.view_controller import ViewController
from editor.tools import TOOLS
from editor.tools.schema import Tool

APP_NAME = "Restora"


class MainWindow(QMainWindow):
    """One document per window. ``engine`` may be shared between windows (the app does
    that); a window that created its own engine stops it when it closes."""

    def __init__(self, settings: Settings | None = None, engine: EngineThread | None = None,
                 tools: dict[str, Tool] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings or Settings()
        self.tools = dict(TOOLS if tools is None else tools)
        self._owns_engine = engine is None
        self.engine = engine or EngineThread()
        self._qdoc: QtDocument | None = None
        self._spawned: list[MainWindow] = []
        self.setObjectName("MainWindow")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)

        # Central area: the canvas, or the side-by-side pair.
        self.view = ViewController(self.settings, self)
        self.setCentralWidget(self.view.stack)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)

        # Panels.
        self.layers_panel = LayersPanel()
        self.history_panel = HistoryPanel()
        self.tool_panel = ToolPanel(self.tools, self.settings)
        self.tool_dock = self._dock("Tool", "dock_tool", self.tool_panel, "F6",
                                    Qt.DockWidgetArea.RightDockWidgetArea)
        self.layers_dock = self._dock("Layers", "dock_layers", self.layers_panel, "F7",
                                      Qt.DockWidgetArea.RightDockWidgetArea)
        self.history_dock = self._dock("History", "dock_history", self.history_panel, "F9",
                                       Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.layers_dock, self.history_dock)
        self.layers_dock.raise_()

        # Controllers, then the actions that call them.
        self.file_ops = FileOps(self)
        self.layer_ops = LayerOps(self)
        self.tool_controller = ToolController(self, self.engine, self.tool_panel, self.status)
        self.ai_zoom = AiZoomController(self, self.engine, self.status)
        self.face_panel = FacePanel(self, self.engine, self.status)
        self.face_dock = self._dock("Face regions", "dock_faces", self.face_panel, "F10",
                                    Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.history_dock, self.face_dock)
        self.layers_dock.raise_()
        # "acts", not "actions": QWidget.actions() is a Qt method this must not shadow.
        self.acts = Actions(self)
        self.acts.build_menus()
        self.acts.build_toolbars()
        for dock in (self.tool_dock, self.layers_dock, self.history_dock, self.face_dock):
            self.acts.panels_menu.addAction(dock.toggleViewAction())
        self.layers_panel.set_button_actions(self.acts.layer_panel_actions())

        self._connect()
        self.acts.rebuild_recent_menu(self.settings.recent_files())
        self._restore_layout()
        self.apply_engine_preferences()
        self.set_document(None)

    def _dock(self, title: str, name: str, widget: QWidget, key: str,
              area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState/restoreState find docks by object name
        dock.setWidget(widget)
        toggle = dock.toggleViewAction()
        toggle.setShortcut(key)
        toggle.setToolTip(f"Show or hide the {title} panel ({key})")
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        v, s, tc = self.view, self.status, self.tool_controller
        for canvas in v.canvases():
            canvas.zoomChanged.connect(s.set_zoom)
            canvas.cursorMoved.connect(s.set_cursor)
            canvas.selectionChanged.connect(self._on_selection_changed)
        # Only the canvas whose region is previewed asks for a new preview when it moves
        # (the left side-by-side canvas merely follows the right one).
        v.canvas.viewChanged.connect(self._on_view_changed)
        v.side.right.viewChanged.connect(self._on_view_changed)
        v.viewSwitched.connect(self._on_view_switched)
        self.engine.progress.connect(s.set_progress)
        s.cancelRequested.connect(tc.cancel_apply)
        tc.message.connect(self.show_message)
        tc.busyChanged.connect(lambda _busy: self.acts.update_state())
        s.cancelRequested.connect(self.face_panel.cancel)
        self.face_panel.message.connect(self.show_message)
        az = self.ai_zoom
        s.cancelRequested.connect(az.cancel_apply)
        az.message.connect(self.show_message)
        az.busyChanged.connect(lambda _busy: self.acts.update_state())
        # AI zoom and a tool preview would both draw over the same region: one at a time.
        az.enabledChanged.connect(self._on_ai_zoom_enabled)
        self.tool_panel.previewToggled.connect(
            lambda on: on and self.acts.ai_zoom.setChecked(False))
        # Changing tools clears the canvas's preview, an AI zoom render included: redo it.
        self.tool_panel.toolChanged.connect(lambda _tool_id: az.schedule())
        for canvas in (v.canvas, v.side.right):
            canvas.zoomChanged.connect(lambda _zoom: self.acts.update_ai_zoom_state())
        self.file_ops.recentChanged.connect(
            lambda: self.acts.rebuild_recent_menu(self.settings.recent_files()))
        self.acts.recent_menu.aboutToShow.connect(self._prune_recent)

    # -- host API used by the controllers ------------------------------------------------------
    def document(self) -> QtDocument | None:
        return self._qdoc

    def view_canvas(self):
        return self.view.active_canvas()

    def preview_canvases(self):
        return self.view.preview_canvases()

    def selection(self):
        return self.view.selection()

    def show_message(self, text: str) -> None:
        self.status.showMessage(text, 5000)

    # -- document lifecycle ---------------------------------------------------------------------
    def set_document(self, doc: Document | None, work_path: Path | None = None) -> None:
        """Show ``doc`` (None: the empty window). The previous document is dropped without
        asking; callers ask first (FileOps.maybe_save)."""
        old = self._qdoc
        if old is not None:
            old.detach()
        qdoc = QtDocument(doc, work_path=work_path, parent=self) if doc is not None else None
        self._qdoc = qdoc
        self.tool_controller.set_document(qdoc)
        self.view.set_document(qdoc)
        self.ai_zoom.set_document(qdoc)
        self.layers_panel.set_document(qdoc)
        self.history_panel.set_document(qdoc)
        self.face_panel.set_document(qdoc)
        if qdoc is not None:
            qdoc.historyChanged.connect(self._on_history_changed)
            qdoc.docChanged.connect(self._on_doc_changed)
            self.status.set_document_info(doc.width, doc.height, doc.meta.bit_depth)
        else:
            self.status.set_document_info(None, None, None)
        if old is not None:
            old.deleteLater()
        self._update_title()
        self.acts.update_state()

    def close_document(self) -> bool:
        if self._qdoc is None:
            return True
        if not self.file_ops.maybe_save():
            return False
        self.set_document(None)
        return True

    def open_paths(self, paths: list[str | Path]) -> None:
        """Open the first file here and any others in windows of their own (one document
        per window keeps each photo's history separate)."""
        paths = [Path(p) for p in paths]
        if not paths:
            return
        self.file_ops.open_path(paths[0])
        for path in paths[1:]:
            self.spawn_window().file_ops.open_path(path)

    def spawn_window(self) -> "MainWindow":
        # Windows of an app-owned engine share it; a window that owns its engine (tests,
        # embedding) gives the new window its own, so closing one never stops the other's.
        engine = None if self._owns_engine else self.engine
        window = MainWindow(self.settings, engine, self.tools)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.show()
        self._spawned.append(window)
        window.destroyed.connect(lambda _=None, w=window: self._forget_spawned(w))
        return window

    def _forget_spawned(self, window: "MainWindow") -> None:
        if window in self._spawned:
            self._spawned.remove(window)

    # -- edit -----------------------------------------------------------------------------------
    def undo(self) -> None:
        if self._qdoc is not None:
            self._qdoc.history.undo()

    def redo(self) -> None:
        if self._qdoc is not None:
            self._qdoc.history.redo()

    def escape(self) -> None:
        """Esc: stop the running tool, else hide the preview, else drop the selection."""
        tc = self.tool_controller
        if tc.busy:
            tc.cancel_apply()
        elif self.ai_zoom.busy:
            self.ai_zoom.cancel_apply()
        elif tc.preview_visible():
            self.tool_panel.set_preview_enabled(False)
        elif self.ai_zoom.showing():
            self.acts.ai_zoom.setChecked(False)
        else:
            self.view.clear_selection()

    def show_tool(self, tool_id: str) -> None:
        self.tool_dock.show()
        self.tool_dock.raise_()
        self.tool_panel.set_tool(tool_id)

    def show_preferences(self) -> None:
        dlg = PreferencesDialog(self.settings, self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            dlg.store()
            self.apply_engine_preferences(report=True)

    def apply_engine_preferences(self, report: bool = False) -> None:
        name, warning = apply_engine_settings(self.settings)
        self.status.set_device(name)
        if warning and report:
            dialogs.show_info(self, "Device not available", warning)

    def clear_recent(self) -> None:
        self.settings.clear_recent()
        self.acts.rebuild_recent_menu([])

    def _prune_recent(self) -> None:
        gone = self.file_ops.prune_recent()
        if gone:
            self.show_message("Removed missing files from Open Recent: " + ", ".join(gone))

    # -- reactions --------------------------------------------------------------------------------
    def _on_history_changed(self) -> None:
        self._update_title()
        self.acts.update_state()

    def _on_doc_changed(self, event) -> None:
        if event.kind == "pixels":
            return  # brush dabs: nothing here depends on pixel values
        if event.kind == "structure" and self._qdoc is not None:
            doc = self._qdoc.doc
            self.status.set_document_info(doc.width, doc.height, doc.meta.bit_depth)
        self.acts.update_state()

    def _on_selection_changed(self) -> None:
        # A preview is confined to the selection, so it must follow it.
        self.tool_controller.schedule_preview()

    def _on_view_changed(self) -> None:
        self.tool_controller.schedule_preview()
        self.ai_zoom.schedule()

    def _on_view_switched(self) -> None:
        self.tool_controller.cancel_preview()
        self.tool_controller.schedule_preview()
        self.ai_zoom.view_switched()
        self.status.set_zoom(self.view.active_canvas().zoom())

    def _on_ai_zoom_enabled(self, on: bool) -> None:
        self.acts.ai_zoom.setChecked(on)  # an error may have switched it off
        if on:
            self.tool_panel.set_preview_enabled(False)

    def _update_title(self) -> None:
        q = self._qdoc
        if q is None:
            self.setWindowTitle(APP_NAME)
        else:
            self.setWindowTitle(f"{q.display_name}{'' if q.is_clean else '*'} — {APP_NAME}")

    # -- window state -----------------------------------------------------------------------------
    def _restore_layout(self) -> None:
        geometry = self.settings.get("window/geometry")
        if geometry:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        state = self.settings.get("window/state")
        if state:
            self.restoreState(state)

    def save_layout(self) -> None:
        self.settings.set("window/geometry", bytes(self.saveGeometry().data()))
        self.settings.set("window/state", bytes(self.saveState().data()))

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.file_ops.maybe_save():
            event.ignore()
            return
        self.save_layout()
        self.set_document(None)
        if self._owns_engine:
            self.engine.stop()
        self.settings.sync()
        event.accept()

    # -- keyboard and drag-and-drop ---------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Esc reaches here when no widget used it (the canvas takes it first to cancel a
        # drag or drop its selection), so it never fights with text fields or dialogs.
        if event.key() == Qt.Key.Key_Escape:
            self.escape()
            event.accept()
            return
        super().keyPressEvent(event)

    def _dropped_paths(self, mime) -> list[Path]:
        if not mime.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in mime.urls()
                if u.isLocalFile() and is_openable(u.toLocalFile())]

    def dragEnterEvent(self, event) -> None:
        if self._dropped_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        paths = self._dropped_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)
