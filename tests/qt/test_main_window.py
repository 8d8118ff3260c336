"""The main window end to end, the way a retoucher uses it: open, preview and apply a
tool, undo/redo, export, save a work file, and the failure paths (damaged files, huge
files, cancel, exporting over the original)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QAction, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from editor.core.imageio import load_image
from editor.engine.progress import Progress
from editor.qt import dialogs, file_ops
from editor.qt.dialogs import ExportOptions
from editor.qt.main_window import MainWindow
from editor.qt.settings import Settings
from editor.tools import TOOLS
from editor.tools.schema import Param, Tool

# A modal dialog would hang an offscreen test (tests/qt/conftest.py).
pytestmark = pytest.mark.usefixtures("never_block_on_dialogs")

W, H = 96, 64


def write_photo(path: Path, seed: int = 0, size=(W, H)) -> Path:
    """A small photo-like PNG: smooth gradients plus texture, so sharpening changes it."""
    w, h = size
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, w)[None, :, None]
    y = np.linspace(0, 1, h)[:, None, None]
    img = 0.5 * x + 0.3 * y + 0.2 * rng.random((h, w, 3))
    Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(path)
    return path


def slow_run(image, params, progress: Progress):
    """A tool that takes up to 10 s unless cancelled (checks like a tiled model would)."""
    end = time.monotonic() + 10.0
    while time.monotonic() < end:
        progress.set_progress(0.5, "Thinking")
        time.sleep(0.005)
    return image


def failing_run(image, params, progress: Progress):
    raise ValueError("the model weights are missing\nTraceback details nobody should see")


SLOW = Tool(id="slow", label="Slow", run=slow_run,
            params=(Param("amount", float, 1.0, range=(0.0, 2.0)),))
FAILING = Tool(id="failing", label="Failing", run=failing_run,
               params=(Param("amount", float, 1.0, range=(0.0, 2.0)),))


@pytest.fixture
def make_window(qtbot):
    windows = []

    def make(tools=None) -> MainWindow:
        w = MainWindow(tools=tools)
        qtbot.addWidget(w)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()
        assert not w.engine.isRunning()


@pytest.fixture
def window(make_window) -> MainWindow:
    return make_window()


@pytest.fixture
def photo(tmp_path) -> Path:
    return write_photo(tmp_path / "portrait.png")


@pytest.fixture
def record_critical(monkeypatch):
    calls = []
    monkeypatch.setattr(QMessageBox, "critical",
                        lambda parent, title, text, *a, **k: calls.append((title, text)))
    return calls


def snapshot(window: MainWindow):
    doc = window.document().doc
    return (doc.size, [(l.id, l.name, l.visible, l.opacity, l.blend_mode, l.pixels.tobytes(),
                        None if l.mask is None else l.mask.tobytes()) for l in doc.layers],
            len(window.document().history.entries), window.document().history.index)


def apply_and_wait(qtbot, window: MainWindow, layers_after: int) -> None:
    qtbot.mouseClick(window.tool_panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.document().doc.layers) == layers_after, timeout=10000)


# -- open, apply, undo/redo ----------------------------------------------------------------------
def test_open_apply_sharpen_undo_redo(qtbot, window, photo):
    assert window.file_ops.open_path(photo)
    doc = window.document().doc
    assert doc.size == (W, H) and len(doc.layers) == 1
    before = doc.composite().copy()

    window.show_tool("sharpen")
    amount = window.tool_panel.editor("amount")
    amount.spin.setValue(2.5)                   # typed into the numeric entry
    assert amount.slider.value() == 50          # 0.05 per step from 0
    apply_and_wait(qtbot, window, 2)

    top = doc.layers[-1]
    assert top.name == "Sharpen" and doc.active_layer is top
    after = doc.composite().copy()
    assert not np.array_equal(after, before)
    assert window.document().history.undo_label == "Sharpen"
    assert "Sharpen" in window.acts.undo.text()

    window.acts.undo.trigger()
    assert len(doc.layers) == 1
    assert np.array_equal(doc.composite(), before)  # undo gives back the exact pixels
    window.acts.redo.trigger()
    assert len(doc.layers) == 2 and np.array_equal(doc.composite(), after)


def test_preview_shows_the_tool_on_the_visible_region(qtbot, window, photo, monkeypatch):
    window.file_ops.open_path(photo)
    shown = []
    canvas = window.view.canvas
    monkeypatch.setattr(canvas, "show_preview", lambda image, bbox: shown.append((image, bbox)))
    window.show_tool("sharpen")
    window.tool_panel.set_preview_enabled(True)
    window.tool_panel.editor("amount").spin.setValue(3.0)
    qtbot.waitUntil(lambda: len(shown) >= 1, timeout=10000)
    image, bbox = shown[-1]
    x0, y0, x1, y1 = bbox
    vx0, vy0, vx1, vy1 = canvas.visible_doc_rect()
    assert x0 <= vx0 and y0 <= vy0 and x1 >= vx1 and y1 >= vy1
    assert image.shape[2] == 4 and image.shape[:2] == (y1 - y0, x1 - x0)
    assert len(window.document().doc.layers) == 1   # a preview never edits the document
    assert window.document().is_clean
    # Every slider change brings a fresh preview of the new value.
    window.tool_panel.editor("amount").spin.setValue(0.0)
    qtbot.waitUntil(lambda: len(shown) >= 2, timeout=10000)
    layer_region = window.document().doc.layers[0].pixels[y0:y1, x0:x1]
    assert np.allclose(shown[-1][0], layer_region)       # amount 0 = unchanged pixels
    assert not np.allclose(image, layer_region)
    # Esc hides the preview (and switches it off until asked again).
    window.escape()
    assert not window.tool_panel.preview_enabled()


def test_apply_with_selection_masks_the_new_layer(qtbot, window, photo, monkeypatch):
    window.file_ops.open_path(photo)
    monkeypatch.setattr(window, "selection", lambda: ("rect", (10.0, 8.0, 40.0, 30.0)))
    window.tool_panel.set_preview_enabled(False)
    window.show_tool("sharpen")
    apply_and_wait(qtbot, window, 2)
    mask = window.document().doc.layers[-1].mask
    assert mask is not None and mask.shape == (H, W)
    assert mask[20, 20] == 1.0 and mask[50, 80] == 0.0


def test_resize_changes_the_document_size_in_one_undoable_step(qtbot, window, photo):
    window.file_ops.open_path(photo)
    doc = window.document().doc
    window.show_tool("resize")
    assert not window.tool_panel.preview_check.isEnabled()   # nothing to preview on canvas
    window.tool_panel.editor("scale").spin.setValue(0.5)
    assert "48 × 32" in window.tool_panel.info_label.text()
    qtbot.mouseClick(window.tool_panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: doc.size == (48, 32), timeout=10000)
    assert len(doc.layers) == 1 and doc.layers[0].pixels.shape == (32, 48, 4)
    assert "48 × 32" in window.status.doc_label.text()
    window.acts.undo.trigger()
    assert doc.size == (W, H)


def test_cancelled_apply_leaves_the_document_byte_identical(qtbot, make_window, photo):
    window = make_window({"slow": SLOW, **TOOLS})
    window.file_ops.open_path(photo)
    window.tool_panel.set_preview_enabled(False)
    before = snapshot(window)
    window.show_tool("slow")
    started = []
    window.engine.started.connect(started.append)
    qtbot.mouseClick(window.tool_panel.apply_button, Qt.MouseButton.LeftButton)
    job = window.tool_controller.apply_job
    qtbot.waitUntil(lambda: job.id in started, timeout=5000)
    assert window.status.cancel_button.isVisible()
    assert not window.tool_panel.apply_button.isEnabled()
    qtbot.mouseClick(window.status.cancel_button, Qt.MouseButton.LeftButton)
    assert not window.tool_controller.busy
    qtbot.waitUntil(lambda: not window.engine.running_jobs(), timeout=5000)
    QApplication.processEvents()
    assert job.cancelled
    assert snapshot(window) == before
    assert window.document().is_clean
    assert not window.status.cancel_button.isVisible()
    assert window.tool_panel.apply_button.isEnabled()


def test_failing_tool_shows_a_one_line_error_and_changes_nothing(qtbot, make_window, photo,
                                                                 record_critical):
    window = make_window({"failing": FAILING, **TOOLS})
    window.file_ops.open_path(photo)
    window.tool_panel.set_preview_enabled(False)
    before = snapshot(window)
    window.show_tool("failing")
    window.tool_controller.apply()
    qtbot.waitUntil(lambda: bool(record_critical), timeout=5000)
    title, text = record_critical[0]
    assert "Failing" in title and text == "the model weights are missing"
    assert snapshot(window) == before


# -- opening -------------------------------------------------------------------------------------
def test_opening_a_corrupt_file_shows_an_error_and_keeps_the_document(window, photo, tmp_path,
                                                                      record_critical):
    window.file_ops.open_path(photo)
    qdoc = window.document()
    before = snapshot(window)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"definitely not the rest of a PNG" * 4)
    assert window.file_ops.open_path(broken) is False
    assert len(record_critical) == 1
    title, text = record_critical[0]
    assert "broken.png" in text and "\n" not in text
    assert window.document() is qdoc and snapshot(window) == before
    assert window.windowTitle() == "portrait.png — Restora"


def test_huge_image_asks_before_opening(window, photo, monkeypatch):
    real = file_ops.load_image
    # A 1000-pixel safety limit makes our 96x64 photo "huge" without a huge file.
    monkeypatch.setattr(file_ops, "load_image",
                        lambda path, allow_huge=False: real(path, allow_huge=allow_huge,
                                                            max_pixels=1000))
    asked = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    assert window.file_ops.open_path(photo) is False
    assert window.document() is None
    assert "megapixels" in asked[0] and "anyway" in asked[0]
    assert window.file_ops.open_path(photo) is True
    assert window.document().doc.size == (W, H)


def test_recent_files_are_remembered_and_missing_ones_removed(window, tmp_path, monkeypatch):
    a = write_photo(tmp_path / "a.png", 1)
    b = write_photo(tmp_path / "b.png", 2)
    window.file_ops.open_path(a)
    window.file_ops.open_path(b)
    assert Settings().recent_files() == [str(b.resolve()), str(a.resolve())]  # newest first
    entries = [act.text() for act in window.acts.recent_menu.actions() if act.text()]
    assert entries[:2] == ["&1 b.png", "&2 a.png"]
    assert Settings().get("files/last_open_dir") == str(tmp_path)

    infos = []
    monkeypatch.setattr(QMessageBox, "information",
                        lambda parent, title, text, *x, **k: infos.append(text))
    a.unlink()
    assert window.file_ops.open_recent(str(a.resolve())) is False
    assert infos and "a.png" in infos[0]
    assert Settings().recent_files() == [str(b.resolve())]


def test_drop_files_on_the_window_opens_them(qtbot, window, photo):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.document() is not None
    assert window.document().display_name == "portrait.png"


def test_several_files_open_in_windows_of_their_own(qtbot, window, tmp_path):
    a = write_photo(tmp_path / "a.png", 1)
    b = write_photo(tmp_path / "b.png", 2)
    window.open_paths([a, b])
    assert window.document().display_name == "a.png"
    assert len(window._spawned) == 1
    other = window._spawned[0]
    engine = other.engine
    try:
        assert other.document().display_name == "b.png"
        assert engine is not window.engine   # closing one never stops the other's work
    finally:
        other.close()                        # deletes itself (WA_DeleteOnClose)
    assert not engine.isRunning() and window.document() is not None
    qtbot.waitUntil(lambda: not window._spawned)


def test_paste_makes_a_new_document_then_a_new_layer(window):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    QGuiApplication.clipboard().setImage(QImage(rgba.data, 30, 20, 120, QImage.Format.Format_RGBA8888).copy())
    assert window.file_ops.paste()
    doc = window.document().doc
    assert doc.size == (30, 20)
    assert np.allclose(doc.layers[0].pixels[5, 5], [1, 0, 0, 1])
    assert window.file_ops.paste()                  # a document is open: new layer
    assert len(doc.layers) == 2 and doc.layers[1].name == "Pasted"
    window.acts.undo.trigger()
    assert len(doc.layers) == 1


# -- title, layer commands -------------------------------------------------------------------------
def test_title_shows_a_star_while_there_are_unsaved_edits(window, photo):
    assert window.windowTitle() == "Restora"
    window.file_ops.open_path(photo)
    assert window.windowTitle() == "portrait.png — Restora"
    window.acts.new_layer.trigger()
    assert window.windowTitle() == "portrait.png* — Restora"
    window.acts.undo.trigger()
    assert window.windowTitle() == "portrait.png — Restora"


def test_layer_menu_commands_are_undoable(window, photo, monkeypatch):
    window.file_ops.open_path(photo)
    doc = window.document().doc
    a = window.acts
    a.duplicate_layer.trigger()
    a.new_layer.trigger()
    assert [l.name for l in doc.layers] == ["Background", "Background copy", "Layer 2"]
    a.layer_down.trigger()
    assert [l.name for l in doc.layers] == ["Background", "Layer 2", "Background copy"]
    a.add_mask.trigger()
    assert doc.active_layer.mask is not None and doc.active_layer.mask.min() == 1.0
    a.toggle_mask.trigger()
    assert doc.active_layer.mask_enabled is False
    a.delete_mask.trigger()
    assert doc.active_layer.mask is None
    monkeypatch.setattr(window, "selection", lambda: ("ellipse", (0.0, 0.0, 48.0, 32.0)))
    a.mask_from_selection.trigger()
    assert doc.active_layer.mask[16, 24] == 1.0 and doc.active_layer.mask[60, 90] == 0.0
    a.merge_down.trigger()
    assert len(doc.layers) == 2
    a.flatten.trigger()
    assert len(doc.layers) == 1
    a.delete_layer.trigger()                # the last layer stays
    assert len(doc.layers) == 1
    history = window.document().history
    history.goto(0)
    assert [l.name for l in doc.layers] == ["Background"] and doc.layers[0].mask is None


def test_compare_before_split_side_by_side_and_sources(window, photo, monkeypatch):
    window.file_ops.open_path(photo)
    window.acts.duplicate_layer.trigger()
    doc = window.document().doc
    canvas, a = window.view.canvas, window.acts
    a.compare_before.trigger()                       # the backslash toggle
    assert canvas.compare_mode() == "before"
    a.compare_split.trigger()
    assert canvas.compare_mode() == "split" and not a.compare_before.isChecked()
    a.compare_split.trigger()
    assert canvas.compare_mode() == "off"

    monkeypatch.setattr(dialogs, "ask_compare_sources",
                        lambda parent, d, first, second: (doc.layers[1].id, "composite"))
    a.compare_sources.trigger()
    assert canvas.compare_sources() == (doc.layers[1].id, "composite")

    a.compare_side.trigger()
    side = window.view.side
    assert window.view.stack.currentWidget() is side
    assert side.left.document() is doc and window.view_canvas() is side.right
    assert side.left.compare_sources() == (doc.layers[1].id, "composite")
    a.compare_side.trigger()
    assert window.view.stack.currentWidget() is canvas and side.left.document() is None


def test_pointer_modes_brush_keys_and_overlay(window, photo):
    window.file_ops.open_path(photo)
    canvas, a = window.view.canvas, window.acts
    a.mode_actions["brush"].trigger()
    assert canvas.tool_mode() == "brush"
    a.mode_actions["select_ellipse"].trigger()
    assert canvas.tool_mode() == "select_ellipse" and not a.mode_actions["brush"].isChecked()
    size = window.view.brush.size_spin.value()
    a.brush_larger.trigger()
    assert window.view.brush.size_spin.value() > size
    a.brush_smaller.trigger()
    a.brush_smaller.trigger()
    assert window.view.brush.size_spin.value() < size
    assert Settings().get("brush/size") == window.view.brush.size_spin.value()
    a.mask_overlay.trigger()
    assert Settings().get("view/show_mask_overlay") is True


def test_every_action_has_a_tooltip_and_the_main_ones_have_shortcuts(window):
    a = window.acts
    for action in window.acts.document_actions + [a.open, a.undo, a.redo, a.quit, a.paste]:
        assert action.toolTip(), action.text()
        assert action.shortcuts(), action.text()
    assert [s.toString() for s in a.redo.shortcuts()] == ["Ctrl+Shift+Z", "Ctrl+Y"]
    assert a.compare_before.shortcut().toString() == "\\"
    # Two actions on one key make Qt fire neither ("ambiguous shortcut"): keys are unique.
    seen = {}
    for action in window.findChildren(QAction):
        for key in action.shortcuts():
            assert key.toString() not in seen, (action.text(), seen.get(key.toString()))
            seen[key.toString()] = action.text()


# -- export ----------------------------------------------------------------------------------------
def test_export_png_and_16_bit_tiff(window, photo, tmp_path, monkeypatch):
    window.file_ops.open_path(photo)
    composite = window.document().doc.composite()[..., :3]
    out = tmp_path / "exports"
    out.mkdir()
    targets = iter([(str(out / "final.png"), "PNG (*.png)"),
                    (str(out / "final.tif"), "TIFF (*.tif *.tiff)")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: next(targets))
    options = iter([ExportOptions("PNG", bit_depth=8), ExportOptions("TIFF", bit_depth=16)])
    monkeypatch.setattr(dialogs, "ask_export_options", lambda *a, **k: next(options))

    window.acts.export.trigger()
    png, meta = load_image(out / "final.png")
    assert meta.bit_depth == 8
    assert np.abs(png[..., :3] - composite).max() <= 1 / 255 + 1e-6

    window.acts.export.trigger()
    tif, meta = load_image(out / "final.tif")
    assert meta.bit_depth == 16
    assert np.abs(tif[..., :3] - composite).max() <= 1 / 65535 + 1e-6
    assert Settings().get("files/last_export_dir") == str(out)
    assert photo.read_bytes() == write_photo(tmp_path / "again.png").read_bytes()  # untouched


def test_exporting_over_the_original_asks_first(window, photo, monkeypatch):
    window.file_ops.open_path(photo)
    original = photo.read_bytes()
    window.acts.new_layer.trigger()
    window.document().doc.layers[-1].pixels[...] = (0.2, 0.4, 0.6, 1.0)
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]
    asked = []

    def warning(parent, title, text, *a, **k):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "warning", warning)
    opts = ExportOptions("PNG", bit_depth=8)
    assert window.file_ops.export_to(photo, opts) is False
    assert "original" in asked[0] and photo.read_bytes() == original
    assert window.file_ops.export_to(photo, opts) is True
    assert photo.read_bytes() != original
    assert np.allclose(load_image(photo)[0][0, 0], (0.2, 0.4, 0.6), atol=1 / 255)


# -- work files --------------------------------------------------------------------------------------
def test_save_ora_then_reopen_gives_the_same_layers(window, photo, tmp_path, monkeypatch):
    window.file_ops.open_path(photo)
    qdoc = window.document()
    doc = qdoc.doc
    window.acts.new_layer.trigger()
    top = doc.layers[-1]
    top.pixels[10:20, 10:30] = (1.0, 0.5, 0.0, 1.0)
    window.layers_panel.opacity_spin.setValue(60)
    window.layers_panel.blend_combo.setCurrentIndex(window.layers_panel.blend_combo.findData("screen"))
    window.acts.add_mask.trigger()
    assert not qdoc.is_clean

    # Ctrl+S on a flat photo asks for a .ora name; a flat name typed there gets ".ora"
    # appended, so the photo itself is never written.
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / "portrait.png"), ""))
    original = photo.read_bytes()
    window.acts.save.trigger()
    work = tmp_path / "portrait.png.ora"
    assert work.exists() and photo.read_bytes() == original
    assert qdoc.is_clean and qdoc.work_path == work
    assert window.windowTitle() == "portrait.png.ora — Restora"

    # A second Ctrl+S writes the same work file without asking.
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: pytest.fail("Save must not ask again"))
    window.acts.toggle_mask.trigger()
    window.acts.save.trigger()
    assert qdoc.is_clean

    expected = [(l.name, l.visible, round(l.opacity, 3), l.blend_mode, l.mask is not None,
                 l.mask_enabled) for l in doc.layers]
    composite = doc.composite()
    window.close_document()
    assert window.document() is None
    assert window.file_ops.open_path(work)
    reopened = window.document().doc
    assert [(l.name, l.visible, round(l.opacity, 3), l.blend_mode, l.mask is not None,
             l.mask_enabled) for l in reopened.layers] == expected
    assert np.abs(reopened.composite() - composite).max() <= 1 / 255 + 1e-6
    assert window.document().work_path == work


def test_closing_with_unsaved_edits_asks(window, photo, monkeypatch):
    window.file_ops.open_path(photo)
    window.acts.new_layer.trigger()
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name: "cancel")
    assert window.close() is False and window.document() is not None
    assert window.close_document() is False
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name: "discard")
    assert window.close_document() is True and window.document() is None


# -- settings and start-up -----------------------------------------------------------------------------
def test_window_layout_is_remembered(make_window):
    first = make_window()
    first.layers_dock.hide()
    first.close()
    assert Settings().get("window/state")
    second = make_window()
    assert second.layers_dock.isHidden()


def test_main_entry_point_opens_files_from_the_command_line(photo, monkeypatch):
    from editor import app

    seen = []

    def fake_exec(self):
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        seen.extend(w.document().display_name for w in windows if w.document())
        for w in windows:
            w.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", fake_exec)
    assert app.main([str(photo)]) == 0
    assert "portrait.png" in seen
    assert QApplication.applicationName() == "Restora"
    QApplication.setOrganizationName("RestoraTests")   # back to the isolated settings
    QApplication.setApplicationName("RestoraTests")


def test_preferences_apply_device_and_threads(window, monkeypatch):
    import torch

    from editor.qt.preferences_dialog import PreferencesDialog

    dlg = PreferencesDialog(window.settings, window)
    assert dlg.device_combo.itemData(0) == "auto"
    assert "cpu" in [dlg.device_combo.itemData(i) for i in range(dlg.device_combo.count())]
    dlg.device_combo.setCurrentIndex(dlg.device_combo.findData("cpu"))
    dlg.threads_spin.setValue(1)
    dlg.store()
    threads = torch.get_num_threads()
    try:
        window.apply_engine_preferences()
        assert torch.get_num_threads() == 1
        assert window.status.device_label.text() == "CPU"
        assert Settings().get("engine/cpu_threads") == 1
    finally:
        torch.set_num_threads(threads)

