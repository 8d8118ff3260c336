"""The issue's "done means", end to end: a 16-bit TIFF with a colour profile and EXIF is
opened, a masked region sharpened, compared, undone, re-applied, exported as a 16-bit
TIFF that still carries the profile and EXIF, saved as .ora, and the same sharpen run
on a folder from restora-cli gives the same pixels."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QMessageBox

from editor import cli
from editor.core.imageio import load_image, save_image
from editor.core.meta import ImageMeta
from editor.core.ora import load_ora
from editor.qt.dialogs import ExportOptions
from editor.qt.main_window import MainWindow
from editor.tools import TOOLS
from tests.core.conftest import make_rgb_profile

MAKE = 271  # EXIF tag: camera make


def write_source(path, icc):
    rng = np.random.default_rng(3)
    h, w = 90, 120
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    img = np.clip(0.6 * x + 0.25 * rng.random((h, w, 3), dtype=np.float32), 0, 1)
    exif = Image.Exif()
    exif[MAKE] = "RestoraCam"
    save_image(path, img, ImageMeta(bit_depth=16, icc_profile=icc, exif=exif.tobytes()))
    return path


def test_open_mask_sharpen_compare_undo_reapply_export_save_and_batch(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(QMessageBox, "exec", lambda self: (_ for _ in ()).throw(AssertionError))
    monkeypatch.setattr(QDialog, "exec", lambda self: (_ for _ in ()).throw(AssertionError))
    icc = make_rgb_profile()
    src_dir = tmp_path / "shoot"
    src_dir.mkdir()
    photo = write_source(src_dir / "portrait.tif", icc)
    original_bytes = photo.read_bytes()

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert window.file_ops.open_path(photo)
    qdoc = window.document()
    doc = qdoc.doc
    assert doc.meta.bit_depth == 16 and doc.meta.icc_profile == icc

    # Sharpen inside an elliptical selection through the tool panel.
    window.show_tool("sharpen")
    window.tool_panel.set_values({"amount": 2.0, "radius": 1.5})
    window.view_canvas().set_selection("ellipse", (30, 20, 90, 70))
    qtbot.mouseClick(window.tool_panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=10000)
    sharpened = doc.layers[1]
    assert sharpened.mask is not None
    assert sharpened.mask[45, 60] == 1.0 and sharpened.mask[2, 2] == 0.0
    after = doc.composite()
    before = doc.layers[0].pixels.copy()
    assert np.abs(after - before)[45, 40:80].max() > 0.01          # the face changed
    np.testing.assert_array_equal(after[:5, :5], before[:5, :5])    # outside the mask did not

    # Compare before/after with the split line.
    window.acts.compare_split.trigger()
    assert window.view_canvas().compare_mode() == "split"
    window.acts.compare_split.trigger()

    # Undo, then re-apply.
    window.acts.undo.trigger()
    assert len(doc.layers) == 1
    np.testing.assert_array_equal(doc.composite(), before)
    window.view_canvas().set_selection("ellipse", (30, 20, 90, 70))
    qtbot.mouseClick(window.tool_panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(doc.layers) == 2, timeout=10000)
    np.testing.assert_allclose(doc.composite(), after, atol=1e-6)

    # Export a 16-bit TIFF next to the original: profile and EXIF travel with it.
    out = tmp_path / "final.tif"
    assert window.file_ops.export_to(out, ExportOptions("TIFF", bit_depth=16))
    exported, meta = load_image(out)
    assert meta.bit_depth == 16 and meta.icc_profile == icc
    with Image.open(out) as im:
        assert im.getexif().get(MAKE) == "RestoraCam"
    assert np.abs(exported - doc.composite()[..., :3]).max() < 2 / 255
    assert photo.read_bytes() == original_bytes

    # Save the layered work; it reopens with the mask.
    work = tmp_path / "portrait.ora"
    assert window.file_ops.save_work_as(work)
    reopened = load_ora(work)
    assert len(reopened.layers) == 2 and reopened.layers[1].mask is not None
    assert qdoc.is_clean
    window.close()

    # The same sharpen on the folder from the command line gives the GUI's layer pixels.
    out_dir = tmp_path / "batch"
    code = cli.main(["sharpen", "--amount", "2", "--radius", "1.5", str(src_dir), "-o", str(out_dir)])
    assert code == 0
    (batch_file,) = out_dir.iterdir()
    assert batch_file.suffix == ".tif" and batch_file.stem.startswith("portrait")
    batch, batch_meta = load_image(batch_file)
    assert batch_meta.bit_depth == 16 and batch_meta.icc_profile == icc
    gui_layer = TOOLS["sharpen"].apply(doc.layers[0].pixels[..., :3], {"amount": 2.0, "radius": 1.5})
    # Both went through the same tool; the file adds only 16-bit and profile rounding.
    assert np.abs(batch - np.clip(gui_layer, 0, 1)).max() < 2 / 255
