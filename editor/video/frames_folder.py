"""Numbered image sequences in a folder (``frame_0001.png``, ``0001.png``, ``img12.jpg``...),
read and written as uint8 RGB frames. Qt-free; used through :mod:`editor.video.io`.

A frames folder holds one sequence: every image name has the same text before and after
its number, the numbers run without a gap, and every frame has the same size. Hidden files
and files that are not images (``Thumbs.db``, ``notes.txt``) are ignored.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from editor.video.io import FrameWriter, VideoError, VideoInfo, write_error_message

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
# Suffixes a frames-folder output keeps from its input's naming; others are written as PNG.
_LOSSLESS_SUFFIXES = (".png", ".tif", ".tiff")
DEFAULT_FPS = Fraction(25)
# Last run of digits in the name; the non-digit tail (extension included) follows it.
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)(?P<suffix>\D*)$")


@dataclass(frozen=True)
class Naming:
    """How frame files are named: ``f"{prefix}{number:0{width}d}{suffix}"``."""

    prefix: str = "frame_"
    width: int = 5
    suffix: str = ".png"
    start: int = 1

    def name(self, index: int) -> str:
        return f"{self.prefix}{self.start + index:0{self.width}d}{self.suffix}"


def _split_ext(tail: str) -> tuple[str, str]:
    """("_final", ".png") from "_final.png"; unlike os.path.splitext, ".png" gives ("", ".png")."""
    stem, dot, ext = tail.rpartition(".")
    return (stem, dot + ext) if dot else (tail, "")


def _is_image(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def scan(folder: Path) -> VideoInfo:
    """Probe a folder of numbered images; raises :class:`VideoError` for an empty folder,
    mixed name patterns, a gap or duplicate in the numbering, or frames of different sizes."""
    try:
        names = [e.name for e in os.scandir(folder) if e.is_file() and _is_image(e.name)]
    except OSError as err:
        raise VideoError(f'The folder "{folder}" could not be read: {err.strerror or err}.') from err
    if not names:
        raise VideoError(f'The folder "{folder.name}" holds no numbered images '
                         f'({", ".join(s[1:] for s in IMAGE_SUFFIXES)}).')
    numbered: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for name in names:
        match = _NUMBERED.match(name)
        if match is None:
            raise VideoError(f'"{name}" in "{folder.name}" has no frame number; a frames folder '
                             'must hold only the numbered images of one sequence.')
        key = (match["prefix"], match["suffix"])
        numbered.setdefault(key, []).append((int(match["number"]), name))
    if len(numbered) > 1:
        (a, _), (b, _) = sorted(numbered.items(), key=lambda kv: -len(kv[1]))[:2]
        raise VideoError(f'"{folder.name}" mixes two image sequences ({a[0]}#{a[1]} and '
                         f'{b[0]}#{b[1]}); keep one sequence per folder.')
    (prefix, suffix), frames = next(iter(numbered.items()))
    frames.sort()
    for (n0, name0), (n1, name1) in zip(frames, frames[1:]):
        if n1 == n0:
            raise VideoError(f'"{name0}" and "{name1}" in "{folder.name}" both claim frame '
                             f'number {n0}.')
        if n1 != n0 + 1:
            width = len(_NUMBERED.match(name1)["number"])
            missing = f"{prefix}{n0 + 1:0{width}d}{suffix}"
            raise VideoError(f'Frame number {n0 + 1} ("{missing}") is missing from '
                             f'"{folder.name}": the numbering jumps from {n0} to {n1}.')
    frame_names = tuple(name for _, name in frames)
    width, height = _image_size(folder / frame_names[0])
    for name in frame_names[1:]:
        size = _image_size(folder / name)
        if size != (width, height):
            raise VideoError(f'"{name}" is {size[0]} x {size[1]} pixels but the frames before it '
                             f'in "{folder.name}" are {width} x {height}; all frames must have '
                             'the same size.')
    codec = os.path.splitext(frame_names[0])[1].lower().lstrip(".")
    codec = {"jpg": "jpeg", "tif": "tiff"}.get(codec, codec)
    return VideoInfo(path=folder, kind="frames", width=width, height=height,
                     frame_count=len(frame_names), fps=DEFAULT_FPS, has_audio=False,
                     codec=codec, frame_names=frame_names)


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header; decodes only when Pillow cannot read it."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, Image.DecompressionBombError):
        rgb = read_frame(path)
        return rgb.shape[1], rgb.shape[0]


def read_frame(path: Path) -> np.ndarray:
    """One image as uint8 RGB HxWx3. Grey becomes RGB, alpha is dropped (not composited),
    16-bit and float samples are reduced to 8 bits (rounded). EXIF orientation is ignored,
    as video frames have none."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise VideoError(f'The frame "{path.name}" could not be read: {err.strerror or err}.') from err
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if pixels is None:
        pixels = _read_with_pillow(path)
    else:
        if pixels.ndim == 3 and pixels.shape[2] >= 3:
            pixels = pixels[:, :, 2::-1]  # OpenCV's BGR(A) -> RGB
    if pixels.ndim == 3 and pixels.shape[2] < 3:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(_to_uint8(pixels[:, :, :3]))


def _read_with_pillow(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                return np.asarray(im)
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise VideoError(f'The frame "{path.name}" could not be decoded; the image may be '
                         'damaged or in an unsupported format.') from err


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if pixels.dtype.kind == "f":
        return np.round(np.clip(np.nan_to_num(pixels), 0.0, 1.0) * 255).astype(np.uint8)
    if pixels.dtype.kind in "iu":  # 32-bit integer images: full range of the type
        info = np.iinfo(pixels.dtype)
        scaled = (pixels.astype(np.float64) - max(info.min, 0)) / (info.max - max(info.min, 0))
        return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)
    return pixels.astype(np.uint8)


def naming_like(info: VideoInfo | None) -> Naming:
    """The input's prefix, number width, first number and (lossless) suffix; else the default."""
    if info is None or info.kind != "frames" or not info.frame_names:
        return Naming()
    first, last = info.frame_names[0], info.frame_names[-1]
    match = _NUMBERED.match(first)
    if match is None:
        return Naming()
    digits = match["number"]
    padded = digits.startswith("0") or len(digits) == len(_NUMBERED.match(last)["number"])
    suffix = match["suffix"]
    stem, ext = _split_ext(suffix)
    if ext.lower() not in _LOSSLESS_SUFFIXES:
        suffix = stem + ".png"
    return Naming(prefix=match["prefix"], width=len(digits) if padded else 1,
                  suffix=suffix, start=int(digits))


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "xb") as fh:
        fh.write(data)


class FramesFolderWriter(FrameWriter):
    """Writes numbered lossless images (PNG, or TIFF when the input's naming asks for it)
    into a hidden sibling folder that becomes the target folder only in :meth:`commit`."""

    def __init__(self, target: Path, width: int, height: int, fps: Fraction,
                 like: VideoInfo | None, audio_from: Path | None) -> None:
        super().__init__(target, width, height, fps)
        if target.exists() and not target.is_dir():
            raise VideoError(f'"{target}" exists and is not a folder; frames are written into a folder.')
        if target.is_dir() and any(os.scandir(target)):
            raise VideoError(f'The folder "{target}" is not empty; choose an empty or new folder '
                             'so the new frames are not mixed with other files.')
        parent = target.parent
        if not parent.is_dir():
            raise VideoError(f'The folder "{parent}" does not exist.')
        self.naming = naming_like(like)
        self.audio_note = "dropped: a frames folder has no audio" if _has_audio(audio_from) else "none"
        self._temp = parent / f".{target.name}.partial-{secrets.token_hex(4)}"
        try:
            self._temp.mkdir()
        except OSError as err:
            raise VideoError(write_error_message(err, target)) from err
        self._state = "open"

    def _write_frame(self, rgb: np.ndarray) -> None:
        ext = _split_ext(self.naming.suffix)[1].lower()
        options = [cv2.IMWRITE_PNG_COMPRESSION, 3] if ext == ".png" else []
        try:
            ok, encoded = cv2.imencode(ext, rgb[:, :, ::-1], options)
        except cv2.error:
            ok = False
        if not ok:
            raise VideoError(f'Frame {self.frames_written + 1} could not be encoded as {ext[1:]}.')
        _write_bytes(self._temp / self.naming.name(self.frames_written), encoded.tobytes())

    def _finish(self) -> None:
        target = self.path
        try:
            if target.is_dir():
                target.rmdir()  # empty (checked at open); a non-empty one raises OSError
            os.rename(self._temp, target)
        except OSError as err:
            if err.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise VideoError(f'The folder "{target}" is no longer empty; the frames were not '
                                 'moved there.') from err
            raise

    def _discard(self) -> None:
        shutil.rmtree(self._temp, ignore_errors=True)


def _has_audio(path: Path | None) -> bool:
    if path is None:
        return False
    from editor.video import io
    try:
        return io.probe(path).has_audio
    except VideoError:
        return False
