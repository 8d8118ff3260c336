"""Tool tests. The first half is generated from every registered tool's schema, so a new
tool gets its parameter, shape, range and cancellation checks by being registered; the
second half checks what a user would see from Resize and Sharpen."""

from __future__ import annotations

import math

import numpy as np
import pytest

from editor.engine.progress import Cancelled, Progress
from editor.tools import TOOLS, get_tool, register_tool
from editor.tools.resize import output_size

ALL_TOOLS = list(TOOLS.values())
ALL_PARAMS = [(t, p) for t in ALL_TOOLS for p in t.params]
NUMERIC = [(t, p) for t, p in ALL_PARAMS if p.kind in (float, int)]
CHOICES = [(t, p, v) for t, p in ALL_PARAMS if p.kind == "choice" for v, _ in p.choices]


def _id(value):
    if hasattr(value, "params"):
        return value.id
    if hasattr(value, "validate"):
        return value.name
    return None


def random_image(h=24, w=32, channels=3, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, channels), dtype=np.float32)


def check_output(tool, image, out) -> None:
    assert out.dtype == np.float32
    assert out.ndim == 3 and out.shape[2] == image.shape[2]
    assert np.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0
    if not tool.changes_size:
        assert out.shape == image.shape


# --- the registry ---------------------------------------------------------------------------

def test_registry_keys_are_tool_ids():
    assert TOOLS and all(key == tool.id for key, tool in TOOLS.items())
    assert {"sharpen", "resize"} <= set(TOOLS)


def test_get_tool_unknown_lists_known_ids():
    with pytest.raises(ValueError) as err:
        get_tool("no-such-tool")
    assert "no-such-tool" in str(err.value)
    for tool_id in TOOLS:
        assert tool_id in str(err.value)


def test_register_tool_rejects_duplicate_ids():
    before = dict(TOOLS)
    with pytest.raises(ValueError, match="duplicate"):
        register_tool(get_tool("sharpen"))
    assert TOOLS == before


# --- generated from every tool's schema -----------------------------------------------------

@pytest.mark.parametrize("tool", ALL_TOOLS, ids=_id)
def test_defaults_validate(tool):
    assert tool.resolve({}) == tool.defaults()
    for p in tool.params:
        assert p.validate(p.default) == p.default
        assert p.help, f"{tool.id}.{p.name} needs a tooltip / --help text"


@pytest.mark.parametrize("tool, param", NUMERIC, ids=_id)
def test_numeric_range_enforced(tool, param):
    lo, hi = param.range
    assert tool.resolve({param.name: lo})[param.name] == lo
    assert tool.resolve({param.name: hi})[param.name] == hi
    for bad in (lo - (hi - lo) / 2 - 1, hi + 1, math.nan, "nan"):
        with pytest.raises(ValueError, match=param.name):
            tool.resolve({param.name: bad})


@pytest.mark.parametrize("tool, param", NUMERIC, ids=_id)
def test_numeric_infinity_rejected(tool, param):
    for bad in (math.inf, "-inf"):
        with pytest.raises(ValueError, match=param.name):
            tool.resolve({param.name: bad})


@pytest.mark.parametrize("tool, param", NUMERIC, ids=_id)
def test_numeric_wrong_type_rejected(tool, param):
    for bad in ("abc", None, [1]):
        with pytest.raises(ValueError, match=param.name):
            tool.resolve({param.name: bad})


@pytest.mark.parametrize("tool, param", [(t, p) for t, p in ALL_PARAMS if p.kind == "choice"],
                         ids=_id)
def test_choice_rejects_unknown_value(tool, param):
    with pytest.raises(ValueError, match=param.name):
        tool.resolve({param.name: "no-such-choice"})


def test_unknown_parameter_rejected():
    for tool in ALL_TOOLS:
        with pytest.raises(ValueError, match="no_such_param"):
            tool.resolve({"no_such_param": 1})


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("tool", ALL_TOOLS, ids=_id)
def test_runs_at_defaults(tool, channels):
    image = random_image(channels=channels)
    before = image.copy()
    out = tool.apply(image, None, Progress())
    check_output(tool, image, out)
    assert np.array_equal(image, before), "a tool must not modify its input in place"
    if tool.id == "resize":
        assert out.shape[:2] == (48, 64)


@pytest.mark.parametrize("tool, param", NUMERIC, ids=_id)
def test_runs_at_range_ends(tool, param):
    image = random_image(12, 16, channels=4)
    for value in param.range:
        check_output(tool, image, tool.apply(image, {param.name: value}))


@pytest.mark.parametrize("tool, param, value", CHOICES,
                         ids=lambda v: v if isinstance(v, str) else _id(v))
def test_runs_with_every_choice(tool, param, value):
    image = random_image(12, 16, channels=4)
    check_output(tool, image, tool.apply(image, {param.name: value}))


@pytest.mark.parametrize("tool", ALL_TOOLS, ids=_id)
def test_cancelled_before_start_raises(tool):
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        tool.apply(random_image(), None, progress)


@pytest.mark.parametrize("tool", ALL_TOOLS, ids=_id)
def test_cancel_during_run_raises(tool):
    # Cancelling from the first progress report proves the tool checks again later on.
    progress = Progress(lambda fraction, message: progress.cancel())
    with pytest.raises(Cancelled):
        tool.apply(random_image(), None, progress)


@pytest.mark.parametrize("tool", ALL_TOOLS, ids=_id)
def test_reports_completion(tool):
    seen = []
    tool.apply(random_image(), None, Progress(lambda f, m: seen.append(f)))
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


# --- Resize --------------------------------------------------------------------------------

RESIZE = get_tool("resize")
SMOOTH_METHODS = [v for v, _ in RESIZE.params[1].choices if v != "nearest"]
ALL_METHODS = [v for v, _ in RESIZE.params[1].choices]


@pytest.mark.parametrize("w, h, scale", [(32, 24, 2.0), (5, 7, 0.5), (7, 5, 0.25),
                                          (1, 1, 0.25), (33, 17, 1.5), (10, 3, 8.0)])
def test_resize_exact_output_size(w, h, scale):
    expected = (max(1, math.floor(w * scale + 0.5)), max(1, math.floor(h * scale + 0.5)))
    assert output_size(w, h, scale) == expected
    out = RESIZE.apply(random_image(h, w), {"scale": scale})
    assert out.shape == (expected[1], expected[0], 3)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_resize_scale_one_is_identity(method):
    image = random_image(channels=4)
    out = RESIZE.apply(image, {"scale": 1.0, "method": method})
    np.testing.assert_allclose(out, image, atol=1e-6)


@pytest.mark.parametrize("scale", [0.25, 0.5, 1.5, 3.0])
@pytest.mark.parametrize("method", ALL_METHODS)
def test_resize_constant_stays_constant(method, scale):
    image = np.empty((20, 28, 4), np.float32)
    image[...] = (0.2, 0.6, 0.9, 0.5)
    out = RESIZE.apply(image, {"scale": scale, "method": method})
    np.testing.assert_allclose(out, np.broadcast_to(image[0, 0], out.shape), atol=1e-5)


@pytest.mark.parametrize("method", SMOOTH_METHODS)
def test_resize_shrink_is_antialiased(method):
    # A 1-pixel checkerboard shrunk to 1/3 puts every sample on a pixel centre; a
    # non-antialiased resampler returns pure black/white moire, a correct one grey.
    y, x = np.mgrid[:48, :48]
    board = np.repeat(((x + y) % 2).astype(np.float32)[..., None], 3, axis=2)
    out = RESIZE.apply(board, {"scale": 1 / 3, "method": method})
    assert out.shape == (16, 16, 3)
    np.testing.assert_allclose(out, 0.5, atol=0.07)


@pytest.mark.parametrize("scale", [0.5, 2.0])
@pytest.mark.parametrize("method", ALL_METHODS)
def test_resize_keeps_rgb_order(method, scale):
    red = np.zeros((16, 16, 3), np.float32)
    red[..., 0] = 1.0
    out = RESIZE.apply(red, {"scale": scale, "method": method})
    np.testing.assert_allclose(out[..., 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(out[..., 1:], 0.0, atol=1e-5)


def test_resize_no_fringe_from_transparent_colour():
    # Left: opaque red. Right: fully transparent, but its hidden colour is green. A
    # straight-alpha resize would blend green into the visible edge.
    image = np.zeros((16, 16, 4), np.float32)
    image[:, :8] = (1.0, 0.0, 0.0, 1.0)
    image[:, 8:] = (0.0, 1.0, 0.0, 0.0)
    out = RESIZE.apply(image, {"scale": 1.5, "method": "lanczos"})
    visible = out[..., 3] > 0.02
    assert visible.any() and (~visible).any()
    assert out[..., 1][visible].max() < 1e-3
    np.testing.assert_allclose(out[..., 0][visible], 1.0, atol=1e-3)
    assert out[:, 0, 3].min() > 0.99 and out[:, -1, 3].max() < 0.01


def test_resize_rejects_gigantic_results():
    image = np.zeros((4000, 4000, 3), np.float32)
    with pytest.raises(ValueError, match="megapixel"):
        RESIZE.apply(image, {"scale": 8.0})


# --- Sharpen -------------------------------------------------------------------------------

SHARPEN = get_tool("sharpen")


def step_edge(low=0.25, high=0.75, h=16, w=64, channels=3) -> np.ndarray:
    image = np.full((h, w, channels), low, np.float32)
    image[:, w // 2:, :3] = high
    if channels == 4:
        image[..., 3] = 1.0
    return image


@pytest.mark.parametrize("channels", [3, 4])
def test_sharpen_amount_zero_is_exact_identity(channels):
    image = random_image(channels=channels)
    assert np.array_equal(SHARPEN.apply(image, {"amount": 0.0, "radius": 5}), image)


def test_sharpen_edge_overshoot_grows_with_amount():
    image = step_edge()
    overshoots = []
    for amount in (0.5, 1.0, 2.0):
        out = SHARPEN.apply(image, {"amount": amount})
        row = out[8, :, 0]
        assert row.max() > 0.75 and row.min() < 0.25  # brighter bright side, darker dark side
        overshoots.append(row.max() - 0.75)
    assert overshoots[0] < overshoots[1] < overshoots[2]


def test_sharpen_flat_areas_unchanged():
    flat = np.full((20, 20, 3), 0.4, np.float32)
    np.testing.assert_allclose(SHARPEN.apply(flat, {"amount": 5}), flat, atol=1e-6)
    # Far from the edge (beyond the blur's reach) the step image is left alone too.
    image = step_edge()
    out = SHARPEN.apply(image, {"amount": 2, "radius": 2})
    np.testing.assert_allclose(out[:, :16], image[:, :16], atol=1e-6)
    np.testing.assert_allclose(out[:, -16:], image[:, -16:], atol=1e-6)


def test_sharpen_threshold_above_edge_contrast_leaves_image_unchanged():
    image = step_edge(0.4, 0.6)  # the detail never exceeds 0.1 = 25.5 levels
    assert np.array_equal(SHARPEN.apply(image, {"amount": 3, "threshold": 30}), image)
    assert not np.allclose(SHARPEN.apply(image, {"amount": 3, "threshold": 5}), image)


def test_sharpen_leaves_alpha_untouched():
    image = random_image(channels=4, seed=3)
    out = SHARPEN.apply(image, {"amount": 3, "radius": 4})
    assert np.array_equal(out[..., 3], image[..., 3])
    assert not np.allclose(out[..., :3], image[..., :3])


def test_sharpen_keeps_channels_separate():
    # An edge in red only: green and blue have no detail and must stay exactly as they were.
    image = np.zeros((16, 64, 3), np.float32)
    image[..., 1:] = 0.3
    image[:, 32:, 0] = 0.8
    out = SHARPEN.apply(image, {"amount": 2})
    assert np.array_equal(out[..., 1:], image[..., 1:])
    assert out[8, :, 0].max() > 0.8
