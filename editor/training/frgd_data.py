"""Training pairs for FRGD and its L1 regression baseline: UTKFace faces aligned to 128 x
128 (:mod:`editor.training.face_id_data`, same 5 % hold-out), degraded on the fly — blur,
down-scaling x4-x8, noise, JPEG (:func:`editor.training.face_id_data.degrade_face`) — and
up-sampled back (bicubic) as the network's condition; the identity condition is dlib's
embedding of the clean face, jittered a little (a reference photo of the same person is
never exactly the same vector).

Batch ``iteration`` depends only on (seed, iteration). Tensors are NCHW float32 RGB in
[0, 1]: ``face`` (the target), ``lq`` (up-sampled low-quality face), ``identity`` (N, 128).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from editor.training import face_id_data as fd

#: Per-dimension jitter of the identity condition (a norm of ~0.28 on dlib's scale, about
#: what two photos of one person differ by).
IDENTITY_JITTER = 0.025


@dataclass
class Batch:
    face: torch.Tensor
    lq: torch.Tensor
    identity: torch.Tensor


def pair(face_u8: np.ndarray, rng: np.random.Generator, flip: bool = True,
         cfg: fd.FaceDegrade = fd.FRGD_DEGRADE) -> tuple[np.ndarray, np.ndarray]:
    """(clean face, up-sampled degraded face), float32 HWC RGB."""
    face = face_u8.astype(np.float32) / 255.0
    if flip and rng.random() < 0.5:
        face = np.ascontiguousarray(face[:, ::-1])
    return face, fd.upscale(fd.degrade_face(face, rng, cfg), face.shape[0])


def _nchw(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2)))


def batch(faces: fd.FaceSet, rng: np.random.Generator, size: int,
          jitter: float = IDENTITY_JITTER) -> Batch:
    index = rng.integers(0, len(faces), size)
    pairs = [pair(faces.images[i], rng) for i in index]
    identity = faces.embeddings[index] + rng.standard_normal((size, 128)).astype(
        np.float32) * np.float32(jitter)
    return Batch(_nchw([p[0] for p in pairs]), _nchw([p[1] for p in pairs]),
                 torch.from_numpy(identity.astype(np.float32)))


def fixed_batch(faces: fd.FaceSet, stream_word: int, limit: int) -> Batch:
    """The first ``limit`` faces, each degraded from stream(stream_word, i), no flip and
    no jitter: a validation batch that never changes."""
    n = min(limit, len(faces))
    pairs = [pair(faces.images[i], fd.stream(stream_word, i), flip=False) for i in range(n)]
    return Batch(_nchw([p[0] for p in pairs]), _nchw([p[1] for p in pairs]),
                 torch.from_numpy(faces.embeddings[:n].copy()))
