"""Video super-resolution training data: synthetic clips made from still photos.

A clip is a crop window moving over a photo (``../shared/data/train/natural``, never
``bench/``): smooth random sub-pixel translation with some acceleration, a little rotation and
zoom between frames, plus an independently moving pasted patch for local motion. Because the
motion is known, every neighbour frame comes with its true flow to the reference frame (used
to pre-train the motion network). Each clip is degraded with one of the two standard video
SR models, both in ``make_lr``:

* ``bi``: MATLAB bicubic down-sampling by ``s`` (what Vid4's "BI" inputs are);
* ``bd``: Gaussian blur σ = 1.6 (13×13), then every ``s``-th pixel starting at the first
  (the DUF / BasicSR "BD" protocol),

then mild noise (σ ≤ 2/255) and 8-bit rounding. Everything is luma (BT.601 Y on the [16, 235]
scale, as in :func:`editor.core.metrics.rgb_to_y`), which is what the network sees.

Batches depend only on (seed, iteration): a resumed run draws the same clips.
Arrays out of :meth:`ClipSampler.batch`: ``lr`` (N, T, 1, h, w), ``hr`` (N, 1, H, W), ``flow``
(N, T, 2, h, w) in LR pixels from each frame's grid to the reference's (zeros for the
reference), ``valid`` (N, T, 1, h, w) where that flow lands inside the reference frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from editor.core.imresize import imresize
from editor.training import sr_data

#: BD's Gaussian: σ = 1.6 on a 13×13 support (DUF's and BasicSR's).
BD_SIGMA = 1.6
BD_SIZE = 13
DEGRADATIONS = ("bi", "bd")
#: HR margin rendered around a clip's frames so blur and bicubic see real neighbours at the
#: edges; a multiple of 2, 3 and 4 so the LR crop stays aligned.
MARGIN = 12


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 Y of float RGB in [0, 1] (or uint8 RGB), on the [0, 1] scale (16..235)/255."""
    rgb = rgb.astype(np.float32) / (255.0 if rgb.dtype == np.uint8 else 1.0)
    return ((16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2])
            / 255.0).astype(np.float32)


def bd_kernel() -> np.ndarray:
    ax = np.arange(BD_SIZE, dtype=np.float64) - BD_SIZE // 2
    g = np.exp(-(ax ** 2) / (2 * BD_SIGMA ** 2))
    return (g / g.sum()).astype(np.float32)


def make_lr(hr: np.ndarray, scale: int, degradation: str) -> np.ndarray:
    """The LR of an HR image (HxW or HxWxC float32 in [0, 1], sides multiples of ``scale``)
    under ``degradation`` ("bi" or "bd"); float32, not rounded."""
    if degradation == "bi":
        return imresize(hr, 1.0 / scale).astype(np.float32)
    if degradation == "bd":
        g = bd_kernel()
        blurred = cv2.sepFilter2D(hr.astype(np.float32), -1, g, g,
                                  borderType=cv2.BORDER_REFLECT)
        return np.ascontiguousarray(blurred[::scale, ::scale])
    raise ValueError(f"degradation must be one of {DEGRADATIONS}, got {degradation!r}")


def make_lr_uint8(hr_rgb: np.ndarray, scale: int, degradation: str) -> np.ndarray:
    """The benchmark's way: uint8 RGB HR (cropped to a multiple of ``scale``) -> uint8 RGB LR.
    BI goes through MATLAB's uint8 path, as the SR benchmarks' LR images do."""
    hr_rgb = sr_data.modcrop(hr_rgb, scale)
    if degradation == "bi":
        return sr_data.bicubic_lr(hr_rgb, scale)
    lr = make_lr(hr_rgb.astype(np.float32) / 255.0, scale, degradation)
    return np.clip(np.round(lr * 255.0), 0, 255).astype(np.uint8)


def stream(*words: int) -> np.random.Generator:
    return np.random.default_rng([int(w) & 0xFFFFFFFF for w in words])


@dataclass(frozen=True)
class ClipConfig:
    max_speed: float = 2.0          # LR pixels per frame (global motion)
    max_accel: float = 0.3          # LR pixels per frame², per frame
    max_rotation: float = 0.6       # degrees per frame
    max_zoom: float = 0.008         # relative per frame
    p_patch: float = 0.5            # a moving pasted patch
    max_patch_speed: float = 2.5    # LR pixels per frame, relative to the background
    max_noise: float = 2.0 / 255.0
    p_bd: float = 0.6


DEFAULT = ClipConfig()


def _rotation_zoom(theta: float, zoom: float) -> np.ndarray:
    c, s = math.cos(theta) * zoom, math.sin(theta) * zoom
    return np.array([[c, -s], [s, c]], dtype=np.float64)


class ClipSampler:
    """Seeded synthetic clips of ``frames`` frames, reference at ``ref``, at ``scale``."""

    def __init__(self, images: Sequence[np.ndarray], hr_patch: int, batch: int, seed: int,
                 cfg: ClipConfig = DEFAULT) -> None:
        # Luma once: rendering is then one warp per frame.
        self.images = [luma(im) for im in images if min(im.shape[:2]) >= hr_patch // 2 + 8]
        if not self.images:
            raise ValueError("no training image is large enough for the patch size")
        self.hr_patch, self.batch_size, self.seed, self.cfg = hr_patch, batch, seed, cfg

    def clip(self, rng: np.random.Generator, scale: int, frames: int, ref: int,
             degradation: str, hr_patch: int | None = None,
             image: np.ndarray | None = None) -> dict[str, np.ndarray]:
        cfg = self.cfg
        size = hr_patch or self.hr_patch
        if size % scale:
            raise ValueError(f"HR patch {size} is not a multiple of the scale {scale}")
        src = image if image is not None else self.images[rng.integers(len(self.images))]
        full = size + 2 * MARGIN
        centre_px = (full - 1) / 2.0
        # Per-frame motion of the window, integrated from the reference outwards.
        speed = rng.uniform(0, cfg.max_speed) * scale * (rng.random() ** 0.5)
        angle = rng.uniform(0, 2 * math.pi)
        velocity = np.array([math.cos(angle), math.sin(angle)]) * speed
        spin = math.radians(rng.uniform(-cfg.max_rotation, cfg.max_rotation))
        grow = rng.uniform(-cfg.max_zoom, cfg.max_zoom)
        offsets = {ref: (np.zeros(2), 0.0, 1.0)}
        for direction in (1, -1):
            pos, v, theta, zoom = np.zeros(2), velocity.copy(), 0.0, 1.0
            for t in range(ref + direction, frames if direction > 0 else -1, direction):
                v = v + rng.normal(0, cfg.max_accel * scale / 2, 2)
                pos, theta, zoom = pos + direction * v, theta + direction * spin, \
                    zoom * (1 + direction * grow)
                offsets[t] = (pos.copy(), theta, zoom)
        # Where the reference window sits in the photo (room for all the motion).
        reach = max(np.abs(o[0]).max() for o in offsets.values()) + full * 0.75
        h, w = src.shape
        cx = rng.uniform(min(reach, w / 2), max(w - reach, w / 2))
        cy = rng.uniform(min(reach, h / 2), max(h - reach, h / 2))
        maps = {}
        hr_frames = []
        for t in range(frames):
            pos, theta, zoom = offsets[t]
            a = _rotation_zoom(theta, zoom)
            # frame pixel p -> photo: c + pos + A (p - centre)
            shift = np.array([cx, cy]) + pos - a @ np.array([centre_px, centre_px])
            maps[t] = (a, shift)
            matrix = np.hstack([a, shift[:, None]]).astype(np.float64)
            hr_frames.append(cv2.warpAffine(src, matrix, (full, full),
                                            flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                            borderMode=cv2.BORDER_REFLECT))
        # Local motion: a patch from elsewhere in the photo moving on its own.
        patch = None
        if rng.random() < cfg.p_patch:
            k = int(rng.uniform(size / 6, size / 3))
            sx, sy = rng.uniform(0, w - k), rng.uniform(0, h - k)
            start = rng.uniform(MARGIN, MARGIN + size - k, 2)
            u_angle = rng.uniform(0, 2 * math.pi)
            u = (np.array([math.cos(u_angle), math.sin(u_angle)])
                 * rng.uniform(0.3, cfg.max_patch_speed) * scale)
            patch = (start, u, k)
            box = np.zeros((k, k), np.float32)
            box[1:-1, 1:-1] = 1.0
            for t in range(frames):
                o = start + u * (t - ref)
                to_src = np.array([[1.0, 0.0, sx - o[0]], [0.0, 1.0, sy - o[1]]])
                layer = cv2.warpAffine(src, to_src, (full, full),
                                       flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                       borderMode=cv2.BORDER_REFLECT)
                to_box = np.array([[1.0, 0.0, -o[0]], [0.0, 1.0, -o[1]]])
                alpha = cv2.warpAffine(box, to_box, (full, full),
                                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                       borderMode=cv2.BORDER_CONSTANT)
                hr_frames[t] = hr_frames[t] * (1 - alpha) + layer * alpha
        # Degrade every frame, then cut the margin off.
        m = MARGIN // scale
        lr_size = size // scale
        noise = rng.uniform(0, cfg.max_noise)
        lr = np.empty((frames, 1, lr_size, lr_size), np.float32)
        for t, frame in enumerate(hr_frames):
            small = make_lr(np.clip(frame, 0, 1), scale, degradation)[m:m + lr_size,
                                                                      m:m + lr_size]
            small = small + rng.standard_normal(small.shape).astype(np.float32) * noise
            lr[t, 0] = np.clip(np.round(small * 255.0), 0, 255) / 255.0
        hr = np.clip(hr_frames[ref][MARGIN:MARGIN + size, MARGIN:MARGIN + size], 0, 1)
        flow, valid = self._true_flow(maps, ref, frames, scale, lr_size, size, patch)
        return {"lr": lr, "hr": hr[None].astype(np.float32), "flow": flow, "valid": valid}

    @staticmethod
    def _true_flow(maps, ref, frames, scale, lr_size, size, patch):
        """For every LR pixel of every frame, where its HR centre lands in the reference."""
        i = np.arange(lr_size, dtype=np.float64)
        gx, gy = np.meshgrid(i, i)
        # HR frame coordinates (with the margin) of the LR pixel centres.
        px = (gx + 0.5) * scale - 0.5 + MARGIN
        py = (gy + 0.5) * scale - 0.5 + MARGIN
        a_ref, shift_ref = maps[ref]
        inv_ref = np.linalg.inv(a_ref)
        flow = np.zeros((frames, 2, lr_size, lr_size), np.float32)
        valid = np.ones((frames, 1, lr_size, lr_size), np.float32)
        for t in range(frames):
            if t == ref:
                continue
            a, shift = maps[t]
            sx = a[0, 0] * px + a[0, 1] * py + shift[0] - shift_ref[0]
            sy = a[1, 0] * px + a[1, 1] * py + shift[1] - shift_ref[1]
            qx = inv_ref[0, 0] * sx + inv_ref[0, 1] * sy
            qy = inv_ref[1, 0] * sx + inv_ref[1, 1] * sy
            if patch is not None:
                start, u, k = patch
                o = start + u * (t - ref)
                inside = (px >= o[0]) & (py >= o[1]) & (px < o[0] + k) & (py < o[1] + k)
                qx = np.where(inside, px - o[0] + start[0], qx)
                qy = np.where(inside, py - o[1] + start[1], qy)
            flow[t, 0] = (qx - px) / scale
            flow[t, 1] = (qy - py) / scale
            lo, hi = MARGIN, MARGIN + size - 1
            valid[t, 0] = ((qx >= lo) & (qx <= hi) & (qy >= lo) & (qy <= hi))
        return flow, valid

    def batch(self, iteration: int, scale: int, frames: int, ref: int
              ) -> dict[str, np.ndarray]:
        """One batch of clips (same scale, frame count and reference position)."""
        size = self.hr_patch - self.hr_patch % (8 * scale // math.gcd(8, scale))
        items = []
        for index in range(self.batch_size):
            rng = stream(self.seed, iteration, index, 0x51DE)
            degradation = "bd" if rng.random() < self.cfg.p_bd else "bi"
            item = self.clip(rng, scale, frames, ref, degradation, size)
            item["degradation"] = np.float32(degradation == "bd")
            items.append(item)
        return {key: np.stack([item[key] for item in items]) for key in items[0]}
