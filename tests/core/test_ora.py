"""OpenRaster working files: a saved document comes back exactly, and the file is one that
Krita, GIMP and MyPaint can read."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
from PIL import Image

from editor.core.document import Document, Layer
from editor.core.imageio import ImageLoadError, ImageSaveError, ImageTooLargeError
from editor.core.meta import ImageMeta
from editor.core.ora import BLEND_TO_SVG, RESTORA_NS, load_ora, save_ora

W, H = 40, 30


def _rand(shape, seed):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _three_layer_doc(bit_depth=16) -> Document:
    meta = ImageMeta(path=None, format="TIFF", bit_depth=bit_depth, mode="RGB",
                     icc_profile=b"fake-icc-bytes", exif=b"Exif\0\0fake", dpi=(300.0, 300.0),
                     extra={"note": "kept", "not_json": object()})
    doc = Document(W, H, meta)
    bottom = Layer(_rand((H, W, 3), 1), "Background")
    middle = Layer(_rand((H, W, 4), 2), "Deblur", opacity=0.75, blend_mode="soft_light",
                   mask=_rand((H, W), 3))
    top = Layer(_rand((H, W, 4), 4), 'Face & "eyes" é', visible=False, opacity=0.3,
                blend_mode="multiply", mask=_rand((H, W), 5), mask_enabled=False)
    for i, layer in enumerate((bottom, middle, top)):
        doc.insert_layer(layer, i)
    doc.set_active(middle.id)
    return doc


def test_round_trip_three_layers_16bit(tmp_path):
    doc = _three_layer_doc()
    path = save_ora(tmp_path / "work.ora", doc)
    back = load_ora(path)
    assert (back.width, back.height) == (W, H) and len(back.layers) == 3
    for a, b in zip(doc.layers, back.layers, strict=True):
        assert (b.name, b.visible, b.blend_mode, b.mask_enabled) == \
               (a.name, a.visible, a.blend_mode, a.mask_enabled)
        assert b.opacity == pytest.approx(a.opacity, abs=1e-9)
        assert np.abs(b.pixels - a.pixels).max() <= 0.5 / 65535 + 1e-7  # 16-bit precision
        if a.mask is None:
            assert b.mask is None
        else:
            assert np.abs(b.mask - a.mask).max() <= 0.5 / 65535 + 1e-7
    assert back.active_layer.name == "Deblur"
    m = back.meta
    assert (m.format, m.bit_depth, m.mode, m.dpi) == ("TIFF", 16, "RGB", (300.0, 300.0))
    assert m.icc_profile == b"fake-icc-bytes" and m.exif == b"Exif\0\0fake"
    assert m.extra == {"note": "kept"}
    assert np.abs(back.composite() - doc.composite()).max() < 1e-4


def test_8bit_document_saves_8bit_layers(tmp_path):
    doc = _three_layer_doc(bit_depth=8)
    save_ora(tmp_path / "w.ora", doc)
    with zipfile.ZipFile(tmp_path / "w.ora") as zf, \
            Image.open(io.BytesIO(zf.read("data/layer0.png"))) as im:
        assert im.mode == "RGBA"
    back = load_ora(tmp_path / "w.ora")
    assert np.abs(back.layers[1].pixels - doc.layers[1].pixels).max() <= 0.5 / 255 + 1e-6


def test_file_layout_follows_openraster(tmp_path):
    doc = _three_layer_doc()
    save_ora(tmp_path / "w.ora", doc)
    raw = (tmp_path / "w.ora").read_bytes()
    # the mimetype is the first entry, stored, so its text sits at a fixed offset
    assert raw[30:38] == b"mimetype" and raw[38:54] == b"image/openraster"
    with zipfile.ZipFile(tmp_path / "w.ora") as zf:
        first = zf.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        names = set(zf.namelist())
        assert {"stack.xml", "mergedimage.png", "Thumbnails/thumbnail.png"} <= names
        root = ET.fromstring(zf.read("stack.xml"))
        assert root.get("version").startswith("0.0.")
        assert (root.get("w"), root.get("h")) == (str(W), str(H))
        layers = root.find("stack").findall("layer")
        assert [el.get("name") for el in layers] == ['Face & "eyes" é', "Deblur", "Background"]  # top first
        assert [el.get("visibility") for el in layers] == ["hidden", "visible", "visible"]
        assert [el.get("composite-op") for el in layers] == \
               ["svg:multiply", "svg:soft-light", "svg:src-over"]
        mask_attr = f"{{{RESTORA_NS}}}mask"
        assert layers[1].get(mask_attr) in names and layers[2].get(mask_attr) is None
        assert layers[0].get(f"{{{RESTORA_NS}}}mask-enabled") == "false"
        assert b'xmlns:restora="' in zf.read("stack.xml")
        with Image.open(io.BytesIO(zf.read("Thumbnails/thumbnail.png"))) as thumb:
            assert max(thumb.size) <= 256
        with Image.open(io.BytesIO(zf.read("mergedimage.png"))) as merged:
            assert merged.size == (W, H)
        with Image.open(io.BytesIO(zf.read(layers[1].get(mask_attr)))) as mask:
            assert mask.mode in ("L", "I;16")  # grayscale mask
        assert json.loads(zf.read("restora/meta.json"))["bit_depth"] == 16


def test_every_blend_mode_has_an_svg_name(tmp_path):
    from editor.core.blend import BLEND_MODES
    assert set(BLEND_TO_SVG) == set(BLEND_MODES)
    doc = Document(4, 4)
    for i, mode in enumerate(BLEND_MODES):
        doc.insert_layer(Layer(np.zeros((4, 4, 4)), mode, blend_mode=mode), i)
    save_ora(tmp_path / "b.ora", doc)
    assert [layer.blend_mode for layer in load_ora(tmp_path / "b.ora").layers] == \
           list(BLEND_MODES)


def _foreign_ora(path, stack_xml: str, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), b"image/openraster")
        zf.writestr("stack.xml", stack_xml)
        for name, data in members.items():
            zf.writestr(name, data)


def _png(array_u8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array_u8).save(buf, "PNG")
    return buf.getvalue()


def test_offset_layers_from_other_editors_are_placed_on_the_canvas(tmp_path):
    patch = np.zeros((4, 6, 4), np.uint8)
    patch[...] = (255, 0, 0, 255)
    xml = ("<?xml version='1.0'?><image version='0.0.3' w='20' h='10' xres='150' yres='150'>"
           "<stack><stack visibility='visible' opacity='0.5'>"
           "<layer name='patch' src='data/p.png' x='3' y='5' composite-op='svg:screen'/>"
           "<layer name='edge' src='data/p.png' x='17' y='-2' composite-op='krita:weird'/>"
           "</stack><layer name='bg' src='data/bg.png'/></stack></image>")
    bg = np.full((10, 20, 3), 128, np.uint8)
    _foreign_ora(tmp_path / "k.ora", xml, {"data/p.png": _png(patch), "data/bg.png": _png(bg)})
    doc = load_ora(tmp_path / "k.ora")
    assert [layer.name for layer in doc.layers] == ["bg", "edge", "patch"]
    patch_layer = doc.layers[2]
    assert patch_layer.pixels.shape == (10, 20, 4)
    assert patch_layer.blend_mode == "screen" and patch_layer.opacity == pytest.approx(0.5)
    alpha = patch_layer.pixels[..., 3]
    assert alpha[5:9, 3:9].min() == 1.0 and alpha.sum() == 24  # placed at (3, 5), 6x4
    edge = doc.layers[1]
    assert edge.blend_mode == "normal" and edge.pixels[..., 3].sum() == 3 * 2  # cropped
    assert doc.meta.dpi == (150.0, 150.0) and doc.meta.path == tmp_path / "k.ora"


def test_foreign_layer_without_mimetype_entry_still_loads(tmp_path):
    with zipfile.ZipFile(tmp_path / "m.ora", "w") as zf:
        zf.writestr("stack.xml", "<image w='2' h='2'><stack><layer src='a.png'/></stack></image>")
        zf.writestr("a.png", _png(np.zeros((2, 2, 3), np.uint8)))
    doc = load_ora(tmp_path / "m.ora")
    assert len(doc.layers) == 1 and doc.layers[0].name == "Layer 1"


def test_corrupt_files_raise_load_error(tmp_path):
    cases = {}
    cases["garbage.ora"] = b"this is not a zip at all"
    cases["empty.ora"] = b""
    good = tmp_path / "good.ora"
    save_ora(good, _three_layer_doc(8))
    data = good.read_bytes()
    cases["truncated.ora"] = data[: len(data) // 2]
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)

    def rewrite(name, drop=(), replace=None):
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / name, "w") as dst:
            for info in src.infolist():
                if info.filename in drop:
                    continue
                dst.writestr(info, (replace or {}).get(info.filename, src.read(info)))
    rewrite("nostack.ora", drop=("stack.xml",))
    rewrite("badxml.ora", replace={"stack.xml": b"<image w='40' h='30'><stack>"})
    rewrite("wrongsize.ora", replace={"data/layer1.png": _png(np.zeros((5, 5, 4), np.uint8))})
    rewrite("missinglayer.ora", drop=("data/layer2.png",))
    rewrite("badpng.ora", replace={"data/layer0.png": b"\x89PNG\r\n\x1a\nnope"})
    rewrite("notora.ora", replace={"mimetype": b"application/zip"})
    for name in ["garbage.ora", "empty.ora", "truncated.ora", "nostack.ora", "badxml.ora",
                 "wrongsize.ora", "missinglayer.ora", "badpng.ora", "notora.ora"]:
        with pytest.raises(ImageLoadError) as info:
            load_ora(tmp_path / name)
        assert "good.ora" not in str(info.value) and name in str(info.value), name
        assert "\n" not in str(info.value)
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_ora(tmp_path / "nope.ora")


def test_huge_canvas_rejected_before_decoding(tmp_path):
    _foreign_ora(tmp_path / "big.ora",
                 "<image w='100000' h='100000'><stack><layer src='x.png'/></stack></image>", {})
    with pytest.raises(ImageTooLargeError):
        load_ora(tmp_path / "big.ora")


def test_failed_save_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "w.ora"
    save_ora(path, _three_layer_doc(8))
    before = path.read_bytes()
    import editor.core.ora as ora

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(ora, "encode_png", explode)
    with pytest.raises(ImageSaveError, match="disk is full"):
        save_ora(path, _three_layer_doc(8))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.ora"]
