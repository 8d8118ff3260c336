"""Layers, Tool and History panels: they show the model, and what the user does in them
becomes undoable history steps."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox

from editor.core.blend import BLEND_LABELS, BLEND_MODES
from editor.core.document import Document, Layer
from editor.core.history import AddLayer, MoveLayer, RemoveLayer, SetLayerProperty, SetMask
from editor.engine.progress import Progress
from editor.qt.history_panel import HistoryPanel
from editor.qt.layers_panel import COL_EYE, COL_MASK, COL_NAME, LayersPanel
from editor.qt.qt_document import QtDocument
from editor.qt.settings import Settings
from editor.qt.tool_panel import NumberEditor, ToolPanel
from editor.tools import TOOLS
from editor.tools.schema import Param, Tool

W, H = 64, 48


def make_qdoc() -> QtDocument:
    rng = np.random.default_rng(1)
    doc = Document.from_image(rng.random((H, W, 3), dtype=np.float32), name="Background")
    return QtDocument(doc)


def add_layer(qdoc: QtDocument, name: str) -> Layer:
    layer = Layer(np.zeros((H, W, 4), np.float32), name)
    qdoc.push(AddLayer(layer, len(qdoc.doc.layers)))
    return layer


@pytest.fixture
def layers(qtbot):
    qdoc = make_qdoc()
    panel = LayersPanel()
    qtbot.addWidget(panel)
    panel.set_document(qdoc)
    panel.resize(320, 400)
    panel.show()
    return panel, qdoc


def names(panel: LayersPanel) -> list[str]:
    return [panel.tree.topLevelItem(i).text(COL_NAME) for i in range(panel.tree.topLevelItemCount())]


# -- layers panel: model -> view -------------------------------------------------------------
def test_layers_panel_lists_top_first_and_follows_add_remove_reorder(layers):
    panel, qdoc = layers
    assert names(panel) == ["Background"]
    a = add_layer(qdoc, "Retouch")
    b = add_layer(qdoc, "Dodge")
    assert names(panel) == ["Dodge", "Retouch", "Background"]
    assert panel.tree.currentItem().text(COL_NAME) == "Dodge"  # the new layer is active
    qdoc.push(MoveLayer(b.id, 1))
    assert names(panel) == ["Retouch", "Dodge", "Background"]
    qdoc.push(RemoveLayer(a.id))
    assert names(panel) == ["Dodge", "Background"]
    qdoc.history.undo()
    assert names(panel) == ["Retouch", "Dodge", "Background"]


def test_layers_panel_follows_property_changes(layers):
    panel, qdoc = layers
    layer = qdoc.doc.layers[0]
    qdoc.push(SetLayerProperty(layer.id, "name", "Base", mergeable=False))
    qdoc.push(SetLayerProperty(layer.id, "opacity", 0.25, mergeable=False))
    qdoc.push(SetLayerProperty(layer.id, "blend_mode", "multiply", mergeable=False))
    qdoc.push(SetLayerProperty(layer.id, "visible", False, mergeable=False))
    assert names(panel) == ["Base"]
    assert panel.opacity_slider.value() == 25 and panel.opacity_spin.value() == 25
    assert panel.blend_combo.currentData() == "multiply"
    assert panel.blend_combo.currentText() == BLEND_LABELS["multiply"]
    assert "Show layer" in panel.item_for(layer.id).toolTip(COL_EYE)
    # Model -> view updates did not echo back as new commands.
    assert len(qdoc.history.entries) == 4


def test_blend_combo_offers_every_mode_with_its_label(layers):
    panel, _ = layers
    assert [panel.blend_combo.itemData(i) for i in range(panel.blend_combo.count())] == list(BLEND_MODES)
    assert [panel.blend_combo.itemText(i) for i in range(panel.blend_combo.count())] == \
        [BLEND_LABELS[m] for m in BLEND_MODES]


def test_selecting_a_row_makes_the_layer_active_without_a_history_step(layers):
    panel, qdoc = layers
    add_layer(qdoc, "Top")
    bottom = qdoc.doc.layers[0]
    steps = len(qdoc.history.entries)
    panel.tree.setCurrentItem(panel.item_for(bottom.id))
    assert qdoc.doc.active_layer is bottom
    assert len(qdoc.history.entries) == steps


# -- layers panel: view -> model (undoable) ----------------------------------------------------
def test_eye_click_toggles_visibility_as_an_undoable_step(qtbot, layers):
    panel, qdoc = layers
    layer = qdoc.doc.layers[0]
    panel.tree.itemClicked.emit(panel.item_for(layer.id), COL_EYE)
    assert layer.visible is False
    assert qdoc.history.undo_label == "Layer visibility"
    qdoc.history.undo()
    assert layer.visible is True


def test_rename_in_place_is_undoable_and_empty_names_are_refused(layers):
    panel, qdoc = layers
    layer = qdoc.doc.layers[0]
    panel.item_for(layer.id).setText(COL_NAME, "  Skin  ")
    assert layer.name == "Skin"
    assert qdoc.history.undo_label == "Rename layer"
    panel.item_for(layer.id).setText(COL_NAME, "   ")
    assert layer.name == "Skin" and names(panel) == ["Skin"]
    qdoc.history.undo()
    assert layer.name == "Background" and names(panel) == ["Background"]


def test_blend_combo_and_mask_checkbox_push_commands(layers):
    panel, qdoc = layers
    layer = qdoc.doc.layers[0]
    panel.blend_combo.setCurrentIndex(panel.blend_combo.findData("screen"))
    assert layer.blend_mode == "screen"
    assert not panel.mask_check.isEnabled()  # no mask yet
    qdoc.push(SetMask(layer.id, np.ones((H, W), np.float32)))
    assert panel.mask_check.isEnabled() and panel.mask_check.isChecked()
    panel.mask_check.setChecked(False)
    assert layer.mask_enabled is False
    panel.tree.itemClicked.emit(panel.item_for(layer.id), COL_MASK)  # click on the mask
    assert layer.mask_enabled is True
    for _ in range(4):
        qdoc.history.undo()
    assert layer.blend_mode == "normal" and layer.mask is None


def test_opacity_drag_is_one_undo_step(layers):
    panel, qdoc = layers
    layer = qdoc.doc.layers[0]
    slider = panel.opacity_slider
    slider.setSliderDown(True)           # the user grabs the handle
    for value in (90, 75, 60, 41):
        slider.setValue(value)
    slider.setSliderDown(False)          # ... and lets go: sliderReleased
    assert layer.opacity == pytest.approx(0.41)
    assert panel.opacity_spin.value() == 41
    assert len(qdoc.history.entries) == 1
    # A second drag is a second step, not merged into the first.
    slider.setSliderDown(True)
    slider.setValue(20)
    slider.setSliderDown(False)
    assert len(qdoc.history.entries) == 2
    qdoc.history.undo()
    assert layer.opacity == pytest.approx(0.41)
    qdoc.history.undo()
    assert layer.opacity == 1.0
    assert slider.value() == 100 and panel.opacity_spin.value() == 100


def test_opacity_spin_entry_is_its_own_step(layers):
    panel, qdoc = layers
    panel.opacity_spin.setValue(30)
    panel.opacity_spin.setValue(35)
    assert qdoc.doc.layers[0].opacity == pytest.approx(0.35)
    assert panel.opacity_slider.value() == 35
    assert len(qdoc.history.entries) == 2


def test_panel_without_document_is_empty_and_disabled(qtbot):
    panel = LayersPanel()
    qtbot.addWidget(panel)
    assert panel.tree.topLevelItemCount() == 0
    assert not panel.opacity_slider.isEnabled()


# -- tool panel ------------------------------------------------------------------------------------
def identity(image, params, progress: Progress):
    return image


DEMO = Tool(
    id="demo", label="Demo", run=identity, help="A tool with every parameter kind",
    params=(
        Param("strength", float, 0.5, range=(0.0, 2.0), step=0.01, help="How strong"),
        Param("radius", int, 3, range=(1, 50), help="Radius in pixels"),
        Param("keep_colour", bool, True, help="Keep colours"),
        Param("mode", "choice", "soft", choices=(("soft", "Soft"), ("hard", "Hard")), help="Mode"),
    ))


@pytest.fixture
def tool_panel(qtbot):
    panel = ToolPanel({"demo": DEMO, **TOOLS}, Settings())
    qtbot.addWidget(panel)
    panel.set_tool("demo")
    return panel


def test_tool_panel_has_one_widget_per_param_with_the_schema_ranges(tool_panel):
    page = tool_panel.page("demo")
    assert set(page.editors) == {"strength", "radius", "keep_colour", "mode"}
    strength = tool_panel.editor("strength")
    assert isinstance(strength, NumberEditor)
    assert (strength.spin.minimum(), strength.spin.maximum()) == (0.0, 2.0)
    assert strength.spin.decimals() == 2
    radius = tool_panel.editor("radius")
    assert (radius.spin.minimum(), radius.spin.maximum()) == (1, 50)
    assert (radius.slider.minimum(), radius.slider.maximum()) == (1, 50)
    assert isinstance(tool_panel.editor("keep_colour"), QCheckBox)
    mode = tool_panel.editor("mode")
    assert isinstance(mode, QComboBox)
    assert [mode.itemText(i) for i in range(mode.count())] == ["Soft", "Hard"]
    assert strength.slider.toolTip() == "How strong" and mode.toolTip() == "Mode"
    assert tool_panel.values() == DEMO.defaults()


def test_sharpen_panel_matches_its_schema(tool_panel):
    tool_panel.set_tool("sharpen")
    sharpen = TOOLS["sharpen"]
    for p in sharpen.params:
        editor = tool_panel.editor(p.name)
        assert (editor.spin.minimum(), editor.spin.maximum()) == pytest.approx(p.range)
        assert editor.spin.toolTip() == p.help
    assert tool_panel.values() == sharpen.defaults()


def test_numeric_entry_moves_the_slider_and_the_slider_moves_the_entry(qtbot, tool_panel):
    strength = tool_panel.editor("strength")
    with qtbot.waitSignal(tool_panel.valuesChanged):
        strength.spin.setValue(1.5)
    assert strength.slider.value() == 150          # 0.01 per slider step
    strength.slider.setValue(25)
    assert strength.spin.value() == pytest.approx(0.25)
    assert tool_panel.values()["strength"] == pytest.approx(0.25)
    radius = tool_panel.editor("radius")
    radius.spin.setValue(17)
    assert radius.slider.value() == 17 and tool_panel.values()["radius"] == 17


def test_reset_restores_defaults(tool_panel):
    tool_panel.editor("strength").spin.setValue(1.9)
    tool_panel.editor("keep_colour").setChecked(False)
    tool_panel.editor("mode").setCurrentIndex(1)
    assert tool_panel.values() != DEMO.defaults()
    tool_panel.reset_button.click()
    assert tool_panel.values() == DEMO.defaults()
    assert tool_panel.editor("strength").slider.value() == 50


def test_last_values_are_remembered_per_tool(qtbot, tool_panel):
    tool_panel.editor("radius").spin.setValue(9)
    tool_panel.editor("mode").setCurrentIndex(1)
    again = ToolPanel({"demo": DEMO}, Settings())
    qtbot.addWidget(again)
    again.set_tool("demo")
    assert again.values()["radius"] == 9 and again.values()["mode"] == "hard"
    # Another tool keeps its own values.
    tool_panel.set_tool("sharpen")
    assert tool_panel.values() == TOOLS["sharpen"].defaults()


def test_apply_button_and_return_key_request_apply(qtbot, tool_panel):
    with qtbot.waitSignal(tool_panel.applyRequested):
        tool_panel.apply_button.click()
    with qtbot.waitActive(tool_panel):  # shortcuts only fire in the active window
        tool_panel.show()
        tool_panel.activateWindow()
    tool_panel.editor("strength").spin.setFocus()
    with qtbot.waitSignal(tool_panel.applyRequested):
        qtbot.keyClick(tool_panel.editor("strength").spin, Qt.Key.Key_Return)
    tool_panel.set_apply_enabled(False)
    with qtbot.assertNotEmitted(tool_panel.applyRequested):
        tool_panel.apply_button.click()


# -- history panel -----------------------------------------------------------------------------------
def test_history_panel_lists_steps_and_click_goes_to_that_step(qtbot):
    qdoc = make_qdoc()
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    panel.set_document(qdoc)
    panel.show()
    a = add_layer(qdoc, "One")
    add_layer(qdoc, "Two")
    qdoc.push(SetLayerProperty(a.id, "opacity", 0.5, mergeable=False))
    texts = [panel.list.item(i).text() for i in range(panel.list.count())]
    assert texts[0] == "Open" and len(texts) == 4
    assert texts[3] == "Layer opacity"
    assert panel.list.currentRow() == 3
    assert "steps" in panel.memory_label.text() and "KB" in panel.memory_label.text()

    item = panel.list.item(1)
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=panel.list.visualItemRect(item).center())
    assert qdoc.history.index == 1
    assert [l.name for l in qdoc.doc.layers] == ["Background", "One"]
    assert a.opacity == 1.0
    assert panel.list.count() == 4  # later steps stay listed (redoable)
    assert panel.list.item(3).font().italic()

    panel.list.setCurrentRow(0)
    assert qdoc.history.index == 0 and len(qdoc.doc.layers) == 1
    qdoc.history.redo()
    assert panel.list.currentRow() == 1
    # A new edit drops the redoable steps from the list.
    add_layer(qdoc, "Three")
    assert panel.list.count() == 3
