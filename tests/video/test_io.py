"""Video frame I/O: tiny clips (32x24, 6-12 frames) written and read back through PyAV."""

from __future__ import annotations

import errno
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from editor.video import frames_folder
from editor.video import io as vio
from editor.video.io import (VideoError, open_reader, open_writer, output_kind, probe)

W, H = 32, 24


def gradient(i: int, width: int = W, height: int = H) -> np.ndarray:
    """A smooth RGB gradient that drifts a little from frame to frame."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 200 // width + 4 * i, y * 200 // height + 20, 0 * x + 100 + 8 * i],
                    axis=-1).astype(np.uint8)


def write_clip(path: Path, n: int = 8, width: int = W, height: int = H,
               fps: Fraction = Fraction(25), **kwargs) -> Path:
    with open_writer(path, width=width, height=height, fps=fps, **kwargs) as writer:
        for i in range(n):
            writer.write(gradient(i, width, height))
    return path


def av_clip(path: Path, n: int = 12, audio: str | None = None, gop: int = 0,
            rate: int = 48000) -> Path:
    """An h264 clip made with PyAV directly, optionally with an audio track and short GOPs."""
    fps = Fraction(24)
    container = av.open(str(path), "w")
    options = {"g": str(gop), "bf": "2", "keyint_min": str(gop)} if gop else {}
    video = container.add_stream("libx264", rate=fps, options=options)
    video.width, video.height, video.pix_fmt = W, H, "yuv420p"
    if audio:
        sound = container.add_stream(audio, rate=rate)
        sound.layout = "stereo"
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(gradient(i), format="rgb24")
        frame.pts = i
        container.mux(video.encode(frame))
    if audio:
        t = np.arange(int(rate * n / fps)) / rate
        samples = np.tile(0.3 * np.sin(2 * np.pi * 440 * t), (2, 1)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = rate, 0
        container.mux(sound.encode(frame))
        container.mux(sound.encode())
    container.mux(video.encode())
    container.close()
    return path


def audio_codecs(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [s.codec_context.codec.canonical_name for s in container.streams.audio]


def save_png(path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb).save(path)


def frames_dir(root: Path, names, sizes=None) -> Path:
    root.mkdir()
    for i, name in enumerate(names):
        w, h = sizes[i] if sizes else (W, H)
        cv2.imwrite(str(root / name), gradient(i, w, h)[:, :, ::-1])
    return root


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# ---- round trips ------------------------------------------------------------------------

@pytest.mark.parametrize("suffix, fps, codec, max_error", [
    (".mp4", Fraction(24000, 1001), "h264", 6.0),
    (".mov", Fraction(25), "h264", 6.0),
    (".mkv", Fraction(30), "h264", 6.0),
    (".webm", Fraction(24000, 1001), "vp9", 8.0),
    (".gif", Fraction(25), "gif", 4.0),
])
def test_video_round_trip_keeps_count_size_rate_and_pixels(tmp_path, suffix, fps, codec,
                                                           max_error):
    path = write_clip(tmp_path / f"clip{suffix}", n=8, fps=fps)
    assert leftovers(tmp_path, {path.name}) == []  # no temporary file left behind
    info = probe(path)
    assert (info.kind, info.width, info.height, info.frame_count) == ("video", W, H, 8)
    assert info.fps == fps and info.codec == codec and not info.has_audio
    with open_reader(path) as reader:
        frames = list(reader)
        assert len(reader) == len(frames) == 8
    for i, frame in enumerate(frames):
        assert frame.dtype == np.uint8 and frame.shape == (H, W, 3)
        assert np.abs(frame.astype(int) - gradient(i)).mean() < max_error, i


def test_colours_stay_rgb_not_bgr(tmp_path):
    red = np.zeros((H, W, 3), np.uint8)
    red[..., 0] = 220
    with open_writer(tmp_path / "red.mp4", width=W, height=H, fps=Fraction(25)) as writer:
        for _ in range(3):
            writer.write(red)
    first = next(iter(open_reader(tmp_path / "red.mp4")))
    assert first[..., 0].mean() > 200 and first[..., 2].mean() < 20


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_odd_sizes_round_trip(tmp_path, suffix):
    path = write_clip(tmp_path / f"odd{suffix}", n=4, width=31, height=23)
    info = probe(path)
    assert (info.width, info.height, info.frame_count) == (31, 23, 4)
    frames = list(open_reader(path))
    assert frames[2].shape == (23, 31, 3)
    assert np.abs(frames[2].astype(int) - gradient(2, 31, 23)).mean() < 8


def test_frames_folder_round_trip_is_lossless_and_named_frame_00001(tmp_path):
    out = write_clip(tmp_path / "frames", n=6)
    info = probe(out)
    assert info.kind == "frames" and info.codec == "png"
    assert (info.width, info.height, info.frame_count, info.fps) == (W, H, 6, Fraction(25))
    assert info.frame_names[:2] == ("frame_00001.png", "frame_00002.png")
    assert leftovers(tmp_path, {"frames"}) == []
    with open_reader(out) as reader:
        for i, frame in enumerate(reader):
            np.testing.assert_array_equal(frame, gradient(i))
        np.testing.assert_array_equal(reader.frame(4), gradient(4))


# ---- random access ----------------------------------------------------------------------

def test_frame_index_equals_iteration_with_keyframes_and_b_frames(tmp_path):
    path = av_clip(tmp_path / "gop.mp4", n=12, gop=4)
    with open_reader(path) as reader:
        frames = list(reader)
        assert len(frames) == 12
        assert np.abs(frames[7].astype(int) - gradient(7)).mean() < 6  # untagged: BT.601
        for i in (5, 2, 11, 0, 6, 7, 3, 10, 10, 1):
            np.testing.assert_array_equal(reader.frame(i), frames[i], err_msg=f"frame {i}")
        with pytest.raises(IndexError):
            reader.frame(12)
        with pytest.raises(IndexError):
            reader.frame(-1)


@pytest.mark.parametrize("suffix", [".gif", ".mkv"])
def test_frame_index_in_gif_and_mkv(tmp_path, suffix):
    path = write_clip(tmp_path / f"clip{suffix}", n=6)
    with open_reader(path) as reader:
        frames = list(reader)
        for i in (4, 1, 5, 0, 3):
            np.testing.assert_array_equal(reader.frame(i), frames[i])


# ---- frames folders ---------------------------------------------------------------------

def test_folder_sorts_by_number_and_converts_grey_rgba_and_16_bit(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    rgb = [gradient(i) for i in range(12)]
    for i in range(12):  # img1 .. img12: numeric order is not name order
        save_png(folder / f"img{i + 1}.png", rgb[i])
    Image.fromarray(rgb[0][..., 1]).save(folder / "img1.png")  # grey
    Image.fromarray(np.dstack([rgb[1], np.full((H, W), 90, np.uint8)])).save(folder / "img2.png")
    cv2.imwrite(str(folder / "img3.png"), rgb[2][:, :, ::-1].astype(np.uint16) * 257)  # 16-bit
    (folder / "notes.txt").write_text("ignored")
    info = probe(folder)
    assert info.frame_names[:3] == ("img1.png", "img2.png", "img3.png")
    assert info.frame_names[-1] == "img12.png" and info.frame_count == 12
    frames = list(open_reader(folder))
    np.testing.assert_array_equal(frames[0], np.repeat(rgb[0][..., 1:2], 3, axis=2))
    np.testing.assert_array_equal(frames[1], rgb[1])
    np.testing.assert_array_equal(frames[2], rgb[2])
    np.testing.assert_array_equal(frames[11], rgb[11])


def test_frames_output_follows_input_naming(tmp_path):
    tif_in = frames_dir(tmp_path / "tif_in", [f"shot_{n:04d}.tif" for n in (7, 8, 9)])
    out = write_clip(tmp_path / "tif_out", n=3, like=probe(tif_in))
    assert sorted(os.listdir(out)) == ["shot_0007.tif", "shot_0008.tif", "shot_0009.tif"]
    np.testing.assert_array_equal(open_reader(out).frame(1), gradient(1))

    jpg_in = frames_dir(tmp_path / "jpg_in", ["0001.jpg", "0002.jpg"])
    out = write_clip(tmp_path / "jpg_out", n=2, like=probe(jpg_in))
    assert sorted(os.listdir(out)) == ["0001.png", "0002.png"]


# ---- audio ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def aac_source(tmp_path_factory) -> Path:
    return av_clip(tmp_path_factory.mktemp("src") / "with_audio.mp4", n=12, audio="aac")


@pytest.mark.parametrize("suffix, note, codec", [
    (".mp4", "copied", "aac"),
    (".mkv", "copied", "aac"),
    (".webm", "re-encoded to opus", "opus"),
])
def test_audio_is_carried_over(tmp_path, aac_source, suffix, note, codec):
    assert probe(aac_source).has_audio
    out = tmp_path / f"out{suffix}"
    with open_writer(out, width=W, height=H, fps=Fraction(24), audio_from=aac_source) as writer:
        for i in range(12):
            writer.write(gradient(i))
    assert writer.audio_note == note
    assert audio_codecs(out) == [codec]
    info = probe(out)
    assert info.has_audio and info.frame_count == 12


def test_audio_the_container_cannot_take_is_re_encoded_to_aac(tmp_path):
    source = av_clip(tmp_path / "pcm.mov", n=6, audio="pcm_s16le")
    out = tmp_path / "out.mp4"
    writer = open_writer(out, width=W, height=H, fps=Fraction(24), audio_from=source)
    for i in range(6):
        writer.write(gradient(i))
    writer.commit()
    assert writer.audio_note == "re-encoded to aac" and audio_codecs(out) == ["aac"]


def test_gif_and_frames_drop_audio_and_silent_source_says_none(tmp_path, aac_source):
    with open_writer(tmp_path / "a.gif", width=W, height=H, fps=Fraction(25),
                     audio_from=aac_source) as writer:
        writer.write(gradient(0))
    assert writer.audio_note == "dropped: gif has no audio"
    with open_writer(tmp_path / "f", width=W, height=H, fps=Fraction(25),
                     audio_from=aac_source) as writer:
        writer.write(gradient(0))
    assert writer.audio_note.startswith("dropped")
    silent = write_clip(tmp_path / "silent.mp4", n=2)
    with open_writer(tmp_path / "b.mp4", width=W, height=H, fps=Fraction(25),
                     audio_from=silent) as writer:
        writer.write(gradient(0))
    assert writer.audio_note == "none" and audio_codecs(tmp_path / "b.mp4") == []


# ---- bad input --------------------------------------------------------------------------

def test_truncated_mp4_is_reported_not_raised_raw(tmp_path):
    whole = write_clip(tmp_path / "whole.mp4", n=8).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(VideoError, match=r'"cut.mp4" could not be decoded'):
        probe(tmp_path / "cut.mp4")


def test_truncated_mp4_with_index_up_front_is_reported(tmp_path):
    path = tmp_path / "fast.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        video = container.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        for i in range(8):
            frame = av.VideoFrame.from_ndarray(gradient(i), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    says = "truncated" if hasattr(av.video.stream.VideoStream, "index_entries") else ""
    with pytest.raises(VideoError, match=r'"fast.mp4" could not be decoded.*' + says):
        open_reader(path)


@pytest.mark.parametrize("name, content", [
    ("noise.mp4", os.urandom(4000)),
    ("text.mp4", b"just some text\n" * 50),
    ("notes.txt", b"just some text\n" * 50),
])
def test_files_that_are_not_video_raise_video_error(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(VideoError, match=name.replace(".", r"\.")):
        probe(tmp_path / name)


def test_file_without_video_stream(tmp_path):
    path = tmp_path / "sound.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(VideoError, match="no video stream"):
        probe(path)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        probe(tmp_path / "nope.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no numbered images"):
        open_reader(tmp_path / "empty")


def test_folder_with_a_gap_names_the_missing_number(tmp_path):
    folder = frames_dir(tmp_path / "gap", ["f_001.png", "f_002.png", "f_004.png"])
    with pytest.raises(VideoError, match=r'Frame number 3 \("f_003.png"\) is missing'):
        probe(folder)


def test_folder_with_mixed_sizes_names_the_odd_file(tmp_path):
    folder = frames_dir(tmp_path / "mixed", ["a1.png", "a2.png", "a3.png"],
                        sizes=[(W, H), (W, H), (W + 2, H)])
    with pytest.raises(VideoError, match=r'"a3.png" is 34 x 24 pixels'):
        probe(folder)


def test_folder_with_two_sequences_or_an_unnumbered_image(tmp_path):
    two = frames_dir(tmp_path / "two", ["a1.png", "a2.png", "b1.png"])
    with pytest.raises(VideoError, match="mixes two image sequences"):
        probe(two)
    extra = frames_dir(tmp_path / "extra", ["a1.png", "a2.png", "cover.png"])
    with pytest.raises(VideoError, match='"cover.png" in "extra" has no frame number'):
        probe(extra)


# ---- atomic writing ---------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_abort_keeps_an_existing_target_byte_identical(tmp_path, suffix):
    target = tmp_path / f"keep{suffix}"
    target.write_bytes(b"the user's old file")
    writer = open_writer(target, width=W, height=H, fps=Fraction(25))
    for i in range(3):
        writer.write(gradient(i))
    writer.abort()
    assert target.read_bytes() == b"the user's old file"
    assert leftovers(tmp_path, {target.name}) == []
    with pytest.raises(RuntimeError):
        with open_writer(target, width=W, height=H, fps=Fraction(25)) as writer:
            writer.write(gradient(0))
            raise RuntimeError("cancelled")
    assert target.read_bytes() == b"the user's old file"
    assert leftovers(tmp_path, {target.name}) == []
    write_clip(target, n=2)  # commit replaces it
    assert probe(target).frame_count == 2


def test_frames_folder_abort_and_refusal_to_mix(tmp_path):
    writer = open_writer(tmp_path / "frames", width=W, height=H, fps=Fraction(25))
    writer.write(gradient(0))
    writer.abort()
    assert leftovers(tmp_path, set()) == []
    full = tmp_path / "full"
    full.mkdir()
    (full / "old.png").write_bytes(b"x")
    with pytest.raises(VideoError, match="not empty"):
        open_writer(full, width=W, height=H, fps=Fraction(25))
    empty = tmp_path / "empty"
    empty.mkdir()
    write_clip(empty, n=2)
    assert sorted(os.listdir(empty)) == ["frame_00001.png", "frame_00002.png"]


def test_wrong_frames_and_empty_commit(tmp_path):
    writer = open_writer(tmp_path / "x.mp4", width=W, height=H, fps=Fraction(25))
    with pytest.raises(VideoError, match="32 x 3"):
        writer.write(np.zeros((H, W + 1, 3), np.uint8))
    with pytest.raises(VideoError, match="uint8"):
        writer.write(np.zeros((H, W, 3), np.float32))
    with pytest.raises(VideoError, match="No frames were written"):
        writer.commit()
    assert leftovers(tmp_path, set()) == []
    with pytest.raises(VideoError, match=r"\.avi"):
        open_writer(tmp_path / "x.avi", width=W, height=H, fps=Fraction(25))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_read_only_directory(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        for name in ("x.mp4", "frames"):
            with pytest.raises(VideoError, match="permission denied"):
                open_writer(folder / name, width=W, height=H, fps=Fraction(25))
    finally:
        folder.chmod(0o755)


def test_unwritable_targets(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    for target in (tmp_path / "missing" / "x.mp4", tmp_path / "file" / "x.mp4",
                   tmp_path / "missing" / "frames"):
        with pytest.raises(VideoError, match="does not exist"):
            open_writer(target, width=W, height=H, fps=Fraction(25))

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(vio.os, "open", refuse)
    with pytest.raises(VideoError, match="permission denied"):
        open_writer(tmp_path / "x.mp4", width=W, height=H, fps=Fraction(25))


def test_disk_full_while_writing_removes_the_temporary_output(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    from editor.video.video_writer import VideoFileWriter
    monkeypatch.setattr(VideoFileWriter, "_mux", full)
    writer = open_writer(tmp_path / "x.mp4", width=W, height=H, fps=Fraction(25))
    with pytest.raises(VideoError, match="Not enough disk space"):
        writer.write(gradient(0))
    assert leftovers(tmp_path, set()) == []

    monkeypatch.setattr(frames_folder, "_write_bytes", full)
    writer = open_writer(tmp_path / "frames", width=W, height=H, fps=Fraction(25))
    with pytest.raises(VideoError, match="Not enough disk space"):
        writer.write(gradient(0))
    assert leftovers(tmp_path, set()) == []


def test_output_kind(tmp_path):
    (tmp_path / "dir.mp4").mkdir()
    assert output_kind(tmp_path / "dir.mp4") == "frames"
    assert output_kind(tmp_path / "new_folder") == "frames"
    assert output_kind(tmp_path / "out.mkv") == "video"
    assert vio.VIDEO_SUFFIXES == (".mp4", ".mov", ".mkv", ".webm", ".gif")


def test_display_rotation_is_applied(tmp_path):
    path = tmp_path / "portrait.mp4"
    stored = np.zeros((H, W, 3), np.uint8)
    stored[0, :, 0] = 255  # red top row
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25, options={"qp": "0"})
        video.width, video.height, video.pix_fmt = W, H, "yuv444p"
        if not hasattr(video, "set_display_rotation"):
            pytest.skip("this PyAV cannot write a display rotation")
        video.set_display_rotation(90)  # shown turned 90 degrees counter-clockwise
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())
    info = probe(path)
    assert (info.width, info.height) == (H, W)
    with open_reader(path) as reader:
        shown = reader.frame(1)
    assert shown.shape == (W, H, 3)
    assert shown[:, 0, 0].mean() > 200 and shown[:, -1, 0].mean() < 50  # red left column
