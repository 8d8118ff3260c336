"""Stand-ins for the face tools' tests: a face "found" in the middle of any image (the
68 landmarks of the UTKFace median face, scaled in) and a TinyNet with seeded random
weights in place of the Makeup-Go network, so the generated tool tests run every face
tool on any image without dlib or trained weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from editor.engine.registry import ModelSpec
from editor.engine.weights import save_weights
from editor.faces.types import Face
from editor.nets.tiny import TinyNet
from editor.tools.model_slot import SingleModel

# Median landmark positions of UTKFace's aligned crops (unit square), eyes and mouth only
# matter for alignment; the rest give the region masks their shapes.
_EYE_R = (0.2933, 0.3008)
_EYE_L = (0.6892, 0.3017)


def template_landmarks() -> np.ndarray:
    """A plausible 68-point face in the unit square (x, y)."""
    pts = np.zeros((68, 2), np.float32)
    t = np.linspace(0, np.pi, 17)
    pts[0:17] = np.stack([0.5 - 0.45 * np.cos(t), 0.31 + 0.69 * np.sin(t)], 1)   # jaw
    pts[17:22] = np.stack([np.linspace(0.12, 0.415, 5), [0.225, 0.175, 0.16, 0.165, 0.195]], 1)
    pts[22:27] = np.stack([np.linspace(0.565, 0.86, 5), [0.2, 0.165, 0.16, 0.175, 0.225]], 1)
    pts[27:31] = np.stack([[0.49] * 4, [0.29, 0.36, 0.435, 0.51]], 1)              # nose bridge
    pts[31:36] = np.stack([np.linspace(0.4, 0.58, 5), [0.56, 0.575, 0.585, 0.575, 0.56]], 1)
    for start, (cx, cy) in ((36, _EYE_R), (42, _EYE_L)):                            # eyes
        a = np.linspace(0, 2 * np.pi, 7)[:6]
        pts[start:start + 6] = np.stack([cx - 0.08 * np.cos(a), cy - 0.025 * np.sin(a)], 1)
    a = np.linspace(0, 2 * np.pi, 13)[:12]                                          # outer lips
    pts[48:60] = np.stack([0.49 - 0.18 * np.cos(a), 0.72 - 0.06 * np.sin(a)], 1)
    a = np.linspace(0, 2 * np.pi, 9)[:8]                                            # inner lips
    pts[60:68] = np.stack([0.49 - 0.14 * np.cos(a), 0.715 - 0.02 * np.sin(a)], 1)
    return pts


def face_in(height: int, width: int) -> Face:
    """A face filling the middle ~60 % of a ``height`` x ``width`` image."""
    side = 0.6 * min(height, width)
    x0, y0 = (width - side) / 2, (height - side) / 2
    lm = template_landmarks() * side + np.float32([x0, y0])
    return Face(box=(x0, y0, x0 + side, y0 + side), landmarks=lm.astype(np.float32), score=1.0)


def fake_face_finder(rgb: np.ndarray, progress) -> list[Face]:
    progress.check_cancelled()
    return [face_in(*rgb.shape[:2])]


def tiny_makeup_source(directory: Path, *, save: bool = True) -> SingleModel:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = TinyNet(channels=3, scale=1, width=4).eval()
    filename = "test-makeup.safetensors"
    sha = save_weights(net, directory / filename) if save else "0" * 64
    spec = ModelSpec(id="test-makeup", task="demakeup", architecture="tiny", weights=filename,
                     sha256=sha, licence="none (test weights)", tiling=False,
                     arch_kwargs={"channels": 3, "scale": 1, "width": 4},
                     description="TinyNet with random weights, for tests")
    return SingleModel(spec, directory=directory, what="makeup-removal model")
