"""``restora-cli bench deblur``: runs end to end on a tiny benchmark made here (so the suite
needs no ../shared), with the stand-in random-weight model and without any weights; every
baseline runs either way, missing weights read "not trained yet", the four parts, the
contact sheet and the targets are written where they are told (never into the
repository's models/), and no data is a one-line usage error.

No timing or quality thresholds: the numbers belong in RESULTS.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import editor
from editor.cli_bench import BENCHMARKS
from editor.training import bench_deblur as bd
from editor.training import blur_kernels as bk
from editor.training import deblur_data
from tests.deblur_fakes import tiny_deblur_source

REPO_MODELS = Path(editor.__file__).resolve().parents[1] / "models"


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch):
    """The stand-in network is tiny: one thread is faster (the benchmark's own 2 threads
    only add waiting here), and the caller's count comes back after."""
    monkeypatch.setattr(bd, "THREADS", 1)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    import cv2

    image = cv2.resize(rng.random((h // 6, w // 6, 3)).astype(np.float32), (w, h),
                       interpolation=cv2.INTER_CUBIC)
    image[h // 3: h // 2, w // 4: w // 2] = rng.random(3)
    return np.clip(image, 0, 1)


def _save(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory) -> Path:
    """``data/bench`` with the four folders the benchmark reads, a few small images each."""
    data = tmp_path_factory.mktemp("data")
    bench = data / "bench"
    for i in range(3):
        _save(bench / "sr" / "B100" / "x4" / f"img_{i + 1:03d}_SRF_4_HR.png", _photo(96, 120, i))
    levin = bench / "deblur" / "levin"
    kernels = [bk.linear_motion(9, 7, 0.3).kernel, bk.defocus_disc(7, 2.5).kernel]
    for j, kernel in enumerate(kernels, start=1):
        _save(levin / "gt" / f"kernel{j}.png", kernel / kernel.max())
    for i in (1, 2):
        sharp = _photo(72, 72, 10 + i).mean(axis=2)
        _save(levin / "gt" / f"im{i}.png", sharp)
        for j, kernel in enumerate(kernels, start=1):
            _save(levin / f"im{i}_kernel{j}_img.png", bk.convolve(sharp, kernel))
    for name, seed in (("Flower", 20), ("Istanbul", 21)):
        sharp = _photo(80, 112, seed)
        _save(bench / "deblur" / "gopro_pairs" / f"{name}_sharp1.png", sharp)
        _save(bench / "deblur" / "gopro_pairs" / f"{name}_blur1.png",
              bk.convolve(sharp, bk.linear_motion(11, 9, 1.0).kernel))
    for name, seed in (("a.png", 30), ("b.jpg", 31)):
        _save(bench / "deblur" / "real_blurry" / name,
              bk.convolve(_photo(90, 150, seed), bk.defocus_disc(9, 3).kernel))
    return data


def _stamp(path: Path):
    return (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None


def test_registered_as_a_cli_benchmark():
    assert "deblur" in BENCHMARKS


def test_quick_run_with_a_model_fills_every_part(fake_data, tmp_path, capsys):
    watched = [REPO_MODELS / "RESULTS.md", REPO_MODELS / "results" / "deblur.json",
               REPO_MODELS / bd.CONTACT_SHEET]
    before = [_stamp(p) for p in watched]
    source = tiny_deblur_source(tmp_path / "weights")
    out = tmp_path / "out"
    code = bd.main(["--quick", "--data", str(fake_data), "--out", str(out)], source=source)
    printed = capsys.readouterr().out
    assert code == 0, printed
    text = (out / "RESULTS.md").read_text()
    for title in ("1. Synthetic held-out", "2. Levin et al.", "3. GoPro pairs",
                  "4. Real blurry photos", "Speed and memory", "Targets"):
        assert title in text
    assert "QUICK run" in text and "not trained yet" not in text
    data = json.loads((out / "results" / "deblur.json").read_text())["data"]
    for part in ("synthetic", "levin", "gopro"):
        assert data["parts"][part]["ours"]["images"] == 2
        assert "gain_db" in data["parts"][part]["ours"]
    # The non-blind references run wherever a true kernel exists, and only there.
    assert "richardson_lucy" in data["parts"]["synthetic"]
    assert "wiener" in data["parts"]["levin"]
    assert "richardson_lucy" not in data["parts"]["gopro"]
    assert all(r["shift"] is not None for r in data["parts"]["levin"]["ours"]["per_image"])
    statuses = {t["target"]: t["status"] for t in data["targets"]}
    assert all(s in ("PASS", "MISS") for s in statuses.values()), statuses
    assert data["speed"]["tool"]["s_per_output_mp"] > 0
    # Two rows of input | ours, the quick run's photos shrunk to 128 x 77, 8-px gaps.
    assert Image.open(out / bd.CONTACT_SHEET).size == (2 * 128 + 8, 2 * (77 + 8))
    assert [_stamp(p) for p in watched] == before


def test_without_weights_ours_says_not_trained_and_baselines_still_run(fake_data, tmp_path,
                                                                       capsys):
    missing = tiny_deblur_source(tmp_path / "none", save=False)
    out = tmp_path / "out"
    code = bd.main(["--quick", "--data", str(fake_data), "--out", str(out)], source=missing)
    capsys.readouterr()
    assert code == 0
    text = (out / "RESULTS.md").read_text()
    assert "not trained yet (test-deblur.safetensors not in the models folder)" in text
    data = json.loads((out / "results" / "deblur.json").read_text())["data"]
    for part in ("synthetic", "levin"):
        assert {"input", "unsharp", "richardson_lucy", "wiener"} <= set(data["parts"][part])
        assert "ours" not in data["parts"][part]
    assert {"input", "unsharp"} <= set(data["parts"]["gopro"])
    assert all(t["status"] == "n/a" for t in data["targets"])
    assert (out / bd.CONTACT_SHEET).is_file()                 # input | placeholder
    # Richardson–Lucy given the true kernel sharpens a synthetic blur (a sanity check of
    # the protocol: kernel orientation and alignment are right).
    assert data["parts"]["synthetic"]["richardson_lucy"]["gain_db"] > 0


def test_no_data_is_a_usage_error(tmp_path, capsys):
    code = bd.main(["--quick", "--data", str(tmp_path / "nothing")])
    err = capsys.readouterr().err
    assert code == 2 and "no benchmark data" in err and "\n" == err[-1] and err.count("\n") == 1


def test_benchmark_blurs_are_fixed_and_from_their_own_stream():
    assert bd.BENCH_STREAM not in (deblur_data.TRAIN_STREAM, deblur_data.VAL_STREAM)
    first, again = bd.bench_kernel(0), bd.bench_kernel(0)
    assert np.array_equal(first.kernel, again.kernel)
    assert first.kind == "shake" and bd.bench_kernel(1).kind == "defocus"
    assert bd.SHAKE_SIZES[0] <= first.size <= bd.SHAKE_SIZES[1]
    sharp = np.full((40, 40, 3), 0.5, np.float32)
    blurry, kernel = bd.blur_for_bench(sharp, 0)
    assert np.array_equal(blurry, bd.blur_for_bench(sharp, 0)[0])
    assert 0.005 < float(np.std(blurry - 0.5)) < 0.015            # sigma 1 % noise, 8-bit


def test_levin_scoring_finds_the_shift():
    gt = np.round(_photo(64, 64, 3).mean(axis=2) * 255) / 255
    moved = np.roll(gt, (2, -3), axis=(0, 1))
    score, _ssim, shift = bd.score_shifted(moved, gt, border=8, max_shift=4)
    assert shift == (2, -3) and score == float("inf")
