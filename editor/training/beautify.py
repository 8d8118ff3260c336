"""Seeded digital beautification of a face, the forward edit Makeup-Go learns to undo.

:func:`beautify` takes a float32 RGB face in [0, 1] and its 68 landmarks (iBUG-300W order,
(x, y) pixels) and applies a random combination of the edits a beauty app or a retoucher
makes, each with a random strength:

- **skin smoothing**: an edge-preserving filter (bilateral, or a guided filter guided by
  the luminance) blended in over a feathered skin mask (face hull with eyes, brows and
  mouth cut out);
- **whitening / brightening**: a lift of the skin's tone curve, a little desaturation and
  a cool or warm cast, over the feathered face mask;
- **blush** on the cheeks (soft ellipses below the eyes) and a **lip tint** (the ring
  between the outer and inner lip contours), each a random rose/red/coral/berry colour
  mixed in with a random opacity;
- **eye enlargement**: a smooth local magnification around each eye centre;
- **face slimming**: the lower cheeks and jaw pushed a little towards the face's axis.

The warps are backward maps for ``cv2.remap`` built from smooth, compactly supported
displacement fields (``(1 - (r/R)^2)^2`` falloff), so they are local, continuous and move
nothing outside their radius; displacements stay a few per cent of the face width. Every
mask is built here from the landmarks with ``cv2.fillPoly`` / ``cv2.ellipse`` and feathered
with a Gaussian, so nothing changes far from the face.

All randomness comes from the ``numpy.random.Generator`` passed in: the same seed gives the
same output, bit for bit. The returned recipe says which edits were made and how strongly.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

JAW = slice(0, 17)
BROWS = slice(17, 27)
RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)

#: Probability of each edit being part of one beautification (at least one always is).
P_EDIT = {"smooth": 0.8, "whiten": 0.7, "blush": 0.45, "lips": 0.5, "eyes": 0.4,
          "slim": 0.4}

BLUSH_COLOURS = np.array([[0.93, 0.45, 0.52], [0.95, 0.55, 0.55], [0.90, 0.40, 0.45],
                          [0.96, 0.60, 0.50]], np.float32)
LIP_COLOURS = np.array([[0.75, 0.12, 0.20], [0.85, 0.30, 0.40], [0.90, 0.40, 0.35],
                        [0.55, 0.10, 0.25], [0.80, 0.35, 0.45]], np.float32)


# -- geometry of the face ------------------------------------------------------------------

def face_scale(landmarks: np.ndarray) -> float:
    """Face width in px (outer jaw points 0 and 16)."""
    return float(np.hypot(*(landmarks[16] - landmarks[0])))


def forehead_points(landmarks: np.ndarray) -> np.ndarray:
    """The brows lifted along the face's up direction by a third of the nose-to-chin
    length: a forehead line the 68 points do not have."""
    up = landmarks[27] - landmarks[8]
    length = float(np.hypot(*up)) + 1e-6
    return landmarks[BROWS] + up / length * (0.45 * length)


def _poly(mask: np.ndarray, points: np.ndarray, value: float = 1.0) -> None:
    cv2.fillPoly(mask, [np.round(points).astype(np.int32).reshape(-1, 1, 2)], value)


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return mask
    return cv2.GaussianBlur(mask, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)


def face_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """1 inside the jaw line closed by the forehead line (hard edge, float32)."""
    mask = np.zeros(shape, np.float32)
    _poly(mask, np.concatenate([landmarks[JAW], forehead_points(landmarks)[::-1]]))
    return mask


def skin_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """The face without eyes, brows and mouth (hard edge, float32)."""
    mask = face_mask(shape, landmarks)
    scale = face_scale(landmarks)
    holes = np.zeros(shape, np.float32)
    for part in (RIGHT_EYE, LEFT_EYE, OUTER_LIPS):
        _poly(holes, landmarks[part])
    for brow in (slice(17, 22), slice(22, 27)):
        points = landmarks[brow]
        cv2.polylines(holes, [np.round(points).astype(np.int32).reshape(-1, 1, 2)], False,
                      1.0, max(1, int(round(scale * 0.04))))
    size = max(3, int(round(scale * 0.06)) | 1)
    holes = cv2.dilate(holes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return mask * (1.0 - holes)


def lip_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    _poly(mask, landmarks[OUTER_LIPS])
    _poly(mask, landmarks[INNER_LIPS], 0.0)
    return mask


def cheek_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """Two ellipses between the lower eyelid, the mouth corner and the jaw."""
    mask = np.zeros(shape, np.float32)
    scale = face_scale(landmarks)
    for eye, corner, jaw in ((RIGHT_EYE, 48, 3), (LEFT_EYE, 54, 13)):
        eye_c = landmarks[eye].mean(0)
        centre = 0.45 * eye_c + 0.25 * landmarks[corner] + 0.30 * landmarks[jaw]
        axes = (max(1, int(round(scale * 0.13))), max(1, int(round(scale * 0.09))))
        cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))), axes, 0, 0, 360,
                    1.0, -1)
    return mask


# -- edits ---------------------------------------------------------------------------------

def guided_filter(image: np.ndarray, guide: np.ndarray, radius: int, eps: float
                  ) -> np.ndarray:
    """He et al.'s guided filter, a grey guide, each channel of ``image`` filtered."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)

    mean_g = box(guide)
    var_g = box(guide * guide) - mean_g * mean_g
    out = np.empty_like(image)
    for c in range(image.shape[2]):
        p = np.ascontiguousarray(image[:, :, c])
        mean_p = box(p)
        a = (box(guide * p) - mean_g * mean_p) / (var_g + eps)
        b = mean_p - a * mean_g
        out[:, :, c] = box(a) * guide + box(b)
    return out


def _luma(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image @ np.array([0.299, 0.587, 0.114], np.float32))


def smooth_skin(image, landmarks, rng, recipe):
    scale = face_scale(landmarks)
    amount = float(rng.uniform(0.5, 1.0))
    if rng.random() < 0.5:
        sigma_space = float(rng.uniform(0.02, 0.05) * scale)
        sigma_colour = float(rng.uniform(0.05, 0.15))
        smooth = cv2.bilateralFilter(image, 0, sigma_colour, sigma_space)
        recipe["smooth"] = {"filter": "bilateral", "sigma_space_px": round(sigma_space, 3),
                            "sigma_colour": round(sigma_colour, 4), "amount": round(amount, 3)}
    else:
        radius = max(1, int(round(rng.uniform(0.02, 0.05) * scale)))
        eps = float(rng.uniform(0.0005, 0.005))
        smooth = guided_filter(image, _luma(image), radius, eps)
        recipe["smooth"] = {"filter": "guided", "radius_px": radius, "eps": round(eps, 5),
                            "amount": round(amount, 3)}
    mask = _feather(skin_mask(image.shape[:2], landmarks), 0.02 * scale)[:, :, None]
    return image + amount * mask * (smooth - image)


def whiten(image, landmarks, rng, recipe):
    scale = face_scale(landmarks)
    lift = float(rng.uniform(0.05, 0.25))          # tone-curve lift (gamma 1 / (1 + lift))
    desaturate = float(rng.uniform(0.0, 0.3))
    cast = rng.normal(0.0, 0.015, 3).astype(np.float32)
    brightened = np.power(np.clip(image, 0.0, 1.0), 1.0 / (1.0 + lift))
    grey = _luma(brightened)[:, :, None]
    brightened = brightened + desaturate * (grey - brightened) + cast
    mask = _feather(face_mask(image.shape[:2], landmarks), 0.05 * scale)[:, :, None]
    recipe["whiten"] = {"lift": round(lift, 3), "desaturate": round(desaturate, 3),
                        "cast_rgb": [round(float(c), 4) for c in cast]}
    return image + mask * (brightened - image)


def _tint(image, mask, colour, opacity):
    """Colour applied like a translucent cosmetic: multiply, mixed in by opacity."""
    tinted = image * colour[None, None, :] * 1.15
    return image + opacity * mask[:, :, None] * (tinted - image)


def blush(image, landmarks, rng, recipe):
    scale = face_scale(landmarks)
    index = int(rng.integers(len(BLUSH_COLOURS)))
    opacity = float(rng.uniform(0.15, 0.45))
    mask = _feather(cheek_mask(image.shape[:2], landmarks), 0.06 * scale)
    recipe["blush"] = {"colour": index, "opacity": round(opacity, 3)}
    return _tint(image, mask / max(float(mask.max()), 1e-6), BLUSH_COLOURS[index], opacity)


def tint_lips(image, landmarks, rng, recipe):
    scale = face_scale(landmarks)
    index = int(rng.integers(len(LIP_COLOURS)))
    opacity = float(rng.uniform(0.2, 0.6))
    mask = _feather(lip_mask(image.shape[:2], landmarks), 0.008 * scale + 0.5)
    recipe["lips"] = {"colour": index, "opacity": round(opacity, 3)}
    return _tint(image, mask, LIP_COLOURS[index], opacity)


def _falloff(r2: np.ndarray, radius: float) -> np.ndarray:
    """(1 - (r/R)^2)^2 inside R, 0 outside: smooth (C1) and compactly supported."""
    t = np.clip(1.0 - r2 / (radius * radius), 0.0, 1.0)
    return t * t


def enlarge_eyes_map(landmarks, shape, rng, recipe, grid):
    scale = face_scale(landmarks)
    amount = float(rng.uniform(0.06, 0.18))
    xs, ys = grid
    dx = np.zeros(shape, np.float32)
    dy = np.zeros(shape, np.float32)
    for eye in (RIGHT_EYE, LEFT_EYE):
        points = landmarks[eye]
        centre = points.mean(0)
        radius = float(np.hypot(*(points[3] - points[0]))) * float(rng.uniform(1.1, 1.5))
        radius = max(radius, 0.08 * scale)
        ox, oy = xs - centre[0], ys - centre[1]
        w = amount * _falloff(ox * ox + oy * oy, radius)
        # Sample nearer the centre: a magnification of up to 1 / (1 - amount).
        dx -= w * ox
        dy -= w * oy
    recipe["eyes"] = {"amount": round(amount, 3)}
    return dx, dy


def slim_face_map(landmarks, shape, rng, recipe, grid):
    scale = face_scale(landmarks)
    amount = float(rng.uniform(0.015, 0.04)) * scale   # px the jaw moves in
    radius = 0.22 * scale
    xs, ys = grid
    axis_top, axis_bottom = landmarks[27], landmarks[8]
    dx = np.zeros(shape, np.float32)
    dy = np.zeros(shape, np.float32)
    for index in (3, 4, 5, 11, 12, 13):
        point = landmarks[index]
        # Towards the nose-chin axis, perpendicular to it.
        axis = axis_bottom - axis_top
        axis = axis / (np.hypot(*axis) + 1e-6)
        offset = point - axis_top
        foot = axis_top + axis * float(offset @ axis)
        inward = foot - point
        inward = inward / (np.hypot(*inward) + 1e-6)
        ox, oy = xs - point[0], ys - point[1]
        w = _falloff(ox * ox + oy * oy, radius) * (amount / 3.0)
        # Backward map: the output at p shows the input at p - displacement.
        dx -= w * inward[0]
        dy -= w * inward[1]
    recipe["slim"] = {"amount_px": round(amount, 3)}
    return dx, dy


def beautify(image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator,
             edits: tuple[str, ...] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Beautify one face: float32 RGB (H, W, 3) in [0, 1] and (68, 2) landmarks (x, y) ->
    (edited float32 RGB in [0, 1], recipe). ``edits`` forces the set of edits (for tests);
    otherwise each is drawn with :data:`P_EDIT`, at least one."""
    image = np.ascontiguousarray(image, np.float32)
    landmarks = np.asarray(landmarks, np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    if landmarks.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got shape {landmarks.shape}")
    if edits is None:
        draws = {name: rng.random() < p for name, p in P_EDIT.items()}
        if not any(draws.values()):
            names = list(P_EDIT)
            draws[names[int(rng.integers(len(names)))]] = True
        edits = tuple(name for name, on in draws.items() if on)
    unknown = set(edits) - set(P_EDIT)
    if unknown:
        raise ValueError(f"unknown edits {sorted(unknown)} (known: {', '.join(P_EDIT)})")
    recipe: dict[str, Any] = {}
    out = image
    for name, edit in (("smooth", smooth_skin), ("whiten", whiten), ("blush", blush),
                       ("lips", tint_lips)):
        if name in edits:
            out = edit(out, landmarks, rng, recipe)
    warps = [name for name in ("eyes", "slim") if name in edits]
    if warps:
        h, w = image.shape[:2]
        grid = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        dx = np.zeros((h, w), np.float32)
        dy = np.zeros((h, w), np.float32)
        for name in warps:
            fn = enlarge_eyes_map if name == "eyes" else slim_face_map
            ddx, ddy = fn(landmarks, (h, w), rng, recipe, grid)
            dx += ddx
            dy += ddy
        out = cv2.remap(np.ascontiguousarray(out, np.float32), grid[0] + dx, grid[1] + dy,
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    recipe["edits"] = list(edits)
    return np.clip(out, 0.0, 1.0).astype(np.float32), recipe
