"""Every QAction of the main window, its menus and toolbars.

One place lists all commands with their shortcut, icon and tooltip, so the menus, the
toolbars, the Layers panel buttons and the tests all share the same action objects (a
shortcut works whether or not its menu is open, and enabling an action greys out every
button bound to it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication, QMenu, QToolBar

from editor.qt.icons import icon

if TYPE_CHECKING:
    from editor.qt.main_window import MainWindow


def _tooltip(text: str, tip: str, shortcuts: list[QKeySequence]) -> str:
    keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in shortcuts)
    return f"{tip} ({keys})" if keys else tip


class Actions:
    def __init__(self, w: "MainWindow") -> None:
        self._w = w
        f, v, t, lo = w.file_ops, w.view, w.tool_controller, w.layer_ops
        mk = self._make
        # File
        self.open = mk("&Open…", f.open_dialog, "Ctrl+O", "mdi6.folder-open",
                       "Open a photo or a Restora work file (.ora)")
        self.recent_menu = QMenu("Open &Recent", w)
        self.recent_menu.setIcon(icon("mdi6.history"))
        self.recent_menu.setToolTipsVisible(True)
        self.paste = mk("&Paste", lambda: f.paste(False), "Ctrl+V", "mdi6.clipboard-arrow-down",
                        "Paste the clipboard image as a new layer (as a new image when none is open)")
        self.paste_new = mk("Paste as New &Image", lambda: f.paste(True), "Ctrl+Shift+V",
                            "mdi6.image-plus", "Open the clipboard image as a new document")
        self.save = mk("&Save Work", f.save_work, "Ctrl+S", "mdi6.content-save",
                       "Save layers, masks and settings as a .ora work file "
                       "(never overwrites the photo)")
        self.save_as = mk("Save Work &As…", lambda: f.save_work_as(), "Ctrl+Shift+S",
                          "mdi6.content-save-edit", "Save the work file under a new name")
        self.export = mk("&Export As…", f.export_dialog, "Ctrl+Shift+E", "mdi6.export",
                         "Export the flattened image as PNG, JPEG, TIFF or WebP")
        self.close = mk("&Close", w.close_document, "Ctrl+W", "mdi6.close",
                        "Close the image (asks to save unsaved changes)")
        # Every window closes (each asks about its own unsaved edits); the app ends with
        # the last one.
        self.quit = mk("&Quit", QApplication.closeAllWindows, "Ctrl+Q", "mdi6.exit-to-app",
                       "Quit Restora")
        self.quit.setMenuRole(QAction.MenuRole.QuitRole)
        # Edit
        self.undo = mk("&Undo", w.undo, "Ctrl+Z", "mdi6.undo", "Undo the last step")
        self.redo = mk("&Redo", w.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "mdi6.redo",
                       "Redo the step you undid")
        self.preferences = mk("&Preferences…", w.show_preferences, "Ctrl+,", "mdi6.cog",
                              "Compute device and CPU threads")
        self.preferences.setMenuRole(QAction.MenuRole.PreferencesRole)
        # Select
        self.select_all = mk("Select &All", v.select_all, "Ctrl+A", "mdi6.select-all",
                             "Select the whole image")
        self.deselect = mk("&Deselect", v.clear_selection, "Ctrl+D", "mdi6.select-off",
                           "Remove the selection (Esc also does)")
        # View
        self.zoom_in = mk("Zoom &In", v.zoom_in, ["Ctrl+=", "Ctrl++"], "mdi6.magnify-plus-outline",
                          "Zoom in")
        self.zoom_out = mk("Zoom &Out", v.zoom_out, "Ctrl+-", "mdi6.magnify-minus-outline",
                           "Zoom out")
        self.zoom_fit = mk("&Fit on Screen", v.zoom_fit, "Ctrl+0", "mdi6.fit-to-screen-outline",
                           "Show the whole image")
        self.zoom_100 = mk("&Actual Pixels (100 %)", v.zoom_actual, "Ctrl+1", "mdi6.magnify-scan",
                           "One image pixel per screen pixel")
        self.compare_before = mk("Show &Before", None, "\\", "mdi6.compare",
                                 "Toggle between before (source A) and after", checkable=True)
        self.compare_split = mk("&Split View", None, "Ctrl+\\", "mdi6.compare-horizontal",
                                "Before on the left, after on the right of a movable line",
                                checkable=True)
        group = QActionGroup(w)
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        group.addAction(self.compare_before)
        group.addAction(self.compare_split)
        self.compare_before.toggled.connect(lambda on: self._compare_toggled())
        self.compare_split.toggled.connect(lambda on: self._compare_toggled())
        self.compare_side = mk("Side &by Side", v.set_side_by_side, "Y", "mdi6.view-split-vertical",
                               "Before and after in two synchronised views", checkable=True)
        self.compare_sources = mk("Compare &Sources…", lambda: v.choose_compare_sources(w),
                                  "Ctrl+Alt+\\", "mdi6.vector-difference-ab",
                                  "Choose what before (A) and after (B) show: composite or a layer")
        self.mask_overlay = mk("Show &Mask Overlay", v.set_mask_overlay, "O", "mdi6.eye-outline",
                               "Show the active layer's mask as a red overlay where it hides",
                               checkable=True)
        self.mask_overlay.setChecked(w.settings.get("view/show_mask_overlay"))
        self.ai_zoom = mk("AI &Zoom", w.ai_zoom.set_enabled, "Ctrl+Alt+Z", "mdi6.magnify-expand",
                          "Past 100 %, show the visible region enhanced by the super-resolution "
                          "network instead of enlarged pixels (the image is not changed)",
                          checkable=True)
        self.apply_ai_zoom = mk("Apply AI Zoo&m", w.ai_zoom.apply, "Ctrl+Alt+Shift+Z",
                                "mdi6.crop",
                                "Crop the image to the visible region and enlarge it by the zoom "
                                "factor with super-resolution (one undoable step)")
        # Layer
        self.new_layer = mk("&New Layer", lo.new_layer, "Ctrl+Shift+N", "mdi6.layers-plus",
                            "Add an empty layer above the active one")
        self.duplicate_layer = mk("&Duplicate Layer", lo.duplicate, "Ctrl+J", "mdi6.content-copy",
                                  "Copy the active layer")
        self.delete_layer = mk("De&lete Layer", lo.delete, "Shift+Del", "mdi6.delete",
                               "Delete the active layer")
        self.layer_up = mk("Move &Up", lo.move_up, "Ctrl+]", "mdi6.arrow-up",
                           "Move the active layer up the stack")
        self.layer_down = mk("Move Do&wn", lo.move_down, "Ctrl+[", "mdi6.arrow-down",
                             "Move the active layer down the stack")
        self.merge_down = mk("&Merge Down", lo.merge_down, "Ctrl+E", "mdi6.arrow-collapse-down",
                             "Merge the active layer into the one below")
        self.flatten = mk("&Flatten Image", lo.flatten, "Ctrl+Shift+F", "mdi6.layers-triple",
                          "Merge all visible layers into one (hidden layers are discarded)")
        self.add_mask = mk("&Add Mask", lo.add_mask, "Ctrl+M", "mdi6.image-filter-black-white",
                           "Add a mask that reveals the whole layer; paint with B/E to hide")
        self.mask_from_selection = mk("Mask from &Selection", lo.mask_from_selection,
                                      "Ctrl+Shift+M", "mdi6.selection",
                                      "Add a mask that shows the layer only inside the selection")
        self.delete_mask = mk("Delete Mas&k", lo.delete_mask, "Ctrl+Alt+M", "mdi6.close-circle",
                              "Remove the active layer's mask")
        self.toggle_mask = mk("Mask &On/Off", lo.toggle_mask, "Alt+M", "mdi6.eye-off-outline",
                              "Turn the active layer's mask on or off")
        # Filters: one entry per tool, then Apply
        self.tool_actions: dict[str, QAction] = {}
        for i, tool in enumerate(w.tools.values(), start=1):
            keys = f"Ctrl+Alt+{i}" if i <= 9 else []
            self.tool_actions[tool.id] = mk(tool.label + "…", lambda _=False, tid=tool.id: w.show_tool(tid),
                                            keys, tool.icon, tool.help or f"Show {tool.label} in the Tool panel")
        self.apply_tool = mk("&Apply Tool", t.apply, ["Ctrl+Return", "Ctrl+Enter"], "mdi6.check",
                             "Apply the tool to the active layer as a new layer")
        self.cancel_job = mk("&Cancel Operation", w.escape, [], "mdi6.cancel",
                             "Stop the running tool, hide the preview or drop the selection (Esc)")
        # Canvas modes (exclusive) and brush size
        self.mode_actions: dict[str, QAction] = {}
        modes = QActionGroup(w)
        for mode, text, keys, ic, tip in (
                ("pan", "&Pan", "H", "mdi6.hand-back-right", "Drag to move around (Space-drag anywhere)"),
                ("brush", "Mask &Brush", "B", "mdi6.brush", "Paint the mask to reveal the layer"),
                ("eraser", "Mask &Eraser", "E", "mdi6.eraser", "Paint the mask to hide the layer"),
                ("select_rect", "&Rectangle Select", "M", "mdi6.selection",
                 "Drag a rectangle selection (confines Apply and Mask from Selection)"),
                ("select_ellipse", "E&llipse Select", ["Shift+M", "L"], "mdi6.selection-ellipse",
                 "Drag an elliptical selection")):
            a = mk(text, lambda _=False, m=mode: v.set_tool_mode(m), keys, ic, tip, checkable=True)
            modes.addAction(a)
            self.mode_actions[mode] = a
        self.mode_actions["pan"].setChecked(True)
        self.brush_smaller = mk("Smaller Brush", lambda: v.scale_brush(1 / 1.25), "[",
                                "mdi6.minus", "Make the brush smaller")
        self.brush_larger = mk("Larger Brush", lambda: v.scale_brush(1.25), "]",
                               "mdi6.plus", "Make the brush larger")

        # Commands that need an open document; refreshed by update_state().
        self.document_actions = [
            self.save, self.save_as, self.export, self.close, self.select_all, self.deselect,
            self.zoom_in, self.zoom_out, self.zoom_fit, self.zoom_100, self.compare_before,
            self.compare_split, self.compare_side, self.compare_sources, self.ai_zoom,
            self.apply_ai_zoom, self.new_layer,
            self.duplicate_layer, self.delete_layer, self.layer_up, self.layer_down,
            self.merge_down, self.flatten, self.add_mask, self.mask_from_selection,
            self.delete_mask, self.toggle_mask, self.apply_tool, *self.mode_actions.values()]

    def _make(self, text: str, slot: Callable | None, shortcuts, icon_name: str, tip: str,
              checkable: bool = False) -> QAction:
        a = QAction(icon(icon_name), text, self._w)
        keys = [shortcuts] if isinstance(shortcuts, str) else list(shortcuts or [])
        seqs = [QKeySequence(k) for k in keys]
        a.setShortcuts(seqs)
        # Window-wide: shortcuts work with focus in any dock, not only on the canvas.
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        a.setToolTip(_tooltip(text, tip, seqs))
        a.setStatusTip(tip)
        a.setCheckable(checkable)
        if slot is not None:
            if checkable:
                a.toggled.connect(slot)
            else:
                a.triggered.connect(lambda _checked=False: slot())
        self._w.addAction(a)
        return a

    def _compare_toggled(self) -> None:
        mode = ("before" if self.compare_before.isChecked()
                else "split" if self.compare_split.isChecked() else "off")
        self._w.view.set_compare_mode(mode)

    # -- menus and toolbars ---------------------------------------------------------------------
    def build_menus(self) -> None:
        mb = self._w.menuBar()
        m = mb.addMenu("&File")
        m.setToolTipsVisible(True)
        m.addActions([self.open])
        m.addMenu(self.recent_menu)
        m.addSeparator()
        m.addActions([self.paste_new, self.save, self.save_as, self.export])
        m.addSeparator()
        # Video super-resolution (issue 7): a dialog of its own, loaded on first use.
        self.video_sr = self._make(
            "&Video super-resolution…", self._open_video_sr, "Ctrl+Alt+V",
            "mdi6.movie-open-star",
            "Enlarge a video or a folder of numbered frames 2–4 times, each frame sharpened "
            "with detail from its neighbours")
        m.addAction(self.video_sr)
        m.addSeparator()
        m.addActions([self.close, self.quit])
        m = mb.addMenu("&Edit")
        m.setToolTipsVisible(True)
        m.addActions([self.undo, self.redo])
        m.addSeparator()
        m.addActions([self.paste, self.cancel_job])
        m.addSeparator()
        m.addAction(self.preferences)
        m = mb.addMenu("&Select")
        m.setToolTipsVisible(True)
        m.addActions([self.select_all, self.deselect])
        m = mb.addMenu("&View")
        m.setToolTipsVisible(True)
        m.addActions([self.zoom_in, self.zoom_out, self.zoom_fit, self.zoom_100])
        m.addSeparator()
        m.addActions([self.compare_before, self.compare_split, self.compare_side,
                      self.compare_sources])
        m.addSeparator()
        m.addActions([self.ai_zoom, self.apply_ai_zoom])
        m.addSeparator()
        m.addAction(self.mask_overlay)
        self.panels_menu = m.addMenu("&Panels")
        m = mb.addMenu("&Layer")
        m.setToolTipsVisible(True)
        m.addActions([self.new_layer, self.duplicate_layer, self.delete_layer])
        m.addSeparator()
        m.addActions([self.layer_up, self.layer_down, self.merge_down, self.flatten])
        m.addSeparator()
        m.addActions([self.add_mask, self.mask_from_selection, self.delete_mask, self.toggle_mask])
        m = mb.addMenu("Fi&lters")
        m.setToolTipsVisible(True)
        m.addActions(list(self.tool_actions.values()))
        m.addSeparator()
        m.addAction(self.apply_tool)
        # Learn my look (issue 6): teach Retouch a style; the dialog module loads on first use.
        self.learn_look = self._make(
            "&Learn My Look…", lambda: __import__("editor.qt.learn_look_dialog", fromlist=[
                "open_learn_look"]).open_learn_look(self._w), [], "mdi6.school-outline",
            "Teach the Retouch tool a new style from your own before/after photos")
        m.addAction(self.learn_look)
        m = mb.addMenu("&Tools")
        m.setToolTipsVisible(True)
        m.addActions(list(self.mode_actions.values()))
        m.addSeparator()
        m.addActions([self.brush_smaller, self.brush_larger])

    def _open_video_sr(self) -> None:
        from editor.qt.video_sr_dialog import open_video_sr

        open_video_sr(self._w)

    def build_toolbars(self) -> None:
        tb = QToolBar("File", self._w)
        tb.setObjectName("toolbar_file")
        tb.addActions([self.open, self.save, self.export, self.undo, self.redo])
        self._w.addToolBar(tb)
        tb = QToolBar("View", self._w)
        tb.setObjectName("toolbar_view")
        tb.addActions([self.zoom_fit, self.zoom_100, self.compare_before, self.compare_split,
                       self.compare_side, self.compare_sources, self.mask_overlay, self.ai_zoom,
                       self.apply_ai_zoom])
        self._w.addToolBar(tb)
        tb = QToolBar("Canvas tools", self._w)
        tb.setObjectName("toolbar_canvas")
        tb.addActions(list(self.mode_actions.values()))
        tb.addWidget(self._w.view.brush)
        self._w.addToolBar(tb)

    def layer_panel_actions(self) -> list[QAction | None]:
        return [self.new_layer, self.duplicate_layer, self.delete_layer, None, self.layer_up,
                self.layer_down, self.merge_down, None, self.add_mask, self.mask_from_selection,
                self.delete_mask, None, self.flatten]

    # -- state ----------------------------------------------------------------------------------
    def update_state(self) -> None:
        qdoc = self._w.document()
        for a in self.document_actions:
            a.setEnabled(qdoc is not None)
        history = qdoc.history if qdoc else None
        self.undo.setEnabled(bool(history and history.can_undo))
        self.redo.setEnabled(bool(history and history.can_redo))
        # "&" in a label would turn into a mnemonic underline; "&&" shows it literally.
        undo = history.undo_label.replace("&", "&&") if history and history.can_undo else ""
        redo = history.redo_label.replace("&", "&&") if history and history.can_redo else ""
        self.undo.setText(f"&Undo {undo}".rstrip())
        self.redo.setText(f"&Redo {redo}".rstrip())
        if qdoc is not None:
            doc = qdoc.doc
            layer = doc.active_layer
            has_mask = layer is not None and layer.mask is not None
            index = doc.active_index
            self.merge_down.setEnabled(index > 0)
            self.delete_layer.setEnabled(len(doc.layers) > 1)
            self.layer_up.setEnabled(0 <= index < len(doc.layers) - 1)
            self.layer_down.setEnabled(index > 0)
            self.add_mask.setEnabled(layer is not None and not has_mask)
            self.delete_mask.setEnabled(has_mask)
            self.toggle_mask.setEnabled(has_mask)
            self.apply_tool.setEnabled(layer is not None and not self._w.tool_controller.busy
                                       and not self._w.ai_zoom.busy)
        self.update_ai_zoom_state()

    def update_ai_zoom_state(self) -> None:
        """Apply AI Zoom needs a magnified view and no other apply running."""
        self.apply_ai_zoom.setEnabled(self._w.ai_zoom.can_apply()
                                      and not self._w.tool_controller.busy)

    def rebuild_recent_menu(self, files: list[str]) -> None:
        self.recent_menu.clear()
        for i, path in enumerate(files, start=1):
            name = Path(path).name.replace("&", "&&")
            a = self.recent_menu.addAction(f"&{i % 10} {name}" if i <= 10 else name)
            a.setToolTip(path)
            a.setStatusTip(path)
            a.triggered.connect(lambda _=False, p=path: self._w.file_ops.open_recent(p))
        if files:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear Recent Files")
            clear.setToolTip("Forget the recent files list")
            clear.triggered.connect(self._w.clear_recent)
        self.recent_menu.setEnabled(bool(files))
