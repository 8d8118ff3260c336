"""Super-resolution training data: the "291" natural images, LR made the benchmark's way.

* Images: ``<root>/T91/*`` and ``<root>/BSD200/*`` (``../shared/data/train/natural``), read
  once into memory as uint8 RGB (~110 MB for all 291), never ``bench/``.
* Held-out validation: every 20th BSD200 image in sorted order (10 images), fixed for all
  runs so validation numbers of different runs compare; they are never trained on.
* Bicubic LR: MATLAB ``imresize(hr, 1/s)`` of the HR cropped to a multiple of ``s``,
  through MATLAB's uint8 path and rounded to uint8, which reproduces the benchmarks'
  LR images. Computed once per image and scale.
* Patches: random ``patch`` x ``patch`` LR crops with the aligned ``patch*s`` HR crop, a
  random flip and rot90 (the 8 dihedral transforms), from a seeded numpy Generator whose
  state goes into every checkpoint, so a resumed run draws the same patches.

Pixels: numpy float32 NCHW RGB in [0, 1] out of :meth:`PatchSampler.batch`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from editor.core.imresize import imresize

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Subfolders of the natural-image root used for SR training (the classic "291").
TRAIN_SUBSETS = ("T91", "BSD200")
#: Every VAL_EVERY-th image of the validation source (BSD200) is held out.
VAL_EVERY = 20


def default_data_root() -> Path:
    """``../shared/data/train/natural`` beside the checkout; RESTORA_SR_DATA overrides."""
    override = os.environ.get("RESTORA_SR_DATA")
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "train" / "natural"


def list_images(root: Path) -> tuple[list[Path], list[Path]]:
    """(train, validation) image paths under ``root``, both sorted.

    Uses T91/ and BSD200/ when present (else every image under ``root``, which is what the
    tests' synthetic folders look like). Validation is every VAL_EVERY-th image of BSD200
    (else of all images), starting at the first, so it is the same list on every machine.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"training data folder {root} does not exist")

    def images(folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)

    subsets = [root / name for name in TRAIN_SUBSETS if (root / name).is_dir()]
    everything = sorted(p for s in subsets for p in images(s)) if subsets else images(root)
    if not everything:
        raise FileNotFoundError(f"no images under {root}")
    source = images(root / "BSD200") if (root / "BSD200").is_dir() else everything
    val = source[::VAL_EVERY]
    held = set(val)
    train = [p for p in everything if p not in held]
    if not train:
        raise ValueError(f"{root}: every image went to validation; add more images")
    return train, val


def load_rgb(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB (alpha dropped, greyscale expanded)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def bicubic_lr(hr_uint8: np.ndarray, scale: int) -> np.ndarray:
    """uint8 LR of a modcropped uint8 HR, exactly as MATLAB makes the benchmarks' LR."""
    lr = imresize(hr_uint8.astype(np.float32) / 255.0, 1.0 / scale, uint8_path=True)
    return np.clip(np.round(lr * 255.0), 0, 255).astype(np.uint8)


def to_float(image_uint8: np.ndarray) -> np.ndarray:
    return image_uint8.astype(np.float32) / 255.0


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of float RGB in [0, 1], on the 0..255 scale [16, 235] (MATLAB
    ``rgb2ycbcr``), which is how SR papers compute their Y-channel PSNR."""
    return 16.0 + image[..., 0] * 65.481 + image[..., 1] * 128.553 + image[..., 2] * 24.966


def y_psnr(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """Y-channel PSNR in dB of HxWx3 float RGB images, ``border`` pixels cropped on each
    side; ``sr`` is rounded to 8 bits first, as a saved result would be."""
    sr = np.clip(np.round(np.clip(sr, 0, 1) * 255.0), 0, 255) / 255.0
    if border:
        sr = sr[border:-border, border:-border]
        hr = hr[border:-border, border:-border]
    diff = rgb_to_y(sr.astype(np.float64)) - rgb_to_y(hr.astype(np.float64))
    mse = float(np.mean(diff * diff))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


#: A degradation: (hr float32 HxWx3, scale, rng) -> lr float32 (H/s)x(W/s)x3 in [0, 1].
Degrade = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


@dataclass
class ValImage:
    name: str
    hr: np.ndarray                # float32 HxWx3, modcropped for ``scale``
    lr: dict[int, np.ndarray]     # scale -> float32 LR


class PatchSampler:
    """Random aligned (LR, HR) patch batches from HR images held in memory.

    ``degrade`` None: LR are the precomputed MATLAB-bicubic images. Otherwise each HR patch
    is degraded on the fly (real-photo training) with this sampler's Generator.
    """

    def __init__(self, hr_images: Sequence[np.ndarray], scales: Sequence[int], patch: int,
                 batch: int, seed: int, degrade: Degrade | None = None) -> None:
        if patch < 1 or batch < 1:
            raise ValueError(f"need patch >= 1 and batch >= 1, got {patch!r}, {batch!r}")
        self.scales = tuple(int(s) for s in scales)
        self.patch = patch
        self.batch_size = batch
        self.degrade = degrade
        self.rng = np.random.default_rng(seed)
        self.hr: dict[int, list[np.ndarray]] = {}
        self.lr: dict[int, list[np.ndarray]] = {}
        for s in self.scales:
            # Images smaller than one HR patch cannot give a crop at this scale.
            usable = [modcrop(im, s) for im in hr_images
                      if min(im.shape[:2]) >= patch * s]
            if not usable:
                raise ValueError(f"no training image is at least {patch * s} px "
                                 f"(patch {patch} at x{s})")
            self.hr[s] = usable
            self.lr[s] = [] if degrade else [bicubic_lr(im, s) for im in usable]

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def batch(self, scale: int) -> tuple[np.ndarray, np.ndarray]:
        """(lr, hr): float32 N x 3 x p x p and N x 3 x p*s x p*s, RGB in [0, 1]."""
        s, p = scale, self.patch
        lrs, hrs = [], []
        for _ in range(self.batch_size):
            i = int(self.rng.integers(len(self.hr[s])))
            hr_full = self.hr[s][i]
            lh, lw = hr_full.shape[0] // s, hr_full.shape[1] // s
            y = int(self.rng.integers(lh - p + 1))
            x = int(self.rng.integers(lw - p + 1))
            hr = to_float(hr_full[y * s:(y + p) * s, x * s:(x + p) * s])
            if self.degrade is None:
                lr = to_float(self.lr[s][i][y:y + p, x:x + p])
            else:
                lr = self.degrade(hr, s, self.rng)
            # One of the 8 dihedral transforms, the same for both.
            k, flip = int(self.rng.integers(4)), bool(self.rng.integers(2))
            lr, hr = np.rot90(lr, k), np.rot90(hr, k)
            if flip:
                lr, hr = lr[:, ::-1], hr[:, ::-1]
            lrs.append(lr.transpose(2, 0, 1))
            hrs.append(hr.transpose(2, 0, 1))
        return (np.ascontiguousarray(np.stack(lrs), dtype=np.float32),
                np.ascontiguousarray(np.stack(hrs), dtype=np.float32))


def load_dataset(root: Path | None = None) -> tuple[list[np.ndarray], list[tuple[str,
                                                                              np.ndarray]]]:
    """(train HR images, [(name, val HR image)]) as uint8 RGB."""
    train_paths, val_paths = list_images(root or default_data_root())
    return ([load_rgb(p) for p in train_paths],
            [(p.name, load_rgb(p)) for p in val_paths])


def load_val(root: Path | None = None) -> list[tuple[str, np.ndarray]]:
    """Only the held-out validation images, as (name, uint8 RGB)."""
    _, val_paths = list_images(root or default_data_root())
    return [(p.name, load_rgb(p)) for p in val_paths]


def make_val_set(val: Sequence[tuple[str, np.ndarray]], scales: Sequence[int],
                 degrade_val: Callable[[np.ndarray, int, int], np.ndarray] | None = None,
                 ) -> dict[int, list[ValImage]]:
    """Per scale, the validation images with their LR (bicubic, or ``degrade_val(lr_uint8,
    scale, index)`` applied to the bicubic LR for the real-photo model)."""
    out: dict[int, list[ValImage]] = {}
    for s in scales:
        items = []
        for index, (name, image) in enumerate(val):
            hr = modcrop(image, s)
            lr = bicubic_lr(hr, s)
            lr_float = degrade_val(lr, s, index) if degrade_val else to_float(lr)
            items.append(ValImage(name, to_float(hr), {s: lr_float}))
        out[s] = items
    return out
