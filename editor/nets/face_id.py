"""A small, differentiable face-identity network distilled from dlib's face recogniser.

dlib's 128-D ResNet embedding (``editor.faces``: two faces are the same person when their
Euclidean distance is below 0.6) is not differentiable from torch, so guidance toward an
identity (FRGD, :mod:`editor.nets.frgd_unet`) needs a stand-in: this CNN is trained
(:mod:`editor.training.train_face_id`) to reproduce dlib's vector of an aligned face crop,
including degraded crops.

Input: float32 NCHW RGB in [0, 1], an aligned face in the face toolkit's canonical frame
(``align_face(..., padding=0)``), any size; it is resampled to :attr:`FaceIdNet.input_size`
(64 px: identity lives in the coarse structure, and the guidance runs it 25 times per face).
Output: (N, 128). dlib's vectors are not unit vectors (their norm is ~1.4 on UTKFace), so
the output is a unit direction times one learned scale (initialised to dlib's mean norm):
Euclidean distances are then on dlib's scale (the 0.6 threshold applies) and the cosine
is the direction's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EMBEDDING_DIM = 128
#: Mean norm of dlib's embeddings of the UTKFace crops (the scale's starting value).
DLIB_NORM = 1.40


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
                                  nn.Linear(widths[-1] * side * side, dim),
                                  nn.BatchNorm1d(dim))
        self.log_scale = nn.Parameter(torch.tensor(float(DLIB_NORM)).log())
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))

    def direction(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 128) unit vectors (the identity's direction)."""
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        features = self.blocks(self.stem((x - self.mean) * 2.0))
        return F.normalize(self.head(features), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.direction(x) * self.log_scale.exp()


def distillation_loss(pred: torch.Tensor, target: torch.Tensor, l2_weight: float = 1.0
                      ) -> tuple[torch.Tensor, dict[str, float]]:
    """(1 - cosine) + ``l2_weight`` x squared Euclidean distance to dlib's vectors, both
    batch means; also returns the two terms for the log."""
    cosine = F.cosine_similarity(pred, target, dim=1).mean()
    l2 = ((pred - target) ** 2).sum(1).mean()
    loss = (1.0 - cosine) + l2_weight * l2
    return loss, {"cosine": float(cosine.detach()), "l2": float(l2.detach())}


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
