"""Synthetic beautification for Makeup-Go: reproducible by seed, visibly changes the face,
leaves pixels away from the face alone, differs between seeds, every edit does something,
and the warps stay local and moderate. A drawn face (tests/makeup_fakes.py): no ../shared."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from editor.training.beautify import P_EDIT, beautify, face_mask, face_scale
from tests.makeup_fakes import drawn_face


@pytest.fixture(scope="module")
def face():
    return drawn_face(seed=3)


def near_face(shape, landmarks, margin_fraction=0.25) -> np.ndarray:
    """The face mask (jaw line closed by the forehead line) dilated by a quarter of the face
    width: the feathering of the masks and the warps' radii stay inside it."""
    mask = (face_mask(shape, landmarks) > 0).astype(np.uint8)
    size = int(round(face_scale(landmarks) * margin_fraction)) * 2 + 1
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))) > 0


def test_same_seed_same_output(face):
    image, marks = face
    for seed in (0, 1, 7):
        a, recipe_a = beautify(image, marks, np.random.default_rng(seed))
        b, recipe_b = beautify(image, marks, np.random.default_rng(seed))
        assert np.array_equal(a, b)
        assert recipe_a == recipe_b


def test_different_seeds_differ(face):
    image, marks = face
    outputs = [beautify(image, marks, np.random.default_rng(s))[0] for s in range(6)]
    for i in range(len(outputs)):
        for j in range(i + 1, len(outputs)):
            assert np.abs(outputs[i] - outputs[j]).max() > 0.01


def test_changes_the_face_and_keeps_the_format(face):
    image, marks = face
    inside = face_mask(image.shape[:2], marks) > 0
    for seed in range(8):
        out, recipe = beautify(image, marks, np.random.default_rng(seed))
        assert out.shape == image.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert recipe["edits"], recipe
        assert np.abs(out - image)[inside].mean() > 0.002, recipe


@pytest.mark.parametrize("edit", sorted(P_EDIT))
def test_every_edit_changes_the_face(face, edit):
    image, marks = face
    out, recipe = beautify(image, marks, np.random.default_rng(0), edits=(edit,))
    assert recipe["edits"] == [edit] and edit in recipe
    inside = face_mask(image.shape[:2], marks) > 0
    assert np.abs(out - image)[inside].max() > 0.01


def test_only_pixels_near_the_face_change(face):
    image, marks = face
    near = near_face(image.shape[:2], marks)
    assert (~near).sum() > 0.1 * near.size   # the test has pixels to look at
    for seed in range(6):
        out, _ = beautify(image, marks, np.random.default_rng(seed), edits=tuple(P_EDIT))
        assert np.abs(out - image)[~near].max() < 1e-6


def test_warps_are_local_and_moderate(face):
    image, marks = face
    width = face_scale(marks)
    for seed in range(4):
        out, recipe = beautify(image, marks, np.random.default_rng(seed), edits=("eyes", "slim"))
        assert 0.05 <= recipe["eyes"]["amount"] <= 0.2
        assert recipe["slim"]["amount_px"] <= 0.05 * width
        # Mean change stays small: a warp, not a new picture.
        assert np.abs(out - image).mean() < 0.05


def test_bad_inputs_are_refused(face):
    image, marks = face
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        beautify(image[:, :, 0], marks, rng)
    with pytest.raises(ValueError):
        beautify(image, marks[:60], rng)
    with pytest.raises(ValueError):
        beautify(image, marks, rng, edits=("lipstick",))
