"""Find every face in a photo: boxes, 68 landmarks, roll, and (on request) identity.

The HOG detector only sees roughly upright faces (about ±20° of roll), so besides the
upright pass we scan the photo rotated by ±25° and map what we find back through the exact
inverse rotation. Landmarks always come from the full-resolution pixels, even when the
detector ran on a reduced copy of a big photo.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from editor.faces import warp
from editor.faces.pixels import as_rgb_u8
from editor.faces.landmarks import face_size as _face_size
from editor.faces.landmarks import roll_degrees
from editor.faces.types import Face, FaceBackend

#: Bigger photos are reduced to this many pixels for the detector (HOG time grows with the
#: area; 2 MP with one 2x upsample still finds faces ~40 px wide in the reduced copy).
DETECT_MAX_PIXELS = 2_100_000
#: Photos up to this size get a second 2x upsample on the upright pass: the HOG window is
#: 80 px, so upsampling 4x is what finds 20-40 px faces in small pictures and group shots,
#: and on a 0.5 MP image it costs about what one upsample costs on 2 MP.
SMALL_IMAGE_PIXELS = 550_000
#: The extra passes for rolled faces. HOG tolerates about ±20° itself, so ±25° passes cover
#: faces rolled up to about ±45° with overlap between passes.
ROLL_PASS_DEGREES = (25.0, -25.0)
#: HOG scores above this are faces. On real photos true faces in good light score 0.8-3,
#: while false positives (a lamb, a daisy, a paper lantern, a blurred background) score
#: up to ~0.55; but so do real faces that are small, turned, rolled or wear goggles
#: (0.1-0.5 measured on BSD and skimage images; the astronaut's false positive on her
#: spacesuit scores 0.12 against her face's 1.16). Scores cannot separate the two, so
#: anything weaker goes to the backend's verifier (dlib's CNN on a small crop), which judged
#: 24 of the 25 weak detections of that sample correctly (it missed one sideways face).
SURE_SCORE = 0.7
#: Without a verifier we must cut on the score alone: 0.3 keeps most real weak faces and
#: drops most of the low clutter, knowing that some lambs get through.
MIN_SCORE_UNVERIFIED = 0.3
#: Two detections whose landmark centres are closer than this times the face size are the
#: same face seen by two passes (distinct faces are at least ~0.8 face sizes apart).
SAME_FACE_FRACTION = 0.3
#: The shape predictor reads a little outside the detector box (cheeks, brow ends).
_LANDMARK_WINDOW_MARGIN = 0.25
#: The reported box is the landmarks' extent plus this fraction of its larger side.
_BOX_MARGIN = 0.1
#: The verifier sees the candidate box at this width, centred in a crop twice as big.
_VERIFY_BOX_PX = 90
#: dlib's recognition model aligns from the landmarks and pads the face by 25%; this much
#: context around the landmarks is all it can read.
_EMBEDDING_WINDOW_MARGIN = 0.6

SAME_PERSON_DISTANCE = 0.6


@dataclass
class FaceScan:
    """What a scan found: ``faces`` to work on, and ``too_small`` ones the UI should mention
    ("face too small") rather than silently skip. Both sorted left to right."""

    faces: list[Face] = field(default_factory=list)
    too_small: list[Face] = field(default_factory=list)


@dataclass
class _Candidate:
    landmarks: np.ndarray          # (68, 2) float64, image pixels
    score: float
    frame: np.ndarray              # 2x3: image pixels -> this pass's full-resolution frame
    box: tuple[float, float, float, float]  # detector box in that frame
    upright_roll: float            # the face's roll as seen in that frame

    @property
    def centre(self) -> np.ndarray:
        return self.landmarks.mean(0)

    @property
    def size(self) -> float:
        return _face_size(self.landmarks)


_default_lock = threading.Lock()
_default: FaceBackend | None = None


def default_backend() -> FaceBackend:
    """The process-wide dlib backend, created on first use (dlib is imported only then)."""
    global _default
    with _default_lock:
        if _default is None:
            from editor.faces.dlib_backend import DlibBackend  # noqa: PLC0415 - heavy
            _default = DlibBackend()
        return _default


def _box_from_landmarks(lm: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = lm.min(0)
    x1, y1 = lm.max(0)
    m = _BOX_MARGIN * max(x1 - x0, y1 - y0)
    return float(x0 - m), float(y0 - m), float(x1 + m), float(y1 + m)


def _pass_frames(rgb: np.ndarray, angles: tuple[float, ...]):
    """For each pass: the detector's pixels, the matrix from image pixels to them, the
    matrix from image pixels to the pass's full-resolution frame, and the upsample count.
    The detector pixels are reduced for big photos and rotated for the roll passes (black
    corners: replicated edges would paint streaks HOG can fire on)."""
    h, w = rgb.shape[:2]
    reduce = min(1.0, math.sqrt(DETECT_MAX_PIXELS / float(h * w)))
    if reduce < 1.0:
        hw = (max(1, round(h * reduce)), max(1, round(w * reduce)))
        small = cv2.resize(rgb, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        to_small = warp.resize_matrix((h, w), hw)
    else:
        small, to_small = rgb, warp.scale(1.0)
    small_px = small.shape[0] * small.shape[1]
    for angle in angles:
        if angle == 0.0:
            upsample = 2 if small_px <= SMALL_IMAGE_PIXELS else 1
            yield small, to_small, warp.scale(1.0), upsample
        else:
            rot, (cw, ch) = warp.rotation_canvas(small.shape, angle)
            pixels = cv2.warpAffine(small, rot, (cw, ch), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
            # One upsample only: the canvas is up to 1.8x bigger, and the faces these passes
            # exist for are rolled portraits more than tiny crowds.
            yield pixels, warp.compose(rot, to_small), warp.rotation_canvas((h, w), angle)[0], 1


def _landmarks_in_frame(backend: FaceBackend, rgb: np.ndarray, frame: np.ndarray,
                        box: tuple[float, float, float, float]) -> np.ndarray:
    """Run the shape predictor in a (rotated) frame of the full-resolution image and
    return the landmarks in image pixels. Only a window around the box is resampled."""
    x0, y0, x1, y1 = box
    m = _LANDMARK_WINDOW_MARGIN * max(x1 - x0, y1 - y0)
    wx0, wy0 = math.floor(x0 - m), math.floor(y0 - m)
    wx1, wy1 = math.ceil(x1 + m), math.ceil(y1 + m)
    to_window = warp.compose(warp.translate(-wx0, -wy0), frame)
    window = warp.warp_region(rgb, to_window, (wx1 - wx0, wy1 - wy0),
                              interpolation=cv2.INTER_LINEAR, border=cv2.BORDER_CONSTANT)
    window = np.ascontiguousarray(window)
    lm = backend.landmarks(window, (x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0))
    return warp.map_points(lm, warp.invert(to_window))


def _verified(backend: FaceBackend, rgb: np.ndarray, cand: _Candidate) -> bool:
    verify = getattr(backend, "verify", None)
    if verify is None:
        return cand.score >= MIN_SCORE_UNVERIFIED
    x0, y0, x1, y1 = cand.box
    k = _VERIFY_BOX_PX / max(x1 - x0, y1 - y0, 1e-6)
    c = _VERIFY_BOX_PX  # the box centre lands on the crop centre
    to_crop = warp.compose(warp.translate(c - k * (x0 + x1) / 2.0, c - k * (y0 + y1) / 2.0),
                           warp.compose(warp.scale(k), cand.frame))
    crop = warp.warp_region(rgb, to_crop, (2 * c, 2 * c), interpolation=cv2.INTER_LINEAR,
                            border=cv2.BORDER_CONSTANT)
    half = _VERIFY_BOX_PX / 2.0
    return bool(verify(np.ascontiguousarray(crop), (c - half, c - half, c + half, c + half)))


def _merge(cands: list[_Candidate]) -> list[tuple[_Candidate, float]]:
    """Group detections of the same face across passes. Each group keeps its best score,
    and the landmarks of the pass that saw the face most upright (the shape predictor is
    most accurate there)."""
    groups: list[list[_Candidate]] = []
    for cand in sorted(cands, key=lambda c: -c.score):
        for group in groups:
            other = group[0]
            limit = SAME_FACE_FRACTION * 0.5 * (cand.size + other.size)
            if np.hypot(*(cand.centre - other.centre)) < limit:
                group.append(cand)
                break
        else:
            groups.append([cand])
    return [(min(g, key=lambda c: abs(c.upright_roll)), g[0].score) for g in groups]


def _embedding(backend: FaceBackend, rgb: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """dlib aligns the face itself from the 68 points (a similarity warp to a 150 px chip),
    so a rolled face needs no upright copy; we only cut a window around it."""
    h, w = rgb.shape[:2]
    x0, y0 = lm.min(0)
    x1, y1 = lm.max(0)
    m = _EMBEDDING_WINDOW_MARGIN * max(x1 - x0, y1 - y0)
    wx0, wy0 = max(0, math.floor(x0 - m)), max(0, math.floor(y0 - m))
    wx1, wy1 = min(w, math.ceil(x1 + m)), min(h, math.ceil(y1 + m))
    window = np.ascontiguousarray(rgb[wy0:wy1, wx0:wx1])
    return np.asarray(backend.embedding(window, lm - (wx0, wy0)), np.float32)


def detect_faces(image: np.ndarray, *, min_size: float = 24, embeddings: bool = False,
                 rotations: bool = True, backend: FaceBackend | None = None,
                 progress=None) -> FaceScan:
    """Every face in ``image`` (float [0, 1], uint8 or uint16; grey, RGB or RGBA).

    ``min_size`` is in pixels of ``Face.size`` (about the face's width); smaller faces go
    to ``FaceScan.too_small``. ``rotations`` adds the ±25° passes that find faces rolled up
    to ~±45° (about 3x the time). ``embeddings`` fills ``Face.embedding`` for usable faces.
    ``progress`` (editor.engine.progress.Progress) gets one step per pass and can cancel.
    """
    backend = backend or default_backend()
    rgb = as_rgb_u8(image)
    h, w = rgb.shape[:2]
    angles = (0.0,) + (tuple(ROLL_PASS_DEGREES) if rotations else ())
    steps = len(angles) + 1 + (1 if embeddings else 0)

    def report(step: int, message: str) -> None:
        if progress is not None:
            progress.set_progress(step / steps, message)

    cands: list[_Candidate] = []
    passes = _pass_frames(rgb, angles)
    for i, (angle, (pixels, to_pixels, frame, upsample)) in enumerate(zip(angles, passes)):
        report(i, f"Looking for faces ({i + 1}/{len(angles)})")
        # Detector pixels and the full-resolution frame differ by scale and shift only.
        pixels_to_frame = warp.compose(frame, warp.invert(to_pixels))
        for box, score in backend.detect(pixels, upsample):
            if progress is not None:
                progress.check_cancelled()
            x0, y0, x1, y1 = box
            corners = warp.map_points([(x0, y0), (x1, y0), (x0, y1), (x1, y1)], pixels_to_frame)
            fbox = (*corners.min(0), *corners.max(0))
            lm = _landmarks_in_frame(backend, rgb, frame, fbox)
            cx, cy = lm.mean(0)
            if not (0 <= cx < w and 0 <= cy < h):
                continue  # found in a rotated canvas corner, outside the photo
            cands.append(_Candidate(lm, float(score), frame, fbox, roll_degrees(lm) + angle))

    report(len(angles), "Checking faces")
    scan = FaceScan()
    for best, score in _merge(cands):
        if progress is not None:
            progress.check_cancelled()
        if score < SURE_SCORE and not _verified(backend, rgb, best):
            continue
        lm = best.landmarks.astype(np.float32)
        face = Face(box=_box_from_landmarks(best.landmarks), landmarks=lm, score=score,
                    roll=roll_degrees(best.landmarks))
        (scan.faces if face.size >= min_size else scan.too_small).append(face)

    if embeddings and scan.faces:
        report(len(angles) + 1, "Recognising faces")
        with_ids = []
        for face in scan.faces:
            if progress is not None:
                progress.check_cancelled()
            vec = _embedding(backend, rgb, face.landmarks.astype(np.float64))
            with_ids.append(Face(face.box, face.landmarks, face.score, face.roll, vec))
        scan.faces = with_ids

    scan.faces.sort(key=lambda f: f.centre[0])
    scan.too_small.sort(key=lambda f: f.centre[0])
    report(steps, "Faces found")
    return scan


def _vector(x) -> np.ndarray:
    vec = getattr(x, "embedding", x)
    if vec is None:
        raise ValueError("this face has no embedding: detect with embeddings=True")
    return np.asarray(vec, np.float64).ravel()


def face_distance(a, b) -> float:
    """Euclidean distance between two identity embeddings (Faces or (128,) vectors)."""
    return float(np.linalg.norm(_vector(a) - _vector(b)))


def same_person(a, b) -> bool:
    """dlib's model was trained so that one person's faces lie within 0.6 of each other
    (99.4% accuracy on LFW at this threshold)."""
    return face_distance(a, b) < SAME_PERSON_DISTANCE
