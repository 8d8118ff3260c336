"""Faces for the face-enhance models (identity network, FRGD diffusion, L1 baseline).

Source: UTKFace (``../shared/data/train/faces_utkface/images``, 200x200 crops,
non-commercial research; never ``bench/``). Every crop is re-aligned with the face
toolkit (:func:`editor.faces.align_face`, padding 0, from the cached dlib landmarks of
:func:`editor.training.makeup_data.load_landmarks`) to :data:`SIZE` px, so a training face
is exactly the crop the Face enhance tool feeds its networks: the canonical face frame,
RGB.

Identity targets: dlib's 128-D face-recognition embedding of each ORIGINAL crop (dlib
aligns the face itself from the 68 landmarks), computed once and cached in
``~/.cache/restora/utkface_dlib_embeddings.npz``.

Split (the same for every face-enhance model): crc32 of the file name modulo 20 — 0:
``test`` (the 5 % hold-out: model cards, agreement report, benchmark), 1: ``val`` (training
logs only), 2-19: ``train``. The test split is a subset of Makeup-Go's (crc32 % 10 == 0).

Augmentations (:func:`augment`, :func:`degrade_face`) take a numpy Generator, so a seed
reproduces them. Pixels are float32 RGB in [0, 1] (HWC) unless said otherwise.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from editor.training import makeup_data as md
from editor.training.degrade import add_noise, jpeg, random_kernel

SIZE = 128
HOLD_OUT_MODULUS = 20
EMBEDDINGS_CACHE = Path("~/.cache/restora/utkface_dlib_embeddings.npz")
SPLITS = ("train", "val", "test")

default_data_root = md.default_data_root
stream = md.stream


def split(name: str) -> str:
    """``test`` (crc32 % 20 == 0, the 5 % hold-out), ``val`` (== 1) or ``train``."""
    r = zlib.crc32(name.encode("utf-8")) % HOLD_OUT_MODULUS
    return "test" if r == 0 else "val" if r == 1 else "train"


def compute_embeddings(data_root: Path, landmarks: dict[str, np.ndarray], log=print
                       ) -> tuple[list[str], np.ndarray]:
    """(names, (N, 128) float32) dlib embeddings of the original 200 px crops."""
    from editor.faces.dlib_backend import DlibBackend

    backend = DlibBackend()
    names, vectors = [], []
    folder = data_root / "faces_utkface" / "images"
    for i, name in enumerate(sorted(landmarks)):
        rgb = md.read_rgb(folder / name)
        vectors.append(backend.embedding(rgb, landmarks[name].astype(np.float64)))
        names.append(name)
        if log is not None and (i + 1) % 500 == 0:
            log(f"embeddings: {i + 1}/{len(landmarks)}")
    return names, np.asarray(vectors, np.float32).reshape(-1, 128)


def load_embeddings(data_root: Path | None = None, cache: Path | None = None, log=print
                    ) -> dict[str, np.ndarray]:
    """File name -> dlib (128,) embedding, from the cache or computed (and cached)."""
    cache = (cache or EMBEDDINGS_CACHE).expanduser()
    if cache.is_file():
        with np.load(cache) as data:
            return dict(zip(data["names"].tolist(), data["embeddings"]))
    root = data_root or default_data_root()
    names, vectors = compute_embeddings(root, md.load_landmarks(root, log=log), log)
    cache.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.with_name(cache.name + ".partial.npz")
    np.savez_compressed(temporary, names=np.asarray(names), embeddings=vectors)
    os.replace(temporary, cache)
    return dict(zip(names, vectors))


def aligned_crop(rgb: np.ndarray, landmarks: np.ndarray, size: int = SIZE
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The face toolkit's canonical crop (padding 0) of one photo: (uint8 RGB, the 68
    landmarks in crop pixels)."""
    from editor.faces import Face, align_face, map_points

    face = Face(box=(0.0, 0.0, 1.0, 1.0), landmarks=np.asarray(landmarks, np.float32),
                score=1.0)
    crop, matrix = align_face(rgb, face, size=size, padding=0.0)
    crop_u8 = np.clip(np.round(crop * 255.0), 0, 255).astype(np.uint8)
    return crop_u8, map_points(np.asarray(landmarks, np.float64), matrix).astype(np.float32)


def dlib_embedding(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """dlib's (128,) vector of a face (float [0, 1] or uint8 RGB) whose 68 landmarks are
    known (an aligned crop's, from :func:`aligned_crop`): no detection, so a blurred or
    generated face is measured where the ground truth's face is."""
    from editor.faces import default_backend
    from editor.faces.pixels import as_rgb_u8

    return np.asarray(default_backend().embedding(as_rgb_u8(rgb), np.asarray(
        landmarks, np.float64)), np.float32)


@dataclass
class FaceSet:
    """Aligned faces of one split: ``images`` uint8 (N, SIZE, SIZE, 3) RGB, ``embeddings``
    float32 (N, 128) dlib vectors of the same faces (of the original crops), ``landmarks``
    float32 (N, 68, 2) in the aligned crops' pixels, ``names`` the file names."""
    names: list[str]
    images: np.ndarray
    embeddings: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.names)


def load_faces(part: str, data_root: Path | None = None, limit: int | None = None,
               size: int = SIZE, log=print, embeddings: bool = True) -> FaceSet:
    """The aligned faces of ``part`` (sorted by name; the first ``limit``) with dlib
    embeddings; faces without cached landmarks or embeddings are left out.
    ``embeddings=False`` (the L1 baseline needs none) gives zero vectors instead."""
    if part not in SPLITS:
        raise ValueError(f"part must be one of {SPLITS}, got {part!r}")
    root = data_root or default_data_root()
    marks = md.load_landmarks(root, log=log)
    vectors = load_embeddings(root, log=log) if embeddings else \
        {name: np.zeros(128, np.float32) for name in marks}
    folder = root / "faces_utkface" / "images"
    names, images, embs, crop_marks = [], [], [], []
    for name in sorted(marks):
        if split(name) != part or name not in vectors:
            continue
        crop, crop_lm = aligned_crop(md.read_rgb(folder / name), marks[name], size)
        names.append(name)
        images.append(crop)
        crop_marks.append(crop_lm)
        embs.append(vectors[name])
        if limit is not None and len(names) >= limit:
            break
    return FaceSet(names, np.asarray(images, np.uint8).reshape(-1, size, size, 3),
                   np.asarray(embs, np.float32).reshape(-1, 128),
                   np.asarray(crop_marks, np.float32).reshape(-1, 68, 2))


# -- Degradations ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FaceDegrade:
    """A low-quality version of a face: blur, down-scaling by ``scale_range``, noise, JPEG
    (each with its probability). The FRGD training and the identity network share it."""
    scale_range: tuple[float, float] = (4.0, 8.0)
    p_blur: float = 0.7
    p_noise: float = 0.7
    p_jpeg: float = 0.7
    jpeg_quality_range: tuple[int, int] = (30, 90)


FRGD_DEGRADE = FaceDegrade()
#: The identity network also sees clean and mildly degraded faces (the tool embeds clean
#: references as well as the diffusion model's predictions).
ID_DEGRADE = FaceDegrade(scale_range=(1.0, 6.0), p_blur=0.4, p_noise=0.4, p_jpeg=0.4)


def degrade_face(face: np.ndarray, rng: np.random.Generator,
                 cfg: FaceDegrade = FRGD_DEGRADE) -> np.ndarray:
    """The low-resolution degraded face (float32 RGB, side = round(SIZE / scale))."""
    image = np.ascontiguousarray(face, np.float32)
    side = image.shape[0]
    scale = float(rng.uniform(*cfg.scale_range))
    if rng.random() < cfg.p_blur:
        image = cv2.filter2D(image, -1, random_kernel(rng), borderType=cv2.BORDER_REFLECT)
    small = max(8, int(round(side / scale)))
    if small < side:
        image = cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA)
    if rng.random() < cfg.p_noise:
        image = add_noise(image, rng)
    image = np.clip(image, 0.0, 1.0)
    if rng.random() < cfg.p_jpeg:
        lo, hi = cfg.jpeg_quality_range
        return jpeg(image, int(rng.integers(lo, hi + 1)))
    return np.round(image * 255.0).astype(np.float32) / 255.0


def upscale(image: np.ndarray, side: int = SIZE) -> np.ndarray:
    """Bicubic up-scaling to ``side`` x ``side`` (float32 RGB), clipped to [0, 1]."""
    if image.shape[0] == side and image.shape[1] == side:
        return np.ascontiguousarray(image, np.float32)
    out = cv2.resize(np.ascontiguousarray(image, np.float32), (side, side),
                     interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


def shift_scale(face: np.ndarray, rng: np.random.Generator, max_shift: float = 0.03,
                max_scale: float = 0.05, max_angle: float = 4.0) -> np.ndarray:
    """A small random similarity jitter (shift up to ``max_shift`` of the side, zoom,
    roll in degrees): alignment is never exact on a degraded photo."""
    side = face.shape[0]
    angle = float(rng.uniform(-max_angle, max_angle))
    zoom = float(np.exp(rng.uniform(-max_scale, max_scale)))
    m = cv2.getRotationMatrix2D(((side - 1) / 2.0, (side - 1) / 2.0), angle, zoom)
    m[:, 2] += rng.uniform(-max_shift, max_shift, 2) * side
    return cv2.warpAffine(face, m, (side, side), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def augment(face_u8: np.ndarray, rng: np.random.Generator, p_degrade: float = 0.7,
            cfg: FaceDegrade = ID_DEGRADE) -> np.ndarray:
    """One training view of a face for the identity network: random flip, small shift,
    and with probability ``p_degrade`` blur/down-scaling/noise/JPEG (then back to the
    face's size, bicubic). float32 RGB, same size."""
    face = face_u8.astype(np.float32) / 255.0
    if rng.random() < 0.5:
        face = face[:, ::-1]
    face = shift_scale(np.ascontiguousarray(face), rng)
    if rng.random() < p_degrade:
        face = upscale(degrade_face(face, rng, cfg), face.shape[0])
    return np.ascontiguousarray(face, np.float32)


def main() -> int:
    """Compute (or load) the landmark and embedding caches and print the split sizes."""
    vectors = load_embeddings()
    counts = {p: sum(split(n) == p for n in vectors) for p in SPLITS}
    norms = np.linalg.norm(np.stack(list(vectors.values())), axis=1)
    print(f"{len(vectors)} embeddings; split {counts}; norm {norms.mean():.3f} "
          f"+- {norms.std():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
