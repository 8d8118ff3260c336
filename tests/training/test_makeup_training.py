"""Makeup-Go training: the identity split and the real-pair naming rules, the PCA basis,
the improvement-per-component measure, a ~10-step run of each model that lowers its loss,
exact resume, and export to weights whose card's sha256 matches and which load back.
Tiny fake faces (tests/makeup_fakes.py): nothing here needs ../shared; the checks of the
real data skip without it."""

from __future__ import annotations

import json


import numpy as np
import pytest
import torch

from editor.engine.weights import sha256_file
from editor.nets.crn import revert_crop
from editor.training import makeup_data as md
from editor.training.export_makeup import export, load_makeup_net
from editor.training.pca_basis import (compute_basis, improvement_per_component, load_basis,
                                       save_basis)
from editor.training.train_makeup import build_net, train, training_loss
from tests.makeup_fakes import fake_data


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    return fake_data(train=6, real=3, val=3)


@pytest.fixture(scope="module")
def basis_file(tmp_path_factory, data):
    faces = data[0]
    pairs = [md.synthetic_pair(f, np.random.default_rng(i)) for i, f in enumerate(faces)]
    basis, eigenvalues, stats = compute_basis(pairs, samples=4000, seed=0)
    path = tmp_path_factory.mktemp("pca") / "basis.npz"
    save_basis(path, basis, eigenvalues, {"command": "python -m editor.training.pca_basis"})
    return path


# --- data -------------------------------------------------------------------------------


def test_split_is_deterministic_and_about_a_tenth():
    names = [f"{i}_0_0_2017{i:09d}.jpg.chip.jpg" for i in range(3000)]
    parts = [md.split(n) for n in names]
    assert parts == [md.split(n) for n in names]
    for part in ("test", "val"):
        assert 0.07 < parts.count(part) / len(parts) < 0.13
    assert md.is_held_out(names[parts.index("test")])


def test_real_pairs_follow_the_naming_rules(tmp_path):
    for sub, names in (("with", ["001_m.jpg", "001_1_y.jpg", "003_A_2.jpg",
                                 "04265d138_mu.jpg", "MIW_1.jpg", "009_m.jpg"]),
                       ("without", ["001_n.jpg", "001_1_n.jpg", "003_B_2.jpg",
                                    "04265d138.jpg", "MIW_2.jpg"])):
        folder = tmp_path / "makeup_pairs_96" / sub
        folder.mkdir(parents=True)
        for name in names:
            (folder / name).write_bytes(b"")
    pairs = md.real_pair_names(tmp_path)
    assert pairs == [("001_1_y.jpg", "001_1_n.jpg", "001"), ("001_m.jpg", "001_n.jpg", "001"),
                     ("003_A_2.jpg", "003_B_2.jpg", "003"),
                     ("04265d138_mu.jpg", "04265d138.jpg", "04265")]


def test_batches_are_seeded(data):
    faces, reals, _ = data
    a = md.MakeupSampler(faces, reals, 64, 3, seed=5).batch_arrays(7)
    b = md.MakeupSampler(faces, reals, 64, 3, seed=5).batch_arrays(7)
    c = md.MakeupSampler(faces, reals, 64, 3, seed=5).batch_arrays(8)
    assert a[0].shape == (3, 3, 64, 64) and a[0].dtype == np.float32
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_real_data_when_present():
    root = md.default_data_root()
    if not (root / "makeup_pairs_96").is_dir():
        pytest.skip(f"real training data not present ({root}); a fresh machine has none")
    pairs = md.real_pair_names(root)
    assert len(pairs) == 1012
    assert {md.split(p[2]) for p in pairs} == {"train", "val", "test"}


# --- basis and measure ------------------------------------------------------------------


def test_basis_is_orthonormal_sorted_and_saved(basis_file):
    basis, eigenvalues, meta = load_basis(basis_file)
    assert basis.shape == (192, 3, 8, 8)
    flat = basis.reshape(192, -1).astype(np.float64)
    np.testing.assert_allclose(flat @ flat.T, np.eye(192), atol=1e-4)
    assert np.all(np.diff(eigenvalues) <= 1e-12)
    assert meta["command"].startswith("python -m")


def test_improvement_per_component(basis_file):
    basis, _, _ = load_basis(basis_file)
    rng = np.random.default_rng(0)
    targets = [rng.random((32, 32, 3)).astype(np.float32) for _ in range(2)]
    inputs = [t + rng.normal(0, 0.05, t.shape).astype(np.float32) for t in targets]
    perfect = improvement_per_component(basis, inputs, targets, targets)
    np.testing.assert_allclose(perfect, 1.0)
    nothing = improvement_per_component(basis, inputs, targets, inputs)
    np.testing.assert_allclose(nothing, 0.0, atol=1e-9)
    half = improvement_per_component(basis, inputs, targets,
                                     [(i + t) / 2 for i, t in zip(inputs, targets)])
    np.testing.assert_allclose(half, 0.75, atol=1e-5)


# --- training and export ----------------------------------------------------------------


LR = "1e-3"


def _args(model, run_dir, basis_file, iters=10, extra=()):
    return (["--model", model, "--run-dir", str(run_dir), "--iters", str(iters),
             "--batch", "4", "--patch", "64", "--lr", LR, "--val-every", "5",
             "--log-every", "5", "--seed", "0"]
            + (["--basis", str(basis_file)] if model == "crn" else []) + list(extra))


def _mean_losses(net, model, sampler, iterations):
    """(mean training loss, mean pixel MSE of the output) over the run's own batches."""
    values = []
    with torch.no_grad():
        for i in iterations:
            x, y, real = sampler.batch_with_kinds(i)
            weights = torch.from_numpy(np.where(real, 0.1, 1.0).astype(np.float32))
            values.append(training_loss(net, model, torch.from_numpy(x), torch.from_numpy(y),
                                        0.0, weights))
    return float(np.mean([float(v[0]) for v in values])), float(np.mean([v[1] for v in values]))


@pytest.mark.parametrize("model", ["crn", "plain"])
def test_a_short_run_lowers_the_loss(tmp_path, data, basis_file, model):
    faces, reals, evaluation = data
    run = tmp_path / model
    summary = train(_args(model, run, basis_file), quiet=True, data=data)
    assert summary["iteration"] == 10
    checkpoint = torch.load(run / "last.pt", weights_only=False)
    trained = build_net(model, checkpoint["config"]["arch"])
    trained.load_state_dict(checkpoint["model"])
    # The same starting point the run had: same seed, same basis.
    torch.manual_seed(0)
    if model == "crn":
        basis, eigenvalues, _ = load_basis(basis_file)
        from editor.training.pca_basis import component_std
        initial = build_net(model, checkpoint["config"]["arch"], basis,
                            component_std(eigenvalues, checkpoint["config"]["std_floor"]))
    else:
        initial = build_net(model, checkpoint["config"]["arch"])
    sampler = md.MakeupSampler(faces, reals, 64, 4, seed=0, real_fraction=0.15)
    loss_before, pixel_before = _mean_losses(initial, model, sampler, range(10))
    loss_after, pixel_after = _mean_losses(trained, model, sampler, range(10))
    # The balanced loss moves slowly at first (most of its 192 equally weighted components
    # are small detail); the output's pixel error shows the learning plainly.
    assert loss_after < loss_before, (loss_before, loss_after)
    assert pixel_after < 0.95 * pixel_before, (pixel_before, pixel_after)
    assert (run / "best.pt").is_file() and (run / "commands.jsonl").is_file()


def test_resume_continues_exactly(tmp_path, data, basis_file):
    train(_args("crn", tmp_path / "a", basis_file, iters=6), quiet=True, data=data)
    train(_args("crn", tmp_path / "b", basis_file, iters=6, extra=["--stop-at", "3"]),
          quiet=True, data=data)
    resumed = train(_args("crn", tmp_path / "b", basis_file, iters=6, extra=["--resume"]),
                    quiet=True, data=data)
    assert resumed["iteration"] == 6
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)


def test_export_writes_weights_whose_sha_the_card_records(tmp_path, data, basis_file):
    _, _, evaluation = data
    runs = {m: tmp_path / m for m in ("crn", "plain")}
    for model, run in runs.items():
        train(_args(model, run, basis_file, iters=4), quiet=True, data=data)
    models = tmp_path / "models"
    cards = export(runs["crn"], runs["plain"], models_dir=models, measure_speed=False,
                   evaluation=evaluation)
    assert set(cards) == {"makeup-go", "makeup-plain"}
    for model_id, card in cards.items():
        weights = models / f"{model_id}.safetensors"
        on_disk = json.loads((models / f"{model_id}.json").read_text())
        assert on_disk["sha256"] == sha256_file(weights) == card["sha256"]
        assert on_disk["size_bytes"] == weights.stat().st_size
        assert on_disk["params"] > 0 and on_disk["licence"]
        table = on_disk["heldout_test"]["synthetic"]
        assert {"input", "crn", "plain"} <= set(table)
        assert "improvement_per_component" in table["crn"]
        commands = on_disk["training"]["commands"]
        assert commands[0] == "python -m editor.training.makeup_data"
        assert any("--model crn" in c for c in commands)
        assert any("--model plain" in c for c in commands)
        assert commands[-1].startswith("python -m editor.training.export_makeup --run-dir")
    # The exported weights load back and give the checkpoint's outputs.
    checkpoint = torch.load(runs["crn"] / "best.pt", weights_only=False)
    net = build_net("crn", checkpoint["config"]["arch"])
    net.load_state_dict(checkpoint["model"])
    loaded = load_makeup_net(weights=models / "makeup-go.safetensors")
    crop = evaluation.synthetic[0][0]
    np.testing.assert_allclose(revert_crop(loaded, crop), revert_crop(net, crop), atol=1e-6)
    plain = load_makeup_net(weights=models / "makeup-plain.safetensors")
    assert revert_crop(plain, crop).shape == crop.shape


def test_crn_needs_a_basis(tmp_path, data):
    with pytest.raises(SystemExit):
        train(["--model", "crn", "--run-dir", str(tmp_path / "x"), "--iters", "2"],
              quiet=True, data=data)





def test_calibration_gains_undo_an_overconfident_component():
    """A CRN whose prediction of one component is twice the truth gets gain 1/2 there,
    and the baked-in gains change exactly that component's output."""
    from editor.training import calibrate_crn

    # patch = stride: cells do not overlap, so decompose(reconstruct(c)) == c exactly
    net = build_net("crn", {"components": 12, "patch": 4, "width": 8, "depth": 1,
                            "groups": 2})
    torch.manual_seed(0)
    for head in net.heads:
        torch.nn.init.normal_(head[-1].weight, std=0.05)
    rng = np.random.default_rng(0)
    pairs = []
    with torch.no_grad():
        for _ in range(3):
            before = rng.random((32, 32, 3)).astype(np.float32)
            x = torch.from_numpy(before.transpose(2, 0, 1).copy())[None]
            c = net(x)["coefficients"].clone()
            c[:, 3] *= 0.5                       # the truth is half what it predicts
            after = (x + net.reconstruct(c))[0].permute(1, 2, 0).numpy()
            pairs.append((before, after))
    gains = calibrate_crn.component_gains(net, pairs)
    assert abs(float(gains[3]) - 0.5) < 0.02
    others = torch.cat([gains[:3], gains[4:]])
    assert float(others.min()) > 0.98
    x = torch.from_numpy(pairs[0][0].transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        before_c = net(x)["coefficients"]
        calibrate_crn.apply_gains(net, gains)
        after_c = net(x)["coefficients"]
    torch.testing.assert_close(after_c, before_c * gains.view(1, -1, 1, 1))


def test_calibrated_export_records_gains_and_its_flag(tmp_path, data, basis_file):
    _, _, evaluation = data
    run = tmp_path / "crn"
    train(_args("crn", run, basis_file, iters=4), quiet=True, data=data)
    prior = ["python -m editor.training.makeup_data", "python -m earlier --run"]
    cards = export(run, None, models_dir=tmp_path / "models", measure_speed=False,
                   evaluation=evaluation, calibrate=True,
                   calibration_pairs=evaluation.synthetic[:2], prior_commands=prior,
                   export_flags=["--calibrate"])
    card = cards["makeup-go"]
    assert len(card["calibration"]["gains"]["all"]) == card["arch_kwargs"]["components"]
    commands = card["training"]["commands"]
    assert commands[:2] == prior and commands.count(prior[0]) == 1
    assert commands[-1].endswith("--calibrate")
