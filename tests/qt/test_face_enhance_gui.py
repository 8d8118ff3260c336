"""Face enhance in the main window: the generated panel has the reference photo editor and
a Sample again button; a new sample is a different variant, each apply is one undoable
layer, and undo restores the photo exactly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from editor.engine.weights import clear_model_cache
from editor.qt.main_window import MainWindow
from editor.qt.tool_extras import PathEditor
from editor.tools import face_enhance
from tests.face_enhance_fakes import tiny_frgd_sources
from tests.faces_fakes import fake_face_finder

pytestmark = pytest.mark.usefixtures("never_block_on_dialogs")

W, H = 96, 80


@pytest.fixture
def window(qtbot, tmp_path):
    frgd, id_net = tiny_frgd_sources(tmp_path / "models")
    previous = (face_enhance.SLOT.set(frgd), face_enhance.ID_SLOT.set(id_net),
                face_enhance.set_face_finder(fake_face_finder))
    path = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray((255 * (0.3 + 0.4 * rng.random((H, W, 3)))).astype(np.uint8)).save(path)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w.file_ops.open_path(path)
    yield w
    w.close()
    face_enhance.SLOT.set(previous[0])
    face_enhance.ID_SLOT.set(previous[1])
    face_enhance.set_face_finder(previous[2])
    face_enhance.clear_cache()
    clear_model_cache()


def test_sample_again_gives_another_variant_and_undo_restores(qtbot, window):
    doc = window.document().doc
    before = doc.composite().copy()
    window.tool_panel.set_preview_enabled(False)
    window.show_tool("face-enhance")
    page = window.tool_panel.page()
    assert isinstance(page.editors["reference"], PathEditor)
    assert page.sample_again is not None
    window.tool_panel.set_values({"seed": 0, "identity": 0.5})

    window.tool_controller.apply()
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=30000)
    first = doc.layers[1].pixels.copy()
    assert doc.layers[1].name == "Face enhance" and doc.layers[1].mask is not None

    page.sample_again.click()
    assert window.tool_panel.values()["seed"] == 1
    window.tool_controller.apply()
    qtbot.waitUntil(lambda: len(doc.layers) == 3, timeout=30000)
    assert not np.array_equal(doc.layers[2].pixels, first)

    window.acts.undo.trigger()
    assert len(doc.layers) == 2 and np.array_equal(doc.layers[1].pixels, first)
    window.acts.undo.trigger()
    assert len(doc.layers) == 1 and np.array_equal(doc.composite(), before)
