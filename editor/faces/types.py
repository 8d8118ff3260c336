"""What the face toolkit hands to tools: one ``Face`` per detected face, and the small
interface a detection backend must offer (dlib today; another backend can replace it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Face:
    """One face in image pixel coordinates.

    ``landmarks`` is float32 (68, 2) as (x, y) in the iBUG-300W 68-point order
    (0-16 jaw, 17-21 right brow, 22-26 left brow, 27-35 nose, 36-41 right eye,
    42-47 left eye, 48-59 outer lips, 60-67 inner lips; "right" = the person's right).
    ``roll`` is the in-plane angle in degrees (positive = counter-clockwise on screen)
    measured from the eye line. ``embedding`` is the 128-D identity vector, when asked for.
    """

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    landmarks: np.ndarray
    score: float
    roll: float = 0.0
    embedding: np.ndarray | None = field(default=None, compare=False)

    @property
    def size(self) -> float:
        """Face size in pixels: the distance between the eye centres times 2.5 (roughly
        the width of the face), robust to the detector's box conventions."""
        le = self.landmarks[36:42].mean(0)
        re = self.landmarks[42:48].mean(0)
        return float(np.hypot(*(re - le)) * 2.5)

    @property
    def centre(self) -> tuple[float, float]:
        c = self.landmarks.mean(0)
        return float(c[0]), float(c[1])


class FaceBackend(Protocol):
    """The three things a backend does, on uint8 RGB (H, W, 3) C-contiguous arrays.

    A backend may also offer ``verify(rgb, box) -> bool``: a slower, surer check of a weak
    detection on a small crop (the box about 90 px wide). Without it, detection falls back
    on the detector's score alone."""

    name: str

    def detect(self, rgb: np.ndarray, upsample: int) -> list[tuple[tuple[float, float, float, float], float]]:
        """Upright face boxes (x0, y0, x1, y1) with a confidence score."""
        ...

    def landmarks(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """(68, 2) float32 landmarks for the face in ``box``."""
        ...

    def embedding(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(128,) float32 identity vector; Euclidean distance < 0.6 means the same person."""
        ...


class FaceModelsMissing(RuntimeError):
    """The face models are not installed; the message says which package to install."""
