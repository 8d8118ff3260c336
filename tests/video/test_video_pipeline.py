"""The video super-resolution run (editor.tools.video_pipeline) on tiny generated clips: what a user
gets (frame count, order, size x scale, frame rate, a folder of frames for a folder), what a
cancelled or failed run leaves (nothing new, an existing output untouched), and the clear
message for each bad input. A bicubic stand-in does the upscaling except in one test, which
runs the real VideoUpscaler on a random-weight SPMC network."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest

from editor.engine.progress import Cancelled, Progress
from editor.tools.video_sr import frame_window
from editor.video.io import VideoError, open_reader, probe
from editor.tools.video_pipeline import (VideoSRSummary, centre_crop, format_eta, frame_message,
                                   preview_frame, run_video_sr)
from tests.video_sr_fakes import (H, W, BicubicUpscaler, frame_index, level_frames,
                                  read_png_folder, tiny_spmc_source, write_frames_folder,
                                  write_video)


def leftovers(folder):
    """Hidden temporary files or folders a writer may have left."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def clip(tmp_path):
    return write_video(tmp_path / "clip.mp4", level_frames(7))


def test_video_in_video_out_keeps_count_order_rate_and_scales(clip, tmp_path):
    out = tmp_path / "clip_x2.mp4"
    messages = []
    upscaler = BicubicUpscaler(scale=2, frames=3)
    summary = run_video_sr(clip, out, {"scale": 2, "frames": "3"},
                           Progress(lambda f, m: messages.append((f, m))), upscaler=upscaler)
    assert isinstance(summary, VideoSRSummary)
    assert summary.output == out and summary.frames == 7
    assert summary.size == (2 * W, 2 * H)
    assert summary.seconds_per_frame > 0
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (2 * W, 2 * H, 7)
    assert info.fps == Fraction(12)
    with open_reader(out) as reader:
        assert [frame_index(f) for f in reader] == list(range(7))
    # Every output frame saw its centred window, cut at the clip's ends.
    assert upscaler.windows == [frame_window(i, 7, 3) for i in range(7)]
    texts = [m for _, m in messages]
    assert any("Frame 1 of 7" in m for m in texts) and any("Frame 7 of 7" in m for m in texts)
    assert not any(m.startswith("Tile") for m in texts)  # the frame message stays
    fractions = [f for f, _ in messages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert leftovers(tmp_path) == []


def test_frames_folder_in_gives_numbered_frames_out_in_order(tmp_path):
    source = write_frames_folder(tmp_path / "shot", level_frames(5), prefix="shot_", start=7)
    out = tmp_path / "shot_x3"
    summary = run_video_sr(source, out, {"scale": 3, "frames": "5"},
                           upscaler=BicubicUpscaler(scale=3, frames=5))
    assert summary.frames == 5 and out.is_dir()
    frames = read_png_folder(out)
    assert [name for name, _ in frames] == [f"shot_{i:03d}.png" for i in range(7, 12)]
    assert all(f.shape == (3 * H, 3 * W, 3) for _, f in frames)
    assert [frame_index(f) for _, f in frames] == list(range(5))
    assert summary.audio_note in ("none", "")


def test_clip_shorter_than_the_window_is_fine(tmp_path):
    source = write_frames_folder(tmp_path / "two", level_frames(2))
    upscaler = BicubicUpscaler(scale=2, frames=7)
    summary = run_video_sr(source, tmp_path / "two_x2", {"frames": "7"}, upscaler=upscaler)
    assert summary.frames == 2
    assert upscaler.windows == [([0, 1], 0), ([0, 1], 1)]


def test_decodes_sequentially_holding_only_the_window(clip, tmp_path, monkeypatch):
    from editor.video import io

    monkeypatch.setattr(io.FrameReader, "frame",
                        lambda self, i: pytest.fail("the run must not seek"))
    upscaler = BicubicUpscaler(scale=2, frames=5)
    run_video_sr(clip, tmp_path / "out.mkv", {}, upscaler=upscaler)
    assert max(len(indices) for indices, _ in upscaler.windows) == 5


def test_cancel_mid_run_leaves_no_output(clip, tmp_path):
    out = tmp_path / "cancelled.mp4"
    with pytest.raises(Cancelled):
        run_video_sr(clip, out, {}, Progress(), upscaler=BicubicUpscaler(cancel_at=3))
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_cancel_into_a_folder_leaves_no_folder(tmp_path):
    source = write_frames_folder(tmp_path / "shot", level_frames(4))
    out = tmp_path / "shot_x2"
    with pytest.raises(Cancelled):
        run_video_sr(source, out, {}, upscaler=BicubicUpscaler(cancel_at=2))
    assert not out.exists() and leftovers(tmp_path) == []


def test_failed_run_leaves_an_existing_output_untouched(clip, tmp_path):
    out = tmp_path / "old.mp4"
    out.write_bytes(b"an older render")
    with pytest.raises(RuntimeError, match="broke"):
        run_video_sr(clip, out, {}, upscaler=BicubicUpscaler(fail_at=2))
    assert out.read_bytes() == b"an older render"
    assert leftovers(tmp_path) == []


def test_output_equal_to_input_is_refused(clip):
    with pytest.raises(VideoError, match="input itself"):
        run_video_sr(clip, clip, {}, upscaler=BicubicUpscaler())
    assert probe(clip).frame_count == 7


def test_missing_input(tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        run_video_sr(tmp_path / "nope.mp4", tmp_path / "out.mp4", {},
                     upscaler=BicubicUpscaler())


def test_truncated_video_is_a_clear_error(tmp_path):
    clip = write_video(tmp_path / "long.mp4", level_frames(12))
    data = clip.read_bytes()
    clip.write_bytes(data[:len(data) // 2])
    out = tmp_path / "out.mp4"
    with pytest.raises(VideoError) as err:
        run_video_sr(clip, out, {}, upscaler=BicubicUpscaler())
    assert "long.mp4" in str(err.value) and "\n" not in str(err.value)
    assert not out.exists() and leftovers(tmp_path) == []


def test_gap_in_numbering_is_a_clear_error(tmp_path):
    source = write_frames_folder(tmp_path / "gap", level_frames(4))
    os.remove(source / "shot_003.png")
    with pytest.raises(VideoError, match="missing"):
        run_video_sr(source, tmp_path / "gap_x2", {}, upscaler=BicubicUpscaler())
    assert not (tmp_path / "gap_x2").exists()


def test_frames_of_different_sizes_are_a_clear_error(tmp_path):
    source = write_frames_folder(tmp_path / "mixed", level_frames(3))
    write_frames_folder(source, level_frames(1, width=W + 2), start=4)
    with pytest.raises(VideoError, match="same size|pixels"):
        run_video_sr(source, tmp_path / "mixed_x2", {}, upscaler=BicubicUpscaler())


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError):
        run_video_sr(tmp_path / "empty", tmp_path / "empty_x2", {}, upscaler=BicubicUpscaler())


def test_bad_parameter_names_the_parameter(clip, tmp_path):
    with pytest.raises(ValueError, match="scale"):
        run_video_sr(clip, tmp_path / "out.mp4", {"scale": 9}, upscaler=BicubicUpscaler())


def test_missing_weights_is_a_weights_error_and_writes_nothing(clip, tmp_path):
    from editor.engine.weights import WeightsError
    from editor.tools import video_sr

    with video_sr.MODEL.using(tiny_spmc_source(tmp_path / "models", save=False)):
        with pytest.raises(WeightsError):
            run_video_sr(clip, tmp_path / "out.mp4", {})
    assert not (tmp_path / "out.mp4").exists() and leftovers(tmp_path) == []


def test_real_upscaler_on_a_random_spmc(tmp_path):
    from editor.engine.weights import clear_model_cache
    from editor.tools import video_sr

    source = write_frames_folder(tmp_path / "shot", level_frames(3, width=20, height=14))
    try:
        with video_sr.MODEL.using(tiny_spmc_source(tmp_path / "models")):
            summary = run_video_sr(source, tmp_path / "out.mp4", {"scale": 2, "frames": "3"})
            with open_reader(source) as reader:
                upscaler = video_sr.VideoUpscaler({"scale": 2, "frames": "3"})
                before, after = preview_frame(reader, 1, upscaler)
    finally:
        clear_model_cache()
    assert summary.frames == 3 and summary.size == (40, 28)
    info = probe(tmp_path / "out.mp4")
    assert (info.width, info.height, info.frame_count) == (40, 28, 3)
    assert before.shape == after.shape == (28, 40, 3)
    assert after.dtype == np.float32 and 0.0 <= after.min() and after.max() <= 1.0
    assert not np.array_equal(before, after)  # the network changed something


def test_preview_frame_before_after_and_crop(tmp_path):
    source = write_frames_folder(tmp_path / "shot", level_frames(4))
    upscaler = BicubicUpscaler(scale=2, frames=3)
    with open_reader(source) as reader:
        before, after = preview_frame(reader, 3, upscaler)
        assert before.shape == after.shape == (2 * H, 2 * W, 3)
        assert frame_index(after * 255) == 3
        assert upscaler.windows[-1] == ([2, 3], 1)
        before, after = preview_frame(reader, 0, upscaler, crop=(4, 2, 10, 8))
        assert before.shape == after.shape == (16, 20, 3)


def test_eta_and_crop_helpers():
    assert format_eta(12) == "about 10 s left"
    assert format_eta(185) == "about 3 min left"
    assert format_eta(2 * 3600 + 600) == "about 2 h 10 min left"
    assert "estimating" in frame_message(0, 10, started=0.0, done=0, now=0.0)
    assert frame_message(5, 10, started=0.0, done=5, now=100.0) == \
        "Frame 6 of 10 · about 2 min left"
    assert centre_crop(100, 80, 200, 200) is None
    assert centre_crop(1920, 1080, 480, 270) == (720, 405, 480, 270)
