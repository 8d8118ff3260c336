"""Deblur training: the blur kernels (normalised, non-negative, odd 7–41 px, centred,
seeded), the synthetic pairs (reproducible by seed, aligned, held-out validation), the
multi-scale loss, a 30-iteration run that lowers the loss, exact resume, and export to a
loadable model with its card. Tiny networks and tiny synthetic photos: no ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from editor.engine.registry import ModelSpec
from editor.engine.weights import load_model, sha256_file
from editor.nets.srn_deblur import SRNDeblur
from editor.training import blur_kernels as bk
from editor.training import deblur_data as dd
from editor.training.export_deblur import export, reproduction_commands
from editor.training.train_deblur import multiscale_loss, target_pyramid, train

@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks are hundreds of small operations; a second thread only adds waiting
    (on a busy machine, seconds of it). The caller's thread count comes back after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- kernels -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", bk.KINDS)
def test_kernels_are_normalised_non_negative_odd_and_centred(kind):
    rng = np.random.default_rng(11)
    sizes = set()
    for _ in range(25):
        k = bk.random_kernel(rng, kind=kind)
        assert k.kind == kind and k.kernel.dtype == np.float32
        assert k.kernel.shape == (k.size, k.size) and k.size % 2 == 1
        assert bk.MIN_SIZE <= k.size <= bk.MAX_SIZE
        assert k.kernel.min() >= 0.0 and abs(float(k.kernel.sum()) - 1.0) < 1e-5
        cx, cy = bk.centre_of_mass(k.kernel)
        assert abs(cx) < 0.05 and abs(cy) < 0.05      # no blur also shifts the picture
        sizes.add(k.size)
    assert len(sizes) > 5                              # sizes spread over 7–41


def test_kernels_are_reproducible_by_seed_and_varied():
    a = [bk.random_kernel(np.random.default_rng(5)).kernel for _ in range(2)]
    b = bk.random_kernel(np.random.default_rng(6)).kernel
    assert np.array_equal(a[0], a[1])
    assert a[0].shape != b.shape or not np.array_equal(a[0], b)
    kinds = {bk.random_kernel(np.random.default_rng(s)).kind for s in range(40)}
    assert kinds == set(bk.KINDS)


def test_shake_reach_and_linear_direction():
    rng = np.random.default_rng(0)
    wide = bk.camera_shake(31, rng, extent=1.0).kernel
    narrow = bk.camera_shake(31, np.random.default_rng(0), extent=0.3).kernel
    ys, xs = np.nonzero(wide > 0)
    assert max(np.abs(ys - 15).max(), np.abs(xs - 15).max()) >= 13   # fills the kernel
    ys, xs = np.nonzero(narrow > 0)
    assert max(np.abs(ys - 15).max(), np.abs(xs - 15).max()) <= 6
    horizontal = bk.linear_motion(21, 15, 0.0).kernel
    assert horizontal[10].sum() > 0.99 and np.count_nonzero(horizontal[10]) >= 15


def test_defocus_is_a_round_disc_and_convolve_is_true_convolution():
    disc = bk.defocus_disc(15, 5.0).kernel
    assert np.allclose(disc, disc.T) and np.allclose(disc, disc[::-1])
    assert disc[7, 7] > 0 and disc[7, 0] == 0 and disc[7, 2] > 0
    # An impulse comes out as the kernel itself, not its mirror image.
    kernel = bk.linear_motion(9, 6, 0.4).kernel
    kernel[0, 0] = 0.05   # make it asymmetric
    impulse = np.zeros((31, 31), np.float32)
    impulse[15, 15] = 1.0
    assert np.allclose(bk.convolve(impulse, kernel)[11:20, 11:20], kernel, atol=1e-6)


@pytest.mark.parametrize("bad", [4, 1, 0])
def test_bad_kernel_sizes_are_refused(bad):
    with pytest.raises(ValueError):
        bk.defocus_disc(bad, 1.0)


# --- synthetic pairs -----------------------------------------------------------------------------


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth colour field with hard-edged rectangles (uint8 RGB)."""
    import cv2

    small = rng.random((h // 8, w // 8, 3)).astype(np.float32)
    image = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(6):
        y, x = rng.integers(0, h - 16), rng.integers(0, w - 16)
        image[y:y + int(rng.integers(6, 16)), x:x + int(rng.integers(6, 16))] = rng.random(3)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def test_synthesis_is_reproducible_by_seed():
    region = dd.pad_for_context(_photo(np.random.default_rng(0), 64, 64)).astype(np.float32) / 255
    a = dd.synthesize(region, np.random.default_rng(3))
    b = dd.synthesize(region, np.random.default_rng(3))
    c = dd.synthesize(region, np.random.default_rng(4))
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]
    assert not np.array_equal(a[0], c[0])
    blurry, sharp, _ = a
    assert blurry.shape == sharp.shape == (64, 64, 3) and blurry.dtype == np.float32
    assert np.array_equal(sharp, region[dd.MARGIN:-dd.MARGIN, dd.MARGIN:-dd.MARGIN])
    assert 0.0 <= blurry.min() and blurry.max() <= 1.0


def test_every_blur_kind_keeps_the_pair_aligned():
    # A blur of any kind keeps the mean and the position: the blurry patch correlates best
    # with the sharp one at zero shift.
    region = dd.pad_for_context(_photo(np.random.default_rng(1), 96, 96)).astype(np.float32) / 255
    quiet = dd.SynthConfig(p_sharp=0.0, p_noise=0.0, p_jpeg=0.0, p_linear_light=0.0)
    for nonuniform in (0.0, 1.0):
        cfg = dd.SynthConfig(**{**quiet.__dict__, "p_nonuniform": nonuniform})
        for seed in range(4):
            blurry, sharp, info = dd.synthesize(region, np.random.default_rng(seed), cfg)
            assert (info["kind"] == "moving_crop") == (nonuniform == 1.0)
            assert abs(float(blurry.mean() - sharp.mean())) < 0.02
            errors = {(dy, dx): float(np.mean((np.roll(blurry, (dy, dx), (0, 1)) - sharp)
                                              [8:-8, 8:-8] ** 2))
                      for dy in (-2, 0, 2) for dx in (-2, 0, 2)}
            assert min(errors, key=errors.get) == (0, 0), info


def test_noise_stays_within_two_percent_and_sharp_pairs_exist():
    cfg = dd.DEFAULT
    assert cfg.noise_sigma[1] <= 0.02 and 0 < cfg.p_sharp < 0.2
    region = np.full((80, 80, 3), 0.5, np.float32)
    rng = np.random.default_rng(0)
    for _ in range(20):
        noisy, info = dd.add_noise_and_compress(region[:16, :16], rng,
                                                dd.SynthConfig(p_jpeg=0.0, p_noise=1.0))
        assert info["noise_sigma"] <= 0.02 and float(np.std(noisy)) < 0.03


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "natural"
    root.mkdir()
    for i in range(6):
        Image.fromarray(_photo(rng, 80, 96)).save(root / f"im{i}.png")
    return root


def test_batches_depend_only_on_seed_and_iteration(data_dir):
    from concurrent.futures import ThreadPoolExecutor

    images, val = dd.load_dataset(data_dir)
    assert [name for name, _ in val] == ["im0.png"]          # held out, not trained on
    sampler = dd.DeblurPatchSampler(images, patch=32, batch=3, seed=1)
    blurry, sharp = sampler.batch(7)
    assert blurry.shape == sharp.shape == (3, 3, 32, 32) and blurry.dtype == np.float32
    # Any order, any thread: a resumed run or a parallel one draws the same batch.
    sampler.batch(8)
    with ThreadPoolExecutor(3) as pool:
        again = dd.DeblurPatchSampler(images, patch=32, batch=3, seed=1).batch(7, pool)
    assert np.array_equal(blurry, again[0]) and np.array_equal(sharp, again[1])
    assert not np.array_equal(blurry, sampler.batch(9)[0])
    other = dd.DeblurPatchSampler(images, patch=32, batch=3, seed=2).batch(7)
    assert not np.array_equal(blurry, other[0])


def test_validation_pairs_are_fixed_and_blurred():
    val = [("a.png", _photo(np.random.default_rng(2), 70, 90))]
    first, second = dd.make_val_set(val, crop=48), dd.make_val_set(val, crop=48)
    assert np.array_equal(first[0].blurry, second[0].blurry)
    assert first[0].blurry.shape == (48, 48, 3) and first[0].info["kind"] != "sharp"


# --- loss, training, resume, export --------------------------------------------------------------


def test_multiscale_loss_sums_every_level():
    sharp = torch.rand(2, 3, 32, 32)
    pyramid = target_pyramid(sharp, 3)
    assert [p.shape[-1] for p in pyramid] == [8, 16, 32]
    assert float(multiscale_loss(pyramid, sharp)) == 0.0
    off = [p + 0.1 for p in pyramid]
    assert float(multiscale_loss(off, sharp, "l1")) == pytest.approx(0.3, abs=1e-5)
    assert float(multiscale_loss(off, sharp, "l2")) == pytest.approx(0.03, abs=1e-5)


def _args(data_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    # One thread: a width-4 net is hundreds of tiny operations, which a second thread only
    # slows down (and on a busy machine, by a lot).
    return ["--run-dir", str(run_dir), "--batch", "4", "--patch", "32", "--lr", "5e-3",
            "--seed", "3", "--data", str(data_dir), "--arch", '{"width": 4}',
            "--val-every", "1000", "--log-every", "1000", "--threads", "1", *extra]


def test_thirty_iterations_lower_the_loss(data_dir, tmp_path):
    # Later flags win: a width-6 net, 8 patches a batch (what 30 steps can show best).
    summary = train(_args(data_dir, tmp_path / "run", "--iters", "30", "--arch",
                          '{"width": 6}', "--batch", "8", "--lr", "3e-3"), quiet=True)
    assert summary["iteration"] == 30
    checkpoint = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    start = SRNDeblur(width=6).eval()                 # the identity: where training starts
    trained = SRNDeblur(width=6).eval()
    trained.load_state_dict(checkpoint["model"])
    images, _ = dd.load_dataset(data_dir)
    # Patches the run never saw (another seed), on the multi-scale loss it trains.
    blurry, sharp = dd.DeblurPatchSampler(images, 32, 24, seed=99).batch(0)
    blurry_t, sharp_t = torch.from_numpy(blurry), torch.from_numpy(sharp)
    with torch.no_grad():
        before = float(multiscale_loss(start.forward_scales(blurry_t), sharp_t))
        after = float(multiscale_loss(trained.forward_scales(blurry_t), sharp_t))
    # The identity start already gets colours and flat areas right; what 30 small steps
    # take off is a few % of the loss (2.5 % when this was written), all of it at edges.
    assert after < 0.985 * before, (before, after)
    assert checkpoint["history"] and "gain" in checkpoint["history"][-1]


def test_resume_continues_exactly(data_dir, tmp_path):
    train(_args(data_dir, tmp_path / "straight", "--iters", "6"), quiet=True)
    # The interrupted run also makes its batches ahead in worker threads: same batches.
    train(_args(data_dir, tmp_path / "split", "--iters", "6", "--stop-at", "2",
                "--workers", "2"), quiet=True)
    train(_args(data_dir, tmp_path / "split", "--iters", "6", "--resume"), quiet=True)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=False)
    assert a["iteration"] == b["iteration"] == 6
    for key, value in a["model"].items():
        assert torch.allclose(value, b["model"][key], atol=1e-6), key
    commands = reproduction_commands(tmp_path / "split", "deblur-srn", "best")
    assert "--stop-at 2" in commands[0] and "--resume" in commands[1]
    assert commands[-1].startswith("python -m editor.training.export_deblur --run-dir")


def test_refuses_to_overwrite_a_run_or_odd_patches(data_dir, tmp_path):
    train(_args(data_dir, tmp_path / "run", "--iters", "1"), quiet=True)
    with pytest.raises(SystemExit):
        train(_args(data_dir, tmp_path / "run", "--iters", "1"), quiet=True)
    with pytest.raises(SystemExit, match="multiple of 16"):
        train(_args(data_dir, tmp_path / "odd", "--iters", "1", "--patch", "40"), quiet=True)


def test_export_writes_loadable_weights_and_an_honest_card(data_dir, tmp_path):
    train(_args(data_dir, tmp_path / "run", "--iters", "4", "--val-every", "2"), quiet=True)
    models = tmp_path / "models"
    card = export(tmp_path / "run", "deblur-test", models_dir=models, measure_speed=False)
    weights = models / "deblur-test.safetensors"
    saved = json.loads((models / "deblur-test.json").read_text())
    assert saved["sha256"] == card["sha256"] == sha256_file(weights)
    assert saved["arch_kwargs"] == {"width": 4, "scales": 3}
    assert saved["params"] > 0 and saved["receptive_radius_theoretical_px"] > 1000
    radius = saved["context_radius_measured"]["radius_px"]
    assert radius is not None and saved["tile_overlap"] == 2 * radius
    assert saved["training"]["commands"][0].startswith("python -m editor.training.train_deblur")
    assert "non-commercial" in saved["licence"] and saved["validation"]["input_psnr"] > 0
    assert saved["targets"][0]["met"] is True               # a width-4 net is tiny
    spec = ModelSpec(id="deblur-test", task="deblur", architecture="srn_deblur",
                     weights=weights.name, sha256=saved["sha256"], licence="test",
                     arch_kwargs=saved["arch_kwargs"])
    net = load_model(spec, device="cpu", directory=models)
    trained = SRNDeblur(width=4).eval()
    trained.load_state_dict(torch.load(tmp_path / "run" / "best.pt",
                                       weights_only=False)["model"])
    x = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        assert torch.allclose(net(x), trained(x), atol=1e-6)


def test_export_refuses_weights_the_catalog_entry_cannot_run(data_dir, tmp_path):
    # A width-4 run is not the catalog's deblur-srn (width 12): exporting under that id
    # must stop before writing anything.
    train(_args(data_dir, tmp_path / "run", "--iters", "1"), quiet=True)
    with pytest.raises(SystemExit, match="catalog"):
        export(tmp_path / "run", "deblur-srn", models_dir=tmp_path / "m", measure_speed=False,
               context=False)
    assert not (tmp_path / "m" / "deblur-srn.safetensors").exists()
