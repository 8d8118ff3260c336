"""Super-resolution and AI zoom in the main window, the way a retoucher uses them: the
slider + Apply enlarge the image in one undoable step, the preview shows the enlarged
region without touching the document, AI zoom enhances the magnified view and its Apply
crops + enlarges in one undoable step, and missing weights give one clear dialog. Stand-in
TinyNet models (tests/sr_fakes.py) replace the trained ones."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from editor.engine.weights import clear_model_cache
from editor.qt.main_window import MainWindow
from editor.tools import superres
from editor.tools.resize import output_size
from tests.sr_fakes import tiny_sr_source

# A modal dialog would hang an offscreen test (tests/qt/conftest.py).
pytestmark = pytest.mark.usefixtures("never_block_on_dialogs")

W, H = 96, 64


@pytest.fixture
def fake_models(tmp_path):
    previous = superres.set_model_source(tiny_sr_source(tmp_path / "models"))
    yield
    superres.set_model_source(previous)
    superres.clear_cache()
    clear_model_cache()


@pytest.fixture
def window(qtbot, tmp_path, fake_models):
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, W)[None, :, None]
    pixels = np.clip(0.6 * x + 0.3 * rng.random((H, W, 3)), 0, 1)
    path = tmp_path / "photo.png"
    Image.fromarray((pixels * 255).round().astype(np.uint8)).save(path)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w.file_ops.open_path(path)
    yield w
    w.close()
    assert not w.engine.isRunning()


def record_previews(monkeypatch, canvas) -> list:
    shown = []
    original = canvas.show_preview

    def show(image, bbox):
        shown.append((image, bbox))
        original(image, bbox)

    monkeypatch.setattr(canvas, "show_preview", show)
    return shown


def snapshot(window):
    doc = window.document().doc
    return doc.size, [l.pixels.tobytes() for l in doc.layers], len(window.document().history.entries)


# -- the tool panel ------------------------------------------------------------------------------

def test_scale_slider_and_apply_enlarge_the_image_in_one_undoable_step(qtbot, window):
    doc = window.document().doc
    before = doc.composite().copy()
    window.tool_panel.set_preview_enabled(False)
    window.show_tool("superres")
    scale = window.tool_panel.editor("scale")
    scale.slider.setValue(scale.slider.value() + 5)          # 2.0 -> 2.5 by dragging
    assert scale.spin.value() == pytest.approx(2.5)
    assert "240 × 160" in window.tool_panel.info_label.text()
    qtbot.mouseClick(window.tool_panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: doc.size == (240, 160), timeout=10000)
    assert len(doc.layers) == 1 and doc.layers[0].pixels.shape == (160, 240, 4)
    assert window.document().history.undo_label == "Super-resolution"
    assert "240 × 160" in window.status.doc_label.text()
    window.acts.undo.trigger()
    assert doc.size == (W, H) and np.array_equal(doc.composite(), before)
    window.acts.redo.trigger()
    assert doc.size == (240, 160)


def test_preview_shows_the_enlarged_visible_region_and_changes_nothing(qtbot, window, monkeypatch):
    canvas = window.view.canvas
    canvas.set_zoom(4.0)
    shown = record_previews(monkeypatch, canvas)
    before = snapshot(window)
    window.show_tool("superres")
    assert window.tool_panel.preview_check.isEnabled()
    window.tool_panel.set_values({"scale": 3.0})
    window.tool_panel.set_preview_enabled(True)
    qtbot.waitUntil(lambda: len(shown) >= 1, timeout=10000)
    image, (x0, y0, x1, y1) = shown[-1]
    vx0, vy0, vx1, vy1 = canvas.visible_doc_rect()
    assert x0 <= vx0 and y0 <= vy0 and x1 >= vx1 and y1 >= vy1
    # At 400 % a ×3 result is shown at its own resolution: 3 pixels per document pixel.
    assert image.shape[:2] == (round((y1 - y0) * 3), round((x1 - x0) * 3))
    assert snapshot(window) == before and window.document().is_clean


def test_missing_weights_apply_shows_one_line_and_changes_nothing(qtbot, window, tmp_path, errors):
    superres.set_model_source(tiny_sr_source(tmp_path / "no-weights", save=False))
    window.tool_panel.set_preview_enabled(False)
    before = snapshot(window)
    window.show_tool("superres")
    window.tool_controller.apply()
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    title, text = errors[0]
    assert "Super-resolution" in title and "not found" in text and "\n" not in text
    assert snapshot(window) == before


def test_too_large_result_is_refused_with_its_size(qtbot, window, errors, monkeypatch):
    monkeypatch.setattr(superres, "MEMORY_LIMIT_BYTES", 1 << 20)
    window.tool_panel.set_preview_enabled(False)
    before = snapshot(window)
    window.show_tool("superres")
    window.tool_panel.set_values({"scale": 8.0})
    window.tool_controller.apply()
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    assert "768 × 512 pixels" in errors[0][1]
    assert snapshot(window) == before


# -- AI zoom -------------------------------------------------------------------------------------

def test_ai_zoom_enhances_the_magnified_view_without_touching_the_document(qtbot, window,
                                                                           monkeypatch):
    canvas = window.view.canvas
    canvas.set_zoom(1.0)
    shown = record_previews(monkeypatch, canvas)
    before = snapshot(window)
    action = window.acts.ai_zoom
    assert action.isCheckable() and "Ctrl+Alt+Z" in action.toolTip()
    action.trigger()
    assert window.ai_zoom.is_enabled() and not window.tool_panel.preview_enabled()
    qtbot.wait(200)
    assert not shown                                  # 100 %: nothing to enhance
    assert not window.acts.apply_ai_zoom.isEnabled()

    canvas.set_zoom(3.0)
    qtbot.waitUntil(lambda: len(shown) >= 1, timeout=10000)
    image, (x0, y0, x1, y1) = shown[-1]
    vx0, vy0, vx1, vy1 = canvas.visible_doc_rect()
    assert x0 <= vx0 and y0 <= vy0 and x1 >= vx1 and y1 >= vy1
    assert image.shape == ((y1 - y0) * 3, (x1 - x0) * 3, 4)
    assert window.acts.apply_ai_zoom.isEnabled()

    # Zooming further renders again at the new factor (×12: ×3 then two ×2 passes).
    canvas.set_zoom(12.0)
    qtbot.waitUntil(lambda: len(shown) >= 2 and shown[-1][0].shape[0] == (shown[-1][1][3] - shown[-1][1][1]) * 12,
                    timeout=10000)
    assert snapshot(window) == before and window.document().is_clean
    assert canvas.preview_bbox() == shown[-1][1]
    # Picking another tool clears the canvas's preview; the enhanced view comes back.
    count = len(shown)
    window.show_tool("resize")
    qtbot.waitUntil(lambda: len(shown) > count and canvas.preview_bbox() is not None,
                    timeout=10000)

    action.trigger()                                  # off: the enhanced view goes away
    assert canvas.preview_bbox() is None


def test_apply_ai_zoom_crops_and_enlarges_in_one_undoable_step(qtbot, window):
    doc = window.document().doc
    before = doc.composite().copy()
    canvas = window.view.canvas
    canvas.set_zoom(16.0)
    vx0, vy0, vx1, vy1 = canvas.visible_doc_rect()
    assert (vx1 - vx0, vy1 - vy0) != (W, H)           # a real crop
    expected = output_size(vx1 - vx0, vy1 - vy0, 16.0)
    entries = len(window.document().history.entries)
    window.acts.apply_ai_zoom.trigger()
    assert window.ai_zoom.busy and not window.acts.apply_tool.isEnabled()
    qtbot.waitUntil(lambda: doc.size == expected, timeout=20000)
    history = window.document().history
    assert len(history.entries) == entries + 1 and history.undo_label.startswith("AI zoom")
    assert canvas.zoom() == 1.0                       # same framing, now in real pixels
    assert not window.ai_zoom.busy and window.acts.apply_tool.isEnabled()
    window.acts.undo.trigger()
    assert doc.size == (W, H) and np.array_equal(doc.composite(), before)


def test_ai_zoom_and_the_tool_preview_take_turns(window):
    window.show_tool("sharpen")
    window.tool_panel.set_preview_enabled(True)
    window.acts.ai_zoom.trigger()
    assert window.ai_zoom.is_enabled() and not window.tool_panel.preview_enabled()
    window.tool_panel.set_preview_enabled(True)
    assert not window.ai_zoom.is_enabled() and not window.acts.ai_zoom.isChecked()


def test_ai_zoom_without_weights_says_so_once_and_switches_off(qtbot, window, tmp_path, errors):
    superres.set_model_source(tiny_sr_source(tmp_path / "no-weights", save=False))
    before = snapshot(window)
    window.view.canvas.set_zoom(4.0)
    window.acts.ai_zoom.trigger()
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    assert errors[0][0] == "AI zoom is not available" and "not found" in errors[0][1]
    assert not window.acts.ai_zoom.isChecked() and not window.ai_zoom.is_enabled()
    window.view.canvas.set_zoom(6.0)                  # no dialog per pan or zoom
    qtbot.wait(200)
    assert len(errors) == 1 and snapshot(window) == before
