"""``restora-cli bench superres``: runs end to end on a tiny benchmark made here (so the
suite needs no ../shared), lists every method with a reason when it cannot run, scores
the way the field does, judges every target, writes where it is told and never into the
repository's models/, and exits 2 with a clear message when there is no data.

No timing assertions: the numbers belong in RESULTS.md, and a shared test machine would
make any threshold flaky. OpenCV's peer models are exercised only when ../shared/peers
is there (they are research downloads, not part of the product)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import editor
from editor.cli_bench import BENCHMARKS, run_benchmark
from editor.core.imresize import imresize
from editor.core.metrics import psnr_y
from editor.training import bench_superres, peers
from tests.sr_fakes import tiny_sr_source

REPO = Path(editor.__file__).resolve().parents[1]
REPO_MODELS = REPO / "models"
SHARED_PEERS = peers.default_peers_dir()


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 6 + 2, w // 6 + 2, 3)).astype(np.float32)
    image = imresize(coarse, output_shape=(h, w)) + rng.normal(0, 0.03, (h, w, 3))
    return np.clip(image, 0, 1).astype(np.float32)


def _save(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(np.round(image * 255), 0, 255).astype(np.uint8)).save(path)


def _lr(hr: np.ndarray, scale: int) -> np.ndarray:
    h, w = hr.shape[0] // scale, hr.shape[1] // scale
    return imresize(hr[: h * scale, : w * scale], 1.0 / scale)


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory) -> Path:
    """``data/bench/sr`` in both layouts the real data uses: Set5 as HR/ + LR_bicubic/X{s}/
    (x2, x3, x4), Set14 and B100 as x4/*_HR.png + *_LR.png. Three images per set (quick
    takes two); one HR is not a multiple of the scale, to exercise the HR crop."""
    data = tmp_path_factory.mktemp("data")
    root = data / "bench" / "sr"
    for i, name in enumerate(("bird", "head", "zebra")):
        hr = _photo(50 if i == 0 else 48, 62 if i == 0 else 60, seed=i)
        _save(root / "Set5" / "HR" / f"{name}.png", hr)
        for s in (2, 3, 4):
            _save(root / "Set5" / "LR_bicubic" / f"X{s}" / f"{name}x{s}.png", _lr(hr, s))
    for set_name, seed in (("Set14", 10), ("B100", 20)):
        for i in range(3):
            hr = _photo(48, 64, seed=seed + i)
            stem = f"img_{i + 1:03d}_SRF_4"
            _save(root / set_name / "x4" / f"{stem}_HR.png", hr)
            _save(root / set_name / "x4" / f"{stem}_LR.png", _lr(hr, 4))
    return data


def _stamp(path: Path):
    return (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None


WATCHED = [REPO_MODELS / "RESULTS.md", REPO_MODELS / "results" / "superres.json"]


@pytest.fixture(scope="module")
def quick_run(fake_data, tmp_path_factory):
    """A --quick run with stand-in TinyNet models for every catalog choice (quality
    x2/x3/x4, fast x2, real x4) and no peers folder."""
    tmp = tmp_path_factory.mktemp("bench")
    source = tiny_sr_source(tmp / "models")
    before = [_stamp(p) for p in WATCHED]
    threads = torch.get_num_threads(), cv2.getNumThreads()
    code = bench_superres.main(["--quick", "--data", str(fake_data), "--out", str(tmp / "out"),
                                "--peers", str(tmp / "no-peers")], source=source)
    record = json.loads((tmp / "out" / "results" / "superres.json").read_text("utf-8"))
    return {"code": code, "out": tmp / "out", "record": record, "data": record["data"],
            "source": source, "repo_before": before,
            "repo_after": [_stamp(p) for p in WATCHED],
            "threads_before": threads,
            "threads_after": (torch.get_num_threads(), cv2.getNumThreads())}


# -- the quick run ---------------------------------------------------------------------------

def test_quick_run_succeeds_and_writes_only_where_told(quick_run):
    assert quick_run["code"] == 0, quick_run["data"]["errors"]
    text = (quick_run["out"] / "RESULTS.md").read_text("utf-8")
    assert "<!-- bench:superres -->" in text and "## Super-resolution" in text
    for heading in ("### Quality", "### Speed and memory", "### Real-photo test", "### Targets"):
        assert heading in text
    assert quick_run["data"]["plan"]["quick"] is True
    assert quick_run["repo_after"] == quick_run["repo_before"]
    # The benchmark's 2-thread limit is its own business: the caller's settings come back.
    assert quick_run["threads_after"] == quick_run["threads_before"]


def test_every_set_and_scale_with_data_is_measured_on_two_images(quick_run):
    sets = {(s["set"], s["scale"]): s["images"] for s in quick_run["data"]["sets"]}
    assert set(sets) == {("Set5", 2), ("Set5", 3), ("Set5", 4), ("Set14", 4), ("B100", 4)}
    assert all(len(images) == 2 for images in sets.values())
    assert sets[("Set5", 2)] == ["bird", "head"]  # sorted, first two


def test_every_model_of_every_kind_gets_a_row(quick_run):
    data = quick_run["data"]
    methods = {m["key"]: m for m in data["methods"]}
    ours = {spec.id for specs in quick_run["source"].modes.values() for spec in specs}
    assert ours <= set(methods)
    assert {"bicubic-x2", "bicubic-x3", "bicubic-x4"} <= set(methods)
    for key in ours | {"bicubic-x4"}:
        assert methods[key]["available"], methods[key]
    # Peers without their folder: listed, skipped, with the reason.
    peer_rows = [m for m in methods.values() if m["kind"] == "peer"]
    assert len(peer_rows) == len(peers.PEER_MODELS)
    assert all(not m["available"] and "skipped" in m["note"] for m in peer_rows)
    quality_table = (quick_run["out"] / "RESULTS.md").read_text("utf-8")
    assert "OpenCV ESPCN ×4" in quality_table and "peers folder" in quality_table


def test_scores_are_the_fields_y_psnr_of_8_bit_outputs(quick_run, fake_data):
    data = quick_run["data"]
    bicubic = data["quality"]["bicubic-x4"]["Set5"]
    per_image = {r["image"]: r for r in bicubic["per_image"]}
    # Recompute one by hand: MATLAB bicubic of the LR file, rounded to 8 bits, against the
    # HR cropped to LR x 4 (bird's HR is 62x50, not a multiple of 4), border 4.
    root = fake_data / "bench" / "sr" / "Set5"
    lr = np.asarray(Image.open(root / "LR_bicubic" / "X4" / "birdx4.png"), np.float32) / 255
    hr = np.asarray(Image.open(root / "HR" / "bird.png"), np.float32) / 255
    hr = hr[: lr.shape[0] * 4, : lr.shape[1] * 4]
    sr = np.clip(np.round(imresize(lr, 4.0) * 255), 0, 255) / 255
    # abs=1e-5: the JSON keeps 6 decimals.
    assert per_image["bird"]["psnr_y"] == pytest.approx(psnr_y(sr, hr, 4), abs=1e-5)
    for entry in data["quality"].values():
        for result in entry.values():
            assert "error" not in result
            assert 0 < result["ssim_y"] <= 1 and result["psnr_y"] > 10
            assert result["median_s_per_mp"] > 0


def test_speed_rows_cover_every_runnable_model_and_the_tool(quick_run):
    speed = quick_run["data"]["speed"]
    source = quick_run["source"]
    for specs in source.modes.values():
        for spec in specs:
            assert speed[spec.id]["s_per_output_mp"] > 0
            assert speed[spec.id]["output"] == [speed[spec.id]["input"][0] * spec.scale] * 2
    assert "tool:test-quality-x4" in speed and "tool:test-fast-x2" in speed
    assert all(row["peak_rss_mb"] is None or row["peak_rss_mb"] > 0 for row in speed.values())


def test_real_photo_test_compares_real_and_quality_on_degraded_b100(quick_run):
    real = quick_run["data"]["real_photo"]
    assert real["images"] == 2
    rows = real["rows"]
    assert {"bicubic-x4", "test-quality-x4", "test-real-x4"} <= set(rows)
    clean = quick_run["data"]["quality"]["test-real-x4"]["B100"]["psnr_y"]
    assert rows["test-real-x4"]["clean_psnr_y"] == pytest.approx(clean)
    # Noise and JPEG blocks cost every method something.
    for row in rows.values():
        assert row["degraded_psnr_y"] < row["clean_psnr_y"]


def test_degradation_is_seeded_and_fixed(fake_data):
    files = bench_superres.discover(bench_superres.sr_root(fake_data), 2)
    b100 = next(f for name, scale, f in files if name == "B100")
    pairs = bench_superres.load_pairs(b100, 4)
    first, again = bench_superres.degraded_lr(pairs), bench_superres.degraded_lr(pairs)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], pairs[0].lr)
    # 8-bit steps: it went through a JPEG file.
    assert np.allclose(first[0] * 255, np.round(first[0] * 255), atol=1e-4)


def test_every_target_is_judged(quick_run):
    targets = {t["target"]: t for t in quick_run["data"]["targets"]}
    names = "\n".join(targets)
    for fragment in ("×4 on Set5 ≥ 30.8", "×4 on Set14 ≥ 27.5", "×4 on B100 ≥ 26.9",
                     "×2 on Set5 ≥ 36.8", "×3 on Set5 ≥ 32.9", "≤ 0.5 s per output MP",
                     "weights ≤ 5 MB", "1-MP preview ≤ 0.15 s", "beats quality ×4",
                     "≤ 1 dB below quality"):
        assert fragment in names, names
    # With every model present and every set there, nothing is left unjudged.
    assert all(t["status"] in ("PASS", "MISS") for t in targets.values()), targets
    table = (quick_run["out"] / "RESULTS.md").read_text("utf-8").split("### Targets")[1]
    assert "| PASS |" in table or "| MISS |" in table


def test_untrained_models_are_listed_not_dropped(fake_data, tmp_path):
    # The catalog's specs exist but their weights files do not: the state of a fresh
    # checkout, and of every model still in training.
    source = tiny_sr_source(tmp_path / "models", save=False)
    outcome = bench_superres.run(bench_superres.QUICK, fake_data, source=source,
                                 peers_dir=tmp_path / "no-peers", write=False)
    assert outcome.errors == []
    methods = {m["key"]: m for m in outcome.data["methods"]}
    for key in ("test-quality-x2", "test-quality-x4", "test-fast-x2", "test-real-x4"):
        assert not methods[key]["available"] and "not trained yet" in methods[key]["note"]
    assert "not trained yet" in outcome.markdown
    statuses = {t["target"]: t["status"] for t in outcome.data["targets"]}
    assert statuses and all(s == "n/a" for s in statuses.values()), statuses
    # Bicubic is still measured.
    assert outcome.data["quality"]["bicubic-x4"]["B100"]["psnr_y"] > 10


def test_missing_data_exits_2_with_a_clear_message(tmp_path, capsys):
    code = run_benchmark("superres", ["--quick", "--data", str(tmp_path / "nowhere"),
                                      "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no super-resolution benchmark data" in err and "--data" in err
    assert not (tmp_path / "out").exists()


def test_the_benchmark_is_registered_and_rejects_bad_arguments(capsys):
    assert "superres" in BENCHMARKS
    assert run_benchmark(None, []) == 0
    assert "superres" in capsys.readouterr().out.split()
    assert run_benchmark("superres", ["--no-such-flag"]) == 2


def test_json_never_holds_infinity():
    # Identical images give an infinite PSNR; strict JSON cannot hold it.
    assert bench_superres._json_safe({"a": [float("inf"), 1.5]}) == {"a": [None, 1.5]}


# -- the command line, headless --------------------------------------------------------------

PROBE = textwrap.dedent("""
    import sys
    from editor.cli import main
    code = main(["bench", "superres", "--quick", "--data", sys.argv[1], "--out", sys.argv[2],
                 "--peers", sys.argv[3]])
    qt = sorted(m for m in sys.modules if m == "PySide6" or m.startswith("PySide6."))
    print("QT-MODULES:", qt)
    sys.exit(code)
""")


def test_cli_runs_headless_with_the_application_catalog(fake_data, tmp_path):
    """The real command with the real catalog: whatever weights models/ holds right now
    (none, some or all) must give a table, never a crash, and no Qt."""
    out = tmp_path / "out"
    before = [_stamp(p) for p in WATCHED]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run([sys.executable, "-c", PROBE, str(fake_data), str(out),
                           str(tmp_path / "no-peers")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "QT-MODULES: []" in done.stdout
    assert "### Targets" in done.stdout and "sr-quality-x4" in done.stdout
    assert (out / "results" / "superres.json").is_file()
    assert [_stamp(p) for p in WATCHED] == before


# -- OpenCV's peers --------------------------------------------------------------------------

def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        low, v = v & 0x7F, v >> 7
        out.append(low | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _ld(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _node(name: bytes, op: bytes, attrs: dict[bytes, bytes]) -> bytes:
    body = _ld(1, name) + _ld(2, op)
    for key, value in attrs.items():
        body += _ld(5, _ld(1, key) + _ld(2, value))
    return body


def test_graph_repair_adds_blocksize_to_depth_to_space_only():
    block = _varint(3 << 3 | 0) + _varint(4)  # AttrValue{i: 4}
    other = _node(b"conv", b"Conv2D", {b"block_size": block})
    d2s = _node(b"shuffle", b"DepthToSpace",
                {b"block_size": block, b"data_format": _ld(2, b"NHWC")})
    # GraphDef.versions is field 4; a varint stands in for it, to be carried over as is.
    graph = _ld(1, other) + _ld(1, d2s) + _varint(4 << 3 | 0) + _varint(27)
    fixed = peers._with_blocksize(graph)
    nodes = [payload for number, payload, _ in peers._fields(fixed) if number == 1]
    assert nodes[0] == other  # untouched, byte for byte
    keys = [next(p for n, p, _ in peers._fields(entry) if n == 1)
            for number, entry, _ in peers._fields(nodes[1]) if number == 5]
    assert keys == [b"block_size", b"blocksize", b"data_format"]
    assert fixed.endswith(_varint(4 << 3 | 0) + _varint(27))  # other fields kept
    # Already repaired: unchanged.
    assert peers._with_blocksize(fixed) == fixed


def test_missing_peers_folder_is_a_reason_not_a_crash(tmp_path):
    with pytest.raises(peers.PeerUnavailable, match="not found"):
        peers.load_peer(peers.PEER_MODELS[0], tmp_path / "absent")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / peers.PEER_MODELS[0].filename).write_bytes(b"not a graph")
    with pytest.raises(peers.PeerUnavailable):
        peers.load_peer(peers.PEER_MODELS[0], tmp_path / "broken")


@pytest.mark.skipif(not SHARED_PEERS.is_dir(), reason=f"{SHARED_PEERS} not present "
                    "(OpenCV's published models are a benchmark download, not shipped)")
@pytest.mark.parametrize("spec", peers.PEER_MODELS, ids=lambda s: s.filename)
def test_published_peers_load_and_upscale_sensibly(spec):
    peer = peers.load_peer(spec)
    hr = _photo(48, 60, seed=5)
    lr = imresize(hr, 1.0 / spec.scale)
    out = peer.upscale(lr)
    assert out.shape == (lr.shape[0] * spec.scale, lr.shape[1] * spec.scale, 3)
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    # Close to bicubic (it is an SR network, not noise), and colours intact.
    bicubic = imresize(lr, float(spec.scale))
    assert psnr_y(out, bicubic, spec.scale) > 25
    np.testing.assert_allclose(out.mean(axis=(0, 1)), bicubic.mean(axis=(0, 1)), atol=0.03)
