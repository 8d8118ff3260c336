"""Training data for makeup / beautification reversal (Makeup-Go, :mod:`editor.nets.crn`).

Two sources, both from ``../shared/data/train`` (never ``bench/``):

1. **UTKFace** (``faces_utkface/images``, 200x200 aligned crops, non-commercial research):
   each face is beautified on the fly by :func:`editor.training.beautify.beautify` and the
   pair is (beautified, original). UTKFace has no identity labels, so every file counts as
   its own identity. The 68 landmarks of every crop are found once with dlib
   (:class:`editor.faces.dlib_backend.DlibBackend`, HOG detector upsampled once, the
   highest-scoring box) and cached in ``~/.cache/restora/utkface_landmarks.npz``; crops
   where no face is found are skipped. Crops are used at :data:`SIZE` = 128 px (200 -> 128
   with INTER_AREA, landmarks scaled by 128/200): the face then has the same scale as the
   real pairs below brought to 128, and a 128 px face is cheap enough to train on a CPU.
2. **Real makeup pairs** (``makeup_pairs_96/{with,without}``, 96x96, research): the same
   person with and without makeup, paired by name (:func:`real_pair_names`). The two are
   different photos (framing, pose, expression, lighting and hair differ), so the
   without-makeup image is aligned to the with-makeup one by a similarity transform fitted
   to their dlib landmarks (cached in ``~/.cache/restora/makeup_pairs_landmarks.npz``;
   pairs where either face is not found are left out: 921 of the 1,012 remain), then both
   are upscaled 96 -> 128 (bicubic) so their faces share the UTKFace scale as closely as
   possible. Even aligned they stay ~13 dB apart: noisy targets.

Split (deterministic, by identity), :func:`split`: crc32 of the identity key modulo 10 —
0: **test** (held out for evaluation: the model cards' numbers and the benchmark), 1:
**val** (held out from training too; picks the best checkpoint, so the test numbers are
not tuned on), 2-9: **train**. The key is the file name for UTKFace, and for real pairs
the leading number (``001`` of ``001_m``/``001_1_y``/``001_A_1``; ``04265`` of
``04265d138_mu``), so all pairs of one number — possibly one person across the source
sets — fall on the same side. The 77 ``MIW_k`` files have no partner of the same name
(MIW is unpaired) and are not used.

Training pairs are seeded per (seed, iteration, index), so a resumed run draws the same
batches. Augmentation: horizontal flips (landmark-free after beautification), and random
crops of ``patch`` px from the 128 px pair. Pixels are float32 RGB in [0, 1]; batches are
N x 3 x p x p (NCHW).
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

#: Working face size (px) for both sources.
SIZE = 128
UTK_SIZE = 200
#: Seed streams: training from [seed, TRAIN_STREAM, iteration], held-out synthetic pairs
#: from [VAL_STREAM, index]; the benchmark uses its own stream (BENCH_STREAM).
TRAIN_STREAM = 0x4D4B5550  # "MKUP"
VAL_STREAM = 0x4D4B564C    # "MKVL"
BENCH_STREAM = 0x4D4B4243  # "MKBC"
HOLD_OUT_MODULUS = 10

LANDMARKS_CACHE = Path("~/.cache/restora/utkface_landmarks.npz")
REAL_LANDMARKS_CACHE = Path("~/.cache/restora/makeup_pairs_landmarks.npz")


def default_data_root() -> Path:
    """``../shared/data/train`` beside the checkout (RESTORA_MAKEUP_DATA overrides)."""
    env = os.environ.get("RESTORA_MAKEUP_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "train"


SPLITS = ("train", "val", "test")


def split(identity: str) -> str:
    """``test`` (crc32 % 10 == 0), ``val`` (== 1) or ``train``."""
    r = zlib.crc32(identity.encode("utf-8")) % HOLD_OUT_MODULUS
    return "test" if r == 0 else "val" if r == 1 else "train"


def is_held_out(identity: str) -> bool:
    """In the 10 % evaluation hold-out (the ``test`` split)."""
    return split(identity) == "test"


def read_rgb(path: Path) -> np.ndarray:
    """uint8 RGB (H, W, 3) of an image file."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def to_float(rgb_u8: np.ndarray) -> np.ndarray:
    return rgb_u8.astype(np.float32) / 255.0


# -- UTKFace landmarks ---------------------------------------------------------------------

def utk_files(data_root: Path) -> list[Path]:
    return sorted((data_root / "faces_utkface" / "images").glob("*.jpg"))


def compute_landmarks(files: list[Path], log=print, key=lambda path: path.name
                      ) -> tuple[list[str], np.ndarray]:
    """(keys, (N, 68, 2) float32 landmarks in image pixels) of the files where dlib finds
    a face; the highest-scoring box of the once-upsampled HOG detector."""
    from editor.faces.dlib_backend import DlibBackend

    backend = DlibBackend()
    names, marks = [], []
    for i, path in enumerate(files):
        rgb = read_rgb(path)
        boxes = backend.detect(rgb, upsample=1)
        if boxes:
            box = max(boxes, key=lambda b: b[1])[0]
            names.append(key(path))
            marks.append(backend.landmarks(rgb, box))
        if log is not None and (i + 1) % 500 == 0:
            log(f"landmarks: {i + 1}/{len(files)} ({len(names)} faces)")
    return names, np.asarray(marks, np.float32).reshape(-1, 68, 2)


def load_landmarks(data_root: Path, cache: Path | None = None, log=print
                   ) -> dict[str, np.ndarray]:
    """File name -> (68, 2) landmarks (200 px crop coordinates), from the cache or computed
    (and cached) on first use."""
    cache = (cache or LANDMARKS_CACHE).expanduser()
    if cache.is_file():
        with np.load(cache) as data:
            return dict(zip(data["names"].tolist(), data["landmarks"]))
    names, marks = compute_landmarks(utk_files(data_root), log)
    cache.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.with_name(cache.name + ".partial.npz")
    np.savez_compressed(temporary, names=np.asarray(names), landmarks=marks)
    os.replace(temporary, cache)
    return dict(zip(names, marks))


@dataclass
class Face:
    """One UTKFace crop at SIZE px (float32 RGB) with its landmarks (scaled)."""
    name: str
    image: np.ndarray
    landmarks: np.ndarray


def load_faces(data_root: Path, landmarks: dict[str, np.ndarray], part: str,
               limit: int | None = None) -> list[Face]:
    """The UTKFace crops of one split part (``train``/``val``/``test``), resized to SIZE
    and kept as uint8 (9k x 128 x 128 x 3 bytes = 450 MB)."""
    if part not in SPLITS:
        raise ValueError(f"part must be one of {SPLITS}, got {part!r}")
    faces = []
    scale = SIZE / UTK_SIZE
    for name in sorted(landmarks):
        if split(name) != part:
            continue
        rgb = read_rgb(data_root / "faces_utkface" / "images" / name)
        if rgb.shape[:2] != (UTK_SIZE, UTK_SIZE):
            continue
        small = cv2.resize(rgb, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        # Pixel centres: x_small = (x + 0.5) * s - 0.5.
        marks = (landmarks[name] + 0.5) * scale - 0.5
        faces.append(Face(name, small, marks.astype(np.float32)))
        if limit is not None and len(faces) >= limit:
            break
    return faces


# -- Real makeup pairs ---------------------------------------------------------------------

_PAIR_RULES = (
    (re.compile(r"^(\d+)_m\.jpg$"), lambda m: f"{m[1]}_n.jpg"),
    (re.compile(r"^(\d+)_(\d+)_y\.jpg$"), lambda m: f"{m[1]}_{m[2]}_n.jpg"),
    (re.compile(r"^(\d+)_A_(\d+)\.jpg$"), lambda m: f"{m[1]}_B_{m[2]}.jpg"),
    (re.compile(r"^(\d+)(d\d+)_mu\.jpg$"), lambda m: f"{m[1]}{m[2]}.jpg"),
)


@dataclass
class RealPair:
    name: str        # the with-makeup file name
    identity: str    # the split key
    made_up: np.ndarray   # uint8 RGB SIZE x SIZE (input)
    bare: np.ndarray      # uint8 RGB SIZE x SIZE (target)


def real_pair_names(data_root: Path) -> list[tuple[str, str, str]]:
    """(with-makeup name, without-makeup name, identity) of every pair whose both files
    exist: ``N_m``<->``N_n``, ``N_k_y``<->``N_k_n``, ``N_A_k``<->``N_B_k``,
    ``NdK_mu``<->``NdK``; identity = the leading number N."""
    folder = data_root / "makeup_pairs_96"
    without = {p.name for p in (folder / "without").glob("*.jpg")}
    pairs = []
    for path in sorted((folder / "with").glob("*.jpg")):
        for pattern, partner in _PAIR_RULES:
            match = pattern.match(path.name)
            if match:
                other = partner(match)
                if other in without:
                    pairs.append((path.name, other, match[1]))
                break
    return pairs


def real_pair_landmarks(data_root: Path, cache: Path | None = None, log=print
                        ) -> dict[str, np.ndarray]:
    """``with/<name>`` / ``without/<name>`` -> (68, 2) landmarks in the 96 px image, for
    every real-pair image where dlib finds a face (cached like the UTKFace ones)."""
    cache = (cache or REAL_LANDMARKS_CACHE).expanduser()
    if cache.is_file():
        with np.load(cache) as data:
            return dict(zip(data["names"].tolist(), data["landmarks"]))
    folder = data_root / "makeup_pairs_96"
    files = [folder / sub / name for made_up, bare, _ in real_pair_names(data_root)
             for sub, name in (("with", made_up), ("without", bare))]
    names, marks = compute_landmarks(files, log,
                                     key=lambda path: f"{path.parent.name}/{path.name}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.with_name(cache.name + ".partial.npz")
    np.savez_compressed(temporary, names=np.asarray(names), landmarks=marks)
    os.replace(temporary, cache)
    return dict(zip(names, marks))


#: Landmarks used to align a real pair: jaw, brows, nose and eyes (the mouth moves with
#: expression, so it is left out).
ALIGN_POINTS = slice(0, 48)


def align_to(image: np.ndarray, landmarks: np.ndarray, reference: np.ndarray
             ) -> np.ndarray | None:
    """``image`` warped by the similarity transform (rotation, uniform scale,
    translation) that best maps its landmarks onto ``reference``'s (RANSAC-free least
    squares on ALIGN_POINTS); edges are replicated. None when no transform is found."""
    matrix, _ = cv2.estimateAffinePartial2D(landmarks[ALIGN_POINTS].astype(np.float32),
                                            reference[ALIGN_POINTS].astype(np.float32),
                                            method=cv2.LMEDS)
    if matrix is None:
        return None
    h, w = image.shape[:2]
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)


def load_real_pairs(data_root: Path, part: str, landmarks: dict[str, np.ndarray] | None = None
                    ) -> list[RealPair]:
    """The real pairs of one split part, the without-makeup image aligned to the
    with-makeup one (similarity transform on dlib landmarks: the two are different
    photos, framed, posed and scaled differently), both resized 96 -> SIZE (bicubic).
    Pairs where dlib finds no face in either image are left out."""
    if part not in SPLITS:
        raise ValueError(f"part must be one of {SPLITS}, got {part!r}")
    marks = real_pair_landmarks(data_root) if landmarks is None else landmarks
    folder = data_root / "makeup_pairs_96"
    out = []
    for made_up, bare, identity in real_pair_names(data_root):
        key_a, key_b = f"with/{made_up}", f"without/{bare}"
        if split(identity) != part or key_a not in marks or key_b not in marks:
            continue
        a = read_rgb(folder / "with" / made_up)
        b = align_to(read_rgb(folder / "without" / bare), marks[key_b], marks[key_a])
        if b is None:
            continue
        a, b = (cv2.resize(v, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC) for v in (a, b))
        out.append(RealPair(made_up, identity, a, b))
    return out


# -- Pairs ---------------------------------------------------------------------------------

def stream(*words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(w) & 0xFFFFFFFF for w in words]))


def synthetic_pair(face: Face, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(beautified, original) float32 RGB of one face."""
    from editor.training.beautify import beautify

    original = to_float(face.image)
    edited, _ = beautify(original, face.landmarks, rng)
    # 8-bit, as an edited photo file would be.
    edited = np.round(np.clip(edited, 0.0, 1.0) * 255.0) / 255.0
    return edited.astype(np.float32), original


@dataclass
class EvalSet:
    """Held-out (input, target) float32 pairs: synthetic (fixed beautifications of held-out
    faces, one seed stream per use) and real."""
    synthetic: list[tuple[np.ndarray, np.ndarray]]
    real: list[tuple[np.ndarray, np.ndarray]]
    synthetic_names: list[str]
    real_names: list[str]


def make_eval_set(faces: list[Face], reals: list[RealPair], stream_word: int = VAL_STREAM
                  ) -> EvalSet:
    """Pair ``i`` beautifies ``faces[i]`` with the generator ``stream(stream_word, i)``."""
    synthetic = [synthetic_pair(face, stream(stream_word, i)) for i, face in enumerate(faces)]
    real = [(to_float(p.made_up), to_float(p.bare)) for p in reals]
    return EvalSet(synthetic, real, [f.name for f in faces], [p.name for p in reals])


def load_eval_set(part: str = "test", data_root: Path | None = None,
                  synthetic_limit: int | None = None, stream_word: int | None = None
                  ) -> EvalSet:
    """The held-out evaluation pairs of ``part`` (``test`` for the benchmark and the cards,
    ``val`` for checkpoint selection): every face of the part (or the first
    ``synthetic_limit`` by name) beautified from ``stream_word`` (default: BENCH_STREAM for
    test, VAL_STREAM for val), and every real pair of the part."""
    root = data_root or default_data_root()
    faces = load_faces(root, load_landmarks(root), part, synthetic_limit)
    if stream_word is None:
        stream_word = BENCH_STREAM if part == "test" else VAL_STREAM
    return make_eval_set(faces, load_real_pairs(root, part), stream_word)


class MakeupSampler:
    """Seeded training batches mixing synthetic and real pairs.

    Batch ``iteration`` depends only on (seed, iteration): each of its ``batch`` pairs is
    real with probability ``real_fraction`` (when real pairs are given), else a freshly
    beautified UTKFace face; then a random ``patch``-px crop and a random horizontal flip.
    Real pairs are different photos (lighting, expression, hair, background differ even
    after alignment: ~13 dB apart), so their errors are ~50x a synthetic pair's; the
    trainer down-weights them (``--real-weight``).
    """

    def __init__(self, faces: list[Face], reals: list[RealPair], patch: int, batch: int,
                 seed: int, real_fraction: float = 0.25) -> None:
        if not faces and not reals:
            raise ValueError("no training faces")
        if patch > SIZE:
            raise ValueError(f"patch {patch} larger than the {SIZE} px faces")
        self.faces, self.reals = faces, reals
        self.patch, self.batch, self.seed = patch, batch, seed
        self.real_fraction = real_fraction if reals else 0.0
        if not faces:
            self.real_fraction = 1.0

    def pair(self, iteration: int, index: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """(input, target, is_real) HWC."""
        rng = stream(self.seed, TRAIN_STREAM, iteration, index)
        real_pair = bool(rng.random() < self.real_fraction)
        if real_pair:
            real = self.reals[int(rng.integers(len(self.reals)))]
            x, y = to_float(real.made_up), to_float(real.bare)
        else:
            x, y = synthetic_pair(self.faces[int(rng.integers(len(self.faces)))], rng)
        h, w = x.shape[:2]
        top = int(rng.integers(h - self.patch + 1))
        left = int(rng.integers(w - self.patch + 1))
        x = x[top:top + self.patch, left:left + self.patch]
        y = y[top:top + self.patch, left:left + self.patch]
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        return x, y, real_pair

    def batch_arrays(self, iteration: int) -> tuple[np.ndarray, np.ndarray]:
        """(input, target) float32 N x 3 x p x p."""
        return self.batch_with_kinds(iteration)[:2]

    def batch_with_kinds(self, iteration: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(input, target, is_real (N,) bool)."""
        xs, ys, kinds = zip(*(self.pair(iteration, i) for i in range(self.batch)))
        return (np.ascontiguousarray(np.stack(xs).transpose(0, 3, 1, 2)),
                np.ascontiguousarray(np.stack(ys).transpose(0, 3, 1, 2)),
                np.asarray(kinds, bool))


def main() -> int:
    """``python -m editor.training.makeup_data``: compute (or read) the landmark cache and
    print the split sizes."""
    root = default_data_root()
    marks = load_landmarks(root)
    real_marks = real_pair_landmarks(root)
    pairs = [p for p in real_pair_names(root)
             if f"with/{p[0]}" in real_marks and f"without/{p[1]}" in real_marks]
    for part in SPLITS:
        print(f"{part}: {sum(split(n) == part for n in marks)} UTKFace faces, "
              f"{sum(split(p[2]) == part for p in pairs)} real pairs")
    print(f"UTKFace: {len(marks)} crops with a face found; real pairs with both faces "
          f"found: {len(pairs)} of {len(real_pair_names(root))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
