"""Deblur: what a user of the tool and of restora-cli would notice — strength 0 gives the
photo back untouched, strength blends, no tile seams, tiny and odd-sized images work, alpha
and grey kept, 16-bit stays 16-bit without 8-bit steps, progress/cancel, one-line messages
for missing weights — on the stand-in random-weight SRNDeblur (tests/deblur_fakes.py,
installed for every tools test by conftest.py), plus one quality check of the shipped
weights, skipped until they are trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import tifffile

from editor import cli
from editor.core.imageio import load_image, save_image
from editor.core.meta import ImageMeta
from editor.core.metrics import psnr
from editor.engine.progress import Cancelled, Progress
from editor.engine.registry import REGISTRY, find_weights
from editor.engine.weights import WeightsError
from editor.tools import TOOLS, deblur
from editor.tools.deblur import DeblurModels, deblur_image
from editor.training import blur_kernels as bk
from tests.deblur_fakes import tiny_deblur_source

@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks are hundreds of small operations; a second thread only adds waiting
    (on a busy machine, seconds of it). The caller's thread count comes back after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TOOL = deblur.TOOL


def photo(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Soft shapes, an edge and texture, lightly blurred: something to deblur."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    base = 0.2 + 0.5 * x * np.array([1.0, 0.6, 0.3], np.float32) + 0.2 * y
    base = base + 0.2 * (x > 0.5) + 0.1 * rng.random((h, w, 3), dtype=np.float32)
    image = bk.convolve(np.clip(base, 0, 1).astype(np.float32), bk.defocus_disc(7, 2.5).kernel)
    if channels == 4:
        alpha = np.clip(1.5 - 2.0 * np.hypot(x - 0.5, y - 0.5)[..., 0], 0.0, 1.0)
        image = np.concatenate([image, alpha[..., None].astype(np.float32)], axis=2)
    return image.astype(np.float32)


# -- declaration -----------------------------------------------------------------------------------

def test_tool_is_registered_as_a_reduced_preview_model_tool():
    assert TOOLS["deblur"] is TOOL
    assert TOOL.preview == "reduced" and not TOOL.changes_size
    assert TOOL.model_ids == ("deblur-srn",) and "deblur-srn" in REGISTRY
    assert TOOL.defaults() == {"strength": 1.0, "lens_blur": True, "shake_blur": True}
    spec = REGISTRY.get("deblur-srn")
    assert spec.task == "deblur" and spec.architecture == "srn_deblur" and spec.tiling


# -- strength --------------------------------------------------------------------------------------

def test_strength_zero_returns_the_input_exactly_without_weights(tmp_path):
    image = photo(21, 30, channels=4)
    image[3, 4, :3] = 0.123456789   # a 16-bit-ish value: nothing may round it
    missing = tiny_deblur_source(tmp_path / "none", save=False)
    out = deblur_image(image, strength=0.0, source=missing)
    assert out.dtype == np.float32 and np.array_equal(out, image) and out is not image


def test_strength_blends_the_correction():
    image = photo(40, 36)
    full = TOOL.apply(image, {"strength": 1.0})
    half = TOOL.apply(image, {"strength": 0.5})
    assert np.abs(full - image).mean() > 2 / 255          # the stand-in changes the photo
    assert np.allclose(half, (full + image) / 2, atol=1e-5)


def test_moving_only_the_strength_reuses_the_network_result():
    image = photo(32, 32)
    stages = []
    record = Progress(lambda f, m: stages.append(m))
    full = deblur_image(image, strength=1.0, progress=record)
    assert "Deblurring" in stages
    stages.clear()
    third = deblur_image(image, strength=1 / 3, progress=record)
    assert "Deblurring" not in stages                     # no network ran
    assert np.allclose(third, image + (full - image) / 3, atol=1e-5)
    image[0, 0] = 0.0                                     # new pixels: a new run
    deblur_image(image, strength=0.5, progress=record)
    assert "Deblurring" in stages


def test_the_correction_moves_no_brightness_or_colour():
    # Deblurring sharpens; a network's bias that darkens or tints (the stand-in's is large,
    # the shipped one darkened photos by ~1/255) must not reach the result.
    image = 0.25 + 0.5 * photo(64, 64)
    shift = np.abs((_network_alone(image) - image).mean(axis=(0, 1))).max()
    out = deblur_image(image, lens_blur=False, shake_blur=False)
    assert shift > 2 / 255
    assert np.abs((out - image).mean(axis=(0, 1))).max() < 0.25 / 255
    assert np.abs(out - image).max() > 8 / 255           # yet the photo did change


def _network_alone(image: np.ndarray) -> np.ndarray:
    from editor.tools.deblur import _restore

    return _restore(image, deblur.model_source(), Progress(), 80)


# -- lens blur -------------------------------------------------------------------------------------

def _astronaut_blurred(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    sharp = data.astronaut()[:384, :384].astype(np.float32) / 255.0
    rng = np.random.default_rng(20261207)   # test-only seed
    blurry = bk.convolve(sharp, kernel) + rng.normal(0, 0.01, sharp.shape).astype(np.float32)
    return sharp, (np.round(np.clip(blurry, 0, 1) * 255) / 255).astype(np.float32)


def test_a_lens_blur_is_refined_with_its_disc(sharpening_network):
    sharp, blurry = _astronaut_blurred(bk.defocus_disc(15, 6.0).kernel)
    alone = deblur_image(blurry, lens_blur=False, shake_blur=False)
    refined = deblur_image(blurry)
    inner = np.s_[20:-20, 20:-20]
    gain = psnr(refined[inner], sharp[inner]) - psnr(alone[inner], sharp[inner])
    assert gain >= 1.5, f"the lens-blur refinement gains only {gain:.2f} dB"
    # The strength slider still blends from the untouched photo.
    half = deblur_image(blurry, strength=0.5)
    np.testing.assert_allclose(half, np.clip(blurry + 0.5 * (refined - blurry), 0, 1), atol=1e-5)


def test_a_disc_that_does_not_fit_the_network_result_is_not_used(sharpening_network,
                                                                   monkeypatch):
    # The spectrum test took two sharp training photos for 15-px discs; deconvolving with
    # such a disc would wreck a sharp photo (-31 to -35 dB there).
    from editor.core import lens_blur

    _, noisy = _astronaut_blurred(np.ones((1, 1), np.float32))
    wrong = lens_blur.DefocusEstimate(radius=15.0, confidence=0.9, halves=(15.0, 15.0),
                                      half_confidences=(0.9, 0.9), found=True)
    monkeypatch.setattr(lens_blur, "estimate_defocus", lambda image: wrong)
    out = deblur_image(noisy, shake_blur=False)
    alone = deblur_image(noisy, lens_blur=False, shake_blur=False)
    np.testing.assert_array_equal(out, alone)


def test_shake_is_not_taken_for_a_lens_blur():
    rng = np.random.default_rng(3)
    _, blurry = _astronaut_blurred(bk.camera_shake(21, rng).kernel)
    np.testing.assert_array_equal(deblur_image(blurry, shake_blur=False),
                                  deblur_image(blurry, lens_blur=False, shake_blur=False))


@pytest.fixture
def sharpening_network(monkeypatch):
    """A stand-in network that sharpens like a weak deblurrer (an unsharp mask). The
    lens and camera-shake refinements trust a kernel only when it re-blurs the network's
    result back to the photo; the random-weight stand-in's change, once its brightness bias is taken out,
    is too small for that ratio to mean anything."""
    import cv2

    def unsharp(rgb, source, progress, tile):
        soft = cv2.GaussianBlur(rgb, (0, 0), 2.0)
        return np.clip(rgb + 1.5 * (rgb - soft), 0.0, 1.0).astype(np.float32)

    monkeypatch.setattr(deblur, "_restore", unsharp)


def test_a_camera_shake_is_refined_with_its_estimated_kernel(sharpening_network):
    sharp, blurry = _astronaut_blurred(bk.camera_shake(21, np.random.default_rng(2)).kernel)
    alone = deblur_image(blurry, shake_blur=False)
    refined = deblur_image(blurry)
    inner = np.s_[20:-20, 20:-20]
    gain = psnr(refined[inner], sharp[inner]) - psnr(alone[inner], sharp[inner])
    assert gain >= 1.5, f"the camera-shake refinement gains only {gain:.2f} dB"


def test_a_sharp_photo_is_left_as_it_is():
    sharp, _ = _astronaut_blurred(np.ones((1, 1), np.float32))   # noise only, no blur
    np.testing.assert_array_equal(deblur_image(sharp), sharp)
    # Why: the network alone would sharpen it further.
    assert np.abs(deblur_image(sharp, lens_blur=False, shake_blur=False) - sharp).max() > 0.05


def test_cancel_during_the_shake_estimate_stops_the_job():
    _, blurry = _astronaut_blurred(bk.camera_shake(21, np.random.default_rng(2)).kernel)
    seen = []

    def cancel_when_estimating(fraction: float, message: str) -> None:
        seen.append(message)
        if message.startswith("Camera shake"):
            progress.cancel()

    progress = Progress(cancel_when_estimating)
    with pytest.raises(Cancelled):
        deblur_image(blurry, lens_blur=False, progress=progress)
    assert any(m.startswith("Camera shake") for m in seen)


@pytest.mark.parametrize("option, kernel", [
    ("lens-blur", lambda: bk.defocus_disc(15, 6.0).kernel),
    ("shake-blur", lambda: bk.camera_shake(21, np.random.default_rng(2)).kernel),
])
def test_cli_refinements_can_be_switched_off(tmp_path, capsys, option, kernel,
                                             sharpening_network):
    _, blurry = _astronaut_blurred(kernel())
    src = _write_png(tmp_path / "in" / "soft.png", blurry)
    outs = {}
    for flag in (f"--{option}", f"--no-{option}"):
        out_dir = tmp_path / flag
        assert cli.main(["deblur", str(src), "-o", str(out_dir), flag]) == 0, \
            capsys.readouterr().err
        outs[flag] = load_image(out_dir / "soft_deblurred.png")[0]
    assert not np.array_equal(outs[f"--{option}"], outs[f"--no-{option}"])


# -- sizes, channels -------------------------------------------------------------------------------

@pytest.mark.parametrize("h, w", [(1, 1), (3, 5), (15, 17), (17, 40), (33, 9)])
def test_tiny_and_odd_sizes_come_back_the_same_size(h, w):
    out = TOOL.apply(photo(h, w, channels=4), {})
    assert out.shape == (h, w, 4) and out.dtype == np.float32
    assert np.isfinite(out).all() and 0.0 <= out.min() and out.max() <= 1.0


def test_alpha_is_kept_and_invisible_colour_untouched():
    image = photo(30, 40, channels=4)
    image[:, :8, 3] = 0.0                      # a transparent strip with hidden colour
    image[:, :8, :3] = 0.0
    out = TOOL.apply(image, {})
    assert np.array_equal(out[..., 3], image[..., 3])
    assert np.array_equal(out[:, :8, :3], image[:, :8, :3])


def test_hidden_colour_does_not_change_visible_pixels():
    # Black or white under the transparent strip: the visible result must not care.
    outs = []
    for hidden in (0.0, 1.0):
        image = photo(30, 40, channels=4)
        image[..., 3] = 1.0
        image[:, :10, 3] = 0.0
        image[:, :10, :3] = hidden
        outs.append(TOOL.apply(image, {}))
    assert np.abs(outs[0][:, 10:, :3] - outs[1][:, 10:, :3]).max() < 2 / 255


def test_grey_stays_grey_and_keeps_its_shape():
    grey = photo(19, 23)[..., 0]
    out = deblur_image(grey)
    assert out.shape == (19, 23)
    rgb_grey = np.repeat(grey[..., None], 3, axis=2)
    out = deblur_image(rgb_grey)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert deblur_image(np.stack([grey, np.full_like(grey, 0.5)], axis=2)).shape == (19, 23, 2)


def test_non_float_pixels_are_refused():
    with pytest.raises(ValueError, match="float"):
        deblur_image(np.zeros((4, 4, 3), np.uint8))


# -- tiling, progress, cancel ----------------------------------------------------------------------

def test_tiled_equals_untiled_within_one_level():
    image = photo(100, 130, channels=4, seed=3)
    whole = deblur_image(image, tile=4096)         # one tile
    deblur.clear_cache()
    tiled = deblur_image(image, tile=32)           # 4 x 5 tiles, 48 px of context each side
    assert np.abs(whole - tiled).max() <= 1 / 255
    assert np.abs(whole - image).max() > 8 / 255   # and the network did something


def test_progress_rises_to_one_through_the_tiles():
    seen = []
    deblur_image(photo(70, 70), tile=32, progress=Progress(lambda f, m: seen.append((f, m))))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(m.startswith("Tile 3 of") for _, m in seen)


def test_cancel_during_the_tiles_stops_the_work():
    calls = []

    def report(fraction, message):
        calls.append(fraction)
        if fraction > 0.2:
            progress.cancel()

    progress = Progress(report)
    with pytest.raises(Cancelled):
        deblur_image(photo(96, 96), progress=progress, tile=32)
    assert max(calls) < 0.9


# -- missing weights -------------------------------------------------------------------------------

def test_missing_weights_give_the_engines_one_line_error(tmp_path):
    missing = tiny_deblur_source(tmp_path / "nowhere", save=False)
    with pytest.raises(WeightsError) as error:
        deblur_image(photo(10, 10), source=missing)
    text = str(error.value)
    assert "test-deblur.safetensors" in text and "not found" in text and "\n" not in text


def test_no_model_in_the_catalog_says_so():
    with pytest.raises(WeightsError, match="No deblurring model is installed"):
        deblur_image(photo(10, 10), source=DeblurModels(None))


def test_untrained_catalog_model_reports_the_missing_file(tmp_path, monkeypatch):
    # The shipped model before training: its card is absent, so its checksum is the
    # placeholder and loading names the file it looked for.
    monkeypatch.setenv("RESTORA_MODELS_DIR", str(tmp_path))
    with pytest.raises(WeightsError, match="deblur-srn.safetensors .*not found"):
        deblur_image(photo(10, 10), source=DeblurModels(REGISTRY.get("deblur-srn")))


# -- restora-cli -----------------------------------------------------------------------------------

def _write_png(path: Path, image: np.ndarray, bit_depth: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(path, image, ImageMeta(bit_depth=bit_depth, has_alpha=image.shape[2] == 4),
               bit_depth=bit_depth)
    return path


def test_cli_deblurs_a_folder(tmp_path, capsys):
    _write_png(tmp_path / "in" / "a.png", photo(20, 28, seed=1))
    _write_png(tmp_path / "in" / "b.png", photo(9, 13, channels=4, seed=2))
    code = cli.main(["deblur", "--strength", "0.8", str(tmp_path / "in"), "-o",
                     str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0, err
    a, _ = load_image(tmp_path / "out" / "a_deblurred.png")
    b, meta = load_image(tmp_path / "out" / "b_deblurred.png")
    assert a.shape[:2] == (20, 28) and b.shape == (9, 13, 4) and meta.has_alpha
    assert "2 written, 0 skipped" in err


def test_cli_sixteen_bit_stays_sixteen_bit_without_8_bit_steps(tmp_path, capsys):
    image = photo(24, 30)
    _write_png(tmp_path / "in" / "deep.png", image, bit_depth=16)
    tifffile.imwrite(tmp_path / "in" / "deep.tif", np.round(image * 65535).astype(np.uint16))
    code = cli.main(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    raw = tifffile.imread(tmp_path / "out" / "deep_deblurred.tif")
    assert raw.dtype == np.uint16
    # Values between 8-bit steps: the result was computed and written in 16 bits.
    assert np.mean(raw % 257 != 0) > 0.5
    pixels, meta = load_image(tmp_path / "out" / "deep_deblurred.png")
    assert meta.bit_depth == 16 and pixels.shape == (24, 30, 3)


def test_cli_missing_weights_one_line_per_file_and_failure_exit(tmp_path, capsys):
    _write_png(tmp_path / "in" / "a.png", photo(6, 7, seed=1))
    _write_png(tmp_path / "in" / "b.png", photo(6, 7, seed=2))
    with deblur.using_models(tiny_deblur_source(tmp_path / "none", save=False)):
        code = cli.main(["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("skipped")]
    assert code == 1 and len(lines) == 2
    assert all("Weights file test-deblur.safetensors" in line for line in lines)
    assert "Traceback" not in err and not (tmp_path / "out" / "a_deblurred.png").exists()


# -- the shipped weights ---------------------------------------------------------------------------

def _shipped_present() -> bool:
    try:
        find_weights("deblur-srn.safetensors")   # models/, an installed copy, or the env
    except FileNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _shipped_present(),
                    reason="models/deblur-srn.safetensors is not trained/shipped yet "
                           "(python -m editor.training.train_deblur, then export_deblur)")
def test_shipped_weights_sharpen_a_shaken_photo():
    from skimage import data

    sharp = data.astronaut()[32:224, 144:336].astype(np.float32) / 255.0   # the face, 192 px
    # A test-only seed: no training or benchmark stream draws from it.
    rng = np.random.default_rng(20240611)
    kernel = bk.camera_shake(17, rng, extent=0.9).kernel
    blurry = bk.convolve(sharp, kernel)
    blurry = np.clip(blurry + rng.normal(0, 0.01, blurry.shape).astype(np.float32), 0, 1)
    blurry = np.round(blurry * 255) / 255
    out = deblur_image(blurry, source=deblur.registry_source())
    border = 16
    inner = np.s_[border:-border, border:-border]
    gain = psnr(out[inner], sharp[inner]) - psnr(blurry[inner], sharp[inner])
    # The identity (an untrained network) gains 0 dB; the bench target is +3 dB
    # (bench deblur). The shipped CPU-trained weights gain 0.65 dB here: the test demands a
    # clear improvement, not the target.
    assert gain >= 0.3, f"the shipped deblur model gains only {gain:.2f} dB on a shaken photo"
