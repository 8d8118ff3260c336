"""The Retouch tool: what a retoucher would notice — strength 0 is the photo untouched,
strength only moves colour and tone (never the detail), the fast renderer is the network,
the strength slider does not re-run it, styles come and go without breaking the list, and
missing weights give one clear line. Runs on the narrow random-weight LPTN of
tests/retouch_fakes.py (see tests/tools/conftest.py)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from editor.engine.weights import WeightsError
from editor.tools import TOOLS, retouch, retouch_styles
from editor.tools.model_slot import SingleModel
from editor.tools.retouch_render import analyse, render
from tests.retouch_fakes import tiny_lptn, tiny_retouch_source

TOOL = TOOLS["retouch"]


def photo(h=60, w=90, channels=3, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:h, :w] / np.float32(max(h, w))
    base = np.stack([0.5 + 0.3 * np.sin(5 * x), 0.4 + 0.3 * y, 0.3 + 0.2 * x * y], axis=2)
    image = np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1).astype(np.float32)
    if channels == 4:
        image = np.concatenate([image, rng.random((h, w, 1), dtype=np.float32)], axis=2)
    return image


def high_pass(image: np.ndarray) -> np.ndarray:
    return image - cv2.GaussianBlur(image, (0, 0), 2.0)


@pytest.mark.parametrize("shape", [(60, 90, 3), (60, 90, 4), (33, 17), (20, 25, 2)])
def test_strength_zero_returns_the_input_exactly(shape):
    image = np.random.default_rng(1).random(shape, dtype=np.float32)
    out = TOOL.apply(image, {"strength": 0.0})
    assert out.dtype == np.float32 and np.array_equal(out, image)


def test_full_strength_changes_the_look_and_keeps_alpha():
    image = photo(channels=4)
    out = TOOL.apply(image, {"strength": 1.0})
    assert np.array_equal(out[..., 3], image[..., 3])
    assert np.abs(out[..., :3] - image[..., :3]).mean() > 0.005


def test_grey_stays_grey():
    grey = photo()[..., :1]
    out = TOOL.apply(grey, {})
    assert out.shape == grey.shape


@pytest.mark.parametrize("h, w, grade", [(37, 53, False), (150, 700, False), (1, 1, False),
                                         (5, 300, False), (37, 53, True), (150, 700, True)])
def test_fast_renderer_is_the_network(h, w, grade):
    """cv2 pyramid + torch on the small levels = the network's own forward pass, also for
    sizes with more levels than refine blocks (700 px: 4 levels), and with the global
    grade (NumPy at full resolution there, torch in training)."""
    net = tiny_lptn(seed=3, global_tone=grade)
    image = np.random.default_rng(h).random((h, w, 3), dtype=np.float32)
    with torch.inference_mode():
        expected = net(torch.from_numpy(image.transpose(2, 0, 1).copy())[None])[0]
    out = render(analyse(net, image), 1.0)
    np.testing.assert_allclose(out, expected.numpy().transpose(1, 2, 0), atol=2e-5)


def test_half_strength_moves_colour_not_detail():
    """Strength is blended in the low band, so the output's fine detail is the photo's own
    (up to the detail gain the masks apply), never the softened mix a pixel blend of two
    versions would give when they disagree on where an edge sits."""
    net = tiny_lptn(seed=1)
    with torch.no_grad():                     # colour and tone only: no detail gain
        for conv in (net.mask.tail, *[r.conv2 for r in net.refine]):
            conv.weight.zero_()
            conv.bias.zero_()
    image = photo(120, 160)
    analysis = analyse(net, image)
    for strength in (0.25, 0.5, 1.0):
        out = render(analysis, strength)
        assert np.abs(out - image).mean() > 0.002 * strength
        detail_change = np.abs(high_pass(out) - high_pass(image))[8:-8, 8:-8].mean()
        assert detail_change < 0.02 * np.abs(high_pass(image)).mean()


def test_strength_is_monotone_between_input_and_full():
    image = photo()
    full = TOOL.apply(image, {"strength": 1.0})
    half = TOOL.apply(image, {"strength": 0.5})
    assert np.abs(half - image).mean() < np.abs(full - image).mean()
    assert np.abs(half - full).mean() < np.abs(full - image).mean()


def test_strength_slider_reuses_the_network_result(monkeypatch):
    loads = []
    real = SingleModel.load
    monkeypatch.setattr(SingleModel, "load", lambda self: loads.append(1) or real(self))
    image = photo()
    outs = [TOOL.apply(image, {"strength": s}) for s in (0.3, 0.6, 0.9)]
    assert len(loads) == 1
    assert not np.array_equal(outs[0], outs[1])
    TOOL.apply(photo(seed=5), {"strength": 0.5})        # another picture: runs again
    assert len(loads) == 2


def test_large_photo_renders_whole_at_full_size():
    image = photo(700, 1100)
    out = TOOL.apply(image, {"strength": 1.0})
    assert out.shape == image.shape and np.isfinite(out).all()
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_missing_weights_say_so_in_one_line(tmp_path):
    missing = tiny_retouch_source(tmp_path, save=False)
    previous = retouch.set_model_source(missing)
    retouch.clear_cache()
    try:
        with pytest.raises(WeightsError) as error:
            TOOL.apply(photo(), {"strength": 1.0})
        assert "not found" in str(error.value) and "\n" not in str(error.value)
        # Strength 0 needs no network at all.
        assert np.array_equal(TOOL.apply(photo(), {"strength": 0.0}), photo())
    finally:
        retouch.set_model_source(previous)


def test_unknown_style_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="expert-c"):
        TOOL.resolve({"style": "no-such-style"})


def test_shipped_styles_are_listed_from_the_catalog():
    names = [name for name, _ in TOOL.params[0].choices]
    assert names[:2] == ["expert-c", "base"]
    assert TOOL.params[0].default == "expert-c"
    assert set(TOOL.model_ids) == {"retouch-expert-c", "retouch-base"}


# -- user styles on disk ------------------------------------------------------------------------

@pytest.fixture()
def styles_folder(tmp_path, monkeypatch):
    folder = tmp_path / "styles"
    folder.mkdir()
    monkeypatch.setenv(retouch_styles.STYLES_DIR_ENV, str(folder))
    yield folder
    monkeypatch.delenv(retouch_styles.STYLES_DIR_ENV)
    retouch_styles.refresh_styles()


def _save_style(name: str, label: str = ""):
    net = tiny_lptn(seed=7)
    from tests.retouch_fakes import FAKE_ARCH

    return retouch_styles.save_user_style(name, label or name, net.state_dict(), FAKE_ARCH,
                                          {"pairs": 5})


def test_user_style_appears_in_the_tool_and_cli(styles_folder, capsys):
    from editor.cli import main

    _save_style("film", "Film look")
    assert ("film", "Film look (my style)") in list(TOOL.params[0].choices)
    assert main(["retouch", "--help"]) == 0
    assert "film" in capsys.readouterr().out


def test_broken_user_styles_are_reported_and_skipped(styles_folder):
    _save_style("good")
    _save_style("damaged")
    (styles_folder / "damaged.safetensors").write_bytes(b"junk")
    (styles_folder / "garbled.json").write_text("{ not json")
    (styles_folder / "orphan.safetensors").write_bytes(b"weights without a card")
    (styles_folder / "expert-c.json").write_text(json.dumps({"format": "restora-user-style"}))
    (styles_folder / "nocard-weights.json").write_text(json.dumps(
        {"format": "restora-user-style", "architecture": "lptn", "arch_kwargs": {},
         "sha256": "0" * 64}))
    problems = retouch_styles.refresh_styles()
    names = [name for name, _ in TOOL.params[0].choices]
    assert names == ["expert-c", "base", "good"]
    text = " ".join(problems)
    for bad in ("damaged", "garbled", "orphan", "expert-c.json", "nocard-weights"):
        assert bad in text
    assert "checksum" in text and "no card" in text
    # The tool list, the CLI parser and the good style still work.
    from editor.cli import build_parser

    build_parser()
    previous = retouch.set_model_source(None)
    try:
        assert TOOL.apply(photo(), {"style": "good"}).shape == photo().shape
    finally:
        retouch.set_model_source(previous)


def test_saving_never_overwrites_a_style(styles_folder):
    first = _save_style("mine")
    before = (styles_folder / "mine.safetensors").read_bytes()
    with pytest.raises(ValueError, match="already exists"):
        _save_style("mine")
    assert (styles_folder / "mine.safetensors").read_bytes() == before
    assert retouch_styles.get_style("mine") == first


def test_listing_styles_never_imports_torch(styles_folder):
    """The tool list (GUI start, restora-cli list / --help) stays cheap with user styles."""
    import os
    import subprocess
    import sys

    _save_style("cheap")
    probe = ("import sys, editor.tools; "
             "from editor.tools import retouch_styles; "
             "assert 'cheap' in [s.name for s in retouch_styles.styles()]; "
             "print('torch' in sys.modules)")
    env = {**os.environ, retouch_styles.STYLES_DIR_ENV: str(styles_folder)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=env, cwd=str(__import__("pathlib").Path(__file__).parents[2]),
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
