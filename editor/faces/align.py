"""Cut a face out upright into the canonical crop a face network was trained on, and put
the network's edit back into the photo without a visible margin.

The canonical "face frame" is the unit square in which UTKFace's aligned 200x200 crops put
the face (the Makeup-Go network trains on those crops). A crop of ``size`` px covers the
face frame's [-padding, 1 + padding]^2.
"""

from __future__ import annotations

import cv2
import numpy as np

from editor.faces import warp
from editor.faces.landmarks import five_points, roll_degrees
from editor.faces.pixels import as_float, luminance
from editor.faces.types import Face

#: Five anchor points in the face frame, measured as medians over UTKFace's aligned crops
#: and made mirror-symmetric about x = 0.49 (a face's two sides are equally likely to be
#: the wider one): right eye centre (mean of landmarks 36-41), left eye centre (42-47),
#: nose tip (30), right mouth corner (48), left mouth corner (54).
CANONICAL_5 = np.array([
    [0.49 - 0.19795, 0.30125],
    [0.49 + 0.19795, 0.30125],
    [0.49, 0.51],
    [0.49 - 0.1825, 0.6875],
    [0.49 + 0.1825, 0.6875],
])
DEFAULT_PADDING = 0.25
#: The default paste mask is an ellipse with these semi-axes (fractions of the crop side)
#: feathered by a Gaussian of PASTE_FEATHER x the crop side. With the default padding it
#: holds the whole face at full weight and is ~0 two percent of the crop short of its
#: edge, so the crop's border (replicated pixels, network edge effects) never shows.
PASTE_ELLIPSE = (0.35, 0.38)
PASTE_FEATHER = 0.03
#: The colour fit uses the transition ring of the paste mask, where the photo and the
#: edit meet: it must agree with the photo there.
_RING = (0.05, 0.6)
#: Pull the fitted gain towards 1 a little, so a flat ring (a plain background) cannot
#: produce a wild gain.
_GAIN_RIDGE = 1e-3


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation taking src onto dst (Umeyama
    1991, with the reflection case excluded: a mirrored face is not the same face)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sv, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rot = u @ np.diag(sign) @ vt
    var_s = (s ** 2).sum() / len(src)
    k = float((sv * sign).sum() / var_s)
    t = mu_d - k * rot @ mu_s
    return np.hstack([k * rot, t[:, None]])


def frame_to_crop(size: int, padding: float = DEFAULT_PADDING) -> np.ndarray:
    """Face frame coordinates -> crop pixel indices (the frame's [-padding, 1 + padding]
    spans the crop's outer pixel edges)."""
    k = size / (1.0 + 2.0 * padding)
    return np.array([[k, 0.0, k * padding - 0.5], [0.0, k, k * padding - 0.5]])


def face_matrix(face: Face, size: int, padding: float = DEFAULT_PADDING) -> np.ndarray:
    """2x3 float64 matrix: image pixels -> pixels of the ``size`` px canonical crop."""
    target = warp.map_points(CANONICAL_5, frame_to_crop(size, padding))
    return similarity_fit(five_points(face.landmarks), target)


def map_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 2) points through a 2x3 matrix (use cv2.invertAffineTransform to go back)."""
    return warp.map_points(points, matrix)


def face_in_crop(face: Face, matrix: np.ndarray) -> Face:
    """The same face in crop coordinates, e.g. to draw region masks on the crop."""
    lm = warp.map_points(face.landmarks, matrix)
    x0, y0, x1, y1 = face.box
    corners = warp.map_points([(x0, y0), (x1, y0), (x0, y1), (x1, y1)], matrix)
    box = (*corners.min(0), *corners.max(0))
    return Face(tuple(float(v) for v in box), lm.astype(np.float32), face.score,
                roll_degrees(lm), face.embedding)


def align_face(image: np.ndarray, face: Face, size: int = 256,
               padding: float = DEFAULT_PADDING) -> tuple[np.ndarray, np.ndarray]:
    """The upright canonical crop (float32, the image's channels) and its matrix.

    Bicubic, after an area pre-shrink when the face is more than twice the crop's scale
    (a 2000 px face sampled straight into 256 px would alias); edges replicate, so a face
    at the photo's border gets no black wedge for the network to react to.
    """
    matrix = face_matrix(face, size, padding)
    crop = warp.warp_region(as_float(image), matrix, (size, size),
                            interpolation=cv2.INTER_CUBIC, border=cv2.BORDER_REPLICATE)
    return np.clip(crop, 0.0, 1.0, out=crop), matrix


def default_paste_mask(size: int, feather: float | None = None) -> np.ndarray:
    """float32 (size, size) feathered ellipse over the face in a default-padding crop;
    ``feather`` is the Gaussian sigma in crop pixels."""
    sigma = PASTE_FEATHER * size if feather is None else float(feather)
    shift = 4
    one = 1 << shift
    centre = (round((size - 1) / 2.0 * one), round((size - 1) / 2.0 * one))
    axes = (round(PASTE_ELLIPSE[0] * size * one), round(PASTE_ELLIPSE[1] * size * one))
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1, cv2.LINE_AA, shift)
    out = mask.astype(np.float32) * np.float32(1.0 / 255.0)
    if sigma >= 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    return out


def colour_gains(original: np.ndarray, edited: np.ndarray, mask: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """Per channel (gain, offset), float32 arrays, fitted in the mask's transition ring so
    that ``gain * edited + offset`` meets the photo there without a colour step (the
    pasted-square look); None when there is nothing to fit or nothing changed."""
    ring = (mask > _RING[0]) & (mask < _RING[1])
    if ring.sum() < 16 or np.array_equal(original, edited):
        return None  # keeps the round trip of an unchanged crop exact
    o = original[ring].astype(np.float64)
    e = edited[ring].astype(np.float64)
    n = len(e)
    gains, offsets = [], []
    for c in range(edited.shape[2]):
        ec, oc = e[:, c], o[:, c]
        ridge = _GAIN_RIDGE * n
        a = np.array([[ec @ ec + ridge, ec.sum()], [ec.sum(), n]])
        b = np.array([ec @ oc + ridge, oc.sum()])
        gain, offset = np.linalg.solve(a, b)
        if abs(gain - 1.0) < 1e-6 and abs(offset) < 1e-6:
            gain, offset = 1.0, 0.0
        gains.append(gain)
        offsets.append(offset)
    return np.float32(gains), np.float32(offsets)


def _colour_matched(original: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``edited`` under :func:`colour_gains` (itself when there are none)."""
    fit = colour_gains(original, edited, mask)
    if fit is None:
        return edited
    out = np.empty_like(edited)
    for c, (gain, offset) in enumerate(zip(*fit)):
        if gain == 1.0 and offset == 0.0:
            out[..., c] = edited[..., c]
        else:
            out[..., c] = edited[..., c] * gain + offset
    return out


def _channels(a: np.ndarray) -> np.ndarray:
    return a[..., None] if a.ndim == 2 else a


def paste_back(image: np.ndarray, original_crop: np.ndarray, edited_crop: np.ndarray,
               matrix: np.ndarray, mask_crop: np.ndarray | None = None,
               feather: float | None = None, colour_match: bool = True,
               out: np.ndarray | None = None) -> np.ndarray:
    """The photo with the crop's edit put back: float32, a new array unless ``out`` (a
    float32 array shaped like ``image``, possibly ``image`` itself) is given to write into,
    which spares a 24 MP photo a full copy.

    Only the change (edited - original) is warped back, through the exact inverse of
    ``matrix``, and added under a feathered mask; an unchanged crop leaves every pixel
    exactly as it was, and untouched pixels are never resampled. ``mask_crop`` (crop
    coordinates, default: ``default_paste_mask``) says where the edit applies; ``feather``
    blurs it (sigma, crop px). ``colour_match`` refits the edit's colours to the photo's
    in the mask's transition ring: it removes a global colour or brightness shift of the
    edit (what face networks drift by), so leave it off for deliberate tone edits.
    """
    if out is None:
        out = np.array(as_float(image), np.float32, copy=True)
    elif out.dtype != np.float32 or out.shape != np.shape(image):
        raise ValueError(f"out must be float32 {np.shape(image)}, got {out.dtype} {out.shape}")
    elif out is not image:
        out[...] = as_float(image)
    orig = _channels(as_float(original_crop))
    edit = _channels(as_float(edited_crop))
    if orig.shape != edit.shape:
        raise ValueError(f"original crop {orig.shape} and edited crop {edit.shape} differ")
    ch, cw = orig.shape[:2]
    if mask_crop is None:
        mask = default_paste_mask(cw, feather) if ch == cw else _ellipse_any(ch, cw, feather)
    else:
        mask = np.asarray(mask_crop, np.float32)
        if feather:
            mask = cv2.GaussianBlur(mask, (0, 0), float(feather), borderType=cv2.BORDER_CONSTANT)
    if colour_match:
        edit = _colour_matched(orig, edit, mask)
    delta = edit - orig

    matrix = warp.as_matrix(matrix)
    x0, y0, x1, y1 = warp.source_window(matrix, (cw, ch), out.shape, pad=3)
    to_window = warp.compose(warp.translate(-x0, -y0), warp.invert(matrix))
    size = (x1 - x0, y1 - y0)
    d = warp.warp_region(delta, to_window, size, interpolation=cv2.INTER_CUBIC,
                         border=cv2.BORDER_CONSTANT)
    m = warp.warp_region(mask, to_window, size, interpolation=cv2.INTER_LINEAR,
                         border=cv2.BORDER_CONSTANT)
    view = _channels(out)[y0:y1, x0:x1]
    d = _channels(d)
    if d.shape[2] != view.shape[2]:
        raise ValueError(f"crop has {d.shape[2]} channels, image has {view.shape[2]}")
    view += np.clip(m, 0.0, 1.0)[..., None] * d
    np.clip(view, 0.0, 1.0, out=view)
    return out


def _ellipse_any(h: int, w: int, feather: float | None) -> np.ndarray:
    side = max(h, w)
    square = default_paste_mask(side, feather)
    return cv2.resize(square, (w, h), interpolation=cv2.INTER_AREA)


#: How far inside the seam the reference band of seam_ratio lies, in px.
SEAM_INSET = 6


def _gradient_energy(image: np.ndarray) -> np.ndarray:
    """Squared Sobel gradient of the luminance plus that of two colour differences: a
    step in hue at the same brightness (a magenta cast on a pasted face) is a seam too,
    and luminance alone cannot see it."""
    rgb = as_float(image)
    if rgb.ndim == 2 or rgb.shape[2] < 3:
        planes = [luminance(rgb)]
    else:
        luma = luminance(rgb)
        planes = [luma, rgb[..., 0] - luma, rgb[..., 2] - luma]
    energy = np.zeros(rgb.shape[:2], np.float32)
    for p in planes:
        gx = cv2.Sobel(p, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(p, cv2.CV_32F, 0, 1, ksize=3)
        energy += gx * gx + gy * gy
    return energy


def seam_ratio(image: np.ndarray, mask: np.ndarray, inset: int = SEAM_INSET) -> float:
    """How much a paste's edge stands out: the mean squared gradient (luminance and
    colour) on a 2 px band where ``mask`` crosses 0.5, over the same on a band ``inset``
    px inside it (default SEAM_INSET). Around 1 means the edge looks like the neighbouring
    content; a visible seam (a brightness or colour step along the margin) makes it
    several times larger. Target: <= 1.2."""
    inset = max(1, int(round(inset)))
    mask = np.asarray(mask, np.float32)
    inside = mask >= 0.5
    ys, xs = np.nonzero(inside)
    if len(ys) == 0:
        raise ValueError("the mask never reaches 0.5")
    pad = inset + 4
    h, w = mask.shape
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    energy = _gradient_energy(np.asarray(image)[y0:y1, x0:x1])
    inside = inside[y0:y1, x0:x1].astype(np.uint8)
    k3 = np.ones((3, 3), np.uint8)

    def band(region: np.ndarray) -> np.ndarray:
        return (cv2.dilate(region, k3) > 0) & ~(cv2.erode(region, k3) > 0)

    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * inset + 1, 2 * inset + 1))
    edge = band(inside)
    inner = band(cv2.erode(inside, disk))
    if not inner.any():
        raise ValueError("the mask is too small for a band inside its edge")
    return float(energy[edge].mean() / max(float(energy[inner].mean()), 1e-12))
