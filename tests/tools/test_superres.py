"""Super-resolution: what a user of the tool and of restora-cli would notice — exact
output sizes at any scale, alpha and gray kept, no colour shift, no tile seams, cancel,
clear messages for too-large results and missing weights — on stand-in TinyNet models
(tests/sr_fakes.py, installed for every tools test by conftest.py), plus one quality check
of the shipped ×4 weights."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor import cli
from editor.core.document import Document, Layer
from editor.core.imresize import imresize
from editor.engine.progress import Cancelled, Progress
from editor.engine.registry import find_weights
from editor.engine.weights import WeightsError
from editor.tools import TOOLS, ai_zoom, superres
from editor.tools.resize import output_size
from editor.tools.superres import plan_models, plan_scales, resample_to, upscale
from tests.sr_fakes import tiny_sr_source

TOOL = superres.TOOL


def photo(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth gradients, an edge and some texture: enough structure for every check."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    base = 0.2 + 0.5 * x * np.array([1.0, 0.6, 0.3], np.float32) + 0.2 * y
    base = base + 0.15 * (x > 0.5) + 0.08 * rng.random((h, w, 3), dtype=np.float32)
    image = np.clip(base, 0.0, 1.0).astype(np.float32)
    if channels == 4:
        alpha = np.clip(1.5 - 2.0 * np.hypot(x - 0.5, y - 0.5)[..., 0], 0.0, 1.0)
        image = np.concatenate([image, alpha[..., None].astype(np.float32)], axis=2)
    return image


def bicubic(rgb: np.ndarray, scale: float) -> np.ndarray:
    w, h = output_size(rgb.shape[1], rgb.shape[0], scale)
    return np.clip(resample_to(rgb, w, h), 0.0, 1.0)


# -- the tool's declaration and schema -------------------------------------------------------------

def test_tool_is_registered_as_a_size_changing_model_tool():
    assert TOOLS["superres"] is TOOL
    assert TOOL.changes_size and TOOL.preview == "reduced"
    assert TOOL.output_suffix == "_superres"
    assert {"sr-quality-x2", "sr-quality-x3", "sr-quality-x4", "sr-real-x4"} <= set(TOOL.model_ids)
    assert TOOL.defaults() == {"scale": 2.0, "model": "quality", "strength": 1.0}
    assert [v for v, _ in next(p for p in TOOL.params if p.name == "model").choices] == \
        ["quality", "real", "fast"]


@pytest.mark.parametrize("bad", [0.99, 0.5, 8.01, 100])
def test_scale_outside_1_to_8_is_rejected_by_the_schema(bad):
    with pytest.raises(ValueError, match="scale.*1–8"):
        TOOL.resolve({"scale": bad})


# -- planning --------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale, expected", [
    (1.0, (2,)), (1.5, (2,)), (2.0, (2,)), (2.5, (3,)), (3.0, (3,)), (3.2, (4,)), (4.0, (4,)),
    (4.5, (3, 2)), (5.3, (3, 2)), (6.0, (3, 2)), (6.5, (4, 2)), (8.0, (4, 2)),
    (12.0, (3, 2, 2)), (16.0, (4, 2, 2))])
def test_smallest_network_total_that_reaches_the_scale(scale, expected):
    assert plan_scales(scale, (2, 3, 4)) == expected


def test_modes_with_one_scale_reach_beyond_it_with_x2_passes(fake_sr_source):
    assert plan_scales(1.5, (4,)) == (4,)
    assert plan_scales(8, (2,)) == (2, 2, 2)
    ids = lambda scale, mode: [s.id for s in plan_models(scale, mode, fake_sr_source)]  # noqa: E731
    # Real photo: its own ×4 first, then the quality ×2 (its input is clean by then).
    assert ids(3, "real") == ["test-real-x4"]
    assert ids(8, "real") == ["test-real-x4", "test-quality-x2"]
    # Fast stays fast: its own ×2 repeated.
    assert ids(5, "fast") == ["test-fast-x2"] * 3
    # With no ×2 network anywhere, the mode's own network repeats.
    only_real = superres.ModelSource({"real": fake_sr_source.modes["real"]})
    assert [s.id for s in plan_models(8, "real", only_real)] == ["test-real-x4"] * 2


# -- shapes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1.0, 1.5, 2, 3, 4, 5.3, 8])
@pytest.mark.parametrize("size", [(23, 37), (24, 31)], ids=["23x37", "24x31"])
def test_output_is_exactly_the_rounded_size(scale, size):
    h, w = size
    image = photo(h, w, channels=4)
    out = TOOL.apply(image, {"scale": scale})
    expected_w, expected_h = output_size(w, h, scale)
    assert out.shape == (expected_h, expected_w, 4)
    assert expected_w == math.floor(w * scale + 0.5)   # round half up, as Resize does
    assert out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0


@pytest.mark.parametrize("mode", ["quality", "real", "fast"])
def test_every_model_choice_reaches_odd_scales(mode):
    out = TOOL.apply(photo(15, 11), {"scale": 5.3, "model": mode})
    assert out.shape == (80, 58, 3)


@pytest.mark.parametrize("scale", [1.0, 2.5, 8.0])
def test_a_one_pixel_image_works(scale):
    pixel = np.array([[[0.2, 0.5, 0.9]]], np.float32)
    out = TOOL.apply(pixel, {"scale": scale})
    n = output_size(1, 1, scale)[0]
    assert out.shape == (n, n, 3)
    # One colour in, the same colour out on average (the stand-in networks vary it per
    # sub-pixel; the mean correction holds the average).
    assert np.allclose(out.mean(axis=(0, 1)), pixel[0, 0], atol=0.5 / 255)


@pytest.mark.parametrize("h, w, scale", [(20, 3000, 2.0), (3000, 20, 1.5), (20, 3000, 8.0)])
def test_long_thin_images_work(h, w, scale):
    out = TOOL.apply(photo(h, w), {"scale": scale})
    ow, oh = output_size(w, h, scale)
    assert out.shape == (oh, ow, 3)


def test_gray_images_stay_gray_and_keep_their_shape():
    gray = photo(17, 13)[..., 0]
    out = upscale(gray, 2.5)
    assert out.shape == (43, 33)
    rgb_gray = np.repeat(gray[..., None], 3, axis=2)
    out = upscale(rgb_gray, 3)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    gray_alpha = np.stack([gray, np.full_like(gray, 0.5)], axis=2)
    assert upscale(gray_alpha, 2).shape == (34, 26, 2)


# -- alpha, colour, strength -----------------------------------------------------------------------

def test_alpha_is_upscaled_separately_with_bicubic_and_reattached():
    image = photo(21, 27, channels=4)
    out = TOOL.apply(image, {"scale": 3})
    expected = np.clip(imresize(image[..., 3], output_shape=out.shape[:2]), 0.0, 1.0)
    assert np.allclose(out[..., 3], expected, atol=1e-6)
    opaque = photo(21, 27)
    opaque = np.concatenate([opaque, np.ones((21, 27, 1), np.float32)], axis=2)
    assert np.all(TOOL.apply(opaque, {"scale": 2})[..., 3] == 1.0)


def test_invisible_colour_under_transparency_does_not_fringe_the_edges():
    # A red disc on transparent pixels: whether the hidden colour is black or white must
    # not change what is visible after enlarging.
    h = w = 24
    yy, xx = np.mgrid[:h, :w]
    alpha = (np.hypot(yy - 11.5, xx - 11.5) < 8).astype(np.float32)
    outs = []
    for hidden in (0.0, 1.0):
        image = np.empty((h, w, 4), np.float32)
        image[..., :3] = hidden
        image[alpha > 0, :3] = (0.9, 0.1, 0.1)
        image[..., 3] = alpha
        outs.append(upscale(image, 3))
    visible = outs[0][..., 3] > 0.05
    assert np.abs(outs[0][visible, :3] - outs[1][visible, :3]).max() < 2 / 255


def test_strength_zero_is_exactly_bicubic_and_needs_no_network(tmp_path):
    image = photo(19, 23)
    no_weights = tiny_sr_source(tmp_path / "empty", save=False)
    out = upscale(image, 3.4, strength=0.0, source=no_weights)
    assert np.array_equal(out, bicubic(image, 3.4))


def test_strength_blends_network_and_bicubic():
    image = photo(19, 23)
    full = upscale(image, 2, strength=1.0)
    half = upscale(image, 2, strength=0.5)
    plain = bicubic(image, 2)
    assert not np.allclose(full, plain, atol=2 / 255)
    assert np.allclose(half, (full + plain) / 2, atol=1e-5)


def test_moving_only_the_strength_reuses_the_network_result():
    image = photo(30, 30)
    stages = []
    record = Progress(lambda f, m: stages.append(m))
    first = upscale(image, 3, strength=1.0, progress=record)
    assert any(m.startswith("Super-resolution ×") for m in stages)
    stages.clear()
    half = upscale(image, 3, strength=0.5, progress=record)
    assert not any(m.startswith("Super-resolution ×") for m in stages)   # no network ran
    assert np.allclose(half, (first + bicubic(image, 3)) / 2, atol=1e-5)
    image[0, 0] = 0.0                                                    # new pixels: new run
    upscale(image, 3, strength=0.5, progress=record)
    assert any(m.startswith("Super-resolution ×") for m in stages)


@pytest.mark.parametrize("mode, scale", [("quality", 3), ("quality", 5.3), ("real", 2),
                                         ("fast", 1.5)])
def test_mean_colour_matches_bicubic_even_when_the_network_drifts(tmp_path, mode, scale):
    # Every network here adds +0.08 (20 levels) to every channel; the tool must take that out.
    drifting = tiny_sr_source(tmp_path, drift=0.08)
    image = photo(26, 30)
    out = upscale(image, scale, mode=mode, source=drifting)
    reference = bicubic(image, scale)
    assert np.abs(out.mean(axis=(0, 1)) - reference.mean(axis=(0, 1))).max() <= 0.5 / 255


def test_mean_colour_holds_with_saturated_areas(tmp_path):
    drifting = tiny_sr_source(tmp_path, drift=0.08)
    image = photo(30, 30)
    image[:, :12] = 1.0  # a blown-out sky clips the shifted result
    out = upscale(image, 2, source=drifting)
    assert np.abs(out.mean(axis=(0, 1)) - bicubic(image, 2).mean(axis=(0, 1))).max() <= 0.5 / 255


# -- tiling, progress, cancel ----------------------------------------------------------------------

def test_tiled_equals_untiled_within_one_level():
    image = photo(50, 60, channels=4, seed=3)
    whole = upscale(image, 5.3, tile=4096)       # one tile per pass
    tiled = upscale(image, 5.3, tile=32)         # 4 tiles in the ×3 pass, 30 in the ×2
    assert whole.shape == tiled.shape
    assert np.abs(whole - tiled).max() <= 1 / 255


def test_progress_rises_to_one():
    seen = []
    TOOL.apply(photo(40, 40), {"scale": 8}, Progress(lambda f, m: seen.append((f, m))))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("pass 2 of 2" in m for _, m in seen)


def test_cancel_during_the_networks_stops_the_work():
    calls = []

    def report(fraction, message):
        calls.append(fraction)
        if fraction > 0.2:
            progress.cancel()

    progress = Progress(report)
    with pytest.raises(Cancelled):
        upscale(photo(64, 64), 8, progress=progress, tile=16)
    assert max(calls) < 0.9  # stopped long before the end


# -- bad input -------------------------------------------------------------------------------------

def test_a_result_too_large_for_memory_says_how_large_and_what_fits(monkeypatch):
    monkeypatch.setattr(superres, "MEMORY_LIMIT_BYTES", 200 << 20)
    image = photo(800, 1000)
    with pytest.raises(ValueError) as error:
        TOOL.apply(image, {"scale": 8})
    text = str(error.value)
    assert "8000 × 6400 pixels" in text and "GB" in text
    assert "choose a scale of ×" in text and "\n" not in text
    suggested = float(text.split("choose a scale of ×")[1].split()[0])
    assert 1.0 <= suggested < 8
    # The suggestion really fits.
    factors = [s.scale for s in plan_models(suggested, "quality", superres.model_source())]
    assert superres.working_bytes(1000, 800, suggested, factors, 3) <= 200 << 20


def test_when_even_x1_does_not_fit_the_message_says_crop(monkeypatch):
    monkeypatch.setattr(superres, "MEMORY_LIMIT_BYTES", 1 << 20)
    with pytest.raises(ValueError, match="crop the image first"):
        upscale(photo(300, 300), 2)


def test_missing_weights_give_the_engines_one_line_error(tmp_path):
    missing = tiny_sr_source(tmp_path / "nowhere", save=False)
    with pytest.raises(WeightsError) as error:
        upscale(photo(10, 10), 2, source=missing)
    text = str(error.value)
    assert "test-quality-x2.safetensors" in text and "not found" in text and "\n" not in text


def test_a_model_choice_with_nothing_installed_says_so():
    only_quality = superres.ModelSource({"quality": superres.model_source().modes["quality"]},
                                        directory=superres.model_source().directory)
    with pytest.raises(WeightsError, match="No real photo super-resolution model"):
        upscale(photo(10, 10), 2, mode="real", source=only_quality)


def test_non_float_pixels_are_refused():
    with pytest.raises(ValueError, match="float"):
        upscale(np.zeros((4, 4, 3), np.uint8), 2)


# -- AI zoom, the Qt-free part ---------------------------------------------------------------------

def test_ai_zoom_plans_the_visible_region_with_context_at_screen_resolution():
    assert ai_zoom.plan_view((10, 10, 50, 40), (200, 100), 1.0) is None  # not magnified
    region = ai_zoom.plan_view((10, 10, 50, 40), (200, 100), 4.0)
    x0, y0, x1, y1 = region.bbox
    assert x0 < 10 and y0 < 10 and x1 > 50 and y1 > 40 and x0 >= 0 and y0 >= 0
    assert region.factor == 4.0 and region.size == ((x1 - x0) * 4, (y1 - y0) * 4)
    edge = ai_zoom.plan_view((0, 0, 200, 100), (200, 100), 2.0)
    assert edge.bbox == (0, 0, 200, 100)
    capped = ai_zoom.plan_view((0, 0, 200, 100), (200, 100), 50.0, max_pixels=1_000_000)
    assert capped.size[0] * capped.size[1] <= 1_000_000 * 1.01


def test_ai_zoom_renders_any_factor_and_crops_layers():
    image = photo(40, 50, channels=4)
    doc = Document.from_image(image)
    region = ai_zoom.ZoomRegion((5, 6, 17, 14), 12.5)   # beyond ×8: ×4, ×2, ×2 passes
    out = ai_zoom.enhance_view(doc, region)
    assert out.shape == (100, 150, 4)
    assert np.allclose(out.mean(axis=(0, 1))[:3],
                       bicubic(image[6:14, 5:17, :3], 12.5).mean(axis=(0, 1)), atol=0.5 / 255)
    layer = Layer(image, "Photo", mask=np.full((40, 50), 0.5, np.float32))
    cropped = ai_zoom.enhance_layer(layer, (10, 5, 30, 25), 2.5)
    assert cropped.pixels.shape == (50, 50, 4) and cropped.mask.shape == (50, 50)
    assert cropped.id == layer.id and cropped.name == "Photo"
    assert np.allclose(cropped.mask, 0.5, atol=1e-5)


# -- restora-cli -----------------------------------------------------------------------------------

def _write(path: Path, h: int, w: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((photo(h, w, seed=seed) * 255).round().astype(np.uint8)).save(path)
    return path


def test_cli_upscales_a_folder_with_exact_sizes(tmp_path, capsys):
    _write(tmp_path / "in" / "a.png", 15, 21, 1)
    _write(tmp_path / "in" / "b.png", 8, 9, 2)
    code = cli.main(["superres", "--scale", "2.5", "--model", "real", "--strength", "0.8",
                     str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert Image.open(tmp_path / "out" / "a_superres.png").size == (53, 38)
    assert Image.open(tmp_path / "out" / "b_superres.png").size == (23, 20)
    assert "2 written, 0 skipped" in err


def test_cli_rejects_a_scale_outside_1_to_8(tmp_path, capsys):
    _write(tmp_path / "a.png", 4, 4, 0)
    code = cli.main(["superres", "--scale", "9", str(tmp_path / "a.png"), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == "restora-cli: superres: scale: 9 is outside 1–8"


def test_cli_missing_weights_one_line_per_file_and_failure_exit(tmp_path, capsys):
    _write(tmp_path / "in" / "a.png", 6, 7, 1)
    _write(tmp_path / "in" / "b.png", 6, 7, 2)
    previous = superres.set_model_source(tiny_sr_source(tmp_path / "none", save=False))
    try:
        code = cli.main(["superres", "--scale", "2", str(tmp_path / "in"), "-o",
                         str(tmp_path / "out")])
    finally:
        superres.set_model_source(previous)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("skipped")]
    assert code == 1
    assert len(lines) == 2 and all("Weights file test-quality-x2.safetensors" in l for l in lines)
    assert "Traceback" not in err and "a bug" not in err
    assert not (tmp_path / "out" / "a_superres.png").exists()


def test_cli_too_large_result_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(superres, "MEMORY_LIMIT_BYTES", 1 << 20)
    _write(tmp_path / "a.png", 200, 300, 1)
    code = cli.main(["superres", "--scale", "8", str(tmp_path / "a.png"), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "2400 × 1600 pixels" in err and "Traceback" not in err


# -- the shipped weights ---------------------------------------------------------------------------

def _shipped_x4_present() -> bool:
    try:
        find_weights("sr-quality-x4.safetensors")   # models/, an installed copy, or the env
    except FileNotFoundError:
        return False
    return True


def _y_psnr(a: np.ndarray, b: np.ndarray, border: int) -> float:
    weights = np.array([65.481, 128.553, 24.966], np.float64) / 255.0  # BT.601 luma
    ya = a[border:-border, border:-border].astype(np.float64) @ weights
    yb = b[border:-border, border:-border].astype(np.float64) @ weights
    return 10 * math.log10(1.0 / np.mean((ya - yb) ** 2))


@pytest.mark.skipif(not _shipped_x4_present(),
                    reason="models/sr-quality-x4.safetensors is not trained/shipped yet")
def test_shipped_x4_weights_beat_bicubic():
    from skimage import data

    hr = data.astronaut()[40:232, 160:352].astype(np.float32) / 255.0   # the face, 192 px
    lr = np.clip(imresize(hr, scale=0.25), 0.0, 1.0)
    shipped = superres.registry_source()
    sr = upscale(lr, 4, source=shipped)
    plain = bicubic(lr, 4)
    gain = _y_psnr(sr, hr, 4) - _y_psnr(plain, hr, 4)
    # An untrained ResidualSR (torch's sharper bicubic plus nothing) already gains ~0.2 dB
    # here; a checkpoint after 600 training iterations gains ~0.9 dB.
    assert gain >= 0.5, f"the shipped ×4 model gains only {gain:.2f} dB over bicubic"
