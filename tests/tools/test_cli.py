"""restora-cli, run in-process through ``main([...])`` on files in tmp_path."""

from __future__ import annotations

import io
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from editor import cli
from editor.core import imageio
from editor.core.imageio import load_image, save_image
from editor.core.meta import ImageMeta
from editor.tools import TOOLS, get_tool

REPO = Path(__file__).resolve().parents[2]


def write_rgb(path: Path, seed: int = 0, size=(24, 32), **save_kwargs) -> Path:
    pixels = (np.random.default_rng(seed).random((*size, 3)) * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **save_kwargs)
    return path


def write_16bit(path: Path, channels: int = 3) -> Path:
    pixels = np.random.default_rng(1).random((20, 30, channels), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(path, pixels, ImageMeta(bit_depth=16, has_alpha=channels == 4), bit_depth=16)
    return path


@pytest.fixture
def photos(tmp_path) -> Path:
    """in/a.png, in/sub/b.jpg, in/sub/deeper/c.tif"""
    root = tmp_path / "in"
    write_rgb(root / "a.png", 1)
    write_rgb(root / "sub" / "b.jpg", 2, quality=95)
    write_rgb(root / "sub" / "deeper" / "c.tif", 3)
    return root


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- list, help, bench ------------------------------------------------------------------

def test_list_shows_tools_params_and_models(capsys):
    from editor.engine.registry import REGISTRY

    code, out, _ = run(capsys, "list")
    assert code == 0
    for tool in TOOLS.values():
        assert tool.id in out and tool.label in out
        for p in tool.params:
            assert p.name in out
    if len(REGISTRY) == 0:
        assert "no models installed yet" in out
    for spec in REGISTRY:
        assert spec.id in out


@pytest.mark.parametrize("tool", list(TOOLS.values()), ids=lambda t: t.id)
def test_help_is_generated_from_schema(capsys, tool):
    code, out, _ = run(capsys, tool.id, "--help")
    assert code == 0
    flat = " ".join(out.split())  # argparse wraps lines
    for p in tool.params:
        assert p.flag in flat
        assert "default" in flat
        for value, _ in p.choices:
            assert value in flat


def test_bench_unknown_name_is_usage_error(capsys):
    code, _, err = run(capsys, "bench", "no-such-benchmark")
    assert code == 2 and "no-such-benchmark" in err and "Traceback" not in err


# --- batches -----------------------------------------------------------------------------

def test_recursive_folder_mirrors_structure_and_keeps_formats(capsys, photos, tmp_path):
    out = tmp_path / "out" / "nested"  # created, parents too
    code, _, err = run(capsys, "sharpen", photos, "-o", out, "--recursive")
    assert code == 0, err
    expected = {"a_sharpened.png": "PNG", "sub/b_sharpened.jpg": "JPEG",
                "sub/deeper/c_sharpened.tif": "TIFF"}
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert written == set(expected)
    for rel, fmt in expected.items():
        with Image.open(out / rel) as im:
            assert im.format == fmt and im.size == (32, 24)


def test_folder_without_recursive_takes_only_its_own_images(capsys, photos, tmp_path):
    code, _, err = run(capsys, "sharpen", photos, "-o", tmp_path / "out")
    assert code == 0, err
    assert [p.name for p in (tmp_path / "out").rglob("*")] == ["a_sharpened.png"]


def test_sixteen_bit_inputs_stay_sixteen_bit(capsys, tmp_path):
    write_16bit(tmp_path / "in" / "deep.tif")
    write_16bit(tmp_path / "in" / "deep.png", channels=4)
    code, _, err = run(capsys, "sharpen", tmp_path / "in", "-o", tmp_path / "out")
    assert code == 0, err
    assert tifffile.imread(tmp_path / "out" / "deep_sharpened.tif").dtype == np.uint16
    pixels, meta = load_image(tmp_path / "out" / "deep_sharpened.png")
    assert meta.bit_depth == 16 and meta.has_alpha and pixels.shape[2] == 4


def test_metadata_is_kept(capsys, tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "RestoraCam"  # Make
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    write_rgb(tmp_path / "photo.jpg", exif=exif.tobytes(), icc_profile=icc, quality=95)
    code, _, err = run(capsys, "sharpen", tmp_path / "photo.jpg", "-o", tmp_path / "out")
    assert code == 0, err
    with Image.open(tmp_path / "out" / "photo_sharpened.jpg") as im:
        assert im.getexif().get(0x010F) == "RestoraCam"
        assert im.info.get("icc_profile")


def test_corrupt_file_is_skipped_and_the_rest_processed(capsys, photos, tmp_path):
    (photos / "sub" / "broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    code, _, err = run(capsys, "sharpen", photos, "-o", tmp_path / "out", "-r")
    assert code == 1
    assert "Traceback" not in err
    skipped = [line for line in err.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and "broken.jpg" in skipped[0]
    assert len(list((tmp_path / "out").rglob("*_sharpened.*"))) == 3


def test_output_equals_calling_the_tool_directly(capsys, tmp_path):
    source = write_rgb(tmp_path / "in.png", 5, size=(40, 50))
    code, _, err = run(capsys, "sharpen", "--amount", "1.5", "--radius", "3", "--threshold",
                       "4", source, "-o", tmp_path / "out")
    assert code == 0, err
    image, meta = load_image(source)
    direct = get_tool("sharpen").apply(image, {"amount": 1.5, "radius": 3, "threshold": 4})
    save_image(tmp_path / "direct.png", direct, meta)
    assert np.array_equal(load_image(tmp_path / "out" / "in_sharpened.png")[0],
                          load_image(tmp_path / "direct.png")[0])


def test_resize_with_alpha_and_format_change(capsys, tmp_path):
    pixels = np.random.default_rng(7).random((20, 30, 4), dtype=np.float32)
    save_image(tmp_path / "logo.png", pixels, ImageMeta(has_alpha=True))
    code, _, err = run(capsys, "resize", "--scale", "0.5", "--method", "lanczos",
                       tmp_path / "logo.png", "-o", tmp_path / "out", "--format", "tiff")
    assert code == 0, err
    out, meta = load_image(tmp_path / "out" / "logo_resized.tif")
    assert out.shape == (10, 15, 4) and meta.format == "TIFF"


def test_existing_output_is_not_overwritten_without_flag(capsys, tmp_path):
    source = write_rgb(tmp_path / "in.png")
    target = tmp_path / "out" / "in_sharpened.png"
    target.parent.mkdir()
    target.write_bytes(b"keep me")
    code, _, err = run(capsys, "sharpen", source, "-o", tmp_path / "out")
    assert code == 1 and "--overwrite" in err
    assert target.read_bytes() == b"keep me"
    code, _, err = run(capsys, "sharpen", source, "-o", tmp_path / "out", "--overwrite")
    assert code == 0, err
    assert load_image(target)[0].shape == (24, 32, 3)


def test_input_is_never_overwritten(capsys, tmp_path):
    source = write_rgb(tmp_path / "in.png")
    before = source.read_bytes()
    code, _, err = run(capsys, "sharpen", source, "-o", tmp_path, "--suffix", "",
                       "--overwrite")
    assert code == 1 and "overwrite the input" in err
    assert source.read_bytes() == before


def test_output_folder_inside_input_folder_is_not_reprocessed(capsys, photos):
    for _ in range(2):
        code, _, err = run(capsys, "sharpen", photos, "-o", photos / "out", "-r",
                           "--overwrite")
        assert code == 0, err
    assert not list(photos.rglob("*_sharpened_sharpened*"))


# --- errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("tool, param", [(t, p) for t in TOOLS.values() for p in t.params
                                         if p.kind in (float, int, "choice")],
                         ids=lambda v: getattr(v, "id", None) or v.name)
def test_bad_param_is_a_one_line_usage_error(capsys, tmp_path, tool, param):
    source = write_rgb(tmp_path / "in.png")
    bad = "bogus" if param.kind == "choice" else f"{param.range[1] + 1:g}"
    code, _, err = run(capsys, tool.id, param.flag, bad, source, "-o", tmp_path / "out")
    assert code == 2
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert err.startswith(f"restora-cli: {tool.id}: {param.name}: ")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_bad_param_message_reads_like_the_user_typed_it(capsys, tmp_path):
    code, _, err = run(capsys, "sharpen", "--amount", "9", tmp_path, "-o", tmp_path / "o")
    assert code == 2 and err.strip() == "restora-cli: sharpen: amount: 9 is outside 0–5"


def test_missing_input_fails_without_traceback(capsys, tmp_path):
    code, _, err = run(capsys, "sharpen", tmp_path / "nope.png", "-o", tmp_path / "out")
    assert code == 1 and "nope.png" in err and "Traceback" not in err


def test_unusable_output_folder_is_one_line(capsys, tmp_path):
    source = write_rgb(tmp_path / "in.png")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run(capsys, "sharpen", source, "-o", blocker / "out")
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err


def test_interrupt_exits_130_and_leaves_no_partial_files(capsys, tmp_path, monkeypatch):
    for i in range(3):
        write_rgb(tmp_path / "in" / f"{i}.png", i)
    real_save = imageio.save_image
    calls = []

    def save_then_interrupt(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_save(*args, **kwargs)

    monkeypatch.setattr(imageio, "save_image", save_then_interrupt)
    code, _, err = run(capsys, "sharpen", tmp_path / "in", "-o", tmp_path / "out")
    assert code == 130 and "interrupted" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0_sharpened.png"]


# --- progress display ----------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(capsys, photos, tmp_path, monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(["sharpen", str(photos), "-o", str(tmp_path / "a"), "-r"]) == 0
    shown = terminal.getvalue()
    assert "\r[" in shown and "3/3" in shown and "100%" in shown
    monkeypatch.undo()
    _, _, err = run(capsys, "sharpen", photos, "-o", tmp_path / "b", "-r")
    assert "\r" not in err and err.count("->") == 3  # one line per file, no bar


# --- packaging / layering --------------------------------------------------------------------

def test_console_script_points_at_main():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["restora-cli"] == "editor.cli:main"


def test_runs_as_a_process_without_qt_or_traceback(tmp_path):
    # A real process: the exit code, and that the CLI never pulls in PySide6.
    code = ("import sys; from editor.cli import main; rc = main(sys.argv[1:]); "
            "assert 'PySide6' not in sys.modules; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "sharpen", "--radius", "x",
                           str(tmp_path), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "restora-cli: sharpen: radius: expected a number, got 'x'"
