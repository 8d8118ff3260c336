"""The canvas as a retoucher uses it: exact pixels, zoom/pan, mask brush, marquee,
previews and before/after compare. Screen pixels are read back with grab()."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shiboken6
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from editor.core.document import Document, Layer
from editor.core.history import History, PaintRegion
from editor.qt.canvas import Canvas
from editor.qt.compare_view import SideBySideView

W, H = 300, 200
RED = (1.0, 0.0, 0.0)
BLUE = (0.0, 0.0, 1.0)


def gradient_doc() -> Document:
    img = np.zeros((H, W, 3), np.float32)
    img[..., 0] = np.linspace(0.0, 1.0, W, dtype=np.float32)[None, :]
    img[..., 1] = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None]
    img[..., 2] = 0.25
    return Document.from_image(img)


def two_layer_doc() -> tuple[Document, Layer, Layer]:
    doc = Document.from_image(np.full((H, W, 3), RED, np.float32), name="Original")
    top = Layer(np.full((H, W, 4), BLUE + (1.0,), np.float32), "Retouched")
    doc.insert_layer(top, 1)
    return doc, doc.layers[0], top


@pytest.fixture
def make_canvas(qtbot):
    def make(doc: Document | None, size=(400, 300)) -> tuple[Canvas, History | None]:
        canvas = Canvas()
        qtbot.addWidget(canvas)
        canvas.resize(*size)
        canvas.show()
        qtbot.waitExposed(canvas)
        history = History(doc) if doc is not None else None
        canvas.set_document(doc, history)
        return canvas, history
    return make


def rgb(image, x: float, y: float) -> tuple[int, int, int]:
    c = image.pixelColor(int(x), int(y))
    return (c.red(), c.green(), c.blue())


def screen_of(canvas: Canvas, x: float, y: float) -> QPoint:
    """The screen pixel at the centre of document pixel (x, y)."""
    p = canvas.doc_to_view(QPointF(x + 0.5, y + 0.5))
    return QPoint(math.floor(p.x()), math.floor(p.y()))


def drag(qtbot, widget, points, button=Qt.MouseButton.LeftButton,
         modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mousePress(widget, button, modifier, points[0])
    for p in points[1:]:
        qtbot.mouseMove(widget, p)
    qtbot.mouseRelease(widget, button, modifier, points[-1])


def wheel(widget, pos: QPointF, delta: int, modifiers=Qt.KeyboardModifier.NoModifier):
    event = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


# -- pixels on screen -------------------------------------------------------------------------

def test_at_100_percent_a_document_pixel_shows_its_exact_colour(make_canvas):
    doc = gradient_doc()
    canvas, _ = make_canvas(doc)
    canvas.zoom_actual()
    image = canvas.grab().toImage()
    for x, y in [(37, 55), (150, 100), (120, 80)]:
        expected = tuple(int(np.floor(v * 255 + 0.5)) for v in doc.layers[0].pixels[y, x, :3])
        assert rgb(image, *screen_of(canvas, x, y).toTuple()) == expected


def test_at_400_percent_one_pixel_is_an_exact_4x4_block(make_canvas):
    doc = gradient_doc()
    canvas, _ = make_canvas(doc)
    canvas.set_view(4.0, QPointF(150, 100))
    image = canvas.grab().toImage()
    corner = canvas.doc_to_view(QPointF(150, 100))
    cx, cy = int(corner.x()), int(corner.y())
    assert corner == QPointF(cx, cy)  # pixel edges sit on whole screen pixels
    block = {image.pixel(cx + i, cy + j) for i in range(4) for j in range(4)}
    assert len(block) == 1
    # Nearest neighbour: the next screen pixel over already belongs to the next doc pixel.
    assert image.pixel(cx + 4, cy) not in block and image.pixel(cx - 1, cy) not in block
    expected = tuple(int(np.floor(v * 255 + 0.5)) for v in doc.layers[0].pixels[100, 150, :3])
    assert rgb(image, cx + 1, cy + 2) == expected


def test_pixel_grid_appears_only_from_800_percent(make_canvas):
    doc = Document.from_image(np.full((H, W, 3), 0.5, np.float32))
    canvas, _ = make_canvas(doc)
    canvas.set_view(4.0, QPointF(150, 100))
    image = canvas.grab().toImage()
    assert len({image.pixel(x, 150) for x in range(100, 300)}) == 1
    canvas.set_view(8.0, QPointF(150, 100))
    image = canvas.grab().toImage()
    row = [image.pixel(x, 150) for x in range(100, 300)]
    assert len(set(row)) == 2  # the picture's grey and a faint grid line ...
    lines = [x for x, colour in enumerate(row) if row.count(colour) < 100]
    assert all(b - a == 8 for a, b in zip(lines, lines[1:]))  # ... on every pixel edge


def test_transparent_pixels_show_the_checkerboard(make_canvas):
    doc = Document.from_image(np.zeros((H, W, 4), np.float32))
    canvas, _ = make_canvas(doc)
    canvas.zoom_actual()
    image = canvas.grab().toImage()
    greys = {rgb(image, *screen_of(canvas, x, 20).toTuple()) for x in range(0, 40)}
    assert greys == {(255, 255, 255), (204, 204, 204)}


def test_zoomed_out_view_is_drawn_smoothly_from_a_mip_level(make_canvas):
    # A one-pixel checker pattern averages to mid grey when properly downscaled; point
    # sampling would show pure black or white.
    img = np.indices((H, W)).sum(axis=0) % 2
    doc = Document.from_image(np.repeat(img[..., None], 3, axis=2).astype(np.float32))
    canvas, _ = make_canvas(doc)
    canvas.set_view(0.25, QPointF(150, 100))
    image = canvas.grab().toImage()
    for x, y in [(200, 150), (190, 140), (210, 160)]:
        r, g, b = rgb(image, x, y)
        assert 110 <= r <= 145 and r == g == b


# -- zoom and pan -----------------------------------------------------------------------------

def test_wheel_zoom_keeps_the_document_point_under_the_cursor(make_canvas):
    canvas, _ = make_canvas(gradient_doc())
    cursor = QPointF(123.0, 87.0)
    before = canvas.view_to_doc(cursor)
    zooms = []
    canvas.zoomChanged.connect(zooms.append)
    wheel(canvas, cursor, 120)
    wheel(canvas, cursor, 120)
    assert canvas.zoom() > zooms[0] > 1.0 and zooms[-1] == canvas.zoom()
    after = canvas.view_to_doc(cursor)
    # Within half a screen pixel (the origin snaps to whole pixels at >= 100 %).
    tolerance = 0.5 / canvas.zoom() + 1e-6
    assert abs(after.x() - before.x()) <= tolerance and abs(after.y() - before.y()) <= tolerance
    wheel(canvas, cursor, -120, Qt.KeyboardModifier.ControlModifier)  # Ctrl+wheel zooms too
    assert canvas.zoom() < zooms[-2]


def test_wheel_lands_exactly_on_100_percent(make_canvas):
    canvas, _ = make_canvas(gradient_doc())
    canvas.set_zoom(0.9)
    wheel(canvas, QPointF(50, 50), 120)
    assert canvas.zoom() == 1.0


def test_fit_shows_the_whole_document_and_steps_and_clamps(make_canvas):
    doc = gradient_doc()
    canvas, _ = make_canvas(doc, size=(400, 300))
    canvas.set_zoom(5.0)
    canvas.zoom_fit()
    assert canvas.visible_doc_rect() == (0, 0, W, H)
    tl = canvas.doc_to_view(QPointF(0, 0))
    br = canvas.doc_to_view(QPointF(W, H))
    assert 0 <= tl.x() and 0 <= tl.y() and br.x() <= 400 and br.y() <= 300
    assert max(br.x() - tl.x(), br.y() - tl.y()) > 370  # it fills the view, not a stamp
    image = canvas.grab().toImage()
    assert rgb(image, tl.x() + 2, tl.y() + 2)[2] == 64  # the picture's blue
    canvas.zoom_actual()
    assert canvas.zoom() == 1.0
    canvas.zoom_in()
    assert canvas.zoom() == 1.5
    canvas.zoom_out()
    canvas.zoom_out()
    assert canvas.zoom() == pytest.approx(2 / 3)
    canvas.set_zoom(1000)
    assert canvas.zoom() == 64.0
    canvas.set_zoom(0.0001)
    assert canvas.zoom() == 1 / 64


def test_fit_follows_window_resizes_until_the_user_zooms(make_canvas):
    canvas, _ = make_canvas(gradient_doc(), size=(400, 300))
    canvas.resize(800, 600)
    assert canvas.visible_doc_rect() == (0, 0, W, H) and canvas.zoom() > 2.5
    canvas.set_zoom(1.0)
    centre = canvas.view_center()
    canvas.resize(600, 500)
    assert canvas.zoom() == 1.0 and canvas.view_center() == centre


@pytest.mark.parametrize("how", ["pan_mode", "space", "middle"])
def test_panning_moves_the_view(make_canvas, qtbot, how):
    canvas, _ = make_canvas(gradient_doc())
    canvas.set_view(2.0, QPointF(150, 100))
    canvas.set_tool_mode("pan" if how == "pan_mode" else "brush")
    views = []
    canvas.viewChanged.connect(lambda: views.append(canvas.view_center()))
    button = Qt.MouseButton.MiddleButton if how == "middle" else Qt.MouseButton.LeftButton
    if how == "space":
        qtbot.keyPress(canvas, Qt.Key.Key_Space)
    drag(qtbot, canvas, [QPoint(200, 150), QPoint(180, 140), QPoint(160, 130)], button)
    if how == "space":
        qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    centre = canvas.view_center()
    # Dragged 40 px left and 20 px up at 200 %: the view moved 20 and 10 document pixels.
    assert (centre.x(), centre.y()) == pytest.approx((170.0, 110.0))
    assert views
    # Space- and middle-drag pan even with the brush: nothing was painted.
    assert all(layer.mask is None for layer in canvas.document().layers)


def test_visible_rect_and_cursor_position(make_canvas, qtbot):
    canvas, _ = make_canvas(gradient_doc(), size=(400, 300))
    canvas.set_view(2.0, QPointF(100, 100))
    assert canvas.visible_doc_rect() == (0, 25, 200, 175)
    seen = []
    canvas.cursorMoved.connect(lambda x, y: seen.append((x, y)))
    qtbot.mouseMove(canvas, QPoint(201, 151))
    assert seen[-1] == (100, 100)


def test_empty_canvas_shows_a_hint_and_ignores_input(make_canvas, qtbot):
    canvas, _ = make_canvas(None)
    canvas.set_tool_mode("brush")
    drag(qtbot, canvas, [QPoint(10, 10), QPoint(50, 50)])
    wheel(canvas, QPointF(20, 20), 120)
    canvas.zoom_fit()
    assert canvas.visible_doc_rect() == (0, 0, 0, 0)
    image = canvas.grab().toImage()
    assert len({image.pixel(x, 150) for x in range(0, 400)}) > 1  # some hint text is drawn


# -- mask brush -------------------------------------------------------------------------------

def test_eraser_stroke_creates_the_mask_in_one_undo_step_and_undo_restores(make_canvas, qtbot):
    doc, _bottom, top = two_layer_doc()
    canvas, history = make_canvas(doc)
    canvas.zoom_actual()
    canvas.set_tool_mode("eraser")
    canvas.set_brush(20, 1.0, 1.0)
    finished = []
    canvas.maskStrokeFinished.connect(lambda: finished.append(True))
    drag(qtbot, canvas, [screen_of(canvas, 50, 100), screen_of(canvas, 100, 100),
                         screen_of(canvas, 150, 100)])
    assert top.mask is not None
    assert np.all(top.mask[100, 50:151] == 0.0)   # hidden along the stroke
    assert np.all(top.mask[100 - 9:100 + 10, 100] == 0.0)  # the full 20 px width
    assert np.all(top.mask[60, :] == 1.0) and top.mask[100, 175] == 1.0  # untouched elsewhere
    assert len(history.entries) == 1 and history.undo_label == "Mask brush"
    assert finished == [True]
    # What the user sees: the red layer below shows through where the top was erased.
    image = canvas.grab().toImage()
    assert rgb(image, *screen_of(canvas, 100, 100).toTuple()) == (255, 0, 0)
    assert rgb(image, *screen_of(canvas, 100, 60).toTuple()) == (0, 0, 255)
    history.undo()
    assert top.mask is None
    history.redo()
    assert top.mask is not None and top.mask[100, 100] == 0.0


def test_brush_stroke_on_a_layer_without_mask_creates_it_as_one_step(make_canvas, qtbot):
    doc, _bottom, top = two_layer_doc()
    canvas, history = make_canvas(doc)
    canvas.set_tool_mode("brush")
    drag(qtbot, canvas, [QPoint(200, 150), QPoint(220, 160)])
    assert top.mask is not None and np.all(top.mask == 1.0)  # reveal everything: all ones
    assert len(history.entries) == 1
    history.undo()
    assert top.mask is None


def test_brush_after_eraser_and_undo_restores_the_mask_exactly(make_canvas, qtbot):
    doc, _bottom, top = two_layer_doc()
    canvas, history = make_canvas(doc)
    canvas.zoom_actual()
    canvas.set_tool_mode("eraser")
    canvas.set_brush(30, 0.3, 1.0)
    drag(qtbot, canvas, [screen_of(canvas, 60, 60), screen_of(canvas, 200, 140)])
    after_eraser = top.mask.copy()
    soft_edge = after_eraser[(after_eraser > 0.05) & (after_eraser < 0.95)]
    assert soft_edge.size > 50  # hardness 0.3 leaves a soft falloff
    canvas.set_tool_mode("brush")
    canvas.set_brush(12, 1.0, 1.0)
    drag(qtbot, canvas, [screen_of(canvas, 60, 140), screen_of(canvas, 200, 60)])
    assert top.mask[100, 130] == 1.0  # where the strokes cross, revealed again
    assert len(history.entries) == 2
    history.undo()
    assert np.array_equal(top.mask, after_eraser)


def test_opacity_caps_how_far_one_stroke_moves_the_mask(make_canvas, qtbot):
    doc, _bottom, top = two_layer_doc()
    canvas, history = make_canvas(doc)
    canvas.zoom_actual()
    canvas.set_tool_mode("eraser")
    canvas.set_brush(16, 1.0, 0.5)
    back_and_forth = [screen_of(canvas, x, 100) for x in (50, 150, 50, 150, 50)]
    drag(qtbot, canvas, back_and_forth)
    assert top.mask[100, 100] == pytest.approx(0.5)  # many passes, still only half
    assert top.mask.min() == pytest.approx(0.5)
    drag(qtbot, canvas, back_and_forth)  # a second stroke goes another half of the way
    assert top.mask[100, 100] == pytest.approx(0.25)
    assert len(history.entries) == 2


def test_dabs_are_spaced_about_a_quarter_of_the_brush(make_canvas, qtbot, monkeypatch):
    doc, _bottom, top = two_layer_doc()
    canvas, history = make_canvas(doc)
    canvas.zoom_actual()
    canvas.set_tool_mode("eraser")
    canvas.set_brush(40, 1.0, 1.0)
    pushed = []
    push = history.push
    monkeypatch.setattr(history, "push", lambda cmd: pushed.append(cmd) or push(cmd))
    drag(qtbot, canvas, [screen_of(canvas, 20, 100)] +
         [screen_of(canvas, 20 + 7 * i, 100) for i in range(1, 21)])  # 140 px in 7 px moves
    dabs = [c for c in pushed if isinstance(c, PaintRegion)]
    assert 14 <= len(dabs) <= 16  # 1 + 140 / 10, independent of how the moves were chopped


def test_brush_needs_an_active_layer(make_canvas, qtbot):
    doc, _bottom, top = two_layer_doc()
    canvas, history = make_canvas(doc)
    doc.set_active(None)
    canvas.set_tool_mode("brush")
    drag(qtbot, canvas, [QPoint(200, 150), QPoint(220, 160)])
    assert history.entries == [] and top.mask is None


def test_setters_reject_bad_values(make_canvas):
    canvas, _ = make_canvas(gradient_doc())
    with pytest.raises(ValueError):
        canvas.set_brush(0.5, 0.5, 0.5)
    with pytest.raises(ValueError):
        canvas.set_brush(10, 1.5, 0.5)
    with pytest.raises(ValueError):
        canvas.set_tool_mode("lasso")
    with pytest.raises(ValueError):
        canvas.set_compare_mode("wipe")
    with pytest.raises(ValueError):
        canvas.set_compare_sources("original", "composite")


# -- selection --------------------------------------------------------------------------------

def test_rect_selection_by_drag(make_canvas, qtbot):
    canvas, _ = make_canvas(gradient_doc())
    canvas.set_view(2.0, QPointF(150, 100))
    canvas.set_tool_mode("select_rect")
    changes = []
    canvas.selectionChanged.connect(lambda: changes.append(canvas.selection()))
    start = canvas.doc_to_view(QPointF(100, 80)).toPoint()
    end = canvas.doc_to_view(QPointF(160, 110)).toPoint()
    drag(qtbot, canvas, [start, QPoint(start.x() + 30, start.y() + 30), end])
    assert canvas.selection() == ("rect", (100.0, 80.0, 160.0, 110.0))
    assert changes == [("rect", (100.0, 80.0, 160.0, 110.0))]  # once, on release
    qtbot.keyPress(canvas, Qt.Key.Key_Escape)
    assert canvas.selection() is None and changes[-1] is None


def test_ellipse_selection_with_shift_is_a_circle_and_a_click_deselects(make_canvas, qtbot):
    canvas, _ = make_canvas(gradient_doc())
    canvas.set_view(2.0, QPointF(150, 100))
    canvas.set_tool_mode("select_ellipse")
    start = canvas.doc_to_view(QPointF(100, 80)).toPoint()
    end = canvas.doc_to_view(QPointF(140, 90)).toPoint()
    drag(qtbot, canvas, [start, end], modifier=Qt.KeyboardModifier.ShiftModifier)
    assert canvas.selection() == ("ellipse", (100.0, 80.0, 140.0, 120.0))
    with_outline = canvas.grab().toImage()
    canvas.set_tool_mode("pan")
    canvas.clear_selection()
    plain = canvas.grab().toImage()
    top = canvas.doc_to_view(QPointF(120, 80)).toPoint()
    assert any(with_outline.pixel(top.x(), top.y() + dy) != plain.pixel(top.x(), top.y() + dy)
               for dy in (-1, 0, 1))  # the outline is drawn along the circle
    centre = canvas.doc_to_view(QPointF(120, 100)).toPoint()
    assert with_outline.pixel(centre) == plain.pixel(centre)
    canvas.set_selection("ellipse", (100, 80, 140, 120))
    canvas.set_tool_mode("select_ellipse")
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
    assert canvas.selection() is None


def test_rect_selection_is_clipped_to_the_canvas(make_canvas, qtbot):
    canvas, _ = make_canvas(gradient_doc())
    canvas.set_tool_mode("select_rect")
    canvas.zoom_actual()
    drag(qtbot, canvas, [screen_of(canvas, 250, 150), canvas.doc_to_view(QPointF(350, 260)).toPoint()])
    assert canvas.selection() == ("rect", (250.0, 150.0, 300.0, 200.0))
    canvas.clear_selection()
    assert canvas.selection() is None


# -- overlays ---------------------------------------------------------------------------------

def test_preview_is_drawn_in_its_rect_and_cleared_by_document_changes(make_canvas):
    doc = Document.from_image(np.full((H, W, 3), 0.5, np.float32))
    canvas, history = make_canvas(doc)
    canvas.zoom_actual()
    preview = np.zeros((25, 25, 3), np.float32)
    preview[..., 1] = 1.0  # green, a quarter of the bbox's resolution: stretched over it
    canvas.show_preview(preview, (100, 50, 200, 150))
    image = canvas.grab().toImage()
    assert rgb(image, *screen_of(canvas, 100, 50).toTuple()) == (0, 255, 0)
    assert rgb(image, *screen_of(canvas, 199, 149).toTuple()) == (0, 255, 0)
    assert rgb(image, *screen_of(canvas, 99, 50).toTuple()) == (128, 128, 128)
    assert rgb(image, *screen_of(canvas, 200, 100).toTuple()) == (128, 128, 128)
    assert canvas.preview_bbox() == (100, 50, 200, 150)
    history.push(PaintRegion(doc.layers[0].id, "pixels", (0, 0, 2, 2), np.zeros((2, 2, 4), np.float32)))
    assert canvas.preview_bbox() is None
    image = canvas.grab().toImage()
    assert rgb(image, *screen_of(canvas, 150, 100).toTuple()) == (128, 128, 128)
    canvas.show_preview(preview, (100, 50, 200, 150))
    canvas.clear_preview()
    assert rgb(canvas.grab().toImage(), *screen_of(canvas, 150, 100).toTuple()) == (128, 128, 128)


def test_mask_overlay_is_red_where_the_mask_hides(make_canvas, qtbot):
    doc = Document.from_image(np.full((H, W, 3), 1.0, np.float32))
    canvas, history = make_canvas(doc)
    canvas.zoom_actual()
    canvas.set_tool_mode("eraser")
    canvas.set_brush(20, 1.0, 1.0)
    drag(qtbot, canvas, [screen_of(canvas, 100, 100), screen_of(canvas, 120, 100)])
    canvas.set_mask_overlay(True)
    image = canvas.grab().toImage()
    # (Read away from the brush outline, which sits around the last cursor position.)
    r, g, b = rgb(image, *screen_of(canvas, 104, 100).toTuple())
    # The hidden white layer leaves the checkerboard, tinted half red.
    assert any(max(abs(r - er), abs(g - eg), abs(b - eb)) <= 2
               for er, eg, eb in ((255, 128, 128), (230, 102, 102)))
    assert rgb(image, *screen_of(canvas, 104, 50).toTuple()) == (255, 255, 255)
    canvas.set_mask_overlay(False)
    r, g, b = rgb(canvas.grab().toImage(), *screen_of(canvas, 104, 100).toTuple())
    assert r == g == b  # just the checkerboard again


# -- compare ----------------------------------------------------------------------------------

def test_split_compare_shows_a_left_and_b_right(make_canvas):
    doc, bottom, top = two_layer_doc()
    canvas, _ = make_canvas(doc, size=(400, 300))
    canvas.set_compare_mode("split")
    assert canvas.compare_sources() == (bottom.id, "composite")  # the defaults
    image = canvas.grab().toImage()
    assert rgb(image, 120, 150) == (255, 0, 0)   # before: the original layer alone
    assert rgb(image, 280, 150) == (0, 0, 255)   # after: the composite
    canvas.set_compare_sources(top.id, bottom.id)
    canvas.set_split_position(0.25)
    image = canvas.grab().toImage()
    assert rgb(image, 60, 250) == (0, 0, 255) and rgb(image, 140, 250) == (255, 0, 0)
    canvas.set_compare_mode("before")
    assert rgb(canvas.grab().toImage(), 300, 250) == (0, 0, 255)
    canvas.set_compare_mode("off")
    assert rgb(canvas.grab().toImage(), 60, 250) == (0, 0, 255)


def test_split_line_is_draggable_and_wins_over_the_tool(make_canvas, qtbot):
    doc, _bottom, top = two_layer_doc()
    canvas, history = make_canvas(doc, size=(400, 300))
    canvas.set_compare_mode("split")
    canvas.set_tool_mode("eraser")
    qtbot.mouseMove(canvas, QPoint(201, 100))
    assert canvas.cursor().shape() == Qt.CursorShape.SplitHCursor
    drag(qtbot, canvas, [QPoint(201, 100), QPoint(250, 120), QPoint(300, 120)])
    assert canvas.split_position() == pytest.approx(0.75)
    assert history.entries == [] and top.mask is None  # dragging the line painted nothing
    image = canvas.grab().toImage()
    assert rgb(image, 280, 200) == (255, 0, 0) and rgb(image, 320, 200) == (0, 0, 255)


def test_a_deleted_compare_layer_falls_back_to_the_bottom_layer(make_canvas):
    from editor.core.history import RemoveLayer

    doc, bottom, top = two_layer_doc()
    canvas, history = make_canvas(doc)
    canvas.set_compare_sources(top.id, "composite")
    history.push(RemoveLayer(top.id))
    assert canvas.compare_sources() == (bottom.id, "composite")
    canvas.set_compare_mode("before")
    assert rgb(canvas.grab().toImage(), 200, 150) == (255, 0, 0)


def test_side_by_side_views_stay_in_sync(qtbot):
    doc, bottom, top = two_layer_doc()
    view = SideBySideView()
    qtbot.addWidget(view)
    view.resize(802, 300)
    view.show()
    qtbot.waitExposed(view)
    view.set_document(doc, History(doc))
    assert view.left.caches() is view.right.caches()  # rendered once for both
    assert rgb(view.left.grab().toImage(), 200, 150) == (255, 0, 0)
    assert rgb(view.right.grab().toImage(), 200, 150) == (0, 0, 255)
    wheel(view.left, QPointF(100, 100), 240)
    assert view.right.zoom() == view.left.zoom() > 1.0
    assert view.right.view_center() == view.left.view_center()
    drag(qtbot, view.right, [QPoint(200, 150), QPoint(150, 120)])  # pan the other one
    assert view.left.view_center() == view.right.view_center()
    view.right.zoom_actual()
    assert view.left.zoom() == 1.0
    view.set_sources(top.id, bottom.id)
    assert rgb(view.left.grab().toImage(), 200, 150) == (0, 0, 255)
    assert rgb(view.right.grab().toImage(), 200, 150) == (255, 0, 0)


# -- smooth on big photos ---------------------------------------------------------------------

def test_pan_and_zoom_on_24_megapixels_never_recomposite_the_canvas(make_canvas, monkeypatch):
    doc = Document.from_image(np.full((4000, 6000, 3), 0.5, np.float32))
    calls: list[tuple[int, int, int, int]] = []
    composite = doc.composite
    monkeypatch.setattr(doc, "composite",
                        lambda bbox=None, **kw: calls.append(bbox or doc.full_bbox) or composite(bbox, **kw))
    canvas, history = make_canvas(doc, size=(640, 480))
    canvas.grab()
    first = sum((b[2] - b[0]) * (b[3] - b[1]) for b in calls)
    assert first == 6000 * 4000  # the one full render, in bands
    calls.clear()
    for zoom, centre in [(1.0, (3000, 2000)), (0.3, (1000, 1000)), (4.0, (5900, 3900)),
                         (1 / 64, (3000, 2000)), (0.125, (2000, 3000))]:
        canvas.set_view(zoom, QPointF(*centre))
        canvas.grab()
    canvas.zoom_fit()
    canvas.grab()
    assert calls == []
    # An edit re-renders just its rectangle.
    history.push(PaintRegion(doc.layers[0].id, "pixels", (10, 20, 74, 84),
                             np.zeros((64, 64, 4), np.float32)))
    canvas.grab()
    assert calls == [(10, 20, 74, 84)]


def test_brush_stroke_on_a_big_photo_renders_only_what_it_touches(make_canvas, qtbot, monkeypatch):
    doc = Document.from_image(np.full((4000, 6000, 3), 0.5, np.float32))
    canvas, history = make_canvas(doc, size=(640, 480))
    canvas.grab()
    calls: list[tuple[int, int, int, int]] = []
    composite = doc.composite
    monkeypatch.setattr(doc, "composite",
                        lambda bbox=None, **kw: calls.append(bbox or doc.full_bbox) or composite(bbox, **kw))
    canvas.set_tool_mode("eraser")
    canvas.set_brush(400, 0.5, 1.0)
    drag(qtbot, canvas, [QPoint(300, 200), QPoint(340, 220)])  # creates the mask too
    canvas.grab()
    assert doc.layers[0].mask is not None and len(history.entries) == 1
    assert calls and sum((b[2] - b[0]) * (b[3] - b[1]) for b in calls) < 2_000_000


# -- lifetime and extras ------------------------------------------------------------------------

def test_a_deleted_canvas_stops_listening_to_the_document(qtbot):
    doc, _bottom, top = two_layer_doc()
    history = History(doc)
    canvas = Canvas()
    canvas.set_document(doc, history)
    relay = canvas._relay
    assert relay in doc._observers
    shiboken6.delete(canvas)  # the C++ widget goes (window closed), the Python object stays
    history.push(PaintRegion(top.id, "pixels", (0, 0, 4, 4), np.zeros((4, 4, 4), np.float32)))
    assert relay not in doc._observers  # and no RuntimeError from updating a dead widget


def test_shift_click_paints_a_straight_line_from_the_last_stroke(make_canvas, qtbot):
    doc, _bottom, top = two_layer_doc()
    canvas, history = make_canvas(doc)
    canvas.zoom_actual()
    canvas.set_tool_mode("eraser")
    canvas.set_brush(6, 1.0, 1.0)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=screen_of(canvas, 40, 40))
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                     screen_of(canvas, 140, 140))
    assert all(top.mask[i, i] == 0.0 for i in range(40, 141))  # the diagonal is erased
    assert top.mask[40, 140] == 1.0
    assert len(history.entries) == 2


def test_escape_during_a_marquee_drag_keeps_the_previous_selection(make_canvas, qtbot):
    canvas, _ = make_canvas(gradient_doc())
    canvas.set_selection("rect", (10, 10, 50, 50))
    canvas.set_tool_mode("select_rect")
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(200, 150))
    qtbot.mouseMove(canvas, QPoint(260, 200))
    qtbot.keyPress(canvas, Qt.Key.Key_Escape)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(260, 200))
    assert canvas.selection() == ("rect", (10.0, 10.0, 50.0, 50.0))


def test_side_by_side_can_reuse_the_main_canvas_renderings(make_canvas, qtbot):
    doc, _bottom, _top = two_layer_doc()
    canvas, history = make_canvas(doc)
    view = SideBySideView()
    qtbot.addWidget(view)
    view.set_document(doc, history, caches=canvas.caches())
    assert view.left.caches() is canvas.caches() is view.right.caches()
    with pytest.raises(ValueError):
        view.left.set_document(gradient_doc(), None, caches=canvas.caches())
