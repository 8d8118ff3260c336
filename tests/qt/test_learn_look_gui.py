"""Retouch and Learn my look in the main window, the way a retoucher uses them: Apply adds
a "Retouch" layer in one undoable step, the live preview changes nothing, the Filters menu
opens Learn My Look, training shows progress and lands the new style selected in the
Retouch panel, Cancel and bad folders save nothing, and closing the dialog stops its
thread. A narrow random-weight LPTN (tests/retouch_fakes.py) stands in for every model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt

from editor.engine.weights import clear_model_cache
from editor.qt.learn_look_dialog import LearnLookDialog
from editor.qt.main_window import MainWindow
from editor.tools import retouch, retouch_styles
from tests.retouch_fakes import tiny_retouch_source

# A modal dialog would hang an offscreen test (tests/qt/conftest.py).
pytestmark = pytest.mark.usefixtures("never_block_on_dialogs")

W, H = 96, 64


@pytest.fixture
def fake_models(tmp_path, monkeypatch):
    source = tiny_retouch_source(tmp_path / "models")
    previous = retouch.set_model_source(source)
    styles = tmp_path / "styles"
    monkeypatch.setenv(retouch_styles.STYLES_DIR_ENV, str(styles))
    retouch_styles.refresh_styles()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield source
    torch.set_num_threads(threads)
    retouch.set_model_source(previous)
    retouch.clear_cache()
    clear_model_cache()
    monkeypatch.delenv(retouch_styles.STYLES_DIR_ENV)
    retouch_styles.refresh_styles()


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


def pair_folders(root, count=5):
    before, after = root / "before", root / "after"
    before.mkdir()
    after.mkdir()
    rng = np.random.default_rng(1)
    for i in range(count):
        image = rng.random((40, 56, 3)).astype(np.float32) * 0.6 + 0.2
        warm = np.clip(image * [1.2, 1.0, 0.8], 0, 1)
        Image.fromarray((image * 255).astype(np.uint8)).save(before / f"p{i}.png")
        Image.fromarray((warm * 255).astype(np.uint8)).save(after / f"p{i}.png")
    return before, after


def make_dialog(qtbot, window, fake_models, iterations=3):
    dialog = LearnLookDialog(window, tool_panel=window.tool_panel, settings=window.settings,
                             base=fake_models, iterations=iterations)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_apply_adds_a_retouch_layer_in_one_undoable_step(qtbot, window):
    doc = window.document().doc
    before = doc.composite().copy()
    window.tool_panel.set_preview_enabled(False)
    window.show_tool("retouch")
    assert window.tool_panel.editor("strength").spin.value() == pytest.approx(1.0)
    qtbot.mouseClick(window.tool_panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=20000)
    assert doc.layers[1].name == "Retouch"
    assert np.abs(doc.composite() - before).max() > 1 / 255
    window.acts.undo.trigger()
    assert len(doc.layers) == 1 and np.array_equal(doc.composite(), before)


def test_live_preview_changes_nothing_in_the_document(qtbot, window, monkeypatch):
    canvas = window.view.canvas
    shown = []
    original = canvas.show_preview
    monkeypatch.setattr(canvas, "show_preview",
                        lambda image, bbox: (shown.append(bbox), original(image, bbox)))
    layers = [layer.pixels.tobytes() for layer in window.document().doc.layers]
    window.show_tool("retouch")
    window.tool_panel.set_preview_enabled(True)
    qtbot.waitUntil(lambda: len(shown) >= 1, timeout=20000)
    x0, y0, x1, y1 = shown[-1]
    assert (x1 - x0, y1 - y0) == (W, H)           # the full frame
    assert [layer.pixels.tobytes() for layer in window.document().doc.layers] == layers
    assert window.document().is_clean


def test_filters_menu_opens_learn_my_look(qtbot, window):
    action = window.acts.learn_look
    menus = [a.menu() for a in window.menuBar().actions() if a.menu() is not None]
    assert any(action in menu.actions() for menu in menus)
    action.trigger()
    dialogs_open = [d for d in window.findChildren(LearnLookDialog) if d.isVisible()]
    assert len(dialogs_open) == 1
    action.trigger()                                 # a second time: the same dialog
    assert len([d for d in window.findChildren(LearnLookDialog) if d.isVisible()]) == 1
    dialogs_open[0].close()


def test_training_lands_the_new_style_selected_in_the_panel(qtbot, window, fake_models,
                                                            tmp_path):
    before, after = pair_folders(tmp_path)
    other = window.spawn_window()                 # a second window shares the tools
    other.tool_panel.page("retouch")              # ... and has built its Retouch page
    dialog = make_dialog(qtbot, window, fake_models)
    dialog.before_edit.setText(str(before))
    dialog.after_edit.setText(str(after))
    dialog.name_edit.setText("warm")
    dialog.label_edit.setText("Warm")
    with qtbot.waitSignal(dialog.styleLearned, timeout=60000) as signal:
        qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
        assert dialog.busy() and dialog.cancel_button.isEnabled()
    assert signal.args == ["warm"]
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=10000)
    assert dialog.progress_bar.value() == 1000
    assert "Saved" in dialog.status_label.text()
    combo = window.tool_panel.page("retouch").editors["style"]
    assert combo.findData("warm") >= 0 and combo.itemText(combo.findData("warm")) == \
        "Warm (my style)"
    assert window.tool_panel.tool().id == "retouch"
    assert window.tool_panel.values()["style"] == "warm"
    assert other.tool_panel.page("retouch").editors["style"].findData("warm") >= 0
    dialog.close()
    other.close()


def test_cancel_saves_nothing_and_stops_the_thread(qtbot, window, fake_models, tmp_path):
    before, after = pair_folders(tmp_path)
    dialog = make_dialog(qtbot, window, fake_models, iterations=100_000)
    dialog.before_edit.setText(str(before))
    dialog.after_edit.setText(str(after))
    dialog.name_edit.setText("never")
    dialog.train()
    qtbot.waitUntil(lambda: dialog.progress_bar.value() > 0, timeout=30000)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=30000)
    assert "nothing was saved" in dialog.status_label.text()
    assert "never" not in [s.name for s in retouch_styles.styles()]
    assert dialog.train_button.isEnabled()


def test_too_few_pairs_are_explained_and_nothing_saved(qtbot, window, fake_models, tmp_path):
    before, after = pair_folders(tmp_path, count=3)
    dialog = make_dialog(qtbot, window, fake_models)
    dialog.before_edit.setText(str(before))
    dialog.after_edit.setText(str(after))
    dialog.name_edit.setText("few")
    dialog.train()
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=30000)
    assert "at least 5" in dialog.status_label.text()
    assert [s.name for s in retouch_styles.styles() if s.user] == []


def test_closing_during_training_stops_it(qtbot, window, fake_models, tmp_path):
    before, after = pair_folders(tmp_path)
    dialog = make_dialog(qtbot, window, fake_models, iterations=100_000)
    dialog.before_edit.setText(str(before))
    dialog.after_edit.setText(str(after))
    dialog.name_edit.setText("closed")
    dialog.train()
    qtbot.waitUntil(lambda: dialog.progress_bar.value() > 0, timeout=30000)
    worker = dialog.worker
    dialog.close()
    assert not worker.isRunning()
    assert "closed" not in [s.name for s in retouch_styles.styles()]


def test_layer_pairs_of_the_open_document_train_a_style(qtbot, window, fake_models):
    """Five photos and their edits as layers ('p0', 'p0 after', ...), each placed on the
    canvas with transparent margins: the dialog counts the pairs and learns from them."""
    from editor.core.document import Layer

    doc = window.document().doc
    rng = np.random.default_rng(2)
    for i in range(5):
        rgba = np.zeros((H, W, 4), np.float32)
        photo = rng.random((40, 56, 3)).astype(np.float32) * 0.6 + 0.2
        rgba[10:50, 20:76, :3], rgba[10:50, 20:76, 3] = photo, 1.0
        edited = rgba.copy()
        edited[10:50, 20:76, :3] = np.clip(photo * [1.2, 1.0, 0.8], 0, 1)
        doc.insert_layer(Layer(rgba, f"p{i}"), len(doc.layers))
        doc.insert_layer(Layer(edited, f"p{i} after"), len(doc.layers))
    dialog = make_dialog(qtbot, window, fake_models)
    dialog.set_source("layers")
    assert not dialog.before_edit.isVisible() and dialog.layers_label.isVisible()
    assert dialog.layers_label.text().startswith("5 edited layers found")
    dialog.name_edit.setText("from-layers")
    with qtbot.waitSignal(dialog.styleLearned, timeout=60000):
        dialog.train()
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=10000)
    assert "from-layers" in [s.name for s in retouch_styles.styles()]
    card = dialog.last_result.style.directory / "from-layers.json"
    assert card.is_file()
    dialog.set_source("folders")
    assert dialog.before_edit.isVisible()
    dialog.close()


def test_a_style_saved_by_another_process_appears_when_the_page_is_shown(qtbot, window):
    """`restora-cli train-look` next to the open editor: its style is on disk, unknown to
    this process, until the Retouch page is shown again."""
    import os

    from tests.retouch_fakes import FAKE_ARCH, tiny_lptn

    window.show_tool("retouch")
    combo = window.tool_panel.page("retouch").editors["style"]
    style = retouch_styles.save_user_style("elsewhere", "From the CLI",
                                           tiny_lptn().state_dict(), FAKE_ARCH, {})
    # Hide it from this process's list: as if another process had written the files.
    files = [style.directory / f"elsewhere{ext}" for ext in (".json", ".safetensors")]
    for path in files:
        os.rename(path, path.with_suffix(path.suffix + ".away"))
    retouch_styles.refresh_styles()
    for path in files:
        os.rename(path.with_suffix(path.suffix + ".away"), path)
    assert combo.findData("elsewhere") < 0
    chosen = combo.currentData()
    window.show_tool("sharpen")
    window.show_tool("retouch")
    assert combo.findData("elsewhere") >= 0
    assert combo.itemText(combo.findData("elsewhere")) == "From the CLI (my style)"
    assert combo.currentData() == chosen


def test_the_dialog_remembers_the_folders_and_the_source(qtbot, window, fake_models,
                                                         tmp_path):
    before, after = pair_folders(tmp_path, count=3)         # too few: refused, still kept
    dialog = make_dialog(qtbot, window, fake_models)
    dialog.before_edit.setText(str(before))
    dialog.after_edit.setText(str(after))
    dialog.name_edit.setText("kept")
    dialog.train()
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=30000)
    dialog.close()
    again = make_dialog(qtbot, window, fake_models)
    assert again.before_edit.text() == str(before) and again.after_edit.text() == str(after)
    assert not again.use_layers()
    again.set_source("layers")
    again.name_edit.setText("kept")
    again.train()                                            # no pairs in the document
    assert not again.busy() and "no layer pairs" in again.status_label.text()
    again.close()
    assert make_dialog(qtbot, window, fake_models).use_layers()
