"""Face detection as a user meets it: every face found, wherever it is and however the
photo is stored, with landmarks on the right features, and nothing found where no face is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from editor.faces import detect_faces, warp
from editor.faces.landmarks import roll_degrees
from tests.faces.conftest import needs_dlib

pytestmark = needs_dlib


def test_landmarks_sit_on_the_face_in_the_box(astronaut_face):
    face = astronaut_face
    x0, y0, x1, y1 = face.box
    lm = face.landmarks
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    assert np.all((lm[:, 0] >= x0) & (lm[:, 0] <= x1) & (lm[:, 1] >= y0) & (lm[:, 1] <= y1))
    # The astronaut's face: about 110 px wide around (225, 130) in the 512 px picture.
    assert 90 < face.size < 130
    assert 200 < face.centre[0] < 250 and 110 < face.centre[1] < 150
    eyes_y = lm[36:48, 1].mean()
    nose_y = lm[30, 1]
    mouth_y = lm[48:68, 1].mean()
    chin_y = lm[8, 1]
    assert eyes_y < nose_y < mouth_y < chin_y
    # The person's right eye is on the left of the screen.
    assert lm[36:42, 0].mean() < lm[27:36, 0].mean() < lm[42:48, 0].mean()
    assert abs(face.roll) < 8
    assert face.score > 0.7


def test_upright_face_is_found_once_across_the_rotated_passes(astronaut_scan):
    # Three passes see the same face; the merge must keep one.
    assert len(astronaut_scan.faces) == 1
    assert astronaut_scan.too_small == []


@pytest.mark.parametrize("degrees", [25.0, -25.0, -40.0])
def test_rolled_face_is_found_with_landmarks_mapped_back(rolled_scan, astronaut_face, degrees):
    _, m, scan = rolled_scan(degrees)
    assert len(scan.faces) == 1
    face = scan.faces[0]
    truth = warp.map_points(astronaut_face.landmarks, m)
    err = np.hypot(*(face.landmarks - truth).T)
    assert err.mean() < 2.0 and err.max() < 5.0, (err.mean(), err.max())
    assert face.roll == pytest.approx(roll_degrees(truth), abs=3.0)
    assert face.roll == pytest.approx(astronaut_face.roll + degrees, abs=3.0)


def test_two_faces_of_different_sizes_sorted_left_to_right(astronaut):
    scale = 60 / 110  # the small copy's face is about 60 px wide
    small = cv2.resize(astronaut, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 512 + small.shape[1] + 20, 3), 128, np.uint8)
    canvas[:512, :512] = astronaut
    canvas[100:100 + small.shape[0], 532:532 + small.shape[1]] = small
    scan = detect_faces(canvas, rotations=False)
    assert len(scan.faces) == 2
    big, little = scan.faces
    assert big.centre[0] < 512 < little.centre[0]
    assert little.size == pytest.approx(big.size * scale, rel=0.15)


def test_tiny_face_is_reported_too_small_not_dropped(astronaut):
    # The face is ~18 px wide: found, but too small to edit (min_size 24).
    scale = 18 / 91
    small = cv2.resize(astronaut, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((160, 160, 3), 120, np.uint8)
    canvas[20:20 + small.shape[0], 30:30 + small.shape[1]] = small
    scan = detect_faces(canvas, rotations=False)
    assert scan.faces == []
    assert len(scan.too_small) == 1
    assert scan.too_small[0].size < 24


def test_same_faces_in_grey_float_16_bit_and_rgba(astronaut, astronaut_face):
    u8 = np.ascontiguousarray(astronaut)
    for image in (u8.astype(np.float32) / 255, u8.astype(np.uint16) * 257,
                  np.dstack([u8, np.full(u8.shape[:2], 255, np.uint8)])):
        scan = detect_faces(image, rotations=False)
        assert len(scan.faces) == 1
        np.testing.assert_allclose(scan.faces[0].landmarks, astronaut_face.landmarks, atol=1.0)
    grey = cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY)
    for image in (grey, grey[..., None]):
        scan = detect_faces(image, rotations=False)
        assert len(scan.faces) == 1
        err = np.hypot(*(scan.faces[0].landmarks - astronaut_face.landmarks).T)
        assert err.mean() < 2.5


def test_no_faces_in_a_photo_without_people():
    from skimage import data
    assert detect_faces(data.coffee()).faces == []
    ramp = np.linspace(0.0, 1.0, 300 * 400, dtype=np.float32).reshape(300, 400)
    scan = detect_faces(ramp)
    assert scan.faces == [] and scan.too_small == []


def test_big_photo_is_scanned_reduced_and_landmarked_at_full_resolution(astronaut, astronaut_face):
    # 3000 px square (9 MP): the detector sees a reduced copy, the landmarks the real pixels.
    k = 3000 / 512
    big = cv2.resize(astronaut, (3000, 3000), interpolation=cv2.INTER_CUBIC)
    scan = detect_faces(big, rotations=False)
    assert len(scan.faces) == 1
    # Landmarks of the upscaled face, in upscaled pixels (pixel-centre convention).
    truth = (astronaut_face.landmarks + 0.5) * k - 0.5
    err = np.hypot(*(scan.faces[0].landmarks - truth).T)
    assert err.mean() < 2.0 * k, err.mean()
