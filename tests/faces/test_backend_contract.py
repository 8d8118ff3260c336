"""detect_faces over any FaceBackend: the dlib one can be swapped out, weak detections
need a second opinion, and a long scan reports progress and can be cancelled. A scripted
backend keeps these tests instant and free of dlib."""

from __future__ import annotations

import numpy as np
import pytest

from editor.engine.progress import Cancelled, Progress
from editor.faces import detect_faces


def template_landmarks(box) -> np.ndarray:
    """A crude but well-formed 68-point face filling ``box``, in iBUG order."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    t = np.linspace(np.pi, 0.0, 17)
    jaw = np.stack([0.5 + 0.45 * np.cos(t), 0.35 + 0.6 * np.sin(t)], 1)
    brows = np.stack([np.r_[np.linspace(0.15, 0.42, 5), np.linspace(0.58, 0.85, 5)],
                      np.full(10, 0.25)], 1)
    nose = np.r_[np.stack([np.full(4, 0.5), np.linspace(0.35, 0.55, 4)], 1),
                 np.stack([np.linspace(0.42, 0.58, 5), np.full(5, 0.6)], 1)]
    a = np.linspace(0.0, 2 * np.pi, 6, endpoint=False)
    eye = np.stack([0.07 * -np.cos(a), 0.03 * np.sin(a)], 1)
    eyes = np.r_[eye + (0.3, 0.38), eye + (0.7, 0.38)]
    a12 = np.linspace(0.0, 2 * np.pi, 12, endpoint=False)
    a8 = np.linspace(0.0, 2 * np.pi, 8, endpoint=False)
    outer = np.stack([0.5 - 0.15 * np.cos(a12), 0.75 - 0.06 * np.sin(a12)], 1)
    inner = np.stack([0.5 - 0.1 * np.cos(a8), 0.75 - 0.02 * np.sin(a8)], 1)
    unit = np.r_[jaw, brows, nose, eyes, outer, inner]
    assert unit.shape == (68, 2)
    return (unit * (w, h) + (x0, y0)).astype(np.float32)


class ScriptedBackend:
    """Reports fixed boxes on the upright pass; optionally a verifier that accepts all."""

    name = "scripted"

    def __init__(self, detections, verifier: bool = False):
        self.detections = detections
        self.verified = []
        if verifier:
            self.verify = self._verify

    def detect(self, rgb, upsample):
        return list(self.detections)

    def landmarks(self, rgb, box):
        return template_landmarks(box)

    def embedding(self, rgb, landmarks):
        return np.full(128, landmarks[:, 0].mean() / 1000.0, np.float32)

    def _verify(self, rgb, box):
        self.verified.append(box)
        return True


STRONG = ((40, 40, 140, 140), 1.5)
WEAK = ((200, 60, 260, 120), 0.2)


def test_another_backend_replaces_dlib():
    scan = detect_faces(np.zeros((200, 300, 3), np.uint8), rotations=False, embeddings=True,
                        backend=ScriptedBackend([STRONG]))
    assert len(scan.faces) == 1
    face = scan.faces[0]
    assert face.embedding.shape == (128,)
    x0, y0, x1, y1 = face.box
    assert x0 < 45 and x1 > 135 and y0 < 60 and y1 > 135


def test_weak_detection_needs_a_verifier_or_a_good_score():
    image = np.zeros((200, 300, 3), np.uint8)
    alone = detect_faces(image, rotations=False, backend=ScriptedBackend([STRONG, WEAK]))
    assert len(alone.faces) == 1  # the 0.2 one is dropped without a second opinion
    backend = ScriptedBackend([STRONG, WEAK], verifier=True)
    checked = detect_faces(image, rotations=False, backend=backend)
    assert len(checked.faces) == 2
    assert len(backend.verified) == 1  # only the weak one is asked about
    assert checked.faces[0].centre[0] < checked.faces[1].centre[0]


def test_progress_reaches_the_end_and_cancel_stops_the_scan():
    seen = []
    progress = Progress(lambda f, msg: seen.append((f, msg)))
    detect_faces(np.zeros((200, 300, 3), np.uint8), backend=ScriptedBackend([]),
                 progress=progress)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(seen) >= 3 and all(msg for _, msg in seen)
    stopped = Progress()
    stopped.cancel()
    with pytest.raises(Cancelled):
        detect_faces(np.zeros((200, 300, 3), np.uint8), backend=ScriptedBackend([STRONG]),
                     progress=stopped)


@pytest.mark.parametrize("shape", [(10, 10, 2), (10, 10, 5), (10,)])
def test_unsupported_image_shapes_are_refused(shape):
    with pytest.raises(ValueError):
        detect_faces(np.zeros(shape, np.uint8), backend=ScriptedBackend([]))
