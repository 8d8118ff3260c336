"""``restora-cli video-sr`` in-process on tiny generated clips, with a random-weight SPMC
network standing in for the shipped model (tests/video_sr_fakes.py)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from editor import cli
from editor.engine.weights import clear_model_cache
from editor.tools import video_sr
from editor.video.io import open_reader, probe
from tests.video_sr_fakes import (H, W, frame_index, level_frames, read_png_folder,
                                  tiny_spmc_source, write_frames_folder, write_video)


@pytest.fixture
def fake_model(tmp_path):
    with video_sr.MODEL.using(tiny_spmc_source(tmp_path / "models")) as source:
        yield source
    clear_model_cache()


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def hidden(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_video_in_gives_video_out(capsys, tmp_path, fake_model):
    clip = write_video(tmp_path / "clip.mp4", level_frames(4))
    out = tmp_path / "big.mp4"
    code, _, err = run(capsys, "video-sr", clip, "-o", out, "--scale", "2", "--frames", "3",
                       "--degradation", "bi")
    assert code == 0, err
    info = probe(out)
    assert (info.width, info.height, info.frame_count, info.fps) == (2 * W, 2 * H, 4,
                                                                     Fraction(12))
    with open_reader(out) as reader:
        assert [frame_index(f) for f in reader] == [0, 1, 2, 3]
    assert "Frame 1 of 4" in err
    assert f"-> {out}" in err and "s per frame" in err


def test_folder_in_gives_folder_out_beside_it_by_default(capsys, tmp_path, fake_model):
    source = write_frames_folder(tmp_path / "shot", level_frames(3), prefix="f", start=0)
    code, _, err = run(capsys, "video-sr", source, "--scale", "3", "--frames", "7")
    assert code == 0, err
    frames = read_png_folder(tmp_path / "shot_x3")
    assert [name for name, _ in frames] == ["f000.png", "f001.png", "f002.png"]
    assert all(f.shape == (3 * H, 3 * W, 3) for _, f in frames)


def test_missing_input_is_one_line(capsys, tmp_path, fake_model):
    code, _, err = run(capsys, "video-sr", tmp_path / "nope.mp4", "-o", tmp_path / "o.mp4")
    assert code == 1
    assert err.strip().count("\n") == 0 and "no such file" in err


def test_missing_weights_is_one_line_and_writes_nothing(capsys, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", level_frames(3))
    with video_sr.MODEL.using(tiny_spmc_source(tmp_path / "models", save=False)):
        code, _, err = run(capsys, "video-sr", clip, "-o", tmp_path / "o.mp4")
    assert code == 1
    assert "Traceback" not in err and "video-sr:" in err
    assert not (tmp_path / "o.mp4").exists() and hidden(tmp_path) == []


def test_bad_input_is_one_line(capsys, tmp_path, fake_model):
    source = write_frames_folder(tmp_path / "gap", level_frames(4))
    (source / "shot_002.png").unlink()
    code, _, err = run(capsys, "video-sr", source, "-o", tmp_path / "gap_x4")
    assert code == 1
    assert "missing" in err and "Traceback" not in err
    assert not (tmp_path / "gap_x4").exists()


def test_bad_value_is_a_usage_error(capsys, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", level_frames(2))
    code, _, err = run(capsys, "video-sr", clip, "--scale", "9")
    assert code == 2 and "scale" in err
    code, _, err = run(capsys, "video-sr", clip, "--frames", "4")
    assert code == 2


def test_existing_output_needs_overwrite(capsys, tmp_path, fake_model):
    clip = write_video(tmp_path / "clip.mp4", level_frames(2))
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    code, _, err = run(capsys, "video-sr", clip, "-o", out, "--scale", "2")
    assert code == 1 and "--overwrite" in err
    assert out.read_bytes() == b"keep me"
    code, _, err = run(capsys, "video-sr", clip, "-o", out, "--scale", "2", "--overwrite")
    assert code == 0, err
    assert probe(out).frame_count == 2


def test_ctrl_c_leaves_no_partial_output(capsys, tmp_path, fake_model, monkeypatch):
    clip = write_video(tmp_path / "clip.mp4", level_frames(5))
    real = video_sr.VideoUpscaler.upscale
    calls = []

    def interrupted(self, window, ref, progress=None):
        calls.append(ref)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, window, ref, progress)

    monkeypatch.setattr(video_sr.VideoUpscaler, "upscale", interrupted)
    out = tmp_path / "o.mp4"
    code, _, err = run(capsys, "video-sr", clip, "-o", out, "--scale", "2")
    assert code == 130 and "interrupted" in err
    assert not out.exists() and hidden(tmp_path) == []


def test_help_lists_the_schema_flags(capsys):
    code, out, _ = run(capsys, "video-sr", "--help")
    assert code == 0
    for flag in ("--scale", "--frames", "--degradation", "--output"):
        assert flag in out
