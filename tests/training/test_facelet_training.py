"""Facelet-Bank training on stand-in data (random 32 px "faces" with labels, tiny
networks): the autoencoder trainer resumes, the DFI directions pick the right faces, the
shipped-effect trainer and the user command train and save facelets. No shared data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from editor.nets.facelet import FaceAutoencoder, Facelet
from editor.tools import portrait_effects
from editor.training import facelet_data as fd
from editor.training import facelet_directions as dirs
from editor.training import train_face_autoencoder as tae
from editor.training import train_facelet as tf

TINY = '{"features": 8, "width": 8, "blocks": 1}'


def fake_faces(n: int = 60, size: int = 32, seed: int = 0) -> fd.FaceSet:
    rng = np.random.default_rng(seed)
    names = np.array([f"{i}_face.jpg" for i in range(n)])
    images = (rng.random((n, size, size, 3)) * 255).astype(np.uint8)
    ages = np.array([(3, 8, 20, 30, 45, 65, 75)[i % 7] for i in range(n)], np.int16)
    genders = np.array([i % 2 for i in range(n)], np.int8)
    return fd.FaceSet(names, images, ages, genders)


def test_hold_out_is_stable_and_about_five_percent():
    names = [f"{i}_x.jpg" for i in range(4000)]
    held = [fd.is_held_out(n) for n in names]
    assert 0.03 < np.mean(held) < 0.07
    assert held == [fd.is_held_out(n) for n in names]
    faces = fake_faces()
    assert len(faces.part("train")) + len(faces.part("held_out")) == len(faces)


def test_autoencoder_trainer_runs_and_resumes(tmp_path):
    faces = fake_faces()
    args = ["--run-dir", str(tmp_path), "--iters", "4", "--batch", "4", "--arch", TINY,
            "--val-every", "2", "--log-every", "1", "--val-faces", "8"]
    first = tae.train(args + ["--stop-at", "2"], quiet=True, faces=faces)
    assert first["iteration"] == 2 and (tmp_path / "best.pt").is_file()
    second = tae.train(args + ["--resume"], quiet=True, faces=faces)
    assert second["iteration"] == 4
    net, checkpoint = tae.load_run(tmp_path, "last")
    assert isinstance(net, FaceAutoencoder) and checkpoint["iteration"] == 4
    with pytest.raises(SystemExit, match="already has a checkpoint"):
        tae.train(args, quiet=True, faces=faces)


def test_label_directions_pick_the_documented_sets():
    ages = np.array([8, 25, 40, 70, 30])
    genders = np.array([0, 1, 0, 1, 0])
    d = dirs.label_directions(ages, genders)
    assert d["older"].positive.tolist() == [False, False, False, True, False]
    assert d["older"].negative.tolist() == [False, True, False, False, True]
    # younger: one rule for every face, both parts of the definition
    (adult, old), (child, adult_again) = d["younger"].pairs
    assert adult.tolist() == [False, True, False, False, True]
    assert old.tolist() == [False, False, False, True, False]
    assert child.tolist() == [True, False, False, False, False]
    assert adult_again.tolist() == adult.tolist()
    assert d["masculine"].positive.tolist() == [False, False, True, False, True]
    assert d["feminine"].positive.tolist() == [False, True, False, False, False]


def test_deltas_point_from_negatives_to_positives():
    rng = np.random.default_rng(0)
    features = rng.normal(0, 0.1, (50, 4, 8, 8)).astype(np.float16)
    ages = np.array([25] * 20 + [70] * 20 + [8] * 10)
    features[20:40] += 1.0                        # "old" faces are brighter in feature 0..3
    features[40:] -= 1.0                          # children darker
    desc = dirs.descriptors(features)
    d = dirs.label_directions(ages, np.zeros(50))
    delta = dirs.raw_deltas(d["older"], np.arange(5), features, desc, k=5)
    assert delta.shape == (5, 4, 8, 8)
    assert np.allclose(delta.astype(np.float32).mean(), 1.0, atol=0.1)
    # younger: the same rule for an adult, an old face and a child, the mean of
    # (adult - old) and (child - adult) = half of (child - old)
    young = dirs.raw_deltas(d["younger"], np.array([3, 25, 30, 45]), features, desc,
                            k=5).astype(np.float32)
    assert np.allclose(young.mean((1, 2, 3)), -1.0, atol=0.1)
    user = dirs.set_deltas(features[:3].astype(np.float32), features[20:40].astype(np.float32),
                           features[:20].astype(np.float32), k=4)
    assert user.mean() > 0.9


def _tiny_ae():
    torch.manual_seed(0)
    return FaceAutoencoder(features=8, width=8, blocks=1).eval().requires_grad_(False)


def test_shipped_facelet_trainer_trains_and_resumes(tmp_path, monkeypatch):
    faces = fake_faces(80)
    monkeypatch.setattr(fd, "load_faces", lambda *a, **k: faces)
    monkeypatch.setattr(tf, "FEATURE_CACHE", tmp_path / "cache")
    net = _tiny_ae()
    args = ["--effect", "older", "--run-dir", str(tmp_path / "run"), "--iters", "6",
            "--batch", "4", "--width", "8", "--k", "3", "--queries", "20", "--eval-faces",
            "4", "--val-every", "3", "--log-every", "1"]
    first = tf.train(args + ["--stop-at", "3"], quiet=True, autoencoder=(net, "sha-test"))
    assert first["iteration"] == 3 and first["alpha"] > 0
    second = tf.train(args + ["--resume"], quiet=True, autoencoder=(net, "sha-test"))
    assert second["iteration"] == 6
    checkpoint = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    facelet = Facelet(8, 8)
    facelet.load_state_dict(checkpoint["model"])
    with pytest.raises(SystemExit, match="autoencoder's weights changed"):
        tf.train(args + ["--resume"], quiet=True, autoencoder=(net, "other"))


def test_facelet_loss_only_trains_the_facelet():
    net = _tiny_ae()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    facelet = Facelet(8, 8)
    opt = torch.optim.Adam(facelet.parameters(), lr=1e-2)
    f = torch.randn(4, 8, 8, 8)
    target = torch.randn(4, 8, 8, 8)
    losses = []
    for _ in range(20):
        loss, _ = tf.facelet_loss(facelet, net.decoder, f, target, 0.1, 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(portrait_effects.FACELETS_DIR_ENV, str(tmp_path / "facelets"))
    portrait_effects.refresh_effects()
    yield tmp_path / "facelets"
    monkeypatch.delenv(portrait_effects.FACELETS_DIR_ENV)
    portrait_effects.refresh_effects()


def _photo_folders(tmp_path, monkeypatch, positives: int, negatives: int):
    pos, neg = tmp_path / "pos", tmp_path / "neg"
    for folder, n in ((pos, positives), (neg, negatives)):
        folder.mkdir()
        for i in range(n):
            (folder / f"{i}.png").write_bytes(b"")
    rng = np.random.default_rng(0)

    def fake_aligned(paths, progress=None):
        return [(rng.random((32, 32, 3)) * 255).astype(np.uint8) for _ in paths], []

    monkeypatch.setattr(tf, "aligned_faces", fake_aligned)
    return pos, neg


def test_user_facelet_is_trained_saved_and_listed(tmp_path, monkeypatch, user_folder):
    pos, neg = _photo_folders(tmp_path, monkeypatch, 7, 6)
    effect = tf.train_user_facelet(pos, neg, "smile", label="Smile", iters=4,
                                   autoencoder=(_tiny_ae(), "sha-test"), log=lambda s: None)
    assert effect.name == "smile" and effect.user
    assert (user_folder / "smile.safetensors").is_file()
    assert "smile" in [e.name for e in portrait_effects.effects()]
    assert portrait_effects.get_effect("smile").spec.kwargs == {"features": 8, "width": 48}


def test_user_facelet_refuses_too_few_faces(tmp_path, monkeypatch, user_folder):
    pos, neg = _photo_folders(tmp_path, monkeypatch, 7, 2)
    with pytest.raises(ValueError, match=r"negative folder .* has 2 usable faces; at least 6"):
        tf.train_user_facelet(pos, neg, "smile", iters=2, autoencoder=(_tiny_ae(), "x"))
    assert not (user_folder / "smile.json").exists()


def test_cli_train_facelet_reports_a_bad_folder_in_one_line(tmp_path, capsys, user_folder):
    from editor import cli

    code = cli.main(["train-facelet", "--positive", str(tmp_path / "nope"), "--negative",
                     str(tmp_path), "--name", "x"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a folder" in err[0]
