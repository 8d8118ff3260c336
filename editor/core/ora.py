"""OpenRaster (.ora): Restora's layered working file, which Krita, GIMP and MyPaint also open.

A zip holding ``mimetype`` (first, uncompressed), ``stack.xml`` (layers listed top first),
one PNG per layer under ``data/``, ``mergedimage.png`` and ``Thumbnails/thumbnail.png``.
What OpenRaster has no words for goes where other editors will ignore it: layer masks as
grayscale PNGs named by ``restora:mask`` attributes, and the source photo's profile, EXIF
and depth under ``restora/`` so a later export still gives the photo back as it came.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from editor.core.document import Document, Layer, to_rgba
from editor.core.imageio import (
    MAX_PIXELS,
    ImageIOError,
    ImageLoadError,
    ImageTooLargeError,
    atomic_write,
    decode_image,
    encode_png,
    to_uint8,
)
from editor.core.meta import ImageMeta

MIMETYPE = b"image/openraster"
ORA_VERSION = "0.0.5"
RESTORA_NS = "urn:x-restora:openraster:1"
THUMBNAIL_SIZE = 256

BLEND_TO_SVG = {
    "normal": "svg:src-over", "multiply": "svg:multiply", "screen": "svg:screen",
    "overlay": "svg:overlay", "darken": "svg:darken", "lighten": "svg:lighten",
    "soft_light": "svg:soft-light", "hard_light": "svg:hard-light",
    "difference": "svg:difference", "luminosity": "svg:luminosity", "color": "svg:color",
}
SVG_TO_BLEND = {svg: mode for mode, svg in BLEND_TO_SVG.items()}

_MASK = f"{{{RESTORA_NS}}}mask"
_MASK_ENABLED = f"{{{RESTORA_NS}}}mask-enabled"
_META, _ICC, _EXIF = "restora/meta.json", "restora/icc.icc", "restora/exif.bin"
# A bigger zip member is a zip bomb, not a layer (a 16-bit RGBA PNG of 200 MP is ~1.6 GB raw).
_MAX_MEMBER_BYTES = 2 << 30
# Layer PNGs are rewritten on every save of a working file: favour speed over size.
_PNG_LEVEL = 3

ET.register_namespace("restora", RESTORA_NS)


# -- saving ------------------------------------------------------------------------------------

def save_ora(path: str | os.PathLike, doc: Document) -> Path:
    """Write ``doc`` as OpenRaster, atomically. Layers are 16-bit PNGs when the document's
    source was 16-bit, so saving a working file never costs precision."""
    depth = 16 if doc.meta.bit_depth == 16 else 8

    def write(fh) -> None:
        with zipfile.ZipFile(fh, "w") as zf:
            # The spec requires this exact first entry so `file` can sniff the type.
            zf.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE, zipfile.ZIP_STORED)
            image = ET.Element("image", {"version": ORA_VERSION, "w": str(doc.width),
                                         "h": str(doc.height)})
            if doc.meta.dpi:
                image.set("xres", f"{doc.meta.dpi[0]:g}")
                image.set("yres", f"{doc.meta.dpi[1]:g}")
            stack = ET.SubElement(image, "stack")
            active = doc.active_layer
            for index in reversed(range(len(doc.layers))):  # OpenRaster lists top first
                layer = doc.layers[index]
                src = f"data/layer{index}.png"
                element = ET.SubElement(stack, "layer", {
                    "name": layer.name, "src": src, "x": "0", "y": "0",
                    "visibility": "visible" if layer.visible else "hidden",
                    "opacity": repr(float(layer.opacity)),
                    "composite-op": BLEND_TO_SVG[layer.blend_mode]})
                if layer is active:
                    element.set("selected", "true")
                _store(zf, src, encode_png(layer.pixels, depth, compress_level=_PNG_LEVEL))
                if layer.mask is not None:
                    mask_src = f"data/mask{index}.png"
                    element.set(_MASK, mask_src)
                    element.set(_MASK_ENABLED, "true" if layer.mask_enabled else "false")
                    _store(zf, mask_src, encode_png(layer.mask, depth,
                                                    compress_level=_PNG_LEVEL))
            zf.writestr("stack.xml", ET.tostring(image, encoding="utf-8", xml_declaration=True),
                        zipfile.ZIP_DEFLATED)
            merged = doc.composite()
            _store(zf, "mergedimage.png", encode_png(merged, 8))
            thumb = Image.fromarray(to_uint8(merged))
            thumb.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
            _store(zf, "Thumbnails/thumbnail.png",
                   encode_png(np.asarray(thumb, np.float32) / 255.0, 8))
            _write_meta(zf, doc.meta)

    return atomic_write(path, write)


def _store(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    zf.writestr(name, data, zipfile.ZIP_STORED)  # PNG is already deflated


def _write_meta(zf: zipfile.ZipFile, meta: ImageMeta) -> None:
    extra = {}
    for key, value in meta.extra.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue  # runtime-only values (arrays, objects) do not belong in a file
        extra[str(key)] = value
    info = {"writer": "Restora", "path": str(meta.path) if meta.path else None,
            "format": meta.format, "bit_depth": meta.bit_depth, "mode": meta.mode,
            "has_alpha": meta.has_alpha, "dpi": list(meta.dpi) if meta.dpi else None,
            "extra": extra}
    zf.writestr(_META, json.dumps(info, indent=1), zipfile.ZIP_DEFLATED)
    if meta.icc_profile:
        zf.writestr(_ICC, meta.icc_profile, zipfile.ZIP_DEFLATED)
    if meta.exif:
        zf.writestr(_EXIF, meta.exif, zipfile.ZIP_DEFLATED)


# -- loading -----------------------------------------------------------------------------------

class _Damaged(Exception):
    """Internal: the reason a file cannot be read, worded for the user."""


def load_ora(path: str | os.PathLike, *, allow_huge: bool = False,
             max_pixels: int = MAX_PIXELS) -> Document:
    """Read an OpenRaster file written by Restora or another editor into a Document.

    Layer groups from other editors are flattened into the stack (their visibility and
    opacity folded into their layers); layers smaller than the canvas are placed at their
    x/y offsets on a canvas-sized transparent layer.
    """
    p = Path(path)
    try:
        zf = zipfile.ZipFile(p)
    except FileNotFoundError as exc:
        raise ImageLoadError(f'Cannot open "{p.name}": the file does not exist.', p) from exc
    except PermissionError as exc:
        raise ImageLoadError(f'Cannot open "{p.name}": permission denied.', p) from exc
    except IsADirectoryError as exc:
        raise ImageLoadError(f'Cannot open "{p.name}": it is a folder.', p) from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ImageLoadError(f'Cannot open "{p.name}": it is not a valid OpenRaster file '
                             '(damaged or not a zip archive).', p) from exc
    try:
        with zf:
            return _read_document(zf, p, allow_huge, max_pixels)
    except ImageIOError:
        raise
    except _Damaged as exc:
        raise ImageLoadError(f'Cannot open "{p.name}": {exc}.', p) from exc
    except MemoryError as exc:
        raise ImageLoadError(f'Cannot open "{p.name}": not enough memory.', p) from exc
    except Exception as exc:  # zip CRC errors, bad XML, bad numbers: all mean a damaged file
        raise ImageLoadError(f'Cannot open "{p.name}": the OpenRaster file is damaged.',
                             p) from exc


def _read_document(zf: zipfile.ZipFile, path: Path, allow_huge: bool,
                   max_pixels: int) -> Document:
    names = set(zf.namelist())
    if "mimetype" in names and _member(zf, "mimetype").strip() != MIMETYPE:
        raise _Damaged("it is not an OpenRaster file")
    if "stack.xml" not in names:
        raise _Damaged("it has no stack.xml, so it is not an OpenRaster file")
    root = ET.fromstring(_member(zf, "stack.xml"))
    stack = root.find("stack")
    if root.tag != "image" or stack is None:
        raise _Damaged("its stack.xml does not describe an image")
    try:
        width, height = int(root.get("w", "")), int(root.get("h", ""))
    except ValueError:
        width = height = 0
    if width <= 0 or height <= 0:
        raise _Damaged("its stack.xml has no valid canvas size")
    if not allow_huge and width * height > max_pixels:
        raise ImageTooLargeError(path.name, (width, height), max_pixels, path)

    ours = _META in names  # our own files must match exactly; others get placed leniently
    meta = _read_meta(zf, names, path, root)
    doc = Document(width, height, meta)
    selected = None
    depth = 8
    entries = list(_leaf_layers(stack, True, 1.0))
    for index, (element, visible, opacity) in enumerate(reversed(entries)):  # bottom first
        layer, layer_depth = _read_layer(zf, element, (width, height), ours, path.name,
                                         allow_huge, max_pixels)
        layer.name = layer.name or f"Layer {index + 1}"
        layer.visible = layer.visible and visible
        layer.opacity = layer.opacity * opacity
        doc.insert_layer(layer, index)
        depth = max(depth, layer_depth)
        if element.get("selected") == "true":
            selected = layer.id
    if selected is not None:
        doc.set_active(selected)
    if not ours:
        meta.bit_depth = depth
    return doc


def _leaf_layers(stack: ET.Element, visible: bool, opacity: float):
    """Layers top first, with the visibility and opacity of the groups around them."""
    for child in stack:
        if child.tag == "stack":
            yield from _leaf_layers(child, visible and child.get("visibility") != "hidden",
                                    opacity * _opacity(child))
        elif child.tag == "layer":
            yield child, visible, opacity


def _opacity(element: ET.Element) -> float:
    try:
        value = float(element.get("opacity", "1"))
    except ValueError:
        return 1.0
    return min(1.0, max(0.0, value)) if np.isfinite(value) else 1.0


def _member(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise _Damaged(f'"{name}" is missing from it') from None
    if info.file_size > _MAX_MEMBER_BYTES:
        raise _Damaged(f'"{name}" inside it is implausibly large')
    return zf.read(info)


def _read_layer(zf: zipfile.ZipFile, element: ET.Element, canvas: tuple[int, int], ours: bool,
                ora_name: str, allow_huge: bool, max_pixels: int) -> tuple[Layer, int]:
    width, height = canvas
    src = element.get("src")
    if not src:
        raise _Damaged("a layer in its stack.xml has no image")
    pixels, layer_meta = decode_image(_member(zf, src), f"{ora_name}: {src}",
                                      allow_huge=allow_huge, max_pixels=max_pixels)
    rgba = to_rgba(pixels)
    x, y = (int(round(float(element.get(k, "0")))) for k in ("x", "y"))
    h, w = rgba.shape[:2]
    if (w, h, x, y) != (width, height, 0, 0):
        if ours:
            raise _Damaged(f'layer "{src}" is {w}x{h} but the canvas is {width}x{height}')
        rgba = _place(rgba, x, y, width, height)
    mask = None
    mask_src = element.get(_MASK)
    if mask_src:
        mask_px, _ = decode_image(_member(zf, mask_src), f"{ora_name}: {mask_src}",
                                  allow_huge=allow_huge, max_pixels=max_pixels)
        if mask_px.shape[:2] != (height, width):
            raise _Damaged(f'mask "{mask_src}" is {mask_px.shape[1]}x{mask_px.shape[0]} but '
                           f'the canvas is {width}x{height}')
        mask = mask_px[..., 0]
    blend = SVG_TO_BLEND.get(element.get("composite-op", "svg:src-over"), "normal")
    layer = Layer(rgba, element.get("name", ""), element.get("visibility") != "hidden",
                  _opacity(element), blend, mask, element.get(_MASK_ENABLED) != "false")
    return layer, layer_meta.bit_depth


def _place(rgba: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray:
    """Put a layer with offset (x, y) on a transparent canvas, cropping what falls outside."""
    canvas = np.zeros((height, width, 4), np.float32)
    h, w = rgba.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = rgba[y0 - y:y1 - y, x0 - x:x1 - x]
    return canvas


def _read_meta(zf: zipfile.ZipFile, names: set[str], path: Path,
               root: ET.Element) -> ImageMeta:
    if _META not in names:
        # Another editor's file: the .ora itself is the source to protect on export.
        meta = ImageMeta(path=path, format="PNG", mode="RGBA", has_alpha=True)
        try:
            dpi = (float(root.get("xres", "")), float(root.get("yres", "")))
            meta.dpi = dpi if all(np.isfinite(d) and d > 0 for d in dpi) else None
        except ValueError:
            pass
        return meta
    info = json.loads(_member(zf, _META))
    if not isinstance(info, dict):
        raise _Damaged("its Restora metadata is damaged")
    dpi = info.get("dpi")
    return ImageMeta(
        path=Path(info["path"]) if info.get("path") else None,
        format=str(info.get("format", "PNG")), bit_depth=int(info.get("bit_depth", 8)),
        mode=str(info.get("mode", "RGB")), has_alpha=bool(info.get("has_alpha", False)),
        icc_profile=_member(zf, _ICC) if _ICC in names else None,
        exif=_member(zf, _EXIF) if _EXIF in names else None,
        dpi=(float(dpi[0]), float(dpi[1])) if dpi else None,
        extra=dict(info.get("extra") or {}))
