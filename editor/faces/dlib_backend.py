"""The dlib backend: HOG face detector, 68-point shape predictor, 128-D ResNet embedding.

Models load lazily and once per process (the 68-point predictor is ~100 MB)."""

from __future__ import annotations

import threading

import numpy as np

from editor.faces.model_files import model_path
from editor.faces.types import FaceModelsMissing

_lock = threading.Lock()
_cache: dict[str, object] = {}


def _dlib():
    try:
        import dlib  # noqa: PLC0415 - optional heavy import
    except ImportError:
        raise FaceModelsMissing("dlib is not installed: pip install dlib-bin") from None
    return dlib


def _get(key: str):
    with _lock:
        if key not in _cache:
            dlib = _dlib()
            if key == "hog":
                _cache[key] = dlib.get_frontal_face_detector()
            elif key == "landmarks68":
                _cache[key] = dlib.shape_predictor(str(model_path("landmarks68")))
            elif key == "recognition":
                _cache[key] = dlib.face_recognition_model_v1(str(model_path("recognition")))
            elif key == "cnn_detector":
                _cache[key] = dlib.cnn_face_detection_model_v1(str(model_path("cnn_detector")))
            else:
                raise KeyError(key)
        return _cache[key]


class DlibBackend:
    name = "dlib"

    def detect(self, rgb, upsample):
        rects, scores, _ = _get("hog").run(rgb, int(upsample), 0.0)
        return [((r.left(), r.top(), r.right() + 1, r.bottom() + 1), float(s))
                for r, s in zip(rects, scores)]

    def landmarks(self, rgb, box):
        dlib = _dlib()
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        shape = _get("landmarks68")(rgb, dlib.rectangle(x0, y0, x1 - 1, y1 - 1))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def verify(self, rgb, box):
        """A second opinion from dlib's CNN (MMOD) detector, too slow to scan a whole photo
        but far better than HOG at telling a weak face from a lamb or a lantern. ``rgb`` is
        a small crop in which ``box`` is about 90 px wide: the CNN needs faces of ~80 px."""
        x0, y0, x1, y1 = box
        size = max(x1 - x0, y1 - y0)
        for det in _get("cnn_detector")(rgb, 0):
            r = det.rect
            cx, cy = (r.left() + r.right() + 1) / 2.0, (r.top() + r.bottom() + 1) / 2.0
            ratio = max(r.width(), r.height()) / size
            if det.confidence > 0 and x0 <= cx <= x1 and y0 <= cy <= y1 and 0.5 <= ratio <= 2.0:
                return True
        return False

    def embedding(self, rgb, landmarks):
        dlib = _dlib()
        pts = [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks]
        xs, ys = landmarks[:, 0], landmarks[:, 1]
        rect = dlib.rectangle(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
        shape = dlib.full_object_detection(rect, pts)
        vec = _get("recognition").compute_face_descriptor(rgb, shape, 0)
        return np.asarray(vec, np.float32)
