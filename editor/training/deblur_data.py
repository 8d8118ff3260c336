"""Deblurring training data: synthetic (blurry, sharp) pairs from the natural images of
``../shared/data/train/natural`` (T91 + BSD200), never from ``bench/``.

One pair is made from a sharp crop with room around it (``MARGIN`` px each side, so blur
at the patch's edge sees real picture, not a padded border):

1. With ``p_sharp``, no blur at all: the network must learn to leave a sharp photo alone.
2. Else, with ``p_nonuniform``, non-uniform blur the way a short exposure makes it: the
   average of 7–21 sub-frames of the picture under a moving crop (translation along a
   camera-shake path, plus a small rotation and zoom drifting across the exposure), so the
   blur differs across the patch. Otherwise uniform blur: convolution with a random kernel
   from :mod:`editor.training.blur_kernels` (camera shake, linear motion, defocus disc,
   Gaussian; 7–41 px).
3. With ``p_linear_light``, the blur is applied to linear light (gamma 2.2 undone, then
   redone), as light really adds up on a sensor: bright lights smear into streaks.
4. Gaussian noise with sigma up to 2 % (colour or grey), then JPEG (quality 60–95) or
   8-bit rounding, as a photo file would be.

The sharp target is the centre crop of the untouched picture; blur paths and kernels are
centred on their mean, so the pair is aligned. Every random choice comes from one numpy
Generator, seeded per pair by (seed, iteration, index), so a resumed run draws the same
pairs. The held-out validation images (every 20th BSD200 image, the same split as
super-resolution, :func:`editor.training.sr_data.list_images`) get fixed blurs from their
own seed stream, :data:`VAL_STREAM`; the benchmark uses yet another stream, so no
validation or benchmark blur is ever a training one.

Pixels: float32 RGB in [0, 1]; batches are N x 3 x p x p (NCHW).
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from editor.training import blur_kernels as bk
from editor.training import sr_data
from editor.training.degrade import jpeg, quantise

#: Context around a patch: half the largest kernel, plus room for the moving crop.
MARGIN = bk.MAX_SIZE // 2 + 4
#: Seed streams (numpy SeedSequence entropy words): training draws from
#: ``[seed, TRAIN_STREAM]``, validation image ``i`` from ``[VAL_STREAM, i]``; the benchmark
#: (editor.training.bench_deblur) has its own. Distinct streams mean distinct blurs.
TRAIN_STREAM = 0x54524149   # "TRAI"
VAL_STREAM = 0x56414C44     # "VALD"
#: Validation crops: the centre of each held-out image, this size (cheap to score often).
VAL_CROP = 256
GAMMA = 2.2


@dataclass(frozen=True)
class SynthConfig:
    p_sharp: float = 0.05
    p_nonuniform: float = 0.3
    p_linear_light: float = 0.5
    kernels: bk.KernelConfig = bk.DEFAULT
    # Moving crop: sub-frames, path reach (px), rotation (degrees) and zoom across the
    # exposure. Bounded by MARGIN: reach + rotation/zoom displacement at the corners.
    subframes: tuple[int, int] = (7, 21)
    shift_reach: tuple[float, float] = (1.0, 12.0)
    max_rotation_deg: float = 1.5
    max_zoom: float = 0.03
    p_noise: float = 0.85
    noise_sigma: tuple[float, float] = (0.0, 0.02)
    p_grey_noise: float = 0.3
    p_jpeg: float = 0.4
    jpeg_quality: tuple[int, int] = (60, 95)


DEFAULT = SynthConfig()


def default_data_root() -> Path:
    """``../shared/data/train/natural`` (RESTORA_SR_DATA overrides, as for SR training)."""
    return sr_data.default_data_root()


def stream(*words: int) -> np.random.Generator:
    """A Generator for one seed stream (see TRAIN_STREAM)."""
    return np.random.default_rng(np.random.SeedSequence([int(w) for w in words]))


# -- blur ----------------------------------------------------------------------------------------

def _to_linear(image: np.ndarray) -> np.ndarray:
    return np.power(np.clip(image, 0.0, 1.0), GAMMA, dtype=np.float32)


def _from_linear(image: np.ndarray) -> np.ndarray:
    return np.power(np.clip(image, 0.0, 1.0), 1.0 / GAMMA, dtype=np.float32)


def moving_crop_blur(region: np.ndarray, rng: np.random.Generator,
                     cfg: SynthConfig = DEFAULT) -> tuple[np.ndarray, dict]:
    """Average of sub-frames of ``region`` (HxWx3 float32) warped along a camera path:
    a shake trajectory for the translation, a rotation and a zoom that drift linearly
    across the exposure. The mean sub-frame transform is the identity, so the result stays
    aligned with ``region``. Returns (blurred, parameters)."""
    h, w = region.shape[:2]
    n = int(rng.integers(cfg.subframes[0], cfg.subframes[1] + 1))
    reach = float(rng.uniform(*cfg.shift_reach))
    path = bk.shake_path(256, 1.0, rng)
    path = path[np.linspace(0, len(path) - 1, n).round().astype(int)]
    path -= path.mean(axis=0)
    extent = float(np.abs(path).max())
    if extent > 0:
        path *= reach / extent
    rotation = rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg)
    zoom = rng.uniform(-cfg.max_zoom, cfg.max_zoom)
    # A rotation centre off the patch makes the blur vary across it more than one in the
    # middle (a camera turning about the photographer, not the lens axis).
    centre = (w / 2 + rng.uniform(-w, w), h / 2 + rng.uniform(-h, h))
    drift = np.linspace(-0.5, 0.5, n)
    total = np.zeros_like(region)
    for (tx, ty), t in zip(path, drift):
        matrix = cv2.getRotationMatrix2D(centre, float(rotation * t), float(1.0 + zoom * t))
        # Undo the drift's move of the patch centre, so only the blur remains.
        moved = matrix @ np.array([w / 2, h / 2, 1.0])
        matrix[:, 2] += np.array([w / 2 + tx, h / 2 + ty]) - moved
        total += cv2.warpAffine(region, matrix, (w, h), flags=cv2.INTER_CUBIC,
                                borderMode=cv2.BORDER_REFLECT_101)
    return total / n, {"kind": "moving_crop", "subframes": n, "reach": reach,
                       "rotation_deg": float(rotation), "zoom": float(zoom)}


def blur_region(region: np.ndarray, rng: np.random.Generator,
                cfg: SynthConfig = DEFAULT) -> tuple[np.ndarray, dict]:
    """Blur HxWx3 float32 ``region`` (sharp, in [0, 1]) one random way; (blurred, info)."""
    if rng.random() < cfg.p_sharp:
        return region.copy(), {"kind": "sharp"}
    linear = bool(rng.random() < cfg.p_linear_light)
    work = _to_linear(region) if linear else region
    if rng.random() < cfg.p_nonuniform:
        blurred, info = moving_crop_blur(work, rng, cfg)
    else:
        kernel = bk.random_kernel(rng, cfg.kernels)
        blurred = bk.convolve(work, kernel.kernel)
        info = {"kind": kernel.kind, **kernel.params}
    info["linear_light"] = linear
    return (_from_linear(blurred) if linear else np.clip(blurred, 0.0, 1.0)), info


def add_noise_and_compress(image: np.ndarray, rng: np.random.Generator,
                           cfg: SynthConfig = DEFAULT) -> tuple[np.ndarray, dict]:
    """Sensor noise then the photo file: JPEG, or 8-bit rounding."""
    info: dict = {}
    out = image
    if rng.random() < cfg.p_noise:
        sigma = float(rng.uniform(*cfg.noise_sigma))
        grey = bool(rng.random() < cfg.p_grey_noise)
        shape = image.shape[:2] + ((1,) if grey else (image.shape[2],))
        out = image + rng.standard_normal(shape).astype(np.float32) * np.float32(sigma)
        info.update(noise_sigma=sigma, grey_noise=grey)
    out = np.clip(out, 0.0, 1.0)
    if rng.random() < cfg.p_jpeg:
        quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        info["jpeg_quality"] = quality
        return jpeg(out, quality), info
    return quantise(out), info


def synthesize(region: np.ndarray, rng: np.random.Generator, cfg: SynthConfig = DEFAULT,
               margin: int = MARGIN) -> tuple[np.ndarray, np.ndarray, dict]:
    """(blurry, sharp, info) for the centre of ``region`` (float32 HxWx3, ``margin`` px of
    context on every side): both (H - 2·margin) x (W - 2·margin) x 3 float32."""
    region = np.ascontiguousarray(region, dtype=np.float32)
    h, w = region.shape[:2]
    if h <= 2 * margin or w <= 2 * margin:
        raise ValueError(f"a {w}x{h} region leaves nothing inside a {margin}-px margin")
    blurred, info = blur_region(region, rng, cfg)
    inner = np.s_[margin:h - margin, margin:w - margin]
    blurry, more = add_noise_and_compress(np.ascontiguousarray(blurred[inner]), rng, cfg)
    info.update(more)
    return blurry, np.ascontiguousarray(region[inner]), info


# -- images, patches, validation -----------------------------------------------------------------

def pad_for_context(image_uint8: np.ndarray, margin: int = MARGIN) -> np.ndarray:
    """The image with ``margin`` px of reflection around it, so a patch touching the
    photo's edge still has context (numpy's reflect copes with any margin)."""
    return np.pad(image_uint8, ((margin, margin), (margin, margin), (0, 0)), mode="reflect")


class DeblurPatchSampler:
    """Synthetic (blurry, sharp) patch batches from sharp uint8 RGB images.

    Pair ``i`` of iteration ``t`` is drawn from its own seed stream ``[seed, TRAIN_STREAM,
    t, i]``, so a batch depends only on (seed, iteration): a resumed run draws exactly the
    batches an uninterrupted one would (no sampler state to checkpoint), and the pairs of a
    batch can be made in parallel threads (OpenCV's filtering and warping release the GIL),
    which keeps a GPU fed. Images smaller than a patch are skipped. Each patch gets one of
    the 8 dihedral transforms before it is blurred, so blur directions stay spread evenly.
    """

    def __init__(self, images: Sequence[np.ndarray], patch: int, batch: int, seed: int,
                 cfg: SynthConfig = DEFAULT, margin: int = MARGIN) -> None:
        if patch < 16 or batch < 1:
            raise ValueError(f"need patch >= 16 and batch >= 1, got {patch!r}, {batch!r}")
        self.patch, self.batch_size, self.cfg, self.margin = patch, batch, cfg, margin
        self.seed = int(seed)
        self.images = [pad_for_context(im, margin) for im in images
                       if min(im.shape[:2]) >= patch]
        if not self.images:
            raise ValueError(f"no training image is at least {patch} px on its short side")

    def pair(self, iteration: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Pair ``index`` of batch ``iteration``: (blurry, sharp) float32 p x p x 3."""
        rng = stream(self.seed, TRAIN_STREAM, iteration, index)
        p, m = self.patch, self.margin
        image = self.images[int(rng.integers(len(self.images)))]
        side = p + 2 * m
        y = int(rng.integers(image.shape[0] - side + 1))
        x = int(rng.integers(image.shape[1] - side + 1))
        region = sr_data.to_float(image[y:y + side, x:x + side])
        region = np.rot90(region, int(rng.integers(4)))
        if rng.integers(2):
            region = region[:, ::-1]
        blurry, sharp, _ = synthesize(region, rng, self.cfg, m)
        return blurry, sharp

    def batch(self, iteration: int, executor: Executor | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """(blurry, sharp) of ``iteration``: float32 N x 3 x p x p RGB in [0, 1]; made by
        ``executor``'s threads when given (the same arrays either way)."""
        indices = range(self.batch_size)
        if executor is None:
            pairs = [self.pair(iteration, i) for i in indices]
        else:
            pairs = list(executor.map(lambda i: self.pair(iteration, i), indices))
        blurry = np.stack([b.transpose(2, 0, 1) for b, _ in pairs])
        sharp = np.stack([s.transpose(2, 0, 1) for _, s in pairs])
        return (np.ascontiguousarray(blurry, dtype=np.float32),
                np.ascontiguousarray(sharp, dtype=np.float32))


@dataclass
class ValPair:
    name: str
    blurry: np.ndarray   # float32 HxWx3
    sharp: np.ndarray    # float32 HxWx3
    info: dict


def make_val_set(val: Sequence[tuple[str, np.ndarray]], crop: int = VAL_CROP,
                 cfg: SynthConfig = DEFAULT) -> list[ValPair]:
    """The fixed validation pairs: the centre ``crop`` px (at most the image) of each
    held-out image, blurred from seed stream ``[VAL_STREAM, index]``; sharp images are
    excluded from validation's blur kinds (they would only dilute the score)."""
    no_sharp = SynthConfig(**{**cfg.__dict__, "p_sharp": 0.0})
    out = []
    for index, (name, image) in enumerate(val):
        h, w = image.shape[:2]
        ch, cw = min(crop, h), min(crop, w)
        y, x = (h - ch) // 2, (w - cw) // 2
        padded = pad_for_context(image)
        region = sr_data.to_float(padded[y:y + ch + 2 * MARGIN, x:x + cw + 2 * MARGIN])
        blurry, sharp, info = synthesize(region, stream(VAL_STREAM, index), no_sharp)
        out.append(ValPair(name, blurry, sharp, info))
    return out


def load_dataset(root: Path | None = None) -> tuple[list[np.ndarray],
                                                    list[tuple[str, np.ndarray]]]:
    """(train images, [(name, validation image)]) as uint8 RGB: the SR split of
    ``root`` (default :func:`default_data_root`)."""
    return sr_data.load_dataset(root or default_data_root())
