"""Training data of the Retouch network (LPTN): before/after pairs and the patch samplers.

* Pre-training ("distort and recover", :class:`DistortSampler`): crops of the good photos
  in ``../shared/data/train/natural`` (T91 + BSD200), each distorted by
  :func:`editor.training.distort.distort`; the network learns to give the original back.
  Validation: the natural images :func:`editor.training.sr_data.list_images` holds out
  (every 20th BSD200 image), distorted from a fixed stream of their own.
* Expert C (:func:`load_fivek`): the 17 MIT-Adobe FiveK pairs in
  ``../shared/data/train/retouch_fivek/{input,expert_c}``. :data:`HELD_OUT` (4 of them,
  every 4th name in sorted order starting at the second, fixed before any result was seen)
  is never trained on: it is the benchmark's quality set. RGBA files lose their alpha; five
  pairs differ in size by 1–2 px (the two renderings were cropped slightly differently),
  so the retouched image is resampled onto the input's grid.
* Learn my look: any list of :class:`Pair`.

Pairs are shrunk to :data:`MAX_SIDE` px on their long side when larger (the network sees
whole photos at 32–64 px in its low band, so a crop of a 24-megapixel photo would teach it
a scale it never works at), then :class:`PairSampler` takes random crops at a random
scale with a random flip / 90° turn, from a Generator seeded by (seed, iteration): a
resumed run draws the same batches.

Pixels: float32 RGB in [0, 1]; batches are NCHW.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from editor.training import sr_data
from editor.training.distort import DEFAULT as DISTORT_DEFAULT
from editor.training.distort import DistortConfig, distort

#: Seed streams ("RTRN", "RVAL"): training draws and the fixed validation distortions.
TRAIN_STREAM = 0x5254524E
VAL_STREAM = 0x5256414C
#: Indices (in sorted name order) of the FiveK pairs held out from training.
HELD_OUT = (1, 5, 9, 13)
#: Pairs are shrunk to at most this many pixels on their long side.
MAX_SIDE = 768
#: A retouched image may differ from its input by this many pixels per side (FiveK's do by
#: 1–2); more means the files are not a pair.
SIZE_SLACK = 4
#: Random scale of each crop's source image (before cropping).
SCALE_RANGE = (0.55, 1.0)


@dataclass
class Pair:
    """One before/after pair of the same photo, float32 HxWx3 RGB, the same size."""

    name: str
    before: np.ndarray
    after: np.ndarray


def stream(*words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(w) for w in words]))


def default_fivek_root() -> Path:
    """``../shared/data/train/retouch_fivek``; RESTORA_RETOUCH_DATA overrides."""
    override = os.environ.get("RESTORA_RETOUCH_DATA")
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "train" / "retouch_fivek"


def to_float(image_uint8: np.ndarray) -> np.ndarray:
    return image_uint8.astype(np.float32) / np.float32(255.0)


def shrink(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """``image`` with its long side at most ``max_side`` px (area resampling)."""
    h, w = image.shape[:2]
    f = max_side / max(h, w)
    if f >= 1.0:
        return image
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def align_pair(name: str, before: np.ndarray, after: np.ndarray) -> Pair:
    """A :class:`Pair` from two float images of (nearly) the same size: ``after`` is
    resampled onto ``before``'s grid when they differ by at most SIZE_SLACK px per side;
    ValueError naming both sizes otherwise."""
    (h, w), (h2, w2) = before.shape[:2], after.shape[:2]
    if abs(h - h2) > SIZE_SLACK or abs(w - w2) > SIZE_SLACK:
        raise ValueError(f"{name}: the before image is {w}×{h} px but the after image is "
                         f"{w2}×{h2} px; a pair must show the same photo at the same size")
    if (h, w) != (h2, w2):
        after = cv2.resize(after, (w, h), interpolation=cv2.INTER_LINEAR)
    return Pair(name, np.ascontiguousarray(shrink(before)), np.ascontiguousarray(shrink(after)))


def load_fivek(root: Path | None = None) -> tuple[list[Pair], list[Pair]]:
    """(training pairs, held-out pairs) of FiveK input → Expert C."""
    root = Path(root) if root is not None else default_fivek_root()
    inputs = sorted((root / "input").glob("*.png"))
    if not inputs:
        raise FileNotFoundError(f"no FiveK pairs under {root} (looked for input/*.png)")
    train, held = [], []
    for i, path in enumerate(inputs):
        target = root / "expert_c" / path.name
        if not target.is_file():
            raise FileNotFoundError(f"{target} is missing (every input needs its Expert C)")
        pair = align_pair(path.stem, to_float(sr_data.load_rgb(path)),
                          to_float(sr_data.load_rgb(target)))
        (held if i in HELD_OUT else train).append(pair)
    return train, held


def _dihedral(image: np.ndarray, k: int) -> np.ndarray:
    if k & 4:
        image = image[:, ::-1]
    return np.rot90(image, k & 3)


def random_crop(images: Sequence[np.ndarray], patch: int, rng: np.random.Generator
                ) -> list[np.ndarray]:
    """The same random-scale crop (``patch`` px square), flip and turn of every image in
    ``images`` (all the same size). Images too small for the crop are enlarged."""
    h, w = images[0].shape[:2]
    scale = max(float(rng.uniform(*SCALE_RANGE)), patch / min(h, w))
    size = (max(patch, round(w * scale)), max(patch, round(h * scale)))
    if size != (w, h):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        images = [cv2.resize(im, size, interpolation=interp) for im in images]
    y = int(rng.integers(0, size[1] - patch + 1))
    x = int(rng.integers(0, size[0] - patch + 1))
    k = int(rng.integers(0, 8))
    return [np.ascontiguousarray(_dihedral(im[y:y + patch, x:x + patch], k)) for im in images]


def _nchw(batch: list[np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(np.stack(batch).transpose(0, 3, 1, 2), dtype=np.float32)


class PairSampler:
    """Batches of (before, after) crops from ``pairs``."""

    def __init__(self, pairs: Sequence[Pair], patch: int, batch: int, seed: int) -> None:
        if not pairs:
            raise ValueError("no training pairs")
        self.pairs, self.patch, self.batch_size, self.seed = list(pairs), patch, batch, seed

    def batch(self, iteration: int) -> tuple[np.ndarray, np.ndarray]:
        rng = stream(TRAIN_STREAM, self.seed, iteration)
        befores, afters = [], []
        for _ in range(self.batch_size):
            pair = self.pairs[int(rng.integers(0, len(self.pairs)))]
            before, after = random_crop([pair.before, pair.after], self.patch, rng)
            befores.append(before)
            afters.append(after)
        return _nchw(befores), _nchw(afters)


class DistortSampler:
    """Batches of (distorted, original) crops of good photos (uint8 RGB ``images``)."""

    def __init__(self, images: Sequence[np.ndarray], patch: int, batch: int, seed: int,
                 cfg: DistortConfig = DISTORT_DEFAULT) -> None:
        if not images:
            raise ValueError("no training images")
        self.images, self.patch, self.batch_size, self.seed = list(images), patch, batch, seed
        self.cfg = cfg

    def batch(self, iteration: int) -> tuple[np.ndarray, np.ndarray]:
        rng = stream(TRAIN_STREAM, self.seed, iteration)
        befores, afters = [], []
        for _ in range(self.batch_size):
            image = self.images[int(rng.integers(0, len(self.images)))]
            (crop,) = random_crop([to_float(image)], self.patch, rng)
            distorted, _ = distort(crop, rng, self.cfg)
            befores.append(distorted)
            afters.append(crop)
        return _nchw(befores), _nchw(afters)


def load_natural(root: Path | None = None) -> tuple[list[np.ndarray], list[tuple[str, np.ndarray]]]:
    """(training images, [(name, held-out image)]) of the natural photos, uint8 RGB."""
    return sr_data.load_dataset(root or sr_data.default_data_root())


def distorted_val_pairs(val: Sequence[tuple[str, np.ndarray]],
                        cfg: DistortConfig = DISTORT_DEFAULT) -> list[Pair]:
    """The held-out natural images, each distorted from its own fixed stream."""
    pairs = []
    for i, (name, image) in enumerate(val):
        original = to_float(image)
        distorted, _ = distort(original, stream(VAL_STREAM, i), cfg)
        pairs.append(Pair(name, distorted, original))
    return pairs
