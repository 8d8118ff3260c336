"""Undo/redo: diffs not copies, merged drags and strokes, layer operations."""

import numpy as np
import pytest

from editor.core.document import Document, Layer
from editor.core.edits import (duplicate_layer, flatten, mask_from_shape, merge_down,
                               new_layer_from_image, ResampleDocument)
from editor.core.history import (History, MoveLayer, PaintRegion, RemoveLayer, SetLayerProperty,
                                 SetMask, changed_bbox)


def make_doc(w=64, h=48, seed=0):
    rng = np.random.default_rng(seed)
    return Document.from_image(rng.random((h, w, 3), dtype=np.float32))


def snapshot(doc):
    return [(l.id, l.name, l.visible, l.opacity, l.blend_mode, l.pixels.copy(),
             None if l.mask is None else l.mask.copy()) for l in doc.layers]


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x[:5] == y[:5]
        np.testing.assert_array_equal(x[5], y[5])
        if x[6] is None or y[6] is None:
            assert x[6] is None and y[6] is None
        else:
            np.testing.assert_array_equal(x[6], y[6])


def test_paint_stores_only_the_changed_rectangle():
    doc = make_doc(400, 300)
    hist = History(doc)
    layer = doc.layers[0]
    before = snapshot(doc)
    region = doc.read_region(layer.id, "pixels", (0, 0, 400, 300))
    region[100:110, 200:205] = 1.0  # a 5x10 change inside a full-canvas write
    hist.push(PaintRegion(layer.id, "pixels", (0, 0, 400, 300), region))
    assert hist.nbytes == 2 * 5 * 10 * 4 * 4  # old + new, RGBA float32, nothing more
    hist.undo()
    assert_same(snapshot(doc), before)
    hist.redo()
    np.testing.assert_array_equal(doc.layers[0].pixels[100:110, 200:205], 1.0)


def test_a_no_op_paint_is_not_a_history_step():
    doc = make_doc()
    hist = History(doc)
    layer = doc.layers[0]
    same = doc.read_region(layer.id, "pixels", (0, 0, 10, 10))
    hist.push(PaintRegion(layer.id, "pixels", (0, 0, 10, 10), same))
    assert not hist.can_undo


def test_slider_drag_is_one_undo_step():
    doc = make_doc()
    hist = History(doc)
    lid = doc.layers[0].id
    for v in (0.9, 0.7, 0.5, 0.3):
        hist.push(SetLayerProperty(lid, "opacity", v))
    hist.end_merge()
    hist.push(SetLayerProperty(lid, "opacity", 0.1))
    assert len(hist.entries) == 2
    hist.undo()
    assert doc.layers[0].opacity == pytest.approx(0.3)
    hist.undo()
    assert doc.layers[0].opacity == 1.0


def test_brush_stroke_dabs_merge_into_one_step_and_undo_exactly():
    doc = make_doc()
    hist = History(doc)
    lid = doc.layers[0].id
    hist.push(SetMask(lid, np.ones((48, 64), np.float32)))
    before = snapshot(doc)
    for x in range(5, 40, 5):
        hist.push(PaintRegion(lid, "mask", (x, 10, x + 8, 18), np.zeros((8, 8), np.float32),
                              stroke_id=7))
    hist.end_merge()
    assert len(hist.entries) == 2
    assert doc.layers[0].mask[10:18, 5:43].max() == 0.0
    hist.undo()
    assert_same(snapshot(doc), before)


def test_new_edit_after_undo_drops_redo_branch():
    doc = make_doc()
    hist = History(doc)
    lid = doc.layers[0].id
    hist.push(SetLayerProperty(lid, "name", "a", mergeable=False))
    hist.undo()
    hist.push(SetLayerProperty(lid, "visible", False, mergeable=False))
    assert not hist.can_redo and len(hist.entries) == 1


def test_layer_stack_operations_all_undo_to_the_original():
    doc = make_doc()
    hist = History(doc)
    original = snapshot(doc)
    base = doc.layers[0].id
    hist.push(duplicate_layer(doc, base))
    top = doc.layers[1].id
    hist.push(SetLayerProperty(top, "blend_mode", "screen", mergeable=False))
    hist.push(SetMask(top, mask_from_shape(64, 48, "ellipse", (10, 10, 50, 40))))
    hist.push(new_layer_from_image(doc, np.zeros((48, 64, 4), np.float32), "empty"))
    hist.push(MoveLayer(doc.layers[2].id, 0))
    hist.push(RemoveLayer(doc.layers[0].id))
    hist.push(merge_down(doc, top))
    hist.push(flatten(doc))
    assert len(doc.layers) == 1
    hist.goto(0)
    assert_same(snapshot(doc), original)
    hist.goto(len(hist.entries))
    assert len(doc.layers) == 1


def test_merge_down_keeps_the_picture():
    doc = make_doc()
    rng = np.random.default_rng(1)
    mask = rng.random((48, 64), dtype=np.float32)
    doc.insert_layer(Layer(rng.random((48, 64, 4), dtype=np.float32), "top", opacity=0.6,
                           blend_mode="overlay", mask=mask), 1)
    seen = doc.composite()
    History(doc).push(merge_down(doc, doc.layers[1].id))
    assert len(doc.layers) == 1
    np.testing.assert_allclose(doc.composite(), seen, atol=1e-5)


def test_flatten_keeps_the_picture_and_drops_hidden_layers():
    doc = make_doc()
    doc.insert_layer(Layer(np.full((48, 64, 3), 0.5, np.float32), "mul", blend_mode="multiply"), 1)
    doc.insert_layer(Layer(np.ones((48, 64, 3), np.float32), "hidden", visible=False), 2)
    seen = doc.composite()
    History(doc).push(flatten(doc))
    assert len(doc.layers) == 1
    np.testing.assert_allclose(doc.composite(), seen, atol=1e-6)


def test_resample_changes_canvas_and_undoes():
    doc = make_doc(20, 10)
    hist = History(doc)
    original = snapshot(doc)
    hist.push(ResampleDocument(lambda a: np.repeat(np.repeat(a, 2, 0), 2, 1)))
    assert doc.size == (40, 20)
    hist.undo()
    assert doc.size == (20, 10)
    assert_same(snapshot(doc), original)


def test_setters_validate_with_the_bad_value():
    doc = make_doc()
    lid = doc.layers[0].id
    with pytest.raises(ValueError, match="1.5"):
        SetLayerProperty(lid, "opacity", 1.5)
    with pytest.raises(ValueError, match="glow"):
        SetLayerProperty(lid, "blend_mode", "glow")
    with pytest.raises(ValueError):
        doc.insert_layer(Layer(np.zeros((5, 5, 3), np.float32)), 0)


def test_observers_hear_about_pixel_changes_with_their_box():
    doc = make_doc()
    events = []
    doc.subscribe(events.append)
    lid = doc.layers[0].id
    History(doc).push(PaintRegion(lid, "pixels", (3, 4, 6, 8), np.ones((4, 3, 4), np.float32)))
    assert events[-1].kind == "pixels" and events[-1].bbox == (3, 4, 6, 8)


def test_changed_bbox_is_tight():
    a = np.zeros((10, 10), np.float32)
    b = a.copy()
    b[2, 3] = b[5, 7] = 1
    assert changed_bbox(a, b) == (3, 2, 8, 6)
    assert changed_bbox(a, a) is None


def test_mask_from_shape():
    rect = mask_from_shape(20, 10, "rect", (5, 2, 15, 8))
    assert rect[5, 10] == 1.0 and rect[0, 0] == 0.0 and rect[5, 2] == 0.0
    ell = mask_from_shape(21, 21, "ellipse", (0, 0, 21, 21))
    assert ell[10, 10] == 1.0 and ell[0, 0] == 0.0
    assert 0.0 < ell.sum() / 21 ** 2 < 0.8  # about pi/4 of the box


def test_reveal_all_mask_costs_no_full_copy_in_history():
    doc = make_doc(400, 300)
    hist = History(doc)
    lid = doc.layers[0].id
    hist.push(SetMask(lid, np.ones((300, 400), np.float32)))
    assert hist.nbytes == 0
    assert doc.layers[0].mask.shape == (300, 400) and doc.layers[0].mask.min() == 1.0
    hist.undo()
    assert doc.layers[0].mask is None
    hist.redo()
    assert doc.layers[0].mask.min() == 1.0
