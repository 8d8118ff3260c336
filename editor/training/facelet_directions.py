"""Attribute directions and pseudo targets for the facelets, deep-feature-interpolation
style (Upchurch et al., "Deep Feature Interpolation for Image Content Changes", CVPR 2017,
as used by Facelet-Bank).

For one face with features ``f = encode(x)`` and an effect with a positive set P (faces
that have the attribute) and a negative set N (faces that do not):

    target(f) = f + alpha * (mean of the K nearest P features - mean of the K nearest N)

"Nearest" is cosine similarity of a pooled descriptor of the features (8 x 8 average
pooled, then normalised), so each face moves along the difference of faces like it (same
pose, lighting, ethnicity) rather than along the global class difference — DFI's
refinement. The feature maps are spatial and the faces aligned, so a direction says where
on the face the change goes.

The shipped effects, from UTKFace's labels (training part only; never ``bench/``). An
effect is one or more (P, N) pairs and the SAME rule holds for every face: its delta is the
mean of the pairs' deltas.

- ``older``: P = age >= 60, N = age 18-35.
- ``younger``: both parts of issue 9's definition for every face, averaged: (P = 18-35,
  N = >= 60; the reverse of older) and (P = 5-12, N = 18-35). The K nearest 18-35 faces
  of a face are the same in both parts, so their means cancel and the delta is half of
  (mean of the K nearest 5-12 - mean of the K nearest >= 60). An earlier rule switched
  on the face's label (faces of 36 and over got the first pair, younger faces the
  second): two conflicting targets the facelet cannot tell apart from the features, so it
  fitted neither (held-out normalised error 0.87 against 0.42 for older).
- ``masculine`` / ``feminine``: P = men / women, N = the other, both aged 18-60.

``alpha`` is one number per effect, calibrated on the training faces with the
autoencoder's own age / gender head (:func:`calibrate_alpha`): older moves the head's
age by AGE_TARGET years on average, younger by -AGE_TARGET, the gender effects move the
gender logit by GENDER_TARGET.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from editor.nets.facelet import AGE_SCALE, FaceAutoencoder

EFFECTS = ("older", "younger", "masculine", "feminine")
DEFAULT_K = 64
#: The head-measured change alpha is calibrated to (years; gender logit units).
AGE_TARGET = 16.0
GENDER_TARGET = 4.0
#: Descriptor pooling: features are averaged down to POOL x POOL cells.
POOL = 8


@dataclass
class Direction:
    """An effect's pseudo-target rule, the same for every face: (positive, negative) pairs
    of bool masks over the feature bank; a face's delta is the mean of the pairs' deltas."""
    name: str
    pairs: tuple[tuple[np.ndarray, np.ndarray], ...]

    @property
    def positive(self) -> np.ndarray:
        """Every face that is positive in some pair."""
        return np.logical_or.reduce([p for p, _ in self.pairs])

    @property
    def negative(self) -> np.ndarray:
        """Every face that is negative in some pair."""
        return np.logical_or.reduce([n for _, n in self.pairs])


def label_directions(ages: np.ndarray, genders: np.ndarray) -> dict[str, Direction]:
    """The four shipped effects over a labelled face bank (see the module docstring)."""
    ages = np.asarray(ages)
    genders = np.asarray(genders)
    old, adult, child = ages >= 60, (ages >= 18) & (ages <= 35), (ages >= 5) & (ages <= 12)
    grown = (ages >= 18) & (ages <= 60)
    male, female = grown & (genders == 0), grown & (genders == 1)
    return {
        "older": Direction("older", ((old, adult),)),
        "younger": Direction("younger", ((adult, old), (child, adult))),
        "masculine": Direction("masculine", ((male, female),)),
        "feminine": Direction("feminine", ((female, male),)),
    }


@torch.no_grad()
def encode_all(net: FaceAutoencoder, images: np.ndarray, batch: int = 64,
               progress=None) -> np.ndarray:
    """float16 features (N, C, h, w) of uint8 RGB faces (N, H, W, 3)."""
    out = None
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(
            images[i:i + batch].transpose(0, 3, 1, 2), np.float32) / 255.0)
        f = net.encode(x).numpy().astype(np.float16)
        if out is None:
            out = np.empty((len(images), *f.shape[1:]), np.float16)
        out[i:i + len(f)] = f
        if progress is not None:
            progress(min(1.0, (i + len(f)) / len(images)))
    if out is None:
        raise ValueError("no faces to encode")
    return out


def descriptors(features: np.ndarray, batch: int = 256) -> np.ndarray:
    """Unit-length pooled descriptors (N, C * POOL * POOL) float32 of feature maps."""
    rows = []
    for i in range(0, len(features), batch):
        f = torch.from_numpy(features[i:i + batch].astype(np.float32))
        d = F.adaptive_avg_pool2d(f, POOL).flatten(1)
        d = d - d.mean(1, keepdim=True)
        rows.append(F.normalize(d, dim=1).numpy())
    return np.concatenate(rows)


def knn_mean(query: np.ndarray, bank_desc: np.ndarray, bank: np.ndarray,
             k: int, chunk: int = 8) -> np.ndarray:
    """(Q, C, h, w) float32: for each query descriptor, the mean feature map of its k
    most similar bank entries."""
    k = max(1, min(k, len(bank)))
    sims = query @ bank_desc.T
    nearest = torch.from_numpy(np.sort(np.argpartition(-sims, k - 1, axis=1)[:, :k], axis=1))
    maps = torch.from_numpy(np.ascontiguousarray(bank))
    out = torch.empty((len(query), *bank.shape[1:]), dtype=torch.float32)
    for i in range(0, len(query), chunk):
        out[i:i + chunk] = maps[nearest[i:i + chunk]].float().mean(1)
    return out.numpy()


def raw_deltas(direction: Direction, query_idx: np.ndarray, features: np.ndarray,
               desc: np.ndarray, k: int = DEFAULT_K, chunk: int = 128) -> np.ndarray:
    """float16 (Q, C, h, w): for the bank faces ``query_idx``, the mean over the effect's
    pairs of (mean of the K nearest positives - mean of the K nearest negatives)."""
    out = np.zeros((len(query_idx), *features.shape[1:]), np.float32)
    for pos, neg in direction.pairs:
        if not pos.any() or not neg.any():
            raise ValueError(f"effect {direction.name}: an empty positive or negative set")
        p_idx, n_idx = np.nonzero(pos)[0], np.nonzero(neg)[0]
        for s in range(0, len(query_idx), chunk):
            q = desc[query_idx[s:s + chunk]]
            out[s:s + chunk] += (knn_mean(q, desc[p_idx], features[p_idx], k)
                                 - knn_mean(q, desc[n_idx], features[n_idx], k))
    return (out / len(direction.pairs)).astype(np.float16)


def set_deltas(query: np.ndarray, positive: np.ndarray, negative: np.ndarray,
               k: int = DEFAULT_K) -> np.ndarray:
    """The same for a user's two folders: float32 deltas of the ``query`` feature maps
    towards the positive set, from the K nearest faces of each set."""
    qd, pd, nd = descriptors(query), descriptors(positive), descriptors(negative)
    return knn_mean(qd, pd, positive, k) - knn_mean(qd, nd, negative, k)


@torch.no_grad()
def head_change(net: FaceAutoencoder, features: np.ndarray, deltas: np.ndarray,
                alpha: float, which: str) -> float:
    """Mean change of the head (``age`` in years or ``gender`` logit) when ``alpha`` x
    delta is added to the features."""
    f = torch.from_numpy(features.astype(np.float32))
    d = torch.from_numpy(deltas.astype(np.float32))
    a0, g0 = net.heads(f)
    a1, g1 = net.heads(f + alpha * d)
    if which == "age":
        return float((a1 - a0).mean()) * AGE_SCALE
    return float((g1 - g0).mean())


def calibrate_alpha(net: FaceAutoencoder, effect: str, features: np.ndarray,
                    deltas: np.ndarray, lo: float = 0.25, hi: float = 2.0) -> float:
    """The alpha whose head-measured change reaches the effect's target (bisection, the
    change grows with alpha); ``hi`` when even that falls short."""
    which, target = {"older": ("age", AGE_TARGET), "younger": ("age", -AGE_TARGET),
                     "masculine": ("gender", -GENDER_TARGET),
                     "feminine": ("gender", GENDER_TARGET)}[effect]
    sign = 1.0 if target > 0 else -1.0

    def reached(alpha: float) -> bool:
        return sign * head_change(net, features, deltas, alpha, which) >= abs(target)

    if not reached(hi):
        return hi
    if reached(lo):
        return lo
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if reached(mid) else (mid, hi)
    return hi
