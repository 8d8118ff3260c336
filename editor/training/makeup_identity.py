"""An identity term for Makeup-Go's training: the output of a real with-makeup photo should
be the same person as its without-makeup photo, as our face-identity network sees them.

Why: the pixel (or component) loss on a real pair pulls the output toward a *different
photo* of the person (pose, light and expression differ: ~13 dB apart even aligned), so
what it can learn is mostly colour; nothing in it says "keep who this is". dlib, which
judges identity in the benchmark, is not differentiable; :mod:`editor.nets.face_id` is
our differentiable stand-in for it (distilled from dlib's vectors on UTKFace), the same
one Face enhance's identity guidance uses.

Each training step takes ``pairs`` whole 128 px real pairs (seeded by (seed, iteration),
training split only), runs the network being trained on the with-makeup photo, cuts the
output and the without-makeup photo into face-id's canonical frame (a differentiable
``grid_sample`` through the similarity transform fitted on the with-makeup photo's dlib
landmarks; the without-makeup photo is already aligned to it) and scores
``1 - centred cosine`` of the two identity vectors (the cosine face-id was trained on).
The face-id network is frozen; gradients flow only into the makeup network.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from editor.nets.face_id import centred_cosine
from editor.training import makeup_data as md

#: Seed stream of the pairs the identity term draws (apart from the batches' stream).
IDENTITY_STREAM = 0x4D4B4944  # "MKID"


def crop_theta(landmarks: np.ndarray, side: int, out: int) -> np.ndarray:
    """(2, 3) ``affine_grid`` matrix (``align_corners=False``) sampling the ``out`` px
    canonical face crop (padding 0, face-id's frame) from a ``side`` px square image
    whose face has these (68, 2) landmarks."""
    from editor.faces.align import CANONICAL_5, frame_to_crop, similarity_fit
    from editor.faces.landmarks import five_points
    from editor.faces.warp import map_points

    to_crop = similarity_fit(five_points(landmarks),
                             map_points(CANONICAL_5, frame_to_crop(out, 0.0)))
    to_image = np.linalg.inv(np.vstack([to_crop, [0.0, 0.0, 1.0]]))
    half = out / 2.0
    crop_from_unit = np.array([[half, 0.0, half - 0.5], [0.0, half, half - 0.5], [0, 0, 1.0]])
    unit_from_image = np.array([[2.0 / side, 0.0, 1.0 / side - 1.0],
                                [0.0, 2.0 / side, 1.0 / side - 1.0], [0, 0, 1.0]])
    return (unit_from_image @ to_image @ crop_from_unit)[:2]


class IdentityTerm:
    """The identity loss over real training pairs (see the module doc)."""

    def __init__(self, reals: list[md.RealPair], landmarks: dict[str, np.ndarray],
                 face_id: torch.nn.Module, pairs: int, seed: int,
                 device: torch.device | str = "cpu") -> None:
        self.face_id = face_id.to(device).eval().requires_grad_(False)
        self.out = int(getattr(face_id, "input_size", 64))
        self.pairs, self.seed = pairs, seed
        scale = md.SIZE / 96.0  # the pairs' landmarks are in the 96 px originals
        made_up, thetas, targets = [], [], []
        for pair in reals:
            marks = landmarks.get(f"with/{pair.name}")
            if marks is None:
                continue
            theta = crop_theta((np.asarray(marks, np.float64) + 0.5) * scale - 0.5,
                               md.SIZE, self.out)
            made_up.append(md.to_float(pair.made_up).transpose(2, 0, 1))
            thetas.append(theta)
            targets.append(md.to_float(pair.bare).transpose(2, 0, 1))
        if not made_up:
            raise ValueError("identity term: no real training pair has landmarks")
        self.inputs = torch.from_numpy(np.stack(made_up)).to(device)
        self.thetas = torch.from_numpy(np.stack(thetas).astype(np.float32)).to(device)
        with torch.no_grad():
            bare = torch.from_numpy(np.stack(targets)).to(device)
            self.targets = torch.cat([self.embed(bare[i:i + 64], self.thetas[i:i + 64])
                                      for i in range(0, len(bare), 64)])

    def __len__(self) -> int:
        return len(self.inputs)

    def embed(self, images: torch.Tensor, thetas: torch.Tensor) -> torch.Tensor:
        grid = F.affine_grid(thetas, [len(images), 3, self.out, self.out], align_corners=False)
        crops = F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                              align_corners=False)
        return self.face_id(crops)

    def pick(self, iteration: int) -> np.ndarray:
        rng = md.stream(self.seed, IDENTITY_STREAM, iteration)
        return rng.choice(len(self), size=min(self.pairs, len(self)), replace=False)

    def loss(self, net: torch.nn.Module, iteration: int) -> torch.Tensor:
        """Mean ``1 - centred cosine`` between the network's outputs and the
        without-makeup photos of this step's pairs."""
        index = torch.from_numpy(self.pick(iteration)).to(self.inputs.device)
        output = net(self.inputs[index])["output"]
        vectors = self.embed(output, self.thetas[index])
        centre = getattr(self.face_id, "centre", None)
        return (1.0 - centred_cosine(vectors, self.targets[index], centre)).mean()
