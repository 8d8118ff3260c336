"""Soft masks of facial regions (whole face, skin, eyes, brows, lips, mouth) drawn from
the 68 landmarks, for confining an effect to part of a face.

Masks are computed inside the face's own window and pasted into a zero array, so a small
face in a 24 MP photo costs about what the face costs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from editor.faces.types import Face

#: (key, label) in the order a menu shows them.
REGIONS: tuple[tuple[str, str], ...] = (
    ("face", "Whole face"),
    ("skin", "Skin"),
    ("eyes", "Eyes"),
    ("brows", "Eyebrows"),
    ("lips", "Lips"),
    ("mouth", "Mouth (teeth)"),
)
_KEYS = tuple(k for k, _ in REGIONS)

#: Default feather (Gaussian sigma) as a fraction of the face size: about 2 px on a face
#: 100 px wide, enough to hide the polygon's facets. Eyes, brows and lips are only 3-6 %
#: of the face high, so they get half of it, or a smiling upper lip would never reach
#: full strength.
FEATHER_FRACTION = 0.02
FEATURE_FEATHER_FRACTION = 0.01
_FEATURES = ("eyes", "brows", "lips", "mouth")
#: The landmarks stop at the brows; the forehead above them is estimated as this fraction
#: of the brow-to-chin distance (the hairline sits ~1/2 of it above the brows on an average
#: face; a little less keeps hair out of skin edits).
FOREHEAD_FRACTION = 0.4
#: Eyebrow thickness as a fraction of the face size (iBUG brow points run along the top of
#: the brow), tapering from the inner end (first value) to the tail.
BROW_THICKNESS = 0.055
_BROW_TAPER = (1.0, 1.0, 0.9, 0.7, 0.45)
#: Extra clearance around eyes, brows and lips when they are cut out of the skin, as a
#: fraction of the face size, so a skin edit never creeps onto a lash line or lip edge.
SKIN_HOLE_MARGIN = 0.01
#: Polygon coordinates are drawn with this many fractional bits (1/16 px).
_SHIFT = 4


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.hypot(*v)), 1e-9)


def _face_axes(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right on screen, up on screen) unit vectors of the face, from the eye line."""
    across = _unit(lm[42:48].mean(0) - lm[36:42].mean(0))
    return across, np.array([across[1], -across[0]])


def _smooth_closed(pts: np.ndarray, per_segment: int = 4) -> np.ndarray:
    """A closed Catmull-Rom curve through the points, so 6 eye landmarks draw an almond
    rather than a hexagon."""
    n = len(pts)
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(n):
        p0, p1, p2, p3 = pts[i - 1], pts[i], pts[(i + 1) % n], pts[(i + 2) % n]
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    return np.concatenate(out)


def _offset(poly: np.ndarray, distance: float) -> np.ndarray:
    """Move each vertex ``distance`` px outward (negative: inward) along its normal; good
    enough for the mildly concave outlines of facial features and small distances."""
    if distance == 0.0 or len(poly) < 3:
        return poly
    x, y = poly[:, 0], poly[:, 1]
    area = 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
    tangent = np.roll(poly, -1, axis=0) - np.roll(poly, 1, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.maximum(np.hypot(normal[:, 0], normal[:, 1]), 1e-9)[:, None]
    # With y pointing down, this normal points outward for a positive signed area.
    return poly + normal * (distance if area > 0 else -distance)


def face_outline(lm: np.ndarray) -> np.ndarray:
    """Jaw line plus an estimated forehead: a half-ellipse from one jaw end over the brows
    to the other, as high as the brows plus FOREHEAD_FRACTION of the brow-to-chin span."""
    lm = np.asarray(lm, np.float64)
    _, up = _face_axes(lm)
    j0, j16 = lm[0], lm[16]
    centre = 0.5 * (j0 + j16)
    side = j16 - centre
    a = float(np.hypot(*side))
    side_u = _unit(side)
    up_u = np.array([side_u[1], -side_u[0]])
    if float(np.dot(up_u, up)) < 0:
        up_u = -up_u
    brows = lm[17:27]
    brow_mid = brows.mean(0)
    brow_to_chin = float(np.dot(brow_mid - lm[8], up))
    brow_top = float(np.max((brows - centre) @ up_u))
    b = max(brow_top, 0.0) + FOREHEAD_FRACTION * max(brow_to_chin, 0.0)
    theta = np.linspace(0.0, math.pi, 17)[1:-1]
    arc = centre + np.cos(theta)[:, None] * a * side_u + np.sin(theta)[:, None] * b * up_u
    return _smooth_closed(np.concatenate([lm[0:17], arc]), 3)


def _eye_outlines(lm: np.ndarray) -> list[np.ndarray]:
    return [_smooth_closed(lm[36:42]), _smooth_closed(lm[42:48])]


def _brow_outlines(lm: np.ndarray, size: float) -> list[np.ndarray]:
    _, up = _face_axes(lm)
    thick = BROW_THICKNESS * size
    out = []
    # Each brow from its inner end (near the nose) to its tail.
    for idx in (list(range(21, 16, -1)), list(range(22, 27))):
        pts = lm[idx]
        taper = np.asarray(_BROW_TAPER)[:, None]
        top = pts + up * 0.15 * thick * taper
        bottom = pts - up * thick * taper
        out.append(np.concatenate([top, bottom[::-1]]))
    return out


def _outer_lips(lm: np.ndarray) -> np.ndarray:
    return _smooth_closed(lm[48:60])


def _inner_lips(lm: np.ndarray) -> np.ndarray:
    return _smooth_closed(lm[60:68])


class _Canvas:
    """An 8-bit anti-aliased raster of polygons over one window of the image, blurred
    into a float mask."""

    def __init__(self, window: tuple[int, int, int, int]) -> None:
        self.x0, self.y0, x1, y1 = window
        self.pixels = np.zeros((y1 - self.y0, x1 - self.x0), np.uint8)

    def draw(self, polys: Iterable[np.ndarray], value: int = 255) -> "_Canvas":
        for poly in polys:
            pts = np.round((poly - (self.x0, self.y0)) * (1 << _SHIFT)).astype(np.int32)
            cv2.fillPoly(self.pixels, [pts], int(value), lineType=cv2.LINE_AA, shift=_SHIFT)
        return self

    def soft(self, sigma: float) -> np.ndarray:
        m = self.pixels.astype(np.float32) * np.float32(1.0 / 255.0)
        if sigma >= 0.3:
            m = cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
        return m


def _feather(face: Face, region: str, feather: float | None) -> float:
    if feather is not None:
        return max(0.0, float(feather))
    return (FEATURE_FEATHER_FRACTION if region in _FEATURES else FEATHER_FRACTION) * face.size


def _window(polys: Sequence[np.ndarray], shape_hw: tuple[int, int], pad: float):
    pts = np.concatenate(polys)
    h, w = shape_hw[:2]
    x0 = max(0, math.floor(pts[:, 0].min() - pad))
    y0 = max(0, math.floor(pts[:, 1].min() - pad))
    x1 = min(w, math.ceil(pts[:, 0].max() + pad) + 1)
    y1 = min(h, math.ceil(pts[:, 1].max() + pad) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def region_patch(face: Face, shape_hw: tuple[int, int], region: str,
                 feather: float | None = None):
    """The region's mask over its own window: ((x0, y0, x1, y1), float32 patch), or None
    when the region lies outside the image."""
    if region not in _KEYS:
        raise ValueError(f"unknown face region {region!r}; expected one of {_KEYS}")
    lm = np.asarray(face.landmarks, np.float64)
    size = face.size
    sigma = _feather(face, region, feather)
    outline = face_outline(lm)
    # Feathered edges are centred where a user expects them: the face and skin shrink by
    # one sigma so the soft edge lies on the cheek, not on the background behind the jaw;
    # eyes and brows grow by one sigma so the lash line and brow hairs get full strength.
    # Lips and mouth share an edge and keep it where the landmarks put it.
    eyes = [_offset(p, sigma) for p in _eye_outlines(lm)]
    brows = [_offset(p, 0.5 * sigma) for p in _brow_outlines(lm, size)]
    if region in ("face", "skin"):
        polys = [_offset(outline, -sigma)]
    elif region == "eyes":
        polys = eyes
    elif region == "brows":
        polys = brows
    elif region == "lips":
        polys = [_outer_lips(lm)]
    else:
        polys = [_inner_lips(lm)]
    window = _window(polys, shape_hw, 4.0 * sigma + 2.0)
    if window is None:
        return None

    if region == "skin":
        skin = _Canvas(window).draw(polys).soft(sigma)
        margin = sigma + SKIN_HOLE_MARGIN * size
        holes = [_offset(p, margin) for p in eyes + brows + [_outer_lips(lm)]]
        cut = _Canvas(window).draw(holes).soft(sigma)
        patch = skin * (np.float32(1.0) - cut)
    elif region in ("lips", "brows"):
        # Lips = outer minus mouth as soft masks, so lips + mouth never exceed the outer
        # mask: the two can never both pass 0.5 on the same pixel. Brows likewise give way
        # to the eyes, whose landmarks are exact where the brow thickness is a guess.
        rival = [_inner_lips(lm)] if region == "lips" else eyes
        outer = _Canvas(window).draw(polys).soft(sigma)
        inner = _Canvas(window).draw(rival).soft(sigma)
        patch = np.maximum(outer - inner, np.float32(0.0))
    else:
        patch = _Canvas(window).draw(polys).soft(sigma)
    return window, np.clip(patch, 0.0, 1.0, out=patch)


def region_mask(face: Face, shape_hw: tuple[int, int], region: str,
                feather: float | None = None) -> np.ndarray:
    """float32 (H, W) mask in [0, 1] of one region (a key of REGIONS) of one face, with
    edges feathered by a Gaussian of ``feather`` px (default 2 % of the face size for the
    face and skin, 1 % for the small features)."""
    out = np.zeros(tuple(shape_hw[:2]), np.float32)
    got = region_patch(face, shape_hw, region, feather)
    if got is not None:
        (x0, y0, x1, y1), patch = got
        out[y0:y1, x0:x1] = patch
    return out


def faces_mask(faces: Iterable[Face], shape_hw: tuple[int, int], regions: str | Iterable[str],
               feather: float | None = None) -> np.ndarray:
    """The union (pixel maximum) of ``regions`` over all ``faces``."""
    keys = (regions,) if isinstance(regions, str) else tuple(regions)
    out = np.zeros(tuple(shape_hw[:2]), np.float32)
    for face in faces:
        for key in keys:
            got = region_patch(face, shape_hw, key, feather)
            if got is not None:
                (x0, y0, x1, y1), patch = got
                view = out[y0:y1, x0:x1]
                np.maximum(view, patch, out=view)
    return out
