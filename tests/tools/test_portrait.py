"""Portrait edit on tiny random-weight models (tests/portrait_fakes.py, installed for every
tool test by tests/tools/conftest.py) and the stand-in face finder: no trained weights, no
dlib, no shared data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from editor.tools import portrait, portrait_effects
from editor.tools.demakeup import NoFaceFound
from editor.tools.schema import Masked
from tests.portrait_fakes import TINY_FACELET, tiny_facelet


def _image(seed: int = 0, h: int = 96, w: int = 80) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((h, w, 3), dtype=np.float32)


def _run(image, effect="older", strength=0.5) -> Masked:
    return portrait.portrait_image(image, effect=effect, strength=strength)


def test_strength_zero_returns_the_input_exactly():
    image = _image()
    result = _run(image, strength=0.0)
    assert isinstance(result, Masked)
    assert np.array_equal(result.image, image)
    assert result.mask.shape == image.shape[:2] and result.mask.max() > 0.5


def test_an_edit_changes_the_face_and_leaves_the_corners():
    image = _image()
    result = _run(image, strength=1.0)
    changed = np.abs(result.image - image).max(axis=2) > 1e-6
    assert changed[30:60, 30:50].any()
    assert not changed[:4, :4].any() and not changed[-4:, -4:].any()


def test_negative_strength_reverses_the_change():
    image = 0.25 + 0.5 * _image(1)          # no clipping at 0 or 1
    plus = _run(image, strength=0.05).image - image
    minus = _run(image, strength=-0.05).image - image
    assert np.abs(plus).max() > 1e-4
    corr = float((plus * minus).sum() / np.sqrt((plus ** 2).sum() * (minus ** 2).sum()))
    assert corr < -0.9


def test_feature_change_flips_sign_with_strength(fake_portrait_models):
    """In feature space the edit is exactly f + s * facelet(f)."""
    _, facelets = fake_portrait_models
    facelet = facelets["older"].load()
    f = torch.randn(1, 8, 12, 12)
    g = facelet(f)
    assert torch.allclose((f + 0.7 * g) - f, -((f - 0.7 * g) - f))


def test_slider_step_and_effect_swap_reuse_the_faces_and_the_autoencoder(monkeypatch):
    image = _image(2)
    calls = {"find": 0, "encode": 0}
    finder = portrait.FACE_FINDER.override

    def counting_finder(rgb, progress):
        calls["find"] += 1
        return finder(rgb, progress)

    portrait.set_face_finder(counting_finder)
    autoencoder = portrait.AUTOENCODER.current().load()
    before = {k: v.clone() for k, v in autoencoder.state_dict().items()}
    real_encode = autoencoder.encode

    def counting_encode(x):
        calls["encode"] += 1
        return real_encode(x)

    monkeypatch.setattr(autoencoder, "encode", counting_encode)
    _run(image, "older", 0.3)
    _run(image, "older", 0.6)
    _run(image, "younger", 0.6)
    _run(image, "masculine", -0.4)
    assert calls == {"find": 1, "encode": 1}
    assert portrait.AUTOENCODER.current().load() is autoencoder
    after = autoencoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_effects_differ():
    image = _image(3)
    older = _run(image, "older", 1.0).image
    younger = _run(image, "younger", 1.0).image
    assert np.abs(older - younger).max() > 1e-4


def test_unknown_effect_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown effect 'sparkly'"):
        _run(_image(), "sparkly")
    with pytest.raises(ValueError, match="effect"):
        portrait.TOOL.resolve({"effect": "sparkly"})


def test_strength_outside_the_range_is_refused():
    with pytest.raises(ValueError, match="strength"):
        portrait.TOOL.resolve({"strength": 1.5})


def test_no_face_is_a_clear_error():
    pytest.importorskip("dlib")
    portrait.set_face_finder(None)       # the real detector (restored by the fixture)
    grey = np.full((64, 64, 3), 0.5, np.float32)
    with pytest.raises(NoFaceFound):
        portrait.portrait_image(grey, strength=0.5)


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    folder = tmp_path / "facelets"
    monkeypatch.setenv(portrait_effects.FACELETS_DIR_ENV, str(folder))
    portrait_effects.refresh_effects()
    yield folder
    monkeypatch.delenv(portrait_effects.FACELETS_DIR_ENV)
    portrait_effects.refresh_effects()


def _save_user(name="freckles"):
    return portrait_effects.save_user_facelet(
        name, "Freckles", tiny_facelet(seed=7).state_dict(), TINY_FACELET,
        {"autoencoder_sha256": "test"})


def test_a_user_facelet_appears_in_the_effect_list_and_runs(user_folder):
    effect = _save_user()
    assert effect.user and (user_folder / "freckles.safetensors").is_file()
    choices = dict(portrait.TOOL.params[0].choices)
    assert choices["freckles"] == "Freckles (my facelet)"
    assert "older" in choices
    image = _image(4)
    result = _run(image, "freckles", 0.8)
    assert np.abs(result.image - image).max() > 1e-4


def test_a_user_facelet_name_cannot_be_taken_twice(user_folder):
    _save_user()
    with pytest.raises(ValueError, match="already exists"):
        _save_user()
    with pytest.raises(ValueError, match="shipped facelet"):
        portrait_effects.check_new_name("older")


def test_a_damaged_user_facelet_is_left_out_with_a_reason(user_folder):
    _save_user()
    (user_folder / "freckles.safetensors").write_bytes(b"not weights")
    portrait_effects.refresh_effects()
    assert "freckles" not in dict(portrait.TOOL.params[0].choices)
    assert any("damaged" in p for p in portrait_effects.problems())


def test_a_facelet_damaged_after_listing_is_a_clear_error(user_folder):
    _save_user()
    image = _image(5)
    (user_folder / "freckles.safetensors").write_bytes(b"garbage")
    with pytest.raises(portrait.FaceletUnavailable, match="freckles.*(corrupted|wrong version)"):
        _run(image, "freckles", 0.5)


def test_a_missing_facelet_is_a_clear_error(user_folder):
    _save_user()
    (user_folder / "freckles.safetensors").unlink()
    with pytest.raises(portrait.FaceletUnavailable, match="not found"):
        _run(_image(6), "freckles", 0.5)


def test_a_card_that_is_not_a_facelet_is_left_out(user_folder):
    user_folder.mkdir(parents=True, exist_ok=True)
    (user_folder / "odd.json").write_text(json.dumps({"architecture": "lptn"}))
    portrait_effects.refresh_effects()
    assert any("odd.json" in p for p in portrait_effects.problems())


def test_video_frames_are_stable_and_keep_their_dtype():
    frame = (np.random.default_rng(8).random((64, 64, 3)) * 255).astype(np.uint8)
    a = portrait.portrait_frame(frame, "older", 0.7)
    portrait.clear_cache()
    b = portrait.portrait_frame(frame, "older", 0.7)
    assert a.dtype == np.uint8 and a.shape == frame.shape
    assert np.array_equal(a, b)
    assert not np.array_equal(a, frame)


def test_grey_and_rgba_images_keep_their_channels():
    grey = _image(9)[..., :1]
    out = portrait.TOOL.apply(grey, {"strength": 0.5})
    assert out.shape == grey.shape
    rgba = np.concatenate([_image(9), np.full((96, 80, 1), 0.5, np.float32)], axis=2)
    out = portrait.TOOL.apply(rgba, {"strength": 0.5})
    assert out.shape == rgba.shape and np.array_equal(out[..., 3], rgba[..., 3])


def test_cli_runs_portrait_from_the_schema(tmp_path):
    from editor import cli
    from editor.core.imageio import load_image, save_image

    source = tmp_path / "face.png"
    save_image(source, _image(10))
    code = cli.main(["portrait", "--effect", "older", "--strength", "0.7", str(source),
                     "-o", str(tmp_path / "out")])
    assert code == 0
    out, _ = load_image(tmp_path / "out" / "face_portrait.png")
    assert out.shape == (96, 80, 3)


def test_portrait_video_edits_every_frame_the_same_way(tmp_path):
    from PIL import Image

    from editor.cli_portrait import main

    frames = tmp_path / "clip"
    frames.mkdir()
    still = (np.random.default_rng(11).random((48, 64, 3)) * 255).astype(np.uint8)
    for i in range(3):
        Image.fromarray(still).save(frames / f"frame_{i + 1:04d}.png")
    code = main(["portrait-video", str(frames), "-o", str(tmp_path / "out"), "--effect",
                 "older", "--strength", "0.7"])
    assert code == 0
    outs = sorted((tmp_path / "out").glob("*.png"))
    assert len(outs) == 3
    pixels = [np.asarray(Image.open(p)) for p in outs]
    assert all(np.array_equal(pixels[0], p) for p in pixels[1:])
    assert not np.array_equal(pixels[0], still)
    assert main(["portrait-video", str(frames), "-o", str(tmp_path / "out"), "--effect",
                 "older"]) == 1          # exists, no --overwrite: one line, nothing written
