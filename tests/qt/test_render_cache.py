"""The display cache: exact 8-bit pixels, correct mips, and above all incremental updates
(a brush dab must not re-render a 24-megapixel picture). Qt-free."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from editor.core.document import Document, Layer
from editor.core.history import (History, PaintRegion, RemoveLayer, SetLayerProperty,
                                 SetMask)
from editor.qt.render_cache import (DocumentCaches, MipCache, level_for_zoom, mask_hidden8,
                                    premultiplied_rgba8)


def _noise_doc(w: int = 301, h: int = 203, seed: int = 0) -> Document:
    rng = np.random.default_rng(seed)
    rgba = rng.random((h, w, 4), dtype=np.float32)
    return Document.from_image(rgba)


def _reference_levels(base: np.ndarray, n: int) -> list[np.ndarray]:
    """Straightforward pyramid to compare against: 2x2 mean with edge replication."""
    levels = [base]
    for _ in range(n - 1):
        prev = levels[-1].astype(np.float64)
        if prev.shape[0] % 2:
            prev = np.concatenate([prev, prev[-1:]], axis=0)
        if prev.shape[1] % 2:
            prev = np.concatenate([prev, prev[:, -1:]], axis=1)
        mean = (prev[0::2, 0::2] + prev[1::2, 0::2] + prev[0::2, 1::2] + prev[1::2, 1::2]) / 4
        levels.append(np.floor(mean + 0.5).astype(np.uint8))
    return levels


def test_premultiplied_conversion_rounds_and_premultiplies():
    rgba = np.array([[[0.2, 0.4, 1.0, 1.0], [1.0, 0.5, 0.0, 0.5], [0.3, 0.3, 0.3, 0.0]]],
                    dtype=np.float32)
    out = premultiplied_rgba8(rgba)
    assert out.dtype == np.uint8
    assert out[0, 0].tolist() == [51, 102, 255, 255]
    assert out[0, 1].tolist() == [128, 64, 0, 128]
    assert out[0, 2].tolist() == [0, 0, 0, 0]
    assert mask_hidden8(np.array([1.0, 0.0, 0.5], dtype=np.float32)).tolist() == [0, 255, 128]


def test_full_render_matches_the_composite_and_the_mips_are_box_averages():
    doc = _noise_doc()
    caches = DocumentCaches(doc)
    cache = caches.composite
    cache.ensure()
    assert np.array_equal(cache.levels[0], premultiplied_rgba8(doc.composite()))
    expected = _reference_levels(cache.levels[0], len(cache.levels))
    for level, ref in zip(cache.levels, expected):
        assert level.shape == ref.shape
        assert np.array_equal(level, ref)
    # 301x203 -> 151x102 -> 76x51 -> ... (ceil halving, odd edges replicated)
    assert cache.levels[1].shape[:2] == (102, 151)


def test_events_are_coalesced_and_work_happens_only_at_ensure():
    doc = _noise_doc()
    caches = DocumentCaches(doc)
    caches.composite.ensure()
    assert caches.composite.stats["full_renders"] == 1
    history = History(doc)
    lid = doc.layers[0].id
    for value in (0.9, 0.8, 0.7):  # three property events before the next paint
        history.push(SetLayerProperty(lid, "opacity", value, mergeable=False))
    assert caches.composite.stats["full_renders"] == 1  # nothing done yet: lazy
    assert caches.composite.dirty
    caches.composite.ensure()
    assert caches.composite.stats["full_renders"] == 2  # all three handled by one render


def test_pixels_event_updates_only_its_bbox_in_every_level():
    doc = _noise_doc(w=640, h=480)
    caches = DocumentCaches(doc)
    cache = caches.composite
    cache.ensure()
    before = [level.copy() for level in cache.levels]
    rendered = []
    render = cache._render
    cache._render = lambda box: rendered.append(box) or render(box)

    history = History(doc)
    lid = doc.layers[0].id
    bbox = (100, 60, 133, 91)
    patch = np.zeros((31, 33, 4), dtype=np.float32)
    patch[..., 1] = patch[..., 3] = 1.0  # opaque green
    history.push(PaintRegion(lid, "pixels", bbox, patch))
    cache.ensure()

    assert rendered == [bbox]  # only the changed rectangle was composited again
    assert cache.stats["full_renders"] == 1
    # The result equals a from-scratch rebuild ...
    fresh = DocumentCaches(doc).composite
    fresh.ensure()
    for k, (level, ref) in enumerate(zip(cache.levels, fresh.levels)):
        assert np.array_equal(level, ref), f"level {k} differs from a full rebuild"
    # ... and outside the bbox's footprint at each level nothing was touched.
    x0, y0, x1, y1 = bbox
    for k, (level, old) in enumerate(zip(cache.levels, before)):
        changed = np.argwhere((level != old).any(axis=-1))
        assert changed.size, f"level {k} did not pick up the edit"
        assert changed[:, 1].min() >= x0 >> k and changed[:, 1].max() < -(-x1 // (1 << k))
        assert changed[:, 0].min() >= y0 >> k and changed[:, 0].max() < -(-y1 // (1 << k))


def test_overlapping_dabs_merge_but_distant_edits_stay_separate():
    cache = MipCache(lambda b: np.zeros((b[3] - b[1], b[2] - b[0], 4), np.uint8), 1000, 1000)
    cache.ensure()
    for i in range(10):  # a brush stroke: heavily overlapping dab boxes
        cache.invalidate((100 + 5 * i, 100, 140 + 5 * i, 140))
    cache.invalidate((800, 800, 820, 820))  # far away
    assert sorted(cache._dirty) == [(100, 100, 185, 140), (800, 800, 820, 820)]
    cache.ensure()
    assert cache.stats["rendered_pixels"] == 1000 * 1000 + 85 * 40 + 20 * 20


def test_renaming_or_editing_a_hidden_layer_costs_no_render():
    doc = _noise_doc()
    history = History(doc)
    hidden = Layer(np.ones((doc.height, doc.width, 4), np.float32), "hidden", visible=False)
    doc.insert_layer(hidden, 1)
    caches = DocumentCaches(doc)
    caches.composite.ensure()
    history.push(SetLayerProperty(doc.layers[0].id, "name", "Renamed"))
    history.push(PaintRegion(hidden.id, "pixels", (0, 0, 10, 10),
                             np.zeros((10, 10, 4), np.float32)))
    assert not caches.composite.dirty


def test_layer_cache_shows_one_layer_with_its_opacity_and_mask():
    doc = _noise_doc(w=64, h=48)
    top = Layer(np.full((48, 64, 4), (0.0, 0.0, 1.0, 1.0), np.float32), "Blue", opacity=0.5,
                visible=False)
    doc.insert_layer(top, 1)
    history = History(doc)
    caches = DocumentCaches(doc)
    cache = caches.layer(top.id)
    cache.ensure()
    # Hidden in the stack but shown when compared against; opacity applied; nothing below.
    assert cache.levels[0][10, 10].tolist() == [0, 0, 128, 128]
    mask = np.ones((48, 64), np.float32)
    mask[:, :32] = 0.0
    history.push(SetMask(top.id, mask))
    cache.ensure()
    assert cache.levels[0][10, 10].tolist() == [0, 0, 0, 0]
    assert cache.levels[0][10, 40].tolist() == [0, 0, 128, 128]
    history.undo()
    history.push(PaintRegion(top.id, "pixels", (0, 0, 4, 4), np.zeros((4, 4, 4), np.float32)))
    cache.ensure()
    assert cache.levels[0][1, 1].tolist() == [0, 0, 0, 0]
    assert cache.levels[0][10, 10].tolist() == [0, 0, 128, 128]
    history.push(RemoveLayer(top.id))
    assert caches.layer(top.id) is None


def test_mask_overlay_follows_the_active_layer_and_its_mask():
    doc = _noise_doc(w=40, h=30)
    history = History(doc)
    caches = DocumentCaches(doc)
    assert caches.mask_overlay() is None  # no mask, nothing to show
    lid = doc.layers[0].id
    mask = np.ones((30, 40), np.float32)
    mask[5:10, 5:10] = 0.0
    history.push(SetMask(lid, mask))
    overlay = caches.mask_overlay()
    overlay.ensure()
    assert overlay.levels[0][7, 7] == 255 and overlay.levels[0][20, 20] == 0
    history.push(PaintRegion(lid, "mask", (20, 20, 22, 22), np.full((2, 2), 0.5, np.float32)))
    assert overlay._dirty == [(20, 20, 22, 22)]
    overlay.ensure()
    assert overlay.levels[0][20, 20] == 128
    other = Layer(np.zeros((30, 40, 4), np.float32), "Other")
    doc.insert_layer(other, 1)  # becomes active, has no mask
    assert caches.mask_overlay() is None


def test_caches_stop_listening_when_dropped():
    doc = _noise_doc(w=16, h=16)
    caches = DocumentCaches(doc)
    assert len(doc._observers) == 1
    del caches
    gc.collect()
    History(doc).push(SetLayerProperty(doc.layers[0].id, "opacity", 0.5))
    assert doc._observers == []


def test_document_resize_reallocates_the_levels():
    from editor.core.edits import ResampleDocument

    doc = _noise_doc(w=20, h=10)
    caches = DocumentCaches(doc)
    caches.composite.ensure()
    History(doc).push(ResampleDocument(lambda a: np.repeat(np.repeat(a, 2, 0), 2, 1)))
    caches.composite.ensure()
    assert caches.composite.levels[0].shape == (20, 40, 4)
    assert np.array_equal(caches.composite.levels[0], premultiplied_rgba8(doc.composite()))


@pytest.mark.parametrize("zoom, level", [(1.0, 0), (4.0, 0), (0.75, 0), (0.5, 1), (0.3, 1),
                                         (0.25, 2), (0.1, 3), (1 / 64, 6), (1 / 1000, 6)])
def test_level_choice_never_upscales_a_coarser_level(zoom, level):
    assert level_for_zoom(zoom, 7) == level


def test_dropped_caches_free_the_document_without_waiting_for_the_garbage_collector():
    import gc
    import weakref

    from editor.core.document import Document
    from editor.qt.render_cache import DocumentCaches

    doc = Document.from_image(np.zeros((40, 30, 3), np.float32))
    caches = DocumentCaches(doc)
    caches.composite.ensure()
    ref = weakref.ref(caches)
    gc.disable()
    try:
        del caches
        assert ref() is None  # no reference cycle: freed by reference counting alone
    finally:
        gc.enable()


def test_premultiplied_rgba8_rounds_and_premultiplies():
    from editor.qt.render_cache import premultiplied_rgba8

    px = np.array([[[1.0, 0.5, -0.2, 1.0], [1.0, 0.5, 0.0, 0.5], [2.0, 0.2, 0.0, 0.0]]], np.float32)
    out = premultiplied_rgba8(px)
    assert out.dtype == np.uint8
    assert out[0, 0].tolist() == [255, 128, 0, 255]
    assert out[0, 1].tolist() == [128, 64, 0, 128]
    assert out[0, 2].tolist() == [0, 0, 0, 0]
