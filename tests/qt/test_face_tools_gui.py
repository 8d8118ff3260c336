"""Faces in the main window: Remove makeup lands as one undoable layer whose layer mask is
the chosen face region; an image without a face gives one clear dialog and changes
nothing; the Face regions panel detects the astronaut's face (real dlib models) and turns
the chosen regions into the active layer's mask in one undoable step."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image

from editor.engine.weights import clear_model_cache
from editor.qt.main_window import MainWindow
from editor.tools import demakeup
from tests.faces_fakes import fake_face_finder, tiny_makeup_source

# A modal dialog would hang an offscreen test (tests/qt/conftest.py).
pytestmark = pytest.mark.usefixtures("never_block_on_dialogs")

W, H = 96, 80
HAVE_DLIB = (importlib.util.find_spec("dlib") is not None
             and importlib.util.find_spec("face_recognition_models") is not None)


@pytest.fixture
def fake_faces(tmp_path):
    previous_model = demakeup.SLOT.set(tiny_makeup_source(tmp_path / "models"))
    previous_finder = demakeup.set_face_finder(fake_face_finder)
    yield
    demakeup.SLOT.set(previous_model)
    demakeup.set_face_finder(previous_finder)
    demakeup.clear_cache()
    clear_model_cache()


def _open(qtbot, tmp_path, pixels: np.ndarray) -> MainWindow:
    path = tmp_path / "photo.png"
    Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8)).save(path)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w.file_ops.open_path(path)
    return w


@pytest.fixture
def window(qtbot, tmp_path, fake_faces):
    rng = np.random.default_rng(0)
    w = _open(qtbot, tmp_path, 0.3 + 0.4 * rng.random((H, W, 3)))
    yield w
    w.close()


def test_remove_makeup_adds_a_masked_layer_in_one_undoable_step(qtbot, window):
    doc = window.document().doc
    before = doc.composite().copy()
    window.tool_panel.set_preview_enabled(False)
    window.show_tool("demakeup")
    window.tool_panel.set_values({"region": "skin"})
    window.tool_controller.apply()
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=20000)
    layer = doc.layers[1]
    assert layer.name == "Remove makeup" and layer.mask is not None
    # The mask is the fake face's skin: on inside the face, off at the image corners.
    assert layer.mask[H // 2 + 2, W // 2 - 12] > 0.5
    assert layer.mask[0, 0] == 0.0 and layer.mask[-1, -1] == 0.0
    assert window.document().history.undo_label == "Remove makeup"
    window.acts.undo.trigger()
    assert len(doc.layers) == 1 and np.array_equal(doc.composite(), before)


def test_no_face_gives_one_clear_dialog_and_changes_nothing(qtbot, window, errors):
    demakeup.set_face_finder(None)   # real detection: random noise has no face
    doc = window.document().doc
    before = [l.pixels.tobytes() for l in doc.layers]
    window.tool_panel.set_preview_enabled(False)
    window.show_tool("demakeup")
    window.tool_controller.apply()
    qtbot.waitUntil(lambda: bool(errors), timeout=30000)
    title, text = errors[0]
    assert "Remove makeup" in title and "face" in text and "\n" not in text
    assert [l.pixels.tobytes() for l in doc.layers] == before


@pytest.mark.skipif(not HAVE_DLIB, reason="dlib-bin / face-recognition-models not installed")
def test_face_regions_panel_makes_an_undoable_face_mask(qtbot, tmp_path):
    from skimage import data

    w = _open(qtbot, tmp_path, data.astronaut().astype(np.float32) / 255)
    try:
        panel = w.face_panel
        doc = w.document().doc
        assert panel.detect() is not None
        qtbot.waitUntil(lambda: panel.faces_list.count() >= 1, timeout=60000)
        assert panel.faces_list.count() == 1 and "1 face" in panel.info.text()
        for key, box in panel.region_boxes.items():
            box.setChecked(key == "lips")
        assert panel.set_layer_mask()
        mask = doc.active_layer.mask
        face = panel.faces()[0]
        lip = (face.landmarks[57] + face.landmarks[66]) / 2   # middle of the lower lip
        assert mask[int(round(lip[1])), int(round(lip[0]))] > 0.5
        eye = face.landmarks[36:42].mean(0)
        assert mask[int(eye[1]), int(eye[0])] < 0.1        # not on the eyes
        assert mask[5, 5] == 0.0
        assert w.document().history.undo_label.startswith("Face mask")
        w.acts.undo.trigger()
        assert doc.active_layer.mask is None
    finally:
        w.close()
