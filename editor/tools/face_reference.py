"""The reference photo of Face enhance: read it, find its one face, check it is good
enough to say who someone is, and return dlib's 128-D identity vector of it.

Every problem is a :class:`ReferenceProblem` (a ValueError) with a message a retoucher can
act on: no face, several faces (how many, and how to pick one), a face too small, a face
too blurred. Results are kept per (file, size, modification time, chosen face), so moving
a slider does not read and detect the reference again.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np

#: A reference face must be at least this wide (Face.size, px): below it dlib's vector
#: says more about the blur than about the person.
MIN_REFERENCE_FACE_PX = 40
#: Variance of the Laplacian (8-bit units) of the aligned 128 px grey face below which the
#: reference is too blurred to identify anyone (sharp UTKFace faces measure ~100-1000; an
#: x8 down-and-up-scaled one ~5).
MIN_SHARPNESS = 12.0


class ReferenceProblem(ValueError):
    """The reference photo cannot be used; the message says why and what to do."""


def sharpness(rgb: np.ndarray, face) -> float:
    """Variance of the Laplacian of the face's aligned 128 px grey crop (8-bit units)."""
    from editor.faces import align_face

    crop, _ = align_face(rgb, face, size=128, padding=0.0)
    grey = cv2.cvtColor(np.clip(crop[..., :3], 0, 1).astype(np.float32),
                        cv2.COLOR_RGB2GRAY) * 255.0
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def choose_face(faces: list, index: int, name: str):
    """The face to use: the only one (``index`` 0) or the ``index``-th from the left."""
    if not faces:
        raise ReferenceProblem(f"the reference photo {name} has no face that can be found")
    if index == 0:
        if len(faces) > 1:
            raise ReferenceProblem(
                f"the reference photo {name} has {len(faces)} faces: which one is the "
                f"person? Choose it with the reference face number (1-{len(faces)}, left "
                "to right), or crop the photo to that person")
        return faces[0]
    if index > len(faces):
        raise ReferenceProblem(f"the reference photo {name} has {len(faces)} face"
                               f"{'s' if len(faces) > 1 else ''}, not {index}")
    return faces[index - 1]


def embedding_of(rgb: np.ndarray, index: int = 0, name: str = "") -> np.ndarray:
    """dlib's vector of the chosen face of an RGB image (float [0, 1] or uint8)."""
    from editor.faces import FaceModelsMissing, detect_faces

    try:
        scan = detect_faces(rgb, min_size=0, embeddings=True)
    except FaceModelsMissing as e:
        raise ReferenceProblem(str(e)) from None
    face = choose_face(scan.faces, index, name)
    if face.size < MIN_REFERENCE_FACE_PX:
        raise ReferenceProblem(
            f"the face in the reference photo {name} is only {face.size:.0f} px across; a "
            f"reference needs at least {MIN_REFERENCE_FACE_PX} px to say who someone is")
    sharp = sharpness(rgb, face)
    if sharp < MIN_SHARPNESS:
        raise ReferenceProblem(
            f"the reference photo {name} is too blurred to identify the person (sharpness "
            f"{sharp:.1f}, at least {MIN_SHARPNESS:g} needed): use a sharper photo")
    return np.asarray(face.embedding, np.float32)


_lock = threading.Lock()
_kept: dict[tuple, np.ndarray] = {}


def reference_embedding(path: str | os.PathLike, index: int = 0) -> np.ndarray:
    """dlib's vector of the reference photo at ``path`` (its face number ``index``, 0 =
    the only one); cached per file version."""
    from editor.core import imageio

    p = Path(path).expanduser()
    try:
        stat = p.stat()
    except OSError:
        raise ReferenceProblem(f"the reference photo {p} does not exist") from None
    key = (str(p.resolve()), stat.st_size, stat.st_mtime_ns, int(index))
    with _lock:
        if key in _kept:
            return _kept[key].copy()
    try:
        image, _ = imageio.load_image(p)
    except imageio.ImageIOError as e:
        raise ReferenceProblem(f"reference photo: {e}") from None
    vector = embedding_of(image, index, p.name)
    with _lock:
        _kept.clear()  # one reference at a time is all a session uses
        _kept[key] = vector
    return vector.copy()
