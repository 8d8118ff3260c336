"""Named parts of the iBUG 68-point landmark layout, and measurements read from it.

"Right" and "left" are the person's: their right eye is on the left of the screen.
"""

from __future__ import annotations

import math

import numpy as np

JAW = slice(0, 17)
RIGHT_BROW = slice(17, 22)
LEFT_BROW = slice(22, 27)
NOSE_TIP = 30
RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)
MOUTH_RIGHT, MOUTH_LEFT = 48, 54
CHIN = 8


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(person's right eye, person's left eye): on screen, left then right."""
    lm = np.asarray(landmarks, np.float64)
    return lm[RIGHT_EYE].mean(0), lm[LEFT_EYE].mean(0)


def roll_degrees(landmarks: np.ndarray) -> float:
    """The eye line's angle, positive when the face is turned counter-clockwise on screen
    (image y points down, hence the minus)."""
    right, left = eye_centres(landmarks)
    dx, dy = left - right
    return math.degrees(math.atan2(-dy, dx))


def face_size(landmarks: np.ndarray) -> float:
    """The same measure as ``Face.size``: 2.5x the distance between the eye centres."""
    right, left = eye_centres(landmarks)
    return float(np.hypot(*(left - right)) * 2.5)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners: the points alignment is fitted on."""
    lm = np.asarray(landmarks, np.float64)
    right, left = eye_centres(lm)
    return np.stack([right, left, lm[NOSE_TIP], lm[MOUTH_RIGHT], lm[MOUTH_LEFT]])
