"""Super-resolution training: MATLAB-compatible imresize, seeded degradations, the data
split, a short training run that learns, exact resume, and export to a loadable model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from editor.core.imresize import contributions, imresize
from editor.engine.registry import ModelSpec
from editor.engine.weights import load_model, sha256_file
from editor.training import degrade as deg
from editor.training import sr_data
from editor.training.export_sr import export, reproduction_commands
from editor.training.train_sr import Trainee, train

torch.set_num_threads(2)

BENCH_SET5 = Path(__file__).resolve().parents[3] / "shared" / "data" / "bench" / "sr" / "Set5"

# --- imresize ----------------------------------------------------------------------------


def test_x2_upscale_uses_matlab_cubic_weights():
    # MATLAB's x2 taps (a = -0.5, output pixel centres at +-0.25 of an input pixel).
    weights, _ = contributions(8, 16, 2.0)
    expected = [-0.0234375, 0.2265625, 0.8671875, -0.0703125]
    assert np.allclose(weights[2], expected) and np.allclose(weights[3], expected[::-1])


def test_x2_upscale_of_a_row_matches_hand_computed_matlab_values():
    # imresize([1 2 3 4], 2): first output mixes mirrored neighbours (symmetric padding).
    row = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32) / 10
    out = imresize(row, 2.0)[0] * 10
    assert out.shape == (8,)
    first = -0.0234375 * 2 + 0.2265625 * 1 + 0.8671875 * 1 - 0.0703125 * 2
    assert out[0] == pytest.approx(first, abs=1e-5)
    # Output 4 (1-based) sits at input 2.25: taps on inputs 1..4, nearest weight on 2.
    assert out[3] == pytest.approx(-0.0703125 * 1 + 0.8671875 * 2 + 0.2265625 * 3
                                   - 0.0234375 * 4, abs=1e-5)
    assert np.allclose(out + out[::-1], 5.0, atol=1e-5)  # mirror symmetry of the borders


@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.5, 2.0, 3.0, 1.7])
def test_constant_image_stays_constant(scale):
    image = np.full((13, 17, 3), 0.37, dtype=np.float32)
    out = imresize(image, scale)
    assert out.shape == (int(np.ceil(13 * scale)), int(np.ceil(17 * scale)), 3)
    assert np.allclose(out, 0.37, atol=1e-6)


def test_upscale_reproduces_a_linear_ramp_away_from_borders():
    ramp = np.tile(np.linspace(0.1, 0.9, 20, dtype=np.float32), (6, 1))
    out = imresize(ramp, 2.0)
    # Output pixel j sits at input coordinate (j + 0.5) / 2 - 0.5.
    coords = (np.arange(40) + 0.5) / 2 - 0.5
    expected = 0.1 + coords * (0.8 / 19)
    assert np.allclose(out[3, 6:-6], expected[6:-6], atol=1e-6)


def test_downscale_is_antialiased():
    # A one-pixel checkerboard is pure aliasing at 1/2: MATLAB's widened kernel greys it
    # out, plain subsampling would keep full contrast.
    checker = (np.indices((32, 32)).sum(axis=0) % 2).astype(np.float32)
    out = imresize(checker, 0.5)
    assert abs(float(out[4:-4, 4:-4].std())) < 0.02
    assert abs(float(out.mean()) - 0.5) < 0.01


def test_bad_imresize_arguments():
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4, 3), np.uint8), 2)
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4, 3), np.float32), -1)


@pytest.mark.skipif(not BENCH_SET5.is_dir(), reason="../shared/data/bench/sr/Set5 absent "
                    "(the MATLAB-made reference LR images live there)")
def test_matches_matlab_made_lr_images_of_set5():
    # Checks the resize kernel only (no model is trained or chosen here): Set5's LR_bicubic
    # files were written by MATLAB imresize from the HR files.
    hr = sr_data.modcrop(sr_data.load_rgb(BENCH_SET5 / "HR" / "bird.png"), 4)
    reference = sr_data.load_rgb(BENCH_SET5 / "LR_bicubic" / "X4" / "birdx4.png")
    ours = sr_data.bicubic_lr(hr, 4)
    difference = np.abs(ours.astype(int) - reference.astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01


# --- degradations ------------------------------------------------------------------------


def _smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    small = rng.random((h // 8, w // 8, 3)).astype(np.float32)
    return np.clip(imresize(small, output_shape=(h, w), scale=8.0), 0, 1)


def test_degradations_are_reproducible_by_seed():
    hr = _smooth_image(np.random.default_rng(0), 64, 64)
    a = [deg.degrade(hr, 4, np.random.default_rng(7)) for _ in range(2)]
    b = deg.degrade(hr, 4, np.random.default_rng(8))
    assert a[0].shape == (16, 16, 3) and a[0].dtype == np.float32
    assert np.array_equal(a[0], a[1])
    assert not np.array_equal(a[0], b)
    assert a[0].min() >= 0 and a[0].max() <= 1
    assert np.allclose(a[0] * 255, np.round(a[0] * 255), atol=1e-3)  # 8-bit like a file


def test_jpeg_keeps_rgb_order():
    red = np.zeros((16, 16, 3), np.float32)
    red[..., 0] = 0.9
    out = deg.jpeg(red, 60)
    assert out[..., 0].mean() > 0.8 and out[..., 2].mean() < 0.1


def test_random_kernels_are_normalised_and_varied():
    rng = np.random.default_rng(3)
    kernels = [deg.random_kernel(rng) for _ in range(10)]
    assert all(abs(float(k.sum()) - 1) < 1e-5 and k.shape[0] % 2 == 1 for k in kernels)
    assert len({k.shape for k in kernels}) > 1


# --- data, training, resume, export ------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Six small synthetic 'photos' (smooth colour fields with hard-edged shapes)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "natural"
    root.mkdir()
    for i in range(6):
        image = _smooth_image(rng, 64, 72)
        for _ in range(4):
            y, x = rng.integers(0, 48, 2)
            image[y:y + 16, x:x + 20] = rng.random(3)
        Image.fromarray((image * 255).round().astype(np.uint8)).save(root / f"im{i}.png")
    return root


def _args(data_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return ["--model", "quality", "--scale", "2,4", "--run-dir", str(run_dir),
            "--batch", "4", "--patch", "8", "--lr", "2e-3", "--seed", "3",
            "--data", str(data_dir), "--arch", '{"channels": 8, "blocks": 1}',
            "--val-every", "1000", "--log-every", "1000", *extra]


def test_split_is_fixed_and_disjoint(data_dir):
    train_paths, val_paths = sr_data.list_images(data_dir)
    assert val_paths == [data_dir / "im0.png"]
    assert not set(train_paths) & set(val_paths) and len(train_paths) == 5


def test_sampler_is_seeded_and_aligned(data_dir):
    images, _ = sr_data.load_dataset(data_dir)
    one = sr_data.PatchSampler(images, [3], patch=6, batch=2, seed=1)
    state = one.state()
    lr, hr = one.batch(3)
    assert lr.shape == (2, 3, 6, 6) and hr.shape == (2, 3, 18, 18)
    one.set_state(state)
    again = one.batch(3)
    assert np.array_equal(lr, again[0]) and np.array_equal(hr, again[1])
    # Aligned: the LR patch is (close to) the MATLAB downscale of its HR patch.
    inner = np.abs(imresize(hr[0].transpose(1, 2, 0), 1 / 3) - lr[0].transpose(1, 2, 0))
    assert inner[1:-1, 1:-1].mean() < 0.02


def test_training_reduces_loss(data_dir, tmp_path):
    # A plain ESPCN (no bicubic skip) starts far from the target, so 20 iterations must
    # show a clear drop; the skip-connected defaults start at bicubic and need hundreds.
    arch = '{"width": 8, "mid": 4, "residual": false}'
    summary = train(["--model", "fast", "--scale", "2", "--run-dir", str(tmp_path / "run"),
                     "--batch", "4", "--patch", "8", "--lr", "3e-3", "--seed", "3",
                     "--data", str(data_dir), "--arch", arch, "--iters", "20",
                     "--val-every", "1000", "--log-every", "1000"], quiet=True)
    assert summary["iteration"] == 20
    checkpoint = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    torch.manual_seed(3)  # the run's seed: the same initial weights as its start
    start = Trainee("fast", [2], checkpoint["config"]["arch"])
    trained = Trainee("fast", [2], checkpoint["config"]["arch"])
    trained.load_state_dict(checkpoint["model"])
    images, _ = sr_data.load_dataset(data_dir)
    lr, hr = sr_data.PatchSampler(images, [2], 8, 16, seed=99).batch(2)
    with torch.no_grad():
        before = float((start(torch.from_numpy(lr), 2) - torch.from_numpy(hr)).abs().mean())
        after = float((trained(torch.from_numpy(lr), 2) - torch.from_numpy(hr)).abs().mean())
    assert after < 0.9 * before
    # The fast model exports to the shipped ESPCN layout.
    card = export(tmp_path / "run", "sr-test-x2", models_dir=tmp_path / "m", which="last",
                  measure_speed=False)
    assert card["architecture"] == "espcn" and card["arch_kwargs"]["residual"] is False


def test_resume_continues_exactly(data_dir, tmp_path):
    train(_args(data_dir, tmp_path / "straight", "--iters", "10"), quiet=True)
    train(_args(data_dir, tmp_path / "split", "--iters", "10", "--stop-at", "4"), quiet=True)
    train(_args(data_dir, tmp_path / "split", "--iters", "10", "--resume"), quiet=True)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=False)
    assert a["iteration"] == b["iteration"] == 10
    for key, value in a["model"].items():
        assert torch.allclose(value, b["model"][key], atol=1e-6), key
    # The card's recipe for the split run names the interruption point.
    commands = reproduction_commands(tmp_path / "split", "sr-test-x2", "best")
    assert "--stop-at 4" in commands[0] and "--resume" in commands[1]
    assert commands[-1].startswith("python -m editor.training.export_sr")


def test_refuses_to_overwrite_a_run_without_resume(data_dir, tmp_path):
    train(_args(data_dir, tmp_path / "run", "--iters", "2"), quiet=True)
    with pytest.raises(SystemExit):
        train(_args(data_dir, tmp_path / "run", "--iters", "2"), quiet=True)


def test_export_writes_loadable_weights_matching_the_card(data_dir, tmp_path):
    train(_args(data_dir, tmp_path / "run", "--iters", "6", "--val-every", "3"), quiet=True)
    models = tmp_path / "models"
    card = export(tmp_path / "run", "sr-test-x4", models_dir=models, measure_speed=False)
    weights = models / "sr-test-x4.safetensors"
    saved = json.loads((models / "sr-test-x4.json").read_text())
    assert saved["sha256"] == card["sha256"] == sha256_file(weights)
    assert saved["training"]["commands"] and saved["params"] > 0
    spec = ModelSpec(id="sr-test-x4", task="superres", architecture=saved["architecture"],
                     weights=weights.name, sha256=saved["sha256"], licence="test",
                     scale=4, arch_kwargs=saved["arch_kwargs"])
    net = load_model(spec, device="cpu", directory=models)
    checkpoint = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    trainee = Trainee("quality", [2, 4], checkpoint["config"]["arch"]).eval()
    trainee.load_state_dict(checkpoint["model"])
    x = torch.rand(1, 3, 5, 7)
    with torch.no_grad():
        assert torch.allclose(net(x), trainee(x, 4), atol=1e-6)


def test_init_from_other_scale_keeps_body_and_skips_upsampler(data_dir, tmp_path):
    train(_args(data_dir, tmp_path / "run", "--iters", "2"), quiet=True)
    export(tmp_path / "run", "sr-test-x2", models_dir=tmp_path / "m", measure_speed=False)
    args = _args(data_dir, tmp_path / "x3", "--iters", "1", "--stop-at", "0",
                 "--init", str(tmp_path / "m" / "sr-test-x2.safetensors"))
    args[args.index("2,4")] = "3"
    train(args, quiet=True)
    x3 = torch.load(tmp_path / "x3" / "last.pt", weights_only=False)["model"]
    x2 = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["model"]
    assert torch.equal(x3["body.head.weight"], x2["body.head.weight"])
    assert float(x3["uppers.3.conv.weight"].abs().sum()) == 0.0  # fresh x3 upsampler
    log = (tmp_path / "x3" / "commands.jsonl").read_text()
    assert "init_sha256" in log
