"""Video SR training: synthetic clips (reproducible, the true flow really maps each frame
onto the reference, BI/BD degradations as the benchmark makes them), the two-stage trainer
(resumes exactly), and export to a loadable model with its card. Tiny networks and tiny
synthetic photos: no ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from editor.engine.registry import ModelSpec
from editor.engine.weights import load_model, sha256_file
from editor.nets.spmc import SPMCVideoSR, backward_warp
from editor.training import video_data as vd
from editor.training.export_video_sr import export
from editor.training.train_video_sr import iteration_shape, train

TINY = '{"flow_width": 8, "widths": [8, 8, 8], "hidden": 8}'


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth colour with sharp-edged rectangles (uint8 RGB): texture a flow can lock on."""
    import cv2

    small = rng.random((h // 8, w // 8, 3)).astype(np.float32)
    image = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(30):
        y, x = rng.integers(0, h - 16), rng.integers(0, w - 16)
        image[y:y + int(rng.integers(4, 16)), x:x + int(rng.integers(4, 16))] = rng.random(3)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [_photo(rng, 208, 224) for _ in range(4)]


@pytest.fixture
def data_dir(tmp_path: Path, photos) -> Path:
    root = tmp_path / "natural"
    root.mkdir()
    for i, photo in enumerate(photos):
        Image.fromarray(photo).save(root / f"im{i}.png")
    return root


def test_clips_depend_only_on_seed_and_iteration(photos):
    a = vd.ClipSampler(photos, 64, 2, seed=5).batch(3, 4, 5, 2)
    b = vd.ClipSampler(photos, 64, 2, seed=5).batch(3, 4, 5, 2)
    c = vd.ClipSampler(photos, 64, 2, seed=5).batch(4, 4, 5, 2)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert not np.array_equal(a["lr"], c["lr"])
    assert a["lr"].shape == (2, 5, 1, 16, 16) and a["hr"].shape == (2, 1, 64, 64)
    assert a["flow"].shape == (2, 5, 2, 16, 16)
    assert not a["flow"][:, 2].any()  # the reference does not move


@pytest.mark.parametrize("scale", (2, 3, 4))
def test_true_flow_maps_each_frame_onto_the_reference(photos, scale):
    sampler = vd.ClipSampler(photos, 96, 4, seed=1, cfg=vd.ClipConfig(max_noise=0.0))
    batch = sampler.batch(0, scale, 3, 1)
    lr = torch.from_numpy(batch["lr"])
    for i in (0, 2):
        flow = torch.from_numpy(batch["flow"][:, i])
        valid = torch.from_numpy(batch["valid"][:, i])
        with_flow = ((backward_warp(lr[:, 1], flow) - lr[:, i]).abs() * valid).sum()
        without = ((lr[:, 1] - lr[:, i]).abs() * valid).sum()
        # Bilinear warping of aliased LR frames is not exact, but it must explain most of
        # the difference between the frames (3-4x less when this was written).
        assert with_flow < 0.6 * without, (i, float(with_flow), float(without))


def test_bd_is_gaussian_blur_then_every_sth_pixel_and_bi_is_matlab_bicubic():
    rng = np.random.default_rng(2)
    hr = rng.random((24, 36)).astype(np.float32)
    bd = vd.make_lr(hr, 4, "bd")
    assert bd.shape == (6, 9)
    impulse = np.zeros((40, 40), np.float32)
    impulse[20, 20] = 1.0
    blurred = vd.make_lr(impulse, 1, "bd")
    assert blurred.sum() == pytest.approx(1.0, abs=1e-5)
    assert blurred[20, 20] == pytest.approx(1 / (2 * np.pi * vd.BD_SIGMA ** 2), rel=0.02)
    from editor.core.imresize import imresize

    np.testing.assert_allclose(vd.make_lr(hr, 3, "bi"), imresize(hr, 1 / 3), atol=1e-6)
    with pytest.raises(ValueError, match="degradation"):
        vd.make_lr(hr, 2, "box")


def test_iteration_shapes_mix_scales_frames_and_reference_positions():
    shapes = [iteration_shape(0, i) for i in range(300)]
    assert {s for s, _, _ in shapes} == {2, 3, 4}
    assert {f for _, f, _ in shapes} == {3, 5, 7}
    assert any(r != f // 2 for _, f, r in shapes)  # some windows cut at a clip's ends
    assert iteration_shape(0, 7) == iteration_shape(0, 7)


def _args(data_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return ["--run-dir", str(run_dir), "--batch", "2", "--patch", "48", "--lr", "2e-3",
            "--seed", "3", "--data", str(data_dir), "--arch", TINY, "--flow-iters", "2",
            "--val-every", "3", "--log-every", "1000", "--threads", "1", *extra]


def test_resume_continues_exactly(data_dir, tmp_path):
    train(_args(data_dir, tmp_path / "straight", "--iters", "5"), quiet=True)
    train(_args(data_dir, tmp_path / "split", "--iters", "5", "--stop-at", "3"), quiet=True)
    train(_args(data_dir, tmp_path / "split", "--iters", "5", "--resume"), quiet=True)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=False)
    assert a["iteration"] == b["iteration"] == 5
    for key, value in a["model"].items():
        assert torch.allclose(value, b["model"][key], atol=1e-6), key
    history = a["history"][-1]
    assert {"multi_bd", "single_bd", "bicubic_bi", "psnr"} <= set(history)
    with pytest.raises(SystemExit):
        train(_args(data_dir, tmp_path / "straight", "--iters", "5"), quiet=True)


def test_export_writes_loadable_weights_and_an_honest_card(data_dir, tmp_path):
    train(_args(data_dir, tmp_path / "run", "--iters", "4"), quiet=True)
    models = tmp_path / "models"
    card = export(tmp_path / "run", models_dir=models, measure_speed=False,
                  check_catalog=False)
    weights = models / "video-spmc.safetensors"
    saved = json.loads((models / "video-spmc.json").read_text())
    assert saved["sha256"] == card["sha256"] == sha256_file(weights)
    assert saved["arch_kwargs"] == json.loads(TINY)
    assert saved["training"]["commands"][0].startswith("python -m editor.training.train_video_sr")
    assert saved["training"]["commands"][-1].startswith("python -m editor.training.export_video_sr")
    assert "non-commercial" in saved["licence"] and saved["validation"]["psnr"] > 10
    spec = ModelSpec(id="video-spmc", task="video_sr", architecture="spmc",
                     weights=weights.name, sha256=saved["sha256"], licence="test",
                     scale=1, tiling=False, tile_overlap=0,
                     arch_kwargs={**saved["arch_kwargs"],
                                  "widths": tuple(saved["arch_kwargs"]["widths"])})
    net = load_model(spec, device="cpu", directory=models)
    trained = SPMCVideoSR(8, (8, 8, 8), 8).eval()
    trained.load_state_dict(torch.load(tmp_path / "run" / "best.pt",
                                       weights_only=False)["model"])
    x = torch.rand(1, 3, 1, 10, 12)
    with torch.no_grad():
        assert torch.allclose(net(x, 1, 3, 1.0), trained(x, 1, 3, 1.0), atol=1e-6)
