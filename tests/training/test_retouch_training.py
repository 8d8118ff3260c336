"""Retouch training: the distortions are plausible edits, the learn-my-look loop learns, a
learnt style is saved, listed and usable, and bad input is refused before anything is
written. All on tiny synthetic photos and a narrow random-weight LPTN: no shared data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.core.metrics import psnr
from editor.engine.progress import Cancelled, Progress
from editor.nets.tone_curve import GlobalTone, apply_tone
from editor.tools import retouch, retouch_styles
from editor.training import distort, learn_look
from editor.training.fit_tone import fit_tone
from editor.training.retouch_data import Pair, PairSampler, align_pair
from tests.retouch_fakes import FAKE_ARCH, tiny_retouch_source


def photo(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth, colourful stand-in photo with some texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:h, :w] / np.float32(max(h, w))
    base = np.stack([0.5 + 0.4 * np.sin(3 * x + seed), 0.4 + 0.3 * np.cos(2 * y + seed),
                     0.3 + 0.2 * x * y], axis=2)
    return np.clip(base + rng.normal(0, 0.03, base.shape), 0, 1).astype(np.float32)


def warm_look(image: np.ndarray) -> np.ndarray:
    return np.clip(image * np.float32([1.15, 1.0, 0.8]) + 0.05, 0, 1).astype(np.float32)


@pytest.fixture()
def styles_folder(tmp_path, monkeypatch):
    folder = tmp_path / "styles"
    monkeypatch.setenv(retouch_styles.STYLES_DIR_ENV, str(folder))
    retouch_styles.refresh_styles()
    yield folder
    monkeypatch.delenv(retouch_styles.STYLES_DIR_ENV)
    retouch_styles.refresh_styles()


@pytest.fixture(scope="module")
def fake_base(tmp_path_factory):
    return tiny_retouch_source(tmp_path_factory.mktemp("retouch-base"))


# -- distortions ------------------------------------------------------------------------------

def test_neutral_distortions_change_nothing():
    image = photo()
    for out in (distort.exposure(image, 0.0), distort.contrast(image, 1.0),
                distort.gamma(image, 1.0), distort.white_balance(image, 1.0, 1.0),
                distort.saturation(image, 1.0)):
        np.testing.assert_allclose(out, image, atol=1e-5)


def test_distortions_do_what_they_say():
    image = photo()
    assert distort.exposure(image, 1.0).mean() > image.mean() + 0.05
    assert distort.exposure(image, -1.0).mean() < image.mean() - 0.05
    assert distort.contrast(image, 1.5).std() > image.std()
    luma = image @ distort.LUMA
    grey = distort.saturation(image, 0.0)
    np.testing.assert_allclose(grey[..., 0], grey[..., 2], atol=1e-5)
    np.testing.assert_allclose(grey[..., 0], luma, atol=1e-5)
    warm = distort.white_balance(image, 1.3, 0.8)
    assert warm[..., 0].mean() > warm[..., 2].mean() + (image[..., 0] - image[..., 2]).mean()


def test_random_curves_never_invert_tones():
    rng = np.random.default_rng(3)
    ramp = np.linspace(0, 1, 256, dtype=np.float32)[:, None, None].repeat(3, axis=2)
    for _ in range(20):
        points = distort.random_curve_points(rng, 0.2)
        out = distort.tone_curve(ramp, points)[:, 0, 0]
        assert np.all(np.diff(out) >= -1e-6)


def test_distort_is_seeded_and_stays_in_range():
    image = photo()
    a, done = distort.distort(image, np.random.default_rng(7))
    b, _ = distort.distort(image, np.random.default_rng(7))
    assert np.array_equal(a, b) and 2 <= len(done) <= 5
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    assert not np.allclose(a, image)


def test_hidden_look_is_fixed_and_keeps_tone_order():
    ramp = np.linspace(0, 1, 64, dtype=np.float32)[:, None, None].repeat(3, axis=2)
    out = distort.hidden_look(ramp)
    assert np.array_equal(out, distort.hidden_look(ramp))
    assert np.all(np.diff(out.mean(axis=2)[:, 0]) > 0)
    assert out[0].min() > 0.03              # faded blacks, as the curve says


# -- data -------------------------------------------------------------------------------------

def test_pairs_of_slightly_different_sizes_are_aligned_and_others_refused():
    pair = align_pair("a", photo(48, 64), photo(49, 63))
    assert pair.before.shape == pair.after.shape == (48, 64, 3)
    with pytest.raises(ValueError, match="same size"):
        align_pair("b", photo(48, 64), photo(96, 128))


def test_pair_sampler_is_deterministic_and_keeps_pairs_aligned():
    pairs = [Pair(str(i), photo(seed=i), warm_look(photo(seed=i))) for i in range(3)]
    sampler = PairSampler(pairs, 32, 4, seed=1)
    before, after = sampler.batch(5)
    again, _ = sampler.batch(5)
    assert before.shape == (4, 3, 32, 32) and np.array_equal(before, again)
    # The crop, flip and turn are the same for both halves: after is still warm(before).
    expected = warm_look(before.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    assert np.abs(after - expected).mean() < 0.02


# -- learning a look --------------------------------------------------------------------------

def test_learn_look_loop_reduces_the_loss(fake_base):
    pairs = [Pair(str(i), photo(seed=i), warm_look(photo(seed=i))) for i in range(5)]
    net, _ = learn_look.base_network(fake_base)
    done, _seconds, losses = learn_look.train_look(net, pairs, iterations=30, patch=32,
                                                   batch=4, lr=3e-3, threads=1)
    assert done == 30
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_learnt_style_is_listed_and_usable(styles_folder, fake_base):
    pairs = [Pair(str(i), photo(seed=i), warm_look(photo(seed=i))) for i in range(5)]
    result = learn_look.learn_look(pairs, "warm", label="Warm test", base=fake_base,
                                   iterations=3)
    assert (styles_folder / "warm.safetensors").is_file()
    card = json.loads((styles_folder / "warm.json").read_text())
    assert card["pairs"] == 5 and card["arch_kwargs"] == {**FAKE_ARCH, "global_tone": True}
    assert result.style.user and result.style.name == "warm"
    # In the tool's list (the same Param object the GUI and CLI hold) and usable by name.
    style_param = retouch.TOOL.params[0]
    assert ("warm", "Warm test (my style)") in list(style_param.choices)
    assert retouch.TOOL.resolve({"style": "warm"})["style"] == "warm"
    previous = retouch.set_model_source(None)
    try:
        out = retouch.TOOL.apply(photo(), {"style": "warm"})
    finally:
        retouch.set_model_source(previous)
    assert out.shape == (48, 64, 3) and not np.allclose(out, photo())


def test_a_global_look_is_learnt_almost_exactly(styles_folder, fake_base):
    """The look of the benchmark's round trip (colour matrix, then a tone curve) comes
    back on a photo never trained on: the global grade carries it."""
    pairs = [Pair(str(i), photo(seed=i), distort.hidden_look(photo(seed=i)))
             for i in range(5)]
    learn_look.learn_look(pairs, "hidden", base=fake_base, iterations=2)
    previous = retouch.set_model_source(None)
    try:
        fresh = photo(seed=11)
        out = np.clip(retouch.TOOL.apply(fresh, {"style": "hidden"}), 0, 1)
    finally:
        retouch.set_model_source(previous)
    target = distort.hidden_look(fresh)
    assert psnr(out, target) > 35.0 and psnr(fresh, target) < 25.0


def test_grade_fit_recovers_a_matrix_and_curve_look():
    before = [photo(seed=i) for i in range(4)]
    tone = GlobalTone()
    fit_tone(tone, [(b, distort.hidden_look(b)) for b in before], samples=20_000, steps=300)
    fresh = photo(seed=9)
    assert psnr(apply_tone(fresh, tone.arrays()), distort.hidden_look(fresh)) > 35.0


def test_a_frozen_grade_is_still_fitted_and_stays_frozen():
    """train_retouch --freeze-grade freezes the grade before --fit-grade fits it."""
    tone = GlobalTone()
    tone.requires_grad_(False)
    before = [photo(seed=i) for i in range(2)]
    fit_tone(tone, [(b, warm_look(b)) for b in before], samples=5_000, steps=50)
    assert not any(p.requires_grad for p in tone.parameters())
    assert psnr(apply_tone(before[0], tone.arrays()), warm_look(before[0])) > 30.0

def test_histogram_start_alone_reproduces_a_per_channel_curve_look():
    """--grade-start histogram: with no fitting steps, the grade is the monotone map between
    the before and after distributions, which for a per-channel curve IS the curve."""
    def curve_look(image):
        return np.stack([image[..., 0] ** 0.6, image[..., 1] ** 1.3,
                         0.1 + 0.8 * image[..., 2]], axis=2).astype(np.float32)

    before = [photo(seed=i) for i in range(3)]
    tone = GlobalTone()
    fit_tone(tone, [(b, curve_look(b)) for b in before], samples=50_000, steps=0,
             start="histogram")
    fresh = photo(seed=7)
    assert psnr(apply_tone(fresh, tone.arrays()), curve_look(fresh)) > 35.0
    assert psnr(fresh, curve_look(fresh)) < 25.0
    with pytest.raises(ValueError):
        fit_tone(GlobalTone(), [(before[0], before[0])], steps=0, start="sideways")



def test_layer_pairs_are_matched_by_name_and_cropped_to_the_photo():
    def layer(image, pad=6):
        rgba = np.zeros((image.shape[0] + 2 * pad, image.shape[1] + 2 * pad, 4), np.float32)
        rgba[pad:-pad, pad:-pad, :3], rgba[pad:-pad, pad:-pad, 3] = image, 1.0
        return rgba

    layers = [("Background", layer(photo(seed=99)))]
    for i in range(5):
        before = photo(seed=i)
        layers += [(f"Shot {i}" + (" before" if i == 0 else ""), layer(before)),
                   (f"shot {i}  After" if i % 2 else f"Shot {i} edited", layer(warm_look(before)))]
    pairs = learn_look.pairs_from_layers(layers)
    assert [p.name for p in pairs] == [f"shot {i}" for i in range(5)]
    for i, pair in enumerate(pairs):
        assert pair.before.shape == (48, 64, 3)              # the transparent margin is gone
        np.testing.assert_allclose(pair.before, photo(seed=i))
        np.testing.assert_allclose(pair.after, warm_look(photo(seed=i)))


@pytest.mark.parametrize("names, message", [
    (["a", "b"], "no layer pairs"),
    (["a after"], "has no original"),
    (["a", "a before", "a after", "a edited"], "two layers are the edited"),
    (["a", "A", "a after"], "several originals"),
    ([f"x{i}" for i in range(4)] + [f"x{i} after" for i in range(4)], "at least 5"),
])
def test_bad_layer_pairs_are_explained(names, message):
    layers = [(name, np.ones((8, 8, 4), np.float32)) for name in names]
    with pytest.raises(learn_look.LookError, match=message):
        learn_look.pairs_from_layers(layers)


def test_existing_name_is_refused_before_training(styles_folder, fake_base):
    styles_folder.mkdir(parents=True)
    (styles_folder / "mine.json").write_text("{}")
    pairs = [Pair(str(i), photo(seed=i), warm_look(photo(seed=i))) for i in range(5)]
    calls = []
    with pytest.raises(learn_look.LookError, match="already exists"):
        learn_look.learn_look(pairs, "mine", base=fake_base, iterations=2,
                              progress=Progress(lambda f, m: calls.append(m)))
    assert calls == []                                         # nothing was trained
    assert (styles_folder / "mine.json").read_text() == "{}"   # nothing overwritten
    for bad in ("expert-c", "Has Space", "", "../x"):
        with pytest.raises(learn_look.LookError):
            learn_look.learn_look(pairs, bad, base=fake_base, iterations=1)


def test_too_few_pairs_refused(styles_folder, fake_base):
    pairs = [Pair(str(i), photo(seed=i), warm_look(photo(seed=i))) for i in range(4)]
    with pytest.raises(learn_look.LookError, match="at least 5"):
        learn_look.learn_look(pairs, "few", base=fake_base, iterations=1)
    assert not styles_folder.exists() or not any(styles_folder.iterdir())


def test_cancel_saves_nothing(styles_folder, fake_base):
    pairs = [Pair(str(i), photo(seed=i), warm_look(photo(seed=i))) for i in range(5)]
    progress = Progress()
    progress.set_progress = lambda f, m="": progress.cancel() if f > 0 else None
    with pytest.raises(Cancelled):
        learn_look.learn_look(pairs, "cancelled", base=fake_base, iterations=50,
                              progress=progress)
    assert not (styles_folder / "cancelled.json").exists()
    assert "cancelled" not in [s.name for s in retouch_styles.styles()]


# -- folders and the command line -----------------------------------------------------------

def _write_pairs(root: Path, count: int, *, size=(48, 64)) -> tuple[Path, Path]:
    before, after = root / "before", root / "after"
    before.mkdir(parents=True, exist_ok=True)
    after.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = photo(*size, seed=i)
        Image.fromarray((image * 255).astype(np.uint8)).save(before / f"img{i}.png")
        Image.fromarray((warm_look(image) * 255).astype(np.uint8)).save(after / f"img{i}.jpg")
    return before, after


def test_folder_pairs_match_by_name(tmp_path):
    before, after = _write_pairs(tmp_path, 5)
    pairs = learn_look.pairs_from_folders(before, after)
    assert [p.name for p in pairs] == [f"img{i}" for i in range(5)]


@pytest.mark.parametrize("problem, message", [
    ("unpaired", "unpaired images: img5.png"),
    ("few", "at least 5"),
    ("corrupt", "cannot read"),
    ("size", "same size"),
])
def test_cli_refuses_bad_folders_and_writes_nothing(tmp_path, styles_folder, capsys, problem,
                                                    message):
    from editor.cli import main

    before, after = _write_pairs(tmp_path, 4 if problem == "few" else 5)
    if problem == "unpaired":
        Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(before / "img5.png")
    elif problem == "corrupt":
        (after / "img2.jpg").write_bytes(b"not a jpeg at all")
    elif problem == "size":
        Image.fromarray(np.zeros((96, 128, 3), np.uint8)).save(after / "img3.jpg")
    code = main(["train-look", str(before), str(after), "--name", "look"])
    assert code == 1
    assert message in capsys.readouterr().err
    assert not styles_folder.exists() or not any(styles_folder.iterdir())


def test_cli_trains_a_style_that_retouch_then_uses(tmp_path, styles_folder, fake_base,
                                                   monkeypatch, capsys):
    from editor.cli import main

    before, after = _write_pairs(tmp_path, 5)
    monkeypatch.setattr(learn_look, "ITERATIONS", 2)
    real = learn_look.base_network
    monkeypatch.setattr(learn_look, "base_network", lambda base=None: real(fake_base))
    assert main(["train-look", str(before), str(after), "--name", "cli-look"]) == 0
    assert "restora-cli retouch --style cli-look" in capsys.readouterr().out
    # A second time the name is taken: refused, the first style untouched.
    sha = json.loads((styles_folder / "cli-look.json").read_text())["sha256"]
    assert main(["train-look", str(before), str(after), "--name", "cli-look"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert json.loads((styles_folder / "cli-look.json").read_text())["sha256"] == sha
    out_dir = tmp_path / "out"
    previous = retouch.set_model_source(None)
    try:
        assert main(["retouch", "--style", "cli-look", str(before / "img0.png"),
                     "-o", str(out_dir)]) == 0
    finally:
        retouch.set_model_source(previous)
    assert (out_dir / "img0_retouched.png").is_file()


# -- the trainer, the exporter, the benchmark -------------------------------------------------

def _fivek_folder(root: Path, count: int = 6) -> Path:
    for sub in ("input", "expert_c"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = photo(40, 56, seed=i)
        Image.fromarray((image * 255).astype(np.uint8)).save(root / "input" / f"a{i}.png")
        Image.fromarray((warm_look(image) * 255).astype(np.uint8)).save(
            root / "expert_c" / f"a{i}.png")
    return root


def test_trainer_resumes_and_exports_a_card(tmp_path):
    from editor.training import export_retouch, train_retouch

    data = _fivek_folder(tmp_path / "fivek")
    run = tmp_path / "run"
    arch = json.dumps({k: v for k, v in FAKE_ARCH.items()})
    common = ["--task", "fivek", "--run-dir", str(run), "--iters", "4", "--batch", "2",
              "--patch", "32", "--data", str(data), "--threads", "1", "--val-every", "2",
              "--arch", arch]
    first = train_retouch.train(common + ["--stop-at", "2"], quiet=True)
    assert first["iteration"] == 2
    second = train_retouch.train(common + ["--resume"], quiet=True)
    assert second["iteration"] == 4 and len(second["history"]) == 2
    # Held-out FiveK pairs only watch the run: there is no best.pt to choose from them.
    assert not (run / "best.pt").exists()
    card = export_retouch.export(run, "test-style", models_dir=tmp_path / "models")
    assert card["training"]["checkpoint"] == "last"
    assert card["params"] < 600_000
    assert (tmp_path / "models" / "test-style.safetensors").is_file()
    commands = card["training"]["commands"]
    assert "--stop-at 2" in commands[0] and "--resume" in commands[1]
    assert commands[-1].startswith("python -m editor.training.export_retouch")


DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.skipif(not (DATA / "train" / "retouch_fivek").is_dir(),
                    reason="needs ../shared/data/train (not on a fresh machine)")
def test_quick_benchmark_writes_its_section(tmp_path):
    from editor.training import bench_retouch

    code = bench_retouch.main(["--quick", "--out", str(tmp_path)])
    assert code == 0
    text = (tmp_path / "RESULTS.md").read_text()
    assert "<!-- bench:retouch -->" in text and "QUICK run" in text
    data = json.loads((tmp_path / "results" / "retouch.json").read_text())["data"]
    assert data["fivek"]["methods"]["input"]["psnr"] > 10
    assert [t["status"] for t in data["targets"]]
