"""Face enhance on stand-in models (tests/face_enhance_fakes.py, installed for every tool
test by tests/tools/conftest.py) and the fake face in the middle of the image: a masked
layer over the face, seeds, strength without re-sampling, identity 0 consistent with the
input, the reference photo's problems and the command line."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from editor import cli
from editor.faces import align_face
from editor.tools import TOOLS, face_enhance, face_reference
from editor.tools.schema import Masked
from editor.nets.frgd_unet import alpha_sigma
from tests.faces_fakes import face_in

TOOL = TOOLS["face-enhance"]
HAVE_DLIB = (importlib.util.find_spec("dlib") is not None
             and importlib.util.find_spec("face_recognition_models") is not None)


def photo(h=72, w=88, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.random((h // 8, w // 8, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1)


def test_result_is_a_layer_masked_to_the_face():
    image = photo()
    result = TOOL.apply_masked(image, {"identity": 0.5, "seed": 1})
    assert isinstance(result, Masked)
    assert result.image.shape == image.shape and result.mask.shape == image.shape[:2]
    face = face_in(*image.shape[:2])
    cx, cy = (int(v) for v in face.landmarks[30])   # the nose tip
    assert result.mask[cy, cx] > 0.9 and result.mask[0, 0] == 0.0
    changed = np.abs(result.image - image).max(axis=2)
    assert changed[cy - 3:cy + 3, cx - 3:cx + 3].max() > 0.01
    assert changed[0, 0] == 0.0   # outside the paste mask nothing moves


def test_seed_picks_the_sample():
    image = photo()
    a = TOOL.apply(image, {"seed": 3})
    face_enhance.clear_cache()
    assert np.array_equal(a, TOOL.apply(image, {"seed": 3}))
    assert not np.array_equal(a, TOOL.apply(image, {"seed": 4}))


def test_strength_only_change_does_not_sample_again(monkeypatch):
    image = photo()
    full = TOOL.apply_masked(image, {"seed": 2, "strength": 1.0})
    monkeypatch.setattr(face_enhance, "enhance_faces",
                        lambda *a, **k: pytest.fail("sampled again for a strength change"))
    half = TOOL.apply_masked(image, {"seed": 2, "strength": 0.5})
    assert np.allclose(half.image, image + 0.5 * (full.image - image), atol=1e-5)
    assert np.array_equal(TOOL.apply_masked(image, {"seed": 2, "strength": 0.0}).image, image)


class _MeanModel(torch.nn.Module):
    """Predicts a zero residual (x_0 = 0) plus a little seeded texture: the random-weight
    U-Net leaves the noise in (no trained model does), this one behaves like a trained
    model would on average."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.texture = torch.nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x_t, lq, t, identity=None, drop=None):
        a, s = (v.view(-1, 1, 1, 1) for v in alpha_sigma(t))
        return a / s * x_t + 0.05 * self.texture(lq)


class _Loaded:
    def __init__(self, net) -> None:
        self.net = net

    def load(self):
        return self.net


def test_identity_zero_output_stays_consistent_with_the_input_when_down_scaled():
    face_enhance.SLOT.set(_Loaded(_MeanModel().eval()))   # conftest restores the slot
    image = photo(48, 48)   # a small face (~29 px): what the tool is for
    face = face_in(48, 48)
    out = TOOL.apply_masked(image, {"identity": 0.0, "seed": 0}).image

    def small(pixels):
        crop, matrix = align_face(pixels, face, size=face_enhance.FRAME_PX, padding=0.0)
        side = round(face_enhance.FRAME_PX / face_enhance.face_scale(matrix))
        return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)[1:-1, 1:-1]

    # At the face's own resolution the enhanced face is the input face, up to the
    # paste-back's colour fit and 8-bit-level differences.
    assert np.abs(small(out) - small(image)).mean() < 0.03


def test_no_face_changes_nothing_with_a_clear_message():
    face_enhance.set_face_finder(lambda rgb, progress: (_ for _ in ()).throw(
        face_enhance.NoFaceFound("no face found in this image")))
    with pytest.raises(ValueError, match="no face"):
        TOOL.apply(photo(), {})


def test_reference_face_choice_messages():
    faces = [face_in(64, 64), face_in(64, 64)]
    with pytest.raises(face_reference.ReferenceProblem, match="2 faces: which one"):
        face_reference.choose_face(faces, 0, "ref.jpg")
    assert face_reference.choose_face(faces, 2, "ref.jpg") is faces[1]
    with pytest.raises(face_reference.ReferenceProblem, match="has 2 faces, not 3"):
        face_reference.choose_face(faces, 3, "ref.jpg")
    with pytest.raises(face_reference.ReferenceProblem, match="no face"):
        face_reference.choose_face([], 0, "ref.jpg")


def test_blurred_reference_measures_as_blurred():
    face = face_in(128, 128)
    sharp = np.random.default_rng(0).random((128, 128, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 6)
    assert face_reference.sharpness(sharp, face) > face_reference.MIN_SHARPNESS
    assert face_reference.sharpness(blurred, face) < face_reference.MIN_SHARPNESS


def test_missing_reference_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        TOOL.apply(photo(), {"reference": str(tmp_path / "nobody.jpg")})


@pytest.mark.skipif(not HAVE_DLIB, reason="dlib-bin / face-recognition-models not installed")
def test_reference_without_a_face_is_refused(tmp_path):
    path = tmp_path / "noise.png"
    Image.fromarray((photo(96, 96) * 255).astype(np.uint8)).save(path)
    with pytest.raises(ValueError, match="no face"):
        TOOL.apply(photo(), {"reference": str(path)})


def test_cli_reference_identity_seed(tmp_path, monkeypatch, capsys):
    src = tmp_path / "in.png"
    ref = tmp_path / "ref.png"
    Image.fromarray((photo() * 255).astype(np.uint8)).save(src)
    Image.fromarray((photo(seed=5) * 255).astype(np.uint8)).save(ref)
    seen = {}

    def fake_reference(path, index=0):
        seen["path"], seen["index"] = path, index
        return np.random.default_rng(1).standard_normal(128).astype(np.float32)

    monkeypatch.setattr(face_reference, "reference_embedding", fake_reference)
    out = tmp_path / "out"
    code = cli.main(["face-enhance", str(src), "--reference", str(ref), "--identity", "0.7",
                     "--seed", "3", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert seen == {"path": str(ref), "index": 0}
    assert (out / "in_enhanced.png").is_file()
    monkeypatch.undo()
    code = cli.main(["face-enhance", str(src), "--reference", str(tmp_path / "none.jpg"),
                     "-o", str(tmp_path / "out2")])
    assert code == 1 and "does not exist" in capsys.readouterr().err
