"""Deblur in the main window, the way a retoucher uses it: Apply adds a "Deblur" layer
(masked to the selection when there is one) in one undoable step, the preview changes
nothing in the document, and missing weights give one clear dialog. A stand-in
random-weight SRNDeblur (tests/deblur_fakes.py) replaces the trained model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt

from editor.engine.weights import clear_model_cache
from editor.qt.main_window import MainWindow
from editor.tools import deblur
from tests.deblur_fakes import tiny_deblur_source

# A modal dialog would hang an offscreen test (tests/qt/conftest.py).
pytestmark = pytest.mark.usefixtures("never_block_on_dialogs")

W, H = 96, 64


@pytest.fixture
def fake_model(tmp_path):
    previous = deblur.set_model_source(tiny_deblur_source(tmp_path / "models"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # a tiny stand-in network: a second thread only adds waiting
    yield
    torch.set_num_threads(threads)
    deblur.set_model_source(previous)
    deblur.clear_cache()
    clear_model_cache()


@pytest.fixture
def window(qtbot, tmp_path, fake_model):
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


def snapshot(window):
    doc = window.document().doc
    history = window.document().history
    return doc.size, [layer.pixels.tobytes() for layer in doc.layers], len(history.entries)


def test_apply_adds_a_deblur_layer_in_one_undoable_step(qtbot, window):
    doc = window.document().doc
    before = doc.composite().copy()
    window.tool_panel.set_preview_enabled(False)
    window.show_tool("deblur")
    assert window.tool_panel.editor("strength").spin.value() == pytest.approx(1.0)
    qtbot.mouseClick(window.tool_panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=20000)
    layer = doc.layers[1]
    assert layer.name == "Deblur" and layer.pixels.shape == (H, W, 4)
    assert window.document().history.undo_label == "Deblur"
    assert np.abs(doc.composite() - before).max() > 1 / 255   # the stand-in changed pixels
    window.acts.undo.trigger()
    assert len(doc.layers) == 1 and np.array_equal(doc.composite(), before)
    window.acts.redo.trigger()
    assert len(doc.layers) == 2


def test_apply_inside_a_selection_masks_the_new_layer(qtbot, window):
    doc = window.document().doc
    window.tool_panel.set_preview_enabled(False)
    window.show_tool("deblur")
    window.tool_panel.set_values({"strength": 0.5})
    window.view_canvas().set_selection("rect", (10, 8, 50, 40))
    qtbot.mouseClick(window.tool_panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=20000)
    mask = doc.layers[1].mask
    assert mask is not None and mask[20, 20] == 1.0 and mask[60, 90] == 0.0
    np.testing.assert_array_equal(doc.composite()[55:, 60:], doc.layers[0].pixels[55:, 60:])


def test_preview_changes_nothing_in_the_document(qtbot, window, monkeypatch):
    canvas = window.view.canvas
    shown = []
    original = canvas.show_preview
    monkeypatch.setattr(canvas, "show_preview",
                        lambda image, bbox: (shown.append((image, bbox)), original(image, bbox)))
    before = snapshot(window)
    window.show_tool("deblur")
    window.tool_panel.set_preview_enabled(True)
    qtbot.waitUntil(lambda: len(shown) >= 1, timeout=20000)
    image, (x0, y0, x1, y1) = shown[-1]
    assert image.shape[2] == 4 and (x1 - x0, y1 - y0) == (W, H)
    assert snapshot(window) == before and window.document().is_clean


def test_missing_weights_apply_shows_one_line_and_changes_nothing(qtbot, window, tmp_path,
                                                                   errors):
    deblur.set_model_source(tiny_deblur_source(tmp_path / "no-weights", save=False))
    window.tool_panel.set_preview_enabled(False)
    before = snapshot(window)
    window.show_tool("deblur")
    window.tool_controller.apply()
    qtbot.waitUntil(lambda: bool(errors), timeout=20000)
    title, text = errors[0]
    assert "Deblur" in title and "not found" in text and "\n" not in text
    assert snapshot(window) == before
