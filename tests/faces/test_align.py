"""Align a face into the canonical crop and paste an edit back: an untouched crop changes
nothing, an edit lands on the face and nowhere else, and its margin does not show."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from editor.faces import (
    CANONICAL_5, align_face, default_paste_mask, face_in_crop, face_matrix, map_points,
    paste_back, seam_ratio,
)
from editor.faces.align import frame_to_crop
from editor.faces.landmarks import five_points
from tests.faces.conftest import needs_dlib

pytestmark = needs_dlib

SIZE = 256


@pytest.fixture(scope="module")
def photo(astronaut) -> np.ndarray:
    return astronaut.astype(np.float32) / 255


@pytest.fixture(scope="module")
def aligned(photo, astronaut_face):
    return align_face(photo, astronaut_face, SIZE)


def image_mask(matrix, shape_hw, feather=None) -> np.ndarray:
    """The default paste mask as it lands in the photo."""
    return cv2.warpAffine(default_paste_mask(SIZE, feather), cv2.invertAffineTransform(matrix),
                          (shape_hw[1], shape_hw[0]), flags=cv2.INTER_LINEAR)


def test_crop_puts_the_face_where_the_network_expects_it(aligned, astronaut_face):
    crop, matrix = aligned
    assert crop.shape == (SIZE, SIZE, 3) and crop.dtype == np.float32
    got = map_points(five_points(astronaut_face.landmarks), matrix)
    want = map_points(CANONICAL_5, frame_to_crop(SIZE))
    # A similarity cannot match 5 points exactly; a face is within a few % of the mean.
    assert np.abs(got - want).max() < 0.04 * SIZE


def test_matrix_maps_back_exactly(aligned, astronaut_face):
    _, matrix = aligned
    in_crop = map_points(astronaut_face.landmarks, matrix)
    back = map_points(in_crop, cv2.invertAffineTransform(matrix))
    np.testing.assert_allclose(back, astronaut_face.landmarks, atol=1e-4)
    np.testing.assert_array_equal(face_matrix(astronaut_face, SIZE), matrix)


@pytest.mark.parametrize("degrees", [25.0, -40.0])
def test_rolled_face_comes_out_upright(rolled_scan, degrees):
    image, _, scan = rolled_scan(degrees)
    face = scan.faces[0]
    _, matrix = align_face(image, face, SIZE)
    assert abs(face_in_crop(face, matrix).roll) < 1.0


def test_unchanged_crop_changes_nothing(photo, aligned):
    crop, matrix = aligned
    for colour_match in (True, False):
        out = paste_back(photo, crop, crop.copy(), matrix, colour_match=colour_match)
        assert out is not photo
        np.testing.assert_array_equal(out, photo)


def test_brightened_crop_brightens_the_face_only(photo, aligned, astronaut_face):
    crop, matrix = aligned
    out = paste_back(photo, crop, np.clip(crop + 0.1, 0, 1), matrix, colour_match=False)
    change = (out - photo).mean(axis=2)
    cx, cy = (int(round(v)) for v in astronaut_face.centre)
    centre = change[cy - 10:cy + 10, cx - 10:cx + 10]
    assert 0.08 < np.median(centre) <= 0.1 + 1e-6
    yy, xx = np.mgrid[:512, :512]
    far = np.hypot(xx - cx, yy - cy) > 1.5 * astronaut_face.size
    assert not change[far].any()


def test_colour_shift_is_matched_away_at_the_margin(photo, aligned):
    crop, matrix = aligned
    # What face networks do: a global tint and contrast change on top of the real edit.
    tinted = np.clip(crop * np.float32([1.08, 0.92, 1.0]) + np.float32([0.06, -0.02, 0.07]), 0, 1)
    mask = image_mask(matrix, photo.shape[:2])
    matched = paste_back(photo, crop, tinted, matrix)
    assert seam_ratio(matched, mask) <= 1.2
    # A narrow feather shows the tint as a seam unless the colours are matched.
    narrow = image_mask(matrix, photo.shape[:2], feather=1.0)
    raw = paste_back(photo, crop, tinted, matrix, feather=1.0, colour_match=False)
    fixed = paste_back(photo, crop, tinted, matrix, feather=1.0, colour_match=True)
    assert seam_ratio(raw, narrow) > 1.2
    assert seam_ratio(fixed, narrow) <= 1.2


def test_seam_ratio_catches_a_hard_pasted_square(photo):
    square = np.zeros(photo.shape[:2], np.float32)
    square[90:190, 170:270] = 1.0
    pasted = photo.copy()
    pasted[90:190, 170:270] = np.clip(pasted[90:190, 170:270] + 0.08, 0, 1)
    assert seam_ratio(pasted, square) > 1.2
    assert seam_ratio(photo, square) < 1.2


def test_big_face_is_not_aliased_into_a_small_crop(photo, astronaut_face):
    # The astronaut 4x bigger with pixel-fine texture (pores, fabric): in a small crop that
    # texture must average away, not fold into a coarse moire.
    k = 4
    big = cv2.resize(photo, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[:big.shape[0], :big.shape[1]]
    big += np.where((xx + yy) % 2 == 0, 0.05, -0.05).astype(np.float32)[..., None]
    lm = (astronaut_face.landmarks + 0.5) * k - 0.5
    big_face = type(astronaut_face)(tuple(v * k for v in astronaut_face.box), lm, 1.0)
    small_crop, _ = align_face(photo, astronaut_face, 96)
    big_crop, matrix = align_face(big, big_face, 96)
    naive = cv2.warpAffine(big, matrix, (96, 96), flags=cv2.INTER_CUBIC)
    ours = np.abs(big_crop - small_crop).mean()
    assert ours < 0.02
    assert ours < 0.7 * np.abs(naive - small_crop).mean()


def test_paste_into_a_big_photo_touches_only_the_face(photo, aligned, astronaut_face):
    crop, matrix = aligned
    big = np.zeros((2000, 3000, 3), np.float32)
    big[:512, :512] = photo
    start = time.perf_counter()
    paste_back(big, crop, np.clip(crop + 0.1, 0, 1), matrix, colour_match=False, out=big)
    elapsed = time.perf_counter() - start
    assert big[:512, :512].max() > photo.max() - 1e-6
    assert not big[600:].any() and not big[:, 600:].any()
    assert elapsed < 0.5, elapsed
