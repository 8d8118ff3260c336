"""The least-visible paste mask: its edge leaves strong photo edges alone, it always keeps
the face, it closes smoothly, and it stays off the crop's border."""

from __future__ import annotations

import numpy as np
import pytest

from editor.faces.align import PASTE_ELLIPSE, PASTE_FEATHER, default_paste_mask, seam_ratio
from editor.faces.seam_mask import ANGLES, INNER, RADII, cheapest_loop, least_visible_mask

SIZE = 160


def face_crop_with_hair_edge() -> np.ndarray:
    """Flat skin with fine noise, and a dark 'hair' region whose edge runs right along the
    default ellipse's top boundary, where a fixed mask would put its seam."""
    rng = np.random.default_rng(0)
    crop = np.full((SIZE, SIZE, 3), [0.8, 0.6, 0.5], np.float32)
    crop += rng.normal(0, 0.01, crop.shape).astype(np.float32)
    yy = np.arange(SIZE)[:, None, None]
    top = (SIZE - 1) / 2 - PASTE_ELLIPSE[1] * SIZE               # the ellipse's top edge
    crop[np.broadcast_to(yy < top, crop.shape)] = 0.1
    return crop


def test_seam_moves_off_a_strong_edge():
    crop = face_crop_with_hair_edge()
    edited = np.clip(crop * 1.05, 0, 1)
    ours = least_visible_mask(crop, edited)
    fixed = default_paste_mask(SIZE)
    assert seam_ratio(crop, fixed) > 1.5                 # the fixed ellipse sits on the edge
    assert seam_ratio(crop, ours) < 1.2


def test_mask_keeps_the_face_and_stays_off_the_border():
    crop = face_crop_with_hair_edge()
    mask = least_visible_mask(crop, crop)
    c = (SIZE - 1) / 2
    yy, xx = np.mgrid[:SIZE, :SIZE]
    core = ((xx - c) / (PASTE_ELLIPSE[0] * SIZE)) ** 2 + ((yy - c) / (PASTE_ELLIPSE[1] * SIZE)) ** 2
    # The loop never comes inside INNER of the ellipse; three feather widths further in,
    # the whole edit is kept.
    margin = 3 * PASTE_FEATHER / min(PASTE_ELLIPSE)
    assert mask[core <= (INNER - margin) ** 2].min() > 0.98
    border = np.ones((SIZE, SIZE), bool)
    border[2:-2, 2:-2] = False
    assert mask[border].max() < 0.05
    assert mask.dtype == np.float32 and mask.shape == (SIZE, SIZE)


def test_cheapest_loop_closes_and_moves_one_step_at_a_time():
    rng = np.random.default_rng(1)
    cost = rng.random((ANGLES, RADII)) + 1.0
    lane = (np.round(6 + 4 * np.sin(np.linspace(0, 2 * np.pi, ANGLES, endpoint=False)))
            .astype(int))
    cost[np.arange(ANGLES), lane] = 0.0                  # a free, smooth, closed lane
    path = cheapest_loop(cost)
    assert np.array_equal(path, lane)
    steps = np.abs(np.diff(np.append(path, path[0])))
    assert steps.max() <= 1


def test_edge_is_placed_where_the_content_inside_masks_it():
    """A ring of texture (a beard, a hairline) just inside the possible seams: an edge on
    flat skin right outside it is compared with that texture and disappears, which the
    edge-versus-inside refinement finds and the cheapest loop alone does not look for."""
    rng = np.random.default_rng(2)
    crop = np.full((SIZE, SIZE, 3), [0.8, 0.6, 0.5], np.float32)
    crop += rng.normal(0, 0.01, crop.shape).astype(np.float32)
    c = (SIZE - 1) / 2
    yy, xx = np.mgrid[:SIZE, :SIZE]
    r = np.sqrt(((xx - c) / (PASTE_ELLIPSE[0] * SIZE)) ** 2
                + ((yy - c) / (PASTE_ELLIPSE[1] * SIZE)) ** 2)
    ring = (r > 0.78) & (r < 0.85)
    crop[ring] += rng.normal(0, 0.08, (int(ring.sum()), 3)).astype(np.float32)
    edited = np.clip(crop * 1.03, 0, 1)
    plain = least_visible_mask(crop, edited, ratio_rounds=0)
    refined = least_visible_mask(crop, edited, inset=6)
    assert seam_ratio(edited, refined) < 0.5 * seam_ratio(edited, plain)
    assert seam_ratio(edited, refined) < 1.0


def _photo_case():
    """A face crop enlarged 3x into a bigger photo (as a portrait's face is shrunk into its
    crop), and a tinted edit of it, with the photo -> crop matrix."""
    import cv2

    crop = face_crop_with_hair_edge()
    big = cv2.resize(crop, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    photo = np.ascontiguousarray(np.clip(cv2.copyMakeBorder(big, 40, 40, 60, 60,
                                                            cv2.BORDER_REFLECT), 0, 1))
    matrix = np.array([[1 / 3, 0.0, -61 / 3], [0.0, 1 / 3, -41 / 3]])   # resize x3 + border
    from editor.faces import warp

    crop = warp.warp_region(photo, matrix, (SIZE, SIZE))
    edited = np.clip(crop * np.float32([1.06, 1.0, 0.97]), 0, 1)
    return photo, crop, edited, matrix


def _seam_in_photo(photo, crop, edited, matrix, mask):
    import cv2

    from editor.faces import paste_back

    pasted = paste_back(photo, crop, edited, matrix, mask_crop=mask)
    shown = cv2.warpAffine(mask, cv2.invertAffineTransform(matrix), photo.shape[1::-1],
                           flags=cv2.INTER_LINEAR, borderValue=0)
    return seam_ratio(pasted, shown)


def test_in_the_photo_the_least_visible_candidate_is_chosen(monkeypatch):
    """Judged at the photo's own resolution, the choice is the candidate whose real
    paste-back (colour matching included) shows least: the shared warps of the chooser
    compute what paste_back pastes."""
    from editor.faces import seam_mask

    photo, crop, edited, matrix = _photo_case()
    monkeypatch.setattr(seam_mask, "JUDGE_MAX_SCALE", 1e9)       # no shrinking
    chosen = seam_mask.least_visible_mask_in_photo(photo, crop, edited, matrix)
    scores = [_seam_in_photo(photo, crop, edited, matrix, m)
              for m in seam_mask.loop_candidates(crop, edited, inset=seam_mask.inset_for(matrix))]
    assert _seam_in_photo(photo, crop, edited, matrix, chosen) == pytest.approx(min(scores),
                                                                                rel=1e-4)
    assert chosen.shape == (SIZE, SIZE) and chosen.dtype == np.float32


def test_in_the_photo_the_seam_leaves_the_hair_edge_when_judged_shrunk():
    from editor.faces.seam_mask import least_visible_mask_in_photo

    photo, crop, edited, matrix = _photo_case()
    chosen = least_visible_mask_in_photo(photo, crop, edited, matrix)   # judged shrunk
    assert _seam_in_photo(photo, crop, edited, matrix, chosen) < 1.2
    assert _seam_in_photo(photo, crop, edited, matrix, default_paste_mask(SIZE)) > 1.5


def test_a_grey_photo_gets_a_mask_too():
    from editor.faces.seam_mask import least_visible_mask_in_photo

    photo, crop, edited, matrix = _photo_case()
    grey = lambda a: np.ascontiguousarray(a.mean(axis=2))            # noqa: E731
    mask = least_visible_mask_in_photo(grey(photo), grey(crop), grey(edited), matrix)
    assert mask.shape == (SIZE, SIZE) and mask.min() >= 0.0 and mask.max() <= 1.0 + 1e-6
