"""Faces, Qt-free: detection with landmarks, roll and identity; region masks from the
landmarks; alignment to a canonical crop and seamless paste-back.

Importing this package is light: dlib loads only when a detection first runs.
"""

from editor.faces.align import (
    CANONICAL_5, align_face, default_paste_mask, face_in_crop, face_matrix, map_points,
    paste_back, seam_ratio,
)
from editor.faces.detect import (
    SAME_PERSON_DISTANCE, FaceScan, default_backend, detect_faces, face_distance, same_person,
)
from editor.faces.regions import REGIONS, faces_mask, region_mask
from editor.faces.types import Face, FaceBackend, FaceModelsMissing

__all__ = [
    "CANONICAL_5", "REGIONS", "SAME_PERSON_DISTANCE", "Face", "FaceBackend", "FaceModelsMissing",
    "FaceScan", "align_face", "default_backend", "default_paste_mask", "detect_faces",
    "face_distance", "face_in_crop", "face_matrix", "faces_mask", "map_points", "paste_back",
    "region_mask", "same_person", "seam_ratio",
]
