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


def test_init_starts_a_new_run_from_exported_weights(tmp_path):
    """--init: a fine-tune starts at the shipped weights (the dlib centre buffer included)
    and records which file it started from; weights of another size are refused."""
    import json

    from safetensors.torch import save_file

    data = (fake_faces(6), fake_faces(3, seed=1))
    train_face_id.train(["--run-dir", str(tmp_path / "a"), *ARGS], quiet=True, data=data)
    state = load_checkpoint(tmp_path / "a")["model"]
    weights = tmp_path / "face-id.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    train_face_id.train(["--run-dir", str(tmp_path / "b"), *ARGS, "--init", str(weights),
                         "--stop-at", "0"], quiet=True, data=data)
    started = load_checkpoint(tmp_path / "b")["model"]
    assert all(torch.equal(state[k], started[k]) for k in state)
    record = json.loads((tmp_path / "b" / "commands.jsonl").read_text().splitlines()[0])
    assert record["init"] == str(weights) and len(record["init_sha256"]) == 64
    wider = [a if a != "4" or ARGS[i - 1] != "--width" else "8" for i, a in enumerate(ARGS)]
    with pytest.raises(SystemExit, match="does not fit"):
        train_face_id.train(["--run-dir", str(tmp_path / "c"), *wider, "--init",
                             str(weights)], quiet=True, data=data)


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
    """What the first shipped weights do reliably (see the card's held-out agreement: on
    pairs of DIFFERENT people they still often say "same")."""
    _shipped_or_skip()
    from editor.engine.weights import load_model
    from editor.faces import SAME_PERSON_DISTANCE

    net = load_model(REGISTRY.get("face-id"), device="cpu")
    faces = fd.load_faces("test", limit=8, log=None)
    if len(faces) < 8:
        pytest.skip("the landmark / embedding caches are not computed")
    clean = [f.astype(np.float32) / 255 for f in faces.images]
    copies = [fd.upscale(fd.degrade_face(c, fd.stream(5, i), fd.ID_DEGRADE))
              for i, c in enumerate(clean)]
    dlib = np.stack([fd.dlib_embedding(c, m) for c, m in zip(clean, faces.landmarks)])
    dlib_copies = np.stack([fd.dlib_embedding(c, m) for c, m in zip(copies, faces.landmarks)])
    with torch.no_grad():
        ours = net(train_face_id.to_tensor(clean)).numpy()
        ours_copies = net(train_face_id.to_tensor(copies)).numpy()
    centre = net.centre.numpy()
    a, b = ours - centre, dlib - centre
    cosine = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.mean() > 0.4   # of the offsets from dlib's mean (measured ~0.6)
    # A face and its degraded copy: dlib and we both say "the same person".
    for x, y in ((ours, ours_copies), (dlib, dlib_copies)):
        assert np.mean(np.linalg.norm(x - y, axis=1) < SAME_PERSON_DISTANCE) >= 0.75
    # Each face's vector is nearer its own dlib vector than the other faces' on average.
    distances = np.linalg.norm(ours[:, None] - dlib[None], axis=2)
    assert np.mean(np.argmin(distances, axis=1) == np.arange(8)) >= 0.5
