"""Remove makeup as a retoucher meets it: strength 0 changes nothing, the effect stays
inside the faces, grey photos work, an image without a usable face says so clearly (and
a batch skips it with that line), and the shipped Makeup-Go weights undo a beautification
made in the test."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest
from PIL import Image

from editor.cli import main as cli_main
from editor.core.metrics import psnr
from editor.engine.registry import REGISTRY, find_weights
from editor.engine.weights import clear_model_cache
from editor.tools import demakeup, get_tool
from editor.tools.schema import Masked

HAVE_DLIB = (importlib.util.find_spec("dlib") is not None
             and importlib.util.find_spec("face_recognition_models") is not None)
needs_dlib = pytest.mark.skipif(not HAVE_DLIB, reason="dlib-bin / face-recognition-models "
                                                      "not installed")


def noise(h=80, w=96, c=3, seed=0):
    return np.random.default_rng(seed).random((h, w, c), dtype=np.float32)


def test_strength_zero_changes_nothing():
    image = noise()
    out = get_tool("demakeup").apply(image, {"strength": 0.0})
    np.testing.assert_array_equal(out, image)


def test_the_change_stays_inside_the_face_mask():
    image = noise(c=4)
    result = get_tool("demakeup").apply_masked(image, {"region": "lips"})
    assert isinstance(result, Masked)
    assert result.mask.shape == image.shape[:2]
    seen = get_tool("demakeup").apply(image, {"region": "lips"})
    outside = result.mask == 0
    assert outside.any() and (result.mask > 0.5).any()
    np.testing.assert_array_equal(seen[outside], image[outside])
    np.testing.assert_array_equal(seen[..., 3], image[..., 3])   # alpha untouched


def test_grey_photo_stays_grey():
    image = noise(c=1)
    out = get_tool("demakeup").apply(image)
    assert out.shape == image.shape and out.dtype == np.float32


@needs_dlib
def test_no_face_is_a_clear_error():
    demakeup.set_face_finder(None)
    with pytest.raises(demakeup.NoFaceFound, match="no face found"):
        get_tool("demakeup").apply(noise())


@needs_dlib
def test_tiny_face_is_reported_too_small():
    from skimage import data

    demakeup.set_face_finder(None)
    # The astronaut's head shrunk until its face measures ~21 px (found, but < 24 px).
    small = cv2.resize(data.astronaut()[40:200, 140:300], (32, 32), interpolation=cv2.INTER_AREA)
    canvas = np.full((120, 120, 3), 128, np.uint8)
    canvas[40:72, 40:72] = small
    with pytest.raises(demakeup.NoFaceFound, match="too small"):
        get_tool("demakeup").apply(canvas.astype(np.float32) / 255)


@needs_dlib
def test_batch_skips_a_photo_without_a_face(tmp_path, capsys):
    demakeup.set_face_finder(None)
    src = tmp_path / "noise.png"
    Image.fromarray((noise() * 255).astype(np.uint8)).save(src)
    code = cli_main(["demakeup", str(src), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "skipped" in err and "no face" in err
    assert not (tmp_path / "out" / "noise_demakeup.png").exists()


def _shipped() -> bool:
    if demakeup.MODEL_ID not in REGISTRY:
        return False
    try:
        find_weights(REGISTRY.get(demakeup.MODEL_ID).weights)
    except FileNotFoundError:
        return False
    return True


@needs_dlib
@pytest.mark.skipif(not _shipped(), reason="models/makeup-go.safetensors is not shipped yet")
def test_shipped_weights_undo_a_beautification_made_here():
    from skimage import data

    from editor.faces import detect_faces, region_mask
    from editor.training.beautify import beautify

    demakeup.set_face_finder(None)
    demakeup.SLOT.set(None)          # the registry's real model
    clear_model_cache()
    original = data.astronaut().astype(np.float32) / 255
    face = detect_faces(original, rotations=False).faces[0]
    edited, _ = beautify(original, face.landmarks, np.random.default_rng(3),
                         edits=("smooth", "whiten", "blush", "lips"))
    edited = np.round(edited * 255) / 255
    restored = get_tool("demakeup").apply(edited.astype(np.float32))
    inside = region_mask(face, original.shape[:2], "face") > 0.5
    before = psnr(edited[inside], original[inside])
    after = psnr(restored[inside], original[inside])
    assert after > before + 0.5, (before, after)


def test_strength_slider_reuses_the_faces_and_network_result():
    from tests.faces_fakes import fake_face_finder

    calls = []
    demakeup.set_face_finder(lambda rgb, progress: calls.append(1) or fake_face_finder(rgb, progress))
    image = noise()
    tool = get_tool("demakeup")
    full = tool.apply(image, {"strength": 1.0})
    half = tool.apply(image, {"strength": 0.5})
    assert len(calls) == 1                       # detected and restored once
    np.testing.assert_allclose(half, image + 0.5 * (full - image), atol=1e-5)


def test_a_tone_change_of_the_network_reaches_the_photo(monkeypatch):
    # Undoing whitening or a tint is a tone change: the paste-back must not refit it away
    # (colour matching in the seam ring had cancelled most of it).
    monkeypatch.setattr(demakeup, "run_network", lambda model, crop: crop * np.float32(0.8))
    image = np.clip(0.6 + 0.05 * (noise() - 0.5), 0, 1).astype(np.float32)
    result = get_tool("demakeup").apply_masked(image, {"region": "face"})
    inside = result.mask > 0.99
    assert inside.sum() > 100
    ratio = result.image[inside].mean() / image[inside].mean()
    assert ratio == pytest.approx(0.8, abs=0.03), ratio
