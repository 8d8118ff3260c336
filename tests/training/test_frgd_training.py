"""FRGD and L1 U-Net training on a few random faces: both objectives train, a resumed run
ends with exactly the weights of an uninterrupted one, and the degraded pairs have the
promised shapes; the benchmark's mirror permutation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from editor.training import face_id_data as fd
from editor.training import frgd_data, train_frgd
from editor.training.bench_face_enhance import MIRROR_68, mirror
from editor.training.face_train_loop import load_checkpoint


def fake_faces(n: int, seed: int = 0) -> fd.FaceSet:
    rng = np.random.default_rng(seed)
    return fd.FaceSet([f"f{i}.jpg" for i in range(n)],
                      rng.integers(0, 255, (n, 128, 128, 3), dtype=np.uint8),
                      rng.standard_normal((n, 128)).astype(np.float32),
                      rng.random((n, 68, 2)).astype(np.float32) * 127)


ARGS = ["--widths", "8,8,8", "--iters", "4", "--batch", "2", "--val-every", "2",
        "--log-every", "2", "--val-faces", "2", "--checkpoint-minutes", "100"]


@pytest.mark.parametrize("objective", ["diffusion", "l1"])
def test_resumed_run_equals_uninterrupted(tmp_path, objective):
    data = (fake_faces(6), fake_faces(2, seed=1))
    straight = tmp_path / "straight"
    result = train_frgd.train(["--objective", objective, "--run-dir", str(straight), *ARGS],
                              quiet=True, data=data)
    assert result["iteration"] == 4 and np.isfinite(result["last_loss"])
    split = tmp_path / "split"
    train_frgd.train(["--objective", objective, "--run-dir", str(split), *ARGS,
                      "--stop-at", "2"], quiet=True, data=data)
    train_frgd.train(["--objective", objective, "--run-dir", str(split), *ARGS, "--resume"],
                     quiet=True, data=data)
    a, b = load_checkpoint(straight)["model"], load_checkpoint(split)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(SystemExit, match="already has a checkpoint"):
        train_frgd.train(["--objective", objective, "--run-dir", str(straight), *ARGS],
                         quiet=True, data=data)


def test_two_stage_run_conditions_on_its_prior_and_resumes_only_with_it(tmp_path):
    """--prior: the diffusion run trains on the L1 run's restorations, builds a model that
    names its prior (what the tool loads with it), and a resume refuses a changed file."""
    from safetensors.torch import save_file

    data = (fake_faces(6), fake_faces(2, seed=1))
    train_frgd.train(["--objective", "l1", "--run-dir", str(tmp_path / "l1"), *ARGS],
                     quiet=True, data=data)
    weights = tmp_path / "frgd-l1.safetensors"
    save_file(load_checkpoint(tmp_path / "l1")["model"], str(weights))
    run = tmp_path / "two"
    args = ["--objective", "diffusion", "--run-dir", str(run), *ARGS, "--prior", str(weights)]
    train_frgd.train([*args, "--stop-at", "2"], quiet=True, data=data)
    config = load_checkpoint(run)["config"]
    assert config["prior"]["id"] == "frgd-l1" and config["prior"]["widths"] == [8, 8, 8]
    assert train_frgd.build_net(config).prior == "frgd-l1"
    prior = train_frgd.load_prior(config["prior"])
    b = frgd_data.fixed_batch(data[1], 7, 2)
    assert torch.equal(train_frgd.with_prior(b, prior).lq, prior(b.lq).clamp(0, 1))
    save_file({k: v + 1 for k, v in load_checkpoint(tmp_path / "l1")["model"].items()},
              str(weights))
    with pytest.raises(SystemExit, match="not the file this run started with"):
        train_frgd.train([*args, "--resume"], quiet=True, data=data)


def test_degraded_pairs_and_fixed_validation_batch():
    faces = fake_faces(3)
    b = frgd_data.batch(faces, np.random.default_rng(0), 4)
    assert b.face.shape == b.lq.shape == (4, 3, 128, 128) and b.identity.shape == (4, 128)
    assert 0 <= float(b.lq.min()) and float(b.lq.max()) <= 1
    one, two = (frgd_data.fixed_batch(faces, 7, 2) for _ in range(2))
    assert torch.equal(one.lq, two.lq) and one.face.shape[0] == 2
    small = fd.degrade_face(faces.images[0] / 255.0, np.random.default_rng(0),
                            fd.FaceDegrade(scale_range=(8.0, 8.0)))
    assert small.shape == (16, 16, 3)


def test_mirror_keeps_ibug_order():
    assert sorted(MIRROR_68) == list(range(68)) and (MIRROR_68[MIRROR_68] == range(68)).all()
    face = np.zeros((128, 128, 3), np.float32)
    marks = np.zeros((68, 2), np.float32)
    marks[36:42] = (40, 50)     # the person's right eye, on the screen's left
    marks[42:48] = (88, 50)
    _, flipped = mirror(face, marks)
    assert flipped[36:42, 0].mean() < flipped[42:48, 0].mean()   # still right eye first
