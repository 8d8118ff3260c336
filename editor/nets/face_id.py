"""A small, differentiable face-identity network distilled from dlib's face recogniser.

dlib's 128-D ResNet embedding (``editor.faces``: two faces are the same person when their
Euclidean distance is below 0.6) is not differentiable from torch, so guidance toward an
identity (FRGD, :mod:`editor.nets.frgd_unet`) needs a stand-in: this CNN is trained
(:mod:`editor.training.train_face_id`) to reproduce dlib's vector of an aligned face crop,
including degraded crops.

Input: float32 NCHW RGB in [0, 1], an aligned face in the face toolkit's canonical frame
(``align_face(..., padding=0)``), any size; it is resampled to :attr:`FaceIdNet.input_size`
(64 px: identity lives in the coarse structure, and the guidance runs it 25 times per face).
Output: (N, 128) on dlib's scale (Euclidean distances comparable with dlib's 0.6
threshold). dlib's vectors of different people share a large common part (their mean over
UTKFace has norm ~1.3 of their ~1.4), so the network predicts the offset from that mean
(the ``centre`` buffer, set from the training data and shipped with the weights) and the
cosine that matters — in training and in FRGD's guidance — is that of the offsets
(:func:`centred_cosine`): the raw cosine of any two faces is ~0.9.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EMBEDDING_DIM = 128


class _Block(nn.Module):
    """conv3x3 stride 2 -> BN -> PReLU -> conv3x3 -> BN, plus a strided 1x1 shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.PReLU(cout),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


class FaceIdNet(nn.Module):
    """Aligned RGB face -> 128-D identity vector on dlib's scale (see the module doc)."""

    def __init__(self, width: int = 16, input_size: int = 64, dim: int = EMBEDDING_DIM) -> None:
        super().__init__()
        if input_size % 16:
            raise ValueError(f"input_size must be a multiple of 16, got {input_size}")
        self.width, self.input_size, self.dim = width, input_size, dim
        widths = (width, 2 * width, 4 * width, 8 * width, 8 * width)
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.PReLU(widths[0]))
        self.blocks = nn.Sequential(*[_Block(a, b) for a, b in zip(widths[:-1], widths[1:])])
        side = input_size // 16
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.1),
                                  nn.Linear(widths[-1] * side * side, dim))
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))
        self.register_buffer("centre", torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        features = self.blocks(self.stem((x - self.mean) * 2.0))
        return self.centre + self.head(features)


def centred_cosine(a: torch.Tensor, b: torch.Tensor, centre: torch.Tensor | None
                   ) -> torch.Tensor:
    """Per-row cosine of ``a - centre`` and ``b - centre`` (plain cosine without one)."""
    if centre is not None:
        a, b = a - centre, b - centre
    return F.cosine_similarity(a, b, dim=1)


def distillation_loss(pred: torch.Tensor, target: torch.Tensor, l2_weight: float = 1.0,
                      centre: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, dict[str, float]]:
    """(1 - cosine of the offsets from ``centre``) + ``l2_weight`` x squared Euclidean
    distance to dlib's vectors, both batch means; also returns the terms for the log."""
    cosine = centred_cosine(pred, target, centre).mean()
    l2 = ((pred - target) ** 2).sum(1).mean()
    loss = (1.0 - cosine) + l2_weight * l2
    return loss, {"cosine": float(cosine.detach()), "l2": float(l2.detach())}


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
