"""The video SR runner: windows cut at a clip's ends, colour survives the luma/chroma split,
big frames are tiled without seams, and bad settings are refused by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from editor.engine.registry import ModelSpec
from editor.engine.weights import save_weights
from editor.nets.spmc import SPMCVideoSR
from editor.tools import video_sr
from editor.tools.model_slot import SingleModel


def test_windows_are_centred_and_cut_at_the_ends():
    assert video_sr.frame_window(5, 10, 5) == ([3, 4, 5, 6, 7], 2)
    assert video_sr.frame_window(0, 10, 5) == ([0, 1, 2], 0)
    assert video_sr.frame_window(9, 10, 7) == ([6, 7, 8, 9], 3)
    assert video_sr.frame_window(1, 2, 7) == ([0, 1], 1)   # a clip shorter than the window
    with pytest.raises(IndexError):
        video_sr.frame_window(10, 10, 3)


def test_ycbcr_round_trip_keeps_colour():
    rgb = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    back = video_sr.ycbcr_to_rgb(video_sr.rgb_to_ycbcr(rgb))
    np.testing.assert_allclose(back, rgb, atol=1e-5)


def test_settings_are_validated_by_name():
    assert video_sr.resolve({"scale": "3", "frames": "7"})["scale"] == 3
    with pytest.raises(ValueError, match="scale"):
        video_sr.resolve({"scale": 5})
    with pytest.raises(ValueError, match="frames"):
        video_sr.resolve({"frames": "4"})
    with pytest.raises(ValueError, match="unknown"):
        video_sr.resolve({"strength": 1})


@pytest.fixture
def random_model(tmp_path):
    torch.manual_seed(0)
    net = SPMCVideoSR(flow_width=8, widths=(8, 8, 8), hidden=8)
    # Non-zero output layers, so the network really changes pixels (an untrained one is
    # exactly bicubic, which would hide tiling seams).
    with torch.no_grad():
        for stage in net.motion.stages:
            stage.body[-1].weight.normal_(0, 0.01)
        net.fusion.out.weight.normal_(0, 0.05)
    sha = save_weights(net, tmp_path / "tiny-video.safetensors")
    spec = ModelSpec(id="tiny-video", task="video_sr", architecture="spmc",
                     weights="tiny-video.safetensors", sha256=sha, licence="test", scale=1,
                     tiling=False, tile_overlap=0,
                     arch_kwargs={"flow_width": 8, "widths": (8, 8, 8), "hidden": 8})
    return SingleModel(spec, directory=tmp_path, device="cpu")


def _clip(n=3, h=40, w=52):
    rng = np.random.default_rng(1)
    base = rng.random((h + n, w + n, 3)).astype(np.float32)
    return [(base[i:i + h, i:i + w] * 255).round().astype(np.uint8) for i in range(n)]


def test_upscale_gives_an_rgb_frame_scale_times_larger(random_model):
    up = video_sr.VideoUpscaler({"scale": 3, "frames": "3"}, random_model)
    out = up.upscale(_clip(), 1)
    assert out.shape == (120, 156, 3) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    # Chroma is bicubic, luma from the network: the result stays close to bicubic colour.
    before = video_sr.bicubic_upscale(_clip()[1], 3)
    assert np.abs(out.mean((0, 1)) - before.mean((0, 1))).max() < 0.05


def test_tiled_frames_match_untiled_ones(random_model, monkeypatch):
    clip = _clip(3, 72, 80)
    up = video_sr.VideoUpscaler({"scale": 2, "frames": "3"}, random_model)
    whole = up.upscale(clip, 1)
    monkeypatch.setattr(video_sr, "TILE", 24)
    tiled = up.upscale(clip, 1)
    # Tiles are far smaller than the frame here; with the context margin the seams must
    # stay invisible (within 2/255 — the motion net's coarse level sees past the margin).
    assert np.abs(tiled - whole).max() < 2 / 255


def test_windows_of_mixed_sizes_are_refused(random_model):
    up = video_sr.VideoUpscaler({"scale": 2}, random_model)
    clip = _clip()
    with pytest.raises(ValueError, match="same size"):
        up.upscale([clip[0], clip[1][:-1]], 0)
    with pytest.raises(IndexError):
        up.upscale(clip, 3)
