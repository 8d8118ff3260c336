"""Tiling: tiled output must equal untiled output (no seams a user could see), survive
out-of-memory by halving the tile, honour Cancel, and cope with any image size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from editor.engine.progress import Cancelled, Progress
from editor.engine.tiling import TileOutOfMemoryError, run_tiled, tile_blend_weights
from editor.engine.weights import load_model

TOLERANCE = 1 / 255


def random_image(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, c), dtype=np.float32)


def untiled(fn, image: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        out = fn(torch.from_numpy(image.transpose(2, 0, 1).copy())[None])
    return out[0].numpy().transpose(1, 2, 0)


def upsample_nearest(scale: int):
    return lambda x: x.repeat_interleave(scale, 2).repeat_interleave(scale, 3)


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("overlap", [4, 8])  # TinyNet's receptive radius is 2: 4 is the minimum
def test_tiled_equals_untiled_for_a_real_conv_net(make_tiny_spec, tmp_path, scale, channels,
                                                 overlap):
    model = load_model(make_tiny_spec(scale=scale, channels=channels), "cpu", tmp_path)
    image = random_image(203, 157, channels)
    stats: dict = {}
    tiled = run_tiled(model, image, scale=scale, tile=48, overlap=overlap, stats=stats)
    assert stats["tiles"] >= 12  # really several tiles, with seams in both directions
    assert tiled.shape == (203 * scale, 157 * scale, channels) and tiled.dtype == np.float32
    assert np.abs(tiled - untiled(model, image)).max() < TOLERANCE


def test_without_overlap_seams_would_show(make_tiny_spec, tmp_path):
    # Guards the test above: it must be sensitive to missing context.
    model = load_model(make_tiny_spec(), "cpu", tmp_path)
    image = random_image(64, 64)
    cut = run_tiled(model, image, tile=32, overlap=0)
    assert np.abs(cut - untiled(model, image)).max() > TOLERANCE


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("size", [(1, 1), (2, 5), (7, 3), (33, 70), (130, 61)])
def test_any_size_and_scale(size, scale):
    image = random_image(*size, c=3, seed=sum(size))
    out = run_tiled(upsample_nearest(scale), image, scale=scale, tile=32, overlap=4)
    expected = image.repeat(scale, 0).repeat(scale, 1)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_tiny_tiles_are_reflect_padded_for_networks_that_need_it():
    seen = []

    def needs_multiple_of_8(x):
        assert x.shape[2] % 8 == 0 and x.shape[3] % 8 == 0 and min(x.shape[2:]) >= 8
        seen.append(tuple(x.shape[2:]))
        return F.pad(x, (1, 1, 1, 1), mode="reflect")[..., 1:-1, 1:-1]  # crashes on 1 px

    image = random_image(3, 21, c=4)
    out = run_tiled(needs_multiple_of_8, image, tile=16, overlap=2, multiple=8)
    np.testing.assert_allclose(out, image, atol=1e-6)
    assert seen and all(h == 8 for h, _ in seen)


def test_out_of_memory_halves_the_tile_and_finishes(make_tiny_spec, tmp_path):
    model = load_model(make_tiny_spec(scale=2), "cpu", tmp_path)
    limit = 60 * 60
    calls = {"oom": 0}

    def fragile(x):
        if x.shape[2] * x.shape[3] > limit:
            calls["oom"] += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return model(x)

    image = random_image(203, 157)
    stats: dict = {}
    progress = Progress()
    out = run_tiled(fragile, image, scale=2, tile=128, overlap=8, stats=stats, progress=progress)
    assert calls["oom"] >= 1 and stats["ooms"] == calls["oom"]
    assert 32 <= stats["tile"] < 128  # recorded so the next job can start there
    assert progress.fraction == pytest.approx(1.0)
    assert np.abs(out - untiled(model, image)).max() < TOLERANCE


def test_out_of_memory_below_minimum_tile_is_a_clear_error():
    def always_oom(x):
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(TileOutOfMemoryError, match="even with"):
        run_tiled(always_oom, random_image(100, 100), tile=64, overlap=4)


def test_other_errors_are_not_mistaken_for_out_of_memory():
    def broken(x):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_tiled(broken, random_image(40, 40), tile=16)


def test_cancel_midway_raises_cancelled_and_stops_work():
    calls = []

    def count(x):
        calls.append(x.shape)
        return x

    progress = Progress(lambda fraction, message: progress.cancel() if len(calls) == 3 else None)
    with pytest.raises(Cancelled):
        run_tiled(count, random_image(100, 100), tile=20, overlap=4, progress=progress)
    assert len(calls) == 3  # 25 tiles planned; nothing ran after Cancel


def test_progress_reports_up_to_one_with_messages():
    reports = []
    run_tiled(lambda x: x, random_image(50, 50), tile=20, progress=Progress(
        lambda f, m: reports.append((f, m))))
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert reports[0][1].startswith("Tile 1 of 9")


def test_integer_images_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        run_tiled(lambda x: x, np.zeros((8, 8, 3), np.uint8))


def test_wrong_output_shape_is_reported():
    with pytest.raises(ValueError, match="expected"):
        run_tiled(lambda x: x, random_image(10, 10), scale=2)


def test_input_is_not_modified():
    image = random_image(40, 30)
    before = image.copy()
    run_tiled(lambda x: x.mul_(2), image, tile=16)
    np.testing.assert_array_equal(image, before)


def test_blend_weights_cross_fade_and_keep_image_edges():
    w = tile_blend_weights(40, 40, 8, at_top=True, at_bottom=False, at_left=True, at_right=False)
    assert w.shape == (40, 40) and w.dtype == np.float32
    assert w[0, 0] == 1.0  # image edges are not tapered
    assert w[-1, 0] == 0.0 and w[0, -1] == 0.0  # outer half of a margin is unused context
    # Two neighbours whose cores meet: weights sum to one across the shared margins.
    left = tile_blend_weights(1, 40, 8, True, True, True, False)[0]
    right = tile_blend_weights(1, 40, 8, True, True, False, True)[0]
    shared = left[-16:] + right[:16]  # left extends 8 past the seam, right starts 8 before
    np.testing.assert_allclose(shared, 1.0, atol=1e-6)


def test_tiles_go_to_the_model_device_by_default(make_tiny_spec, tmp_path):
    model = load_model(make_tiny_spec(), "cpu", tmp_path)
    devices = []
    model.register_forward_pre_hook(lambda module, args: devices.append(args[0].device))
    run_tiled(model, random_image(20, 20), tile=16)
    assert devices and all(d == torch.device("cpu") for d in devices)
