"""UTKFace faces with their age and gender labels, for the Facelet-Bank autoencoder and the
attribute directions (:mod:`editor.nets.facelet`).

The faces are UTKFace's aligned 200 x 200 crops (``../shared/data/train/faces_utkface``,
UTKFace: non-commercial research) brought to :data:`SIZE` = 128 px with INTER_AREA — the
same face frame the face toolkit aligns photos to (:func:`editor.faces.align_face` with
the tool's frame of 128 px; the tool adds a margin around it), so what the networks learn
is what the tool shows them. Pixels are float32 RGB in [0, 1] when handed out, stored as
uint8 (9,780 x 128 x 128 x 3 = 480 MB) and cached once in
``~/.cache/restora/utkface_faces128.npz`` (outside the repository).

Split: :func:`is_held_out` — crc32 of the file name modulo 20 == 0, a stable 5 % hold-out
(the autoencoder's reported PSNR, the benchmark's faces); the rest trains. Labels come from
``labels.csv`` (age in years; gender 0 = male, 1 = female).
"""

from __future__ import annotations

import csv
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SIZE = 128
HOLD_OUT_MODULUS = 20
CACHE = Path("~/.cache/restora/utkface_faces128.npz")


def default_data_root() -> Path:
    """``../shared/data/train`` beside the checkout (RESTORA_FACELET_DATA overrides)."""
    env = os.environ.get("RESTORA_FACELET_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "train"


def is_held_out(name: str) -> bool:
    """The stable 5 % hold-out: crc32(file name) % 20 == 0."""
    return zlib.crc32(name.encode("utf-8")) % HOLD_OUT_MODULUS == 0


@dataclass
class FaceSet:
    """Faces (N, SIZE, SIZE, 3) uint8 RGB with names, ages (years) and genders (0/1)."""
    names: np.ndarray
    images: np.ndarray
    ages: np.ndarray
    genders: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, keep: np.ndarray) -> "FaceSet":
        return FaceSet(self.names[keep], self.images[keep], self.ages[keep], self.genders[keep])

    def part(self, part: str) -> "FaceSet":
        """``train`` or ``held_out``."""
        if part not in ("train", "held_out"):
            raise ValueError(f"part must be 'train' or 'held_out', got {part!r}")
        held = np.array([is_held_out(str(n)) for n in self.names], bool)
        return self.subset(held if part == "held_out" else ~held)

    def floats(self, index) -> np.ndarray:
        """float32 RGB [0, 1] NCHW of the faces at ``index``."""
        return np.ascontiguousarray(self.images[index].transpose(0, 3, 1, 2), np.float32) / 255.0


def read_labels(data_root: Path) -> dict[str, tuple[int, int]]:
    """File name -> (age, gender) from ``faces_utkface/labels.csv``."""
    labels = {}
    with open(Path(data_root) / "faces_utkface" / "labels.csv", newline="",
              encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            if len(row) >= 3:
                labels[row[0]] = (int(row[1]), int(row[2]))
    return labels


def load_faces(data_root: Path | None = None, cache: Path | None = None, log=print
               ) -> FaceSet:
    """Every labelled 200 px UTKFace crop at SIZE px (cached after the first call)."""
    cache = (cache or CACHE).expanduser()
    if cache.is_file():
        with np.load(cache) as data:
            return FaceSet(data["names"], data["images"], data["ages"], data["genders"])
    root = Path(data_root) if data_root else default_data_root()
    folder = root / "faces_utkface" / "images"
    if not folder.is_dir():
        raise FileNotFoundError(f"no UTKFace images at {folder}")
    labels = read_labels(root)
    names, images, ages, genders = [], [], [], []
    for name in sorted(labels):
        bgr = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        if bgr is None or bgr.shape[:2] != (200, 200):
            continue
        images.append(cv2.resize(bgr, (SIZE, SIZE), interpolation=cv2.INTER_AREA)[:, :, ::-1])
        names.append(name)
        ages.append(labels[name][0])
        genders.append(labels[name][1])
        if log is not None and len(names) % 2000 == 0:
            log(f"faces: {len(names)}")
    faces = FaceSet(np.asarray(names), np.ascontiguousarray(np.stack(images)),
                    np.asarray(ages, np.int16), np.asarray(genders, np.int8))
    cache.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.with_name(cache.name + ".partial.npz")
    np.savez(temporary, names=faces.names, images=faces.images, ages=faces.ages,
             genders=faces.genders)
    os.replace(temporary, cache)
    return faces


def batch_indices(n: int, batch: int, seed: int, iteration: int) -> np.ndarray:
    """The ``batch`` face indices of one iteration: depends only on (seed, iteration), so a
    resumed run draws the same batches."""
    rng = np.random.default_rng([seed, 0x46434C54, iteration])
    return rng.choice(n, size=batch, replace=False)


def augment(x: np.ndarray, seed: int, iteration: int) -> np.ndarray:
    """Random horizontal flips of an NCHW batch (faces are near-symmetric in the frame)."""
    rng = np.random.default_rng([seed, 0x464C4950, iteration])
    flip = rng.random(len(x)) < 0.5
    out = x.copy()
    out[flip] = out[flip][..., ::-1]
    return np.ascontiguousarray(out)
