"""Makeup-Go's identity term: its differentiable face crop is the face toolkit's canonical
crop, and the loss falls when the output is the same person and carries gradients only
into the network being trained."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from editor.training import makeup_data as md
from editor.training.makeup_identity import IdentityTerm, crop_theta


def fake_landmarks(angle_degrees: float = 12.0, side: int = 128) -> np.ndarray:
    """68 points whose eyes, nose tip and mouth corners sit where a face's would,
    rotated about the image centre."""
    marks = np.full((68, 2), side / 2.0)
    marks[36:42] = (40.0, 52.0)
    marks[42:48] = (86.0, 52.0)
    marks[30] = (63.0, 76.0)
    marks[48] = (45.0, 96.0)
    marks[54] = (81.0, 96.0)
    a = np.deg2rad(angle_degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (marks - side / 2.0) @ rot.T + side / 2.0


def test_the_differentiable_crop_is_the_toolkits_canonical_crop():
    from editor.faces.align import CANONICAL_5, frame_to_crop, similarity_fit
    from editor.faces.landmarks import five_points
    from editor.faces.warp import map_points

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.random((128, 128, 3)).astype(np.float32), (0, 0), 2.0)
    marks = fake_landmarks()
    matrix = similarity_fit(five_points(marks), map_points(CANONICAL_5, frame_to_crop(64, 0.0)))
    expected = cv2.warpAffine(image, matrix, (64, 64), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    theta = torch.from_numpy(crop_theta(marks, 128, 64)[None].astype(np.float32))
    grid = F.affine_grid(theta, [1, 3, 64, 64], align_corners=False)
    got = F.grid_sample(torch.from_numpy(image.transpose(2, 0, 1))[None], grid,
                        mode="bilinear", padding_mode="border", align_corners=False)
    got = got[0].numpy().transpose(1, 2, 0)
    assert np.abs(got - expected)[4:-4, 4:-4].max() < 1e-3


class _FakeFaceId(torch.nn.Module):
    """A fixed random projection of the 16 px image: same input, same vector."""

    input_size = 16

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("proj", torch.randn(3 * 16 * 16, 32, generator=g))
        self.register_buffer("centre", torch.zeros(32))
        self.weight = torch.nn.Parameter(torch.ones(1))  # must stay frozen

    def forward(self, x):
        x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
        return self.weight * (x.flatten(1) - 0.5) @ self.proj


class _Shift(torch.nn.Module):
    """A 'network' adding a learnable image to its input."""

    def __init__(self, delta: torch.Tensor) -> None:
        super().__init__()
        self.delta = torch.nn.Parameter(delta)

    def forward(self, x):
        return {"output": x + self.delta}


def test_the_loss_is_zero_for_the_same_person_and_trains_only_the_network():
    rng = np.random.default_rng(1)
    bare = [np.round(cv2.GaussianBlur(rng.random((128, 128, 3)).astype(np.float32), (0, 0),
                                      3.0) * 255).astype(np.uint8) for _ in range(3)]
    reals = [md.RealPair(f"{i}_m.jpg", str(i), b, b) for i, b in enumerate(bare)]
    marks = {f"with/{i}_m.jpg": fake_landmarks(5.0 * i, 96) for i in range(3)}
    face_id = _FakeFaceId()
    term = IdentityTerm(reals, marks, face_id, pairs=2, seed=0)
    assert len(term) == 3 and not face_id.weight.requires_grad
    same = _Shift(torch.zeros(1, 3, 128, 128))
    assert float(term.loss(same, 0).detach()) == pytest.approx(0.0, abs=1e-5)
    other = _Shift(torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(2)))
    loss = term.loss(other, 0)
    assert float(loss.detach()) > 0.05
    loss.backward()
    assert other.delta.grad is not None and other.delta.grad.abs().sum() > 0
    assert face_id.weight.grad is None
    # Seeded by (seed, iteration): the same step draws the same pairs.
    assert list(term.pick(7)) == list(term.pick(7))
