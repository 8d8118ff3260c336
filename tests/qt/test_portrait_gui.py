"""Portrait edit in the main window: dragging the strength slider only previews, and
Apply lands one masked layer as ONE undo step, which Ctrl+Z takes back exactly (tiny
random models, the stand-in face finder: no trained weights, no dlib)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from editor.engine.weights import clear_model_cache
from editor.qt.main_window import MainWindow
from editor.tools import portrait
from tests.faces_fakes import fake_face_finder
from tests.portrait_fakes import facelet_resolver, tiny_autoencoder_source, tiny_facelet_sources

pytestmark = pytest.mark.usefixtures("never_block_on_dialogs")

W, H = 96, 80


@pytest.fixture
def window(qtbot, tmp_path):
    previous_ae = portrait.AUTOENCODER.set(tiny_autoencoder_source(tmp_path / "models"))
    previous_facelets = portrait.set_facelet_source(
        facelet_resolver(tiny_facelet_sources(tmp_path / "models")))
    previous_finder = portrait.set_face_finder(fake_face_finder)
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    Image.fromarray(((0.3 + 0.4 * rng.random((H, W, 3))) * 255).round().astype(np.uint8)
                    ).save(path)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w.file_ops.open_path(path)
    yield w
    w.close()
    portrait.AUTOENCODER.set(previous_ae)
    portrait.set_facelet_source(previous_facelets)
    portrait.set_face_finder(previous_finder)
    portrait.clear_cache()
    clear_model_cache()


def test_strength_drag_then_apply_is_one_undo_step(qtbot, window):
    doc = window.document().doc
    history = window.document().history
    before = doc.composite().copy()
    steps_before = history.index
    window.show_tool("portrait")
    for strength in (0.2, 0.5, -0.4, 0.8):          # a slider drag: previews only
        window.tool_panel.set_values({"strength": strength})
        qtbot.wait(30)
    assert history.index == steps_before and len(doc.layers) == 1
    window.tool_panel.set_preview_enabled(False)
    window.tool_controller.apply()
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=20000)
    assert history.index == steps_before + 1
    assert history.undo_label == "Portrait edit"
    layer = doc.layers[1]
    assert layer.mask is not None and layer.mask[0, 0] == 0.0
    window.acts.undo.trigger()
    assert len(doc.layers) == 1 and np.array_equal(doc.composite(), before)
