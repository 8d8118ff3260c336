"""Region masks from landmarks: each lands on its feature, with soft edges, and features
that a user retouches separately (eyes, brows, lips, teeth) never overlap."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from editor.faces import REGIONS, faces_mask, region_mask
from tests.faces.conftest import needs_dlib

pytestmark = needs_dlib

KEYS = [k for k, _ in REGIONS]


@pytest.fixture(scope="module")
def masks(astronaut, astronaut_face):
    return {k: region_mask(astronaut_face, astronaut.shape[:2], k) for k in KEYS}


def polygon_inside(shape_hw, points) -> np.ndarray:
    """Pixels strictly inside a landmark polygon (eroded by 1 px, no edge pixels)."""
    m = np.zeros(shape_hw, np.uint8)
    cv2.fillPoly(m, [np.round(points).astype(np.int32)], 1)
    return cv2.erode(m, np.ones((3, 3), np.uint8)) > 0


def test_regions_are_listed_in_menu_order():
    assert KEYS == ["face", "skin", "eyes", "brows", "lips", "mouth"]
    assert all(label for _, label in REGIONS)


def test_masks_are_soft_and_in_range(masks):
    for key, m in masks.items():
        assert m.dtype == np.float32 and m.shape == (512, 512)
        assert m.min() >= 0.0 and m.max() <= 1.0, key
        assert m.max() > 0.75, key
        assert ((m > 0.02) & (m < 0.98)).sum() > 50, f"{key} has no feathered edge"


def test_masks_stay_on_the_face(masks, astronaut_face):
    x0, y0, x1, y1 = astronaut_face.box
    w, h = x1 - x0, y1 - y0
    # The face box covers brows to chin; the estimated forehead rises above it.
    allowed = np.zeros((512, 512), bool)
    allowed[int(y0 - 0.6 * h):int(y1 + 0.1 * h), int(x0 - 0.1 * w):int(x1 + 0.1 * w)] = True
    for key, m in masks.items():
        assert m[~allowed].max() < 0.01, key
    # ...and the forehead is really there: the face mask reaches above the brows.
    brow_top = astronaut_face.landmarks[17:27, 1].min()
    above = masks["face"][int(brow_top - 0.25 * h), int(astronaut_face.landmarks[27, 0])]
    assert above > 0.9


def test_each_region_covers_its_feature(masks, astronaut_face):
    lm = astronaut_face.landmarks

    def at(key, xy):
        return masks[key][int(round(xy[1])), int(round(xy[0]))]

    assert at("face", lm[30]) == pytest.approx(1.0, abs=0.01)
    assert at("skin", (lm[2] + lm[31]) / 2) > 0.95            # cheek
    assert at("eyes", lm[36:42].mean(0)) > 0.9 and at("eyes", lm[42:48].mean(0)) > 0.9
    assert at("brows", lm[19] + (0, 2)) > 0.7 and at("brows", lm[24] + (0, 2)) > 0.7
    assert at("lips", (lm[51] + lm[62]) / 2) > 0.6            # upper lip
    assert at("mouth", lm[60:68].mean(0)) > 0.6               # her teeth: she smiles


def test_features_do_not_overlap(masks):
    features = ["eyes", "brows", "lips", "mouth"]
    for i, a in enumerate(features):
        for b in features[i + 1:]:
            both = (masks[a] > 0.5) & (masks[b] > 0.5)
            assert not both.any(), f"{a} and {b} overlap on {both.sum()} px"


def test_skin_leaves_out_eyes_brows_and_lips(masks, astronaut_face):
    lm = astronaut_face.landmarks
    skin = masks["skin"]
    for name, pts in (("right eye", lm[36:42]), ("left eye", lm[42:48]),
                      ("lips", lm[48:60])):
        inside = polygon_inside(skin.shape, pts)
        assert inside.any()
        assert skin[inside].max() < 0.1, name
    assert skin[masks["brows"] > 0.5].max() < 0.25
    assert (skin > 0.5).sum() < (masks["face"] > 0.5).sum()


def test_union_over_regions_is_the_pixel_max(masks, astronaut_face):
    union = faces_mask([astronaut_face], (512, 512), ["eyes", "lips"])
    np.testing.assert_array_equal(union, np.maximum(masks["eyes"], masks["lips"]))
    assert np.array_equal(faces_mask([astronaut_face], (512, 512), "skin"), masks["skin"])
    assert not faces_mask([], (512, 512), "face").any()


def test_feather_sets_the_edge_width(astronaut_face):
    soft = region_mask(astronaut_face, (512, 512), "face", feather=6.0)
    hard = region_mask(astronaut_face, (512, 512), "face", feather=0.0)
    assert ((soft > 0.02) & (soft < 0.98)).sum() > 3 * ((hard > 0.02) & (hard < 0.98)).sum()


def test_unknown_region_is_refused(astronaut_face):
    with pytest.raises(ValueError, match="nose"):
        region_mask(astronaut_face, (512, 512), "nose")


def test_small_face_in_a_24mp_photo_is_quick(astronaut_face):
    start = time.perf_counter()
    m = faces_mask([astronaut_face], (4000, 6000), KEYS)
    elapsed = time.perf_counter() - start
    assert m.shape == (4000, 6000)
    assert not m[600:].any() and not m[:, 600:].any()
    assert elapsed < 1.0, elapsed  # ~0.05 s; generous for a loaded machine
