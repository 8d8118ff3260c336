"""The identity network: its trainer resumes exactly; the shipped weights load and agree
with dlib on real held-out faces (skipped without the weights, dlib or ../shared)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from editor.engine.registry import REGISTRY, find_weights
from editor.training import face_id_data as fd
from editor.training import train_face_id
from editor.training.face_train_loop import load_checkpoint
from tests.training.test_frgd_training import fake_faces

ARGS = ["--width", "4", "--input-size", "16", "--iters", "4", "--batch", "4",
        "--val-every", "2", "--log-every", "2", "--checkpoint-minutes", "100"]


def test_resumed_run_equals_uninterrupted(tmp_path):
    data = (fake_faces(6), fake_faces(3, seed=1))
    result = train_face_id.train(["--run-dir", str(tmp_path / "a"), *ARGS], quiet=True,
                                 data=data)
    assert result["iteration"] == 4 and "degraded_cosine" in result["history"][-1]
    train_face_id.train(["--run-dir", str(tmp_path / "b"), *ARGS, "--stop-at", "2"],
                        quiet=True, data=data)
    train_face_id.train(["--run-dir", str(tmp_path / "b"), *ARGS, "--resume"], quiet=True,
                        data=data)
    a, b = load_checkpoint(tmp_path / "a")["model"], load_checkpoint(tmp_path / "b")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def _shipped_or_skip():
    if importlib.util.find_spec("dlib") is None:
        pytest.skip("dlib-bin is not installed")
    root = fd.default_data_root()
    if not (root / "faces_utkface" / "images").is_dir():
        pytest.skip(f"no UTKFace faces at {root}")
    try:
        find_weights("face-id.safetensors")
    except Exception:  # noqa: BLE001 - any "not there" means: nothing to test
        pytest.skip("face-id weights are not installed")


def test_shipped_identity_network_agrees_with_dlib_on_real_faces():
    _shipped_or_skip()
    from editor.engine.weights import load_model
    from editor.faces import SAME_PERSON_DISTANCE

    net = load_model(REGISTRY.get("face-id"), device="cpu")
    faces = fd.load_faces("test", limit=8, log=None)
    if len(faces) < 8:
        pytest.skip("the landmark / embedding caches are not computed")
    clean = [f.astype(np.float32) / 255 for f in faces.images]
    dlib = np.stack([fd.dlib_embedding(c, m) for c, m in zip(clean, faces.landmarks)])
    with torch.no_grad():
        ours = net(train_face_id.to_tensor(clean)).numpy()
    cosine = np.sum(ours * dlib, 1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(dlib, axis=1)
    assert cosine.mean() > 0.5
    # Same-person decisions over all pairs of these 8 different people: mostly agree.
    agree = [(np.linalg.norm(ours[i] - ours[j]) < SAME_PERSON_DISTANCE)
             == (np.linalg.norm(dlib[i] - dlib[j]) < SAME_PERSON_DISTANCE)
             for i in range(8) for j in range(i + 1, 8)]
    assert np.mean(agree) >= 0.75
