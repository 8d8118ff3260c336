"""Stand-ins for Makeup-Go tests that must run without ../shared/data: a drawn face with a
68-point landmark template (iBUG order) and tiny fake training / evaluation sets."""

from __future__ import annotations

import cv2
import numpy as np

from editor.training import makeup_data as md
from editor.training.beautify import beautify


def _arc(cx, cy, rx, ry, start, stop, n):
    t = np.linspace(start, stop, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def template_landmarks(size: int = 128) -> np.ndarray:
    """A frontal face's 68 landmarks (x, y), drawn to fill a ``size`` px crop like the
    UTKFace framing."""
    s = size / 128.0
    t = np.linspace(0, np.pi, 17)
    jaw = np.stack([64 - 40 * np.cos(t), 55 + 62 * np.sin(t)], 1)
    brow_r = np.stack([np.linspace(32, 56, 5), 42 - 3 * np.sin(np.linspace(0, np.pi, 5))], 1)
    brow_l = brow_r.copy()
    brow_l[:, 0] = 128 - brow_r[::-1, 0]
    brow_l[:, 1] = brow_r[::-1, 1]
    bridge = np.stack([np.full(4, 64.0), np.linspace(50, 72, 4)], 1)
    nostrils = np.stack([np.linspace(56, 72, 5), np.full(5, 76.0)], 1)

    def eye(cx):
        return np.array([[cx - 8, 54], [cx - 4, 51], [cx + 4, 51], [cx + 8, 54], [cx + 4, 57],
                         [cx - 4, 57]], float)

    outer = _arc(64, 94, 15, 6, np.pi, 3 * np.pi, 13)[:12]
    inner = _arc(64, 94, 10, 2.5, np.pi, 3 * np.pi, 9)[:8]
    marks = np.concatenate([jaw, brow_r, brow_l, bridge, nostrils, eye(46), eye(82), outer,
                            inner])
    assert marks.shape == (68, 2)
    return (marks * s).astype(np.float32)


def drawn_face(seed: int = 0, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(float32 RGB face, its landmarks): textured background, skin-toned face with skin
    texture, dark eyes and brows, red lips."""
    rng = np.random.default_rng(seed)
    marks = template_landmarks(size)
    image = rng.random((size // 8, size // 8, 3)).astype(np.float32)
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC) * 0.6 + 0.2
    skin = np.array([0.85, 0.65, 0.55], np.float32) + rng.normal(0, 0.04, 3).astype(np.float32)
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (size // 2, int(size * 0.5)), (int(size * 0.33), int(size * 0.47)), 0,
                0, 360, 1.0, -1)
    texture = rng.normal(0, 0.03, (size, size, 1)).astype(np.float32)
    image = image * (1 - mask[:, :, None]) + (skin + texture) * mask[:, :, None]
    for part, colour in ((slice(36, 42), (0.2, 0.15, 0.1)), (slice(42, 48), (0.2, 0.15, 0.1)),
                         (slice(48, 60), (0.7, 0.3, 0.3))):
        cv2.fillPoly(image, [np.round(marks[part]).astype(np.int32).reshape(-1, 1, 2)], colour)
    for part in (slice(17, 22), slice(22, 27)):
        cv2.polylines(image, [np.round(marks[part]).astype(np.int32).reshape(-1, 1, 2)],
                      False, (0.3, 0.2, 0.15), 2)
    return np.clip(image, 0, 1).astype(np.float32), marks


def fake_faces(count: int, seed: int = 0) -> list[md.Face]:
    faces = []
    for i in range(count):
        image, marks = drawn_face(seed + i)
        faces.append(md.Face(f"fake_{i}.jpg", np.round(image * 255).astype(np.uint8), marks))
    return faces


def fake_real_pairs(count: int, seed: int = 100) -> list[md.RealPair]:
    """'Real' pairs: a drawn face and a beautified copy of it."""
    pairs = []
    for i in range(count):
        image, marks = drawn_face(seed + i)
        edited, _ = beautify(image, marks, np.random.default_rng(seed + i))
        pairs.append(md.RealPair(f"{i:03d}_m.jpg", f"{i:03d}",
                                 np.round(edited * 255).astype(np.uint8),
                                 np.round(image * 255).astype(np.uint8)))
    return pairs


def fake_data(train: int = 6, real: int = 3, val: int = 3):
    faces = fake_faces(train)
    reals = fake_real_pairs(real)
    evaluation = md.make_eval_set(fake_faces(val, seed=50), fake_real_pairs(2, seed=200))
    return faces, reals, evaluation
