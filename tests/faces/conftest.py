"""Real faces for the face-toolkit tests: skimage's astronaut (Eileen Collins, NASA, public
domain) in the poses and formats a user's photos come in. Detection is slow on CPU, so each
scan runs once per session and the tests share it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.faces import warp

#: The training/benchmark data folder, present on the project's machines only.
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _missing_face_models() -> str | None:
    for name, hint in (("dlib", "pip install dlib-bin"),
                       ("face_recognition_models", "pip install face-recognition-models")):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"{name} is not installed ({hint}): face detection cannot run"
    return None


needs_dlib = pytest.mark.skipif(_missing_face_models() is not None,
                                reason=_missing_face_models() or "")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data
    return data.astronaut()


def rotated(image: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The image turned counter-clockwise on an expanded canvas, and the matrix used."""
    m, (w, h) = warp.rotation_canvas(image.shape, degrees)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR), m


@pytest.fixture(scope="session")
def astronaut_scan(astronaut):
    if _missing_face_models():
        pytest.skip(_missing_face_models())
    from editor.faces import detect_faces
    return detect_faces(astronaut, embeddings=True)


@pytest.fixture(scope="session")
def astronaut_face(astronaut_scan):
    assert len(astronaut_scan.faces) == 1, astronaut_scan
    return astronaut_scan.faces[0]


@pytest.fixture(scope="session")
def rolled_scan(astronaut):
    """scan(degrees) -> (rotated image, rotation matrix, FaceScan), each angle scanned once."""
    if _missing_face_models():
        pytest.skip(_missing_face_models())
    from editor.faces import detect_faces
    cache: dict[float, tuple] = {}

    def scan(degrees: float):
        if degrees not in cache:
            image, m = rotated(astronaut, degrees)
            cache[degrees] = (image, m, detect_faces(image))
        return cache[degrees]

    return scan
