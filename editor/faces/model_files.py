"""Find dlib's model files shipped inside the ``face_recognition_models`` package.

That package's ``__init__`` imports ``pkg_resources`` (gone from new setuptools), so we
never import it: ``find_spec`` gives its folder without running any of its code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from editor.faces.types import FaceModelsMissing

PACKAGE = "face_recognition_models"
FILES = {
    "landmarks68": "shape_predictor_68_face_landmarks.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn_detector": "mmod_human_face_detector.dat",
}


def models_dir() -> Path:
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelsMissing(
            f"face models not installed: pip install {PACKAGE.replace('_', '-')} dlib-bin")
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "models"
        if d.is_dir():
            return d
    raise FaceModelsMissing(f"{PACKAGE} is installed but has no models/ folder")


def model_path(key: str) -> Path:
    p = models_dir() / FILES[key]
    if not p.is_file():
        raise FaceModelsMissing(f"face model file missing: {p}")
    return p
