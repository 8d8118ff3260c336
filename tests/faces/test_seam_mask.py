"""The least-visible paste mask: its edge leaves strong photo edges alone, it always keeps
the face, it closes smoothly, and it stays off the crop's border."""

from __future__ import annotations

import numpy as np

from editor.faces.align import PASTE_ELLIPSE, default_paste_mask, seam_ratio
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
    assert mask[core <= (INNER - 0.12) ** 2].min() > 0.98
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
