"""File ▸ Video super-resolution… as a user drives it: pick or drop a clip, see its first
frame's before/after, scrub, change the scale, run to a finished output, cancel or close
mid-run and find nothing written, read one clear error for a bad input or a missing model.
A bicubic stand-in (tests/video_sr_fakes.py) does the upscaling except where a test says."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from editor.engine.weights import clear_model_cache
from editor.qt import video_sr_dialog
from editor.qt.settings import Settings
from editor.qt.video_sr_dialog import VIDEO_SR_FORM, VideoSRDialog
from editor.tools import video_sr
from editor.video.io import probe
from tests.video_sr_fakes import (H, W, BicubicUpscaler, frame_index, level_frames,
                                  read_png_folder, tiny_spmc_source, write_frames_folder,
                                  write_video)

pytestmark = pytest.mark.usefixtures("never_block_on_dialogs")

TIMEOUT = 15_000


class Factory:
    """upscaler_factory for the dialog: BicubicUpscalers, the last one kept."""

    def __init__(self, **options) -> None:
        self.options = options
        self.last: BicubicUpscaler | None = None

    def __call__(self, values):
        self.last = BicubicUpscaler(scale=values["scale"], frames=int(values["frames"]),
                                    **self.options)
        return self.last


def make_dialog(qtbot, factory=None):
    dialog = VideoSRDialog(settings=Settings(), upscaler_factory=factory)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


@pytest.fixture
def dialog(qtbot):
    d = make_dialog(qtbot, Factory())
    yield d
    d.stop()


@pytest.fixture
def clip(tmp_path):
    return write_video(tmp_path / "clip.mp4", level_frames(6))


def load(qtbot, dialog, path):
    with qtbot.waitSignal(dialog.previewUpdated, timeout=TIMEOUT) as blocker:
        dialog.set_input(path)
    return blocker.args[0]


def test_input_probe_default_output_and_first_preview(qtbot, dialog, clip):
    assert load(qtbot, dialog, clip) == 0
    assert dialog.frame_spin.maximum() == 6 and dialog.frame_slider.maximum() == 5
    assert dialog.output_edit.text() == str(clip.with_name("clip_x4.mp4"))
    assert "24 × 16, 6 frames" in dialog.info_label.text()
    preview = dialog.last_preview
    assert preview.before.shape == preview.after.shape == (4 * H, 4 * W, 3)
    assert dialog.before_pane.image_size() == (4 * W, 4 * H)
    assert Settings().get("files/last_video_dir") == str(clip.parent)


def test_scrubbing_previews_the_chosen_frame(qtbot, dialog, clip):
    load(qtbot, dialog, clip)
    with qtbot.waitSignal(dialog.previewUpdated, timeout=TIMEOUT,
                          check_params_cb=lambda index: index == 4):
        dialog.set_frame(2)
        dialog.frame_spin.setValue(5)  # a newer request supersedes the older one
    assert frame_index(dialog.last_preview.after * 255) == 4


def test_scale_change_updates_output_and_is_remembered(qtbot, dialog, clip):
    load(qtbot, dialog, clip)
    with qtbot.waitSignal(dialog.previewUpdated, timeout=TIMEOUT):
        dialog.page.set_values({"scale": 2})
    assert dialog.output_edit.text() == str(clip.with_name("clip_x2.mp4"))
    assert dialog.last_preview.after.shape == (2 * H, 2 * W, 3)
    assert Settings().tool_values(VIDEO_SR_FORM)["scale"] == 2
    # A name the user typed is theirs: changing the scale keeps it.
    dialog.output_edit.setText(str(clip.with_name("mine.mkv")))
    dialog.page.set_values({"scale": 3})
    assert dialog.output_edit.text().endswith("mine.mkv")


def test_tooltips_come_from_the_schema(dialog):
    for p in video_sr.PARAMS:
        assert dialog.page.editors[p.name].toolTip() == p.help


def test_run_writes_the_folder_and_reports_speed(qtbot, dialog, tmp_path):
    source = write_frames_folder(tmp_path / "shot", level_frames(4))
    load(qtbot, dialog, source)
    dialog.page.set_values({"scale": 2, "frames": "3"})
    assert dialog.output_edit.text() == str(tmp_path / "shot_x2")
    with qtbot.waitSignal(dialog.runFinished, timeout=TIMEOUT) as blocker:
        dialog.run_button.click()
        assert dialog.busy() and dialog.cancel_button.isEnabled()
    summary = blocker.args[0]
    assert summary is not None and summary.frames == 4
    frames = read_png_folder(tmp_path / "shot_x2")
    assert [frame_index(f) for _, f in frames] == [0, 1, 2, 3]
    assert all(f.shape == (2 * H, 2 * W, 3) for _, f in frames)
    text = dialog.status_label.text()
    assert str(tmp_path / "shot_x2") in text and "s per frame" in text
    assert dialog.progress_bar.value() == 1000 and dialog.run_button.isEnabled()


def test_cancel_leaves_no_output(qtbot, tmp_path, clip):
    factory = Factory(delay=0.3)
    dialog = make_dialog(qtbot, factory)
    load(qtbot, dialog, clip)
    out = tmp_path / "clip_x4.mp4"
    with qtbot.waitSignal(dialog.runFinished, timeout=TIMEOUT) as blocker:
        dialog.run()
        qtbot.waitUntil(lambda: "Frame" in dialog.status_label.text(), timeout=TIMEOUT)
        dialog.cancel_button.click()
    assert blocker.args[0] is None
    assert "Cancelled" in dialog.status_label.text()
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    dialog.stop()


def test_closing_mid_run_asks_then_cancels_and_stops_the_thread(qtbot, tmp_path, clip,
                                                                 monkeypatch):
    dialog = make_dialog(qtbot, Factory(delay=0.3))
    load(qtbot, dialog, clip)
    dialog.run()
    qtbot.waitUntil(lambda: "Frame" in dialog.status_label.text(), timeout=TIMEOUT)
    answers = [False, True]
    monkeypatch.setattr(video_sr_dialog, "ask_stop_run", lambda parent: answers.pop(0))
    dialog.close()
    assert dialog.isVisible() and dialog.busy()  # "No": keeps running
    dialog.close()
    assert not dialog.isVisible() and not dialog.busy()
    assert dialog._holder.engine is None  # joined, not left running
    assert not (tmp_path / "clip_x4.mp4").exists()


def test_bad_input_shows_one_error(qtbot, dialog, tmp_path, errors):
    source = write_frames_folder(tmp_path / "gap", level_frames(4))
    (source / "shot_002.png").unlink()
    with qtbot.waitSignal(dialog.inputProbed, timeout=TIMEOUT) as blocker:
        dialog.set_input(source)
    assert blocker.args[0] is None and "missing" in dialog.info_label.text()
    with qtbot.waitSignal(dialog.runFinished, timeout=TIMEOUT):
        dialog.run()
    assert len(errors) == 1 and "missing" in errors[0][1]
    assert not (tmp_path / "gap_x4").exists()


def test_existing_output_is_asked_about(qtbot, dialog, clip, monkeypatch):
    load(qtbot, dialog, clip)
    out = clip.with_name("clip_x4.mp4")
    out.write_bytes(b"older")
    monkeypatch.setattr(video_sr_dialog, "ask_overwrite", lambda parent, path: False)
    dialog.run()
    assert not dialog.busy() and out.read_bytes() == b"older"
    monkeypatch.setattr(video_sr_dialog, "ask_overwrite", lambda parent, path: True)
    with qtbot.waitSignal(dialog.runFinished, timeout=TIMEOUT):
        dialog.run()
    assert probe(out).frame_count == 6


def test_drop_a_folder_sets_the_input(qtbot, dialog, tmp_path):
    source = write_frames_folder(tmp_path / "dropped", level_frames(3))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(source))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(dialog.previewUpdated, timeout=TIMEOUT):
        dialog.dropEvent(event)
    assert dialog.input_edit.text() == str(source)
    assert dialog.output_edit.text() == str(tmp_path / "dropped_x4")


def test_real_network_preview_and_missing_model(qtbot, tmp_path, clip, errors):
    dialog = make_dialog(qtbot)  # the real VideoUpscaler
    try:
        with video_sr.MODEL.using(tiny_spmc_source(tmp_path / "models")):
            load(qtbot, dialog, clip)
            after = dialog.last_preview.after
            assert after is not None and after.shape == (4 * H, 4 * W, 3)
            assert not np.array_equal(after, dialog.last_preview.before)
        clear_model_cache()
        with video_sr.MODEL.using(tiny_spmc_source(tmp_path / "none", save=False)):
            with qtbot.waitSignal(dialog.previewUpdated, timeout=TIMEOUT):
                dialog.set_frame(1)
            assert dialog.last_preview.after is None
            assert "not found" in dialog.after_pane.text()
            with qtbot.waitSignal(dialog.runFinished, timeout=TIMEOUT):
                dialog.run()
        assert len(errors) == 1 and "not found" in errors[0][1]
        assert not clip.with_name("clip_x4.mp4").exists()
    finally:
        dialog.stop()
        clear_model_cache()


def test_file_menu_opens_the_dialog(qtbot):
    from editor.qt.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    action = window.acts.video_sr
    assert action.shortcut().toString() == "Ctrl+Alt+V"
    file_menu = window.menuBar().actions()[0].menu()
    assert action in file_menu.actions()
    action.trigger()
    dialog = video_sr_dialog._dialogs[window]
    assert dialog.isVisible()
    action.trigger()
    assert video_sr_dialog._dialogs[window] is dialog  # one per window
    dialog.close()
    window.close()
