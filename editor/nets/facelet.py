"""Facelet-Bank (Chen, Shu, Yu, Shen, Jia, "Facelet-Bank for Fast Portrait
Manipulation", CVPR 2018): a shared face autoencoder and small swappable "facelets".

An edit is made in the autoencoder's feature space, never with a GAN:

    output = decode(encode(x) + strength * facelet(encode(x)))

- :class:`FaceAutoencoder` — encoder and decoder, trained once on aligned faces to
  reconstruct them (frozen afterwards). The encoder also feeds two small heads, age
  regression and gender classification, trained jointly so that the features carry the
  attributes the facelets move along. Features are a stride-4 map (``features``
  channels at H/4 x W/4): fine enough that 128 px faces come back sharp, and cheap
  enough for the slider. The encoder rearranges pixels space-to-depth (nothing is lost)
  and works at 1/2 and 1/4 resolution; the decoder mirrors it with sub-pixel
  (pixel-shuffle) upsampling. Both also have a linear path (a 1x1 convolution of the
  4x4 space-to-depth pixels, and back): it carries the colours and coarse shading that a
  plain convolutional autoencoder needs thousands of iterations to pass through its
  non-linear layers, so CPU training reaches sharp reconstructions, and the non-linear
  path and the heads add what the attributes need.
- :class:`Facelet` — a few convolutions in feature space (one stride-2 stage for
  context) predicting the feature change of one effect ("older", "more feminine",
  ...). A few hundred kilobytes each: switching effects swaps only this. It is trained
  (editor.training.train_facelet) to reproduce pseudo targets made by deep-feature
  interpolation along an attribute direction.

Input/output: float32 NCHW RGB in [0, 1], any size that is a multiple of 4 (the tool's
aligned crops are); the decoder's output is not clipped. Torch only, no I/O.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from editor.nets.crn import ResBlock

#: The autoencoder works on faces aligned to this many pixels per face frame (UTKFace's
#: aligned 200 px crops brought to 128 px; the tool's crops add a margin around it).
FRAME_PX = 128
STRIDE = 4
DEFAULT_FEATURES = 64
DEFAULT_WIDTH = 64
DEFAULT_BLOCKS = 2
#: Ages are regressed in units of AGE_SCALE years (a target of about 0-2).
AGE_SCALE = 50.0


class FaceEncoder(nn.Module):
    """RGB (N, 3, H, W) -> features (N, features, H/4, W/4)."""

    def __init__(self, features: int, width: int, blocks: int) -> None:
        super().__init__()
        half = max(16, width // 2)
        self.down1 = nn.PixelUnshuffle(2)
        self.conv1 = nn.Conv2d(12, half, 3, padding=1)
        self.conv2 = nn.Conv2d(half, half, 3, padding=1)
        self.down2 = nn.PixelUnshuffle(2)
        self.conv3 = nn.Conv2d(4 * half, width, 3, padding=1)
        self.blocks = nn.Sequential(*(ResBlock(width) for _ in range(blocks)))
        self.out = nn.Conv2d(width, features, 3, padding=1)
        self.linear = nn.Conv2d(48, features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(self.down1(x)))
        h = F.relu(self.conv2(h))
        h = F.relu(self.conv3(self.down2(h)))
        return self.out(self.blocks(h)) + self.linear(F.pixel_unshuffle(x - 0.5, 4))


class FaceDecoder(nn.Module):
    """Features (N, features, h, w) -> RGB (N, 3, 4h, 4w), unclipped."""

    def __init__(self, features: int, width: int, blocks: int) -> None:
        super().__init__()
        half = max(16, width // 2)
        self.inp = nn.Conv2d(features, width, 3, padding=1)
        self.blocks = nn.Sequential(*(ResBlock(width) for _ in range(blocks)))
        self.up1 = nn.Conv2d(width, 4 * half, 3, padding=1)
        self.conv = nn.Conv2d(half, half, 3, padding=1)
        self.up2 = nn.Conv2d(half, 12, 3, padding=1)
        self.linear = nn.Conv2d(features, 48, 1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        h = self.blocks(F.relu(self.inp(f)))
        h = F.relu(F.pixel_shuffle(self.up1(h), 2))
        h = F.relu(self.conv(h))
        return (F.pixel_shuffle(self.up2(h), 2) + F.pixel_shuffle(self.linear(f), 4)) + 0.5


class AttributeHeads(nn.Module):
    """Age (years / AGE_SCALE) and gender logit (> 0: female, UTKFace's 1) from features."""

    def __init__(self, features: int, width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, width, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.fc = nn.Linear(width, 2)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.conv2(F.relu(self.conv1(f))))
        out = self.fc(h.mean((2, 3)))
        return out[:, 0], out[:, 1]


class FaceAutoencoder(nn.Module):
    """The shared encoder/decoder of every facelet, with age/gender heads.

    ``forward(x)`` returns ``{"features", "output", "age", "gender"}``; the tool uses
    :meth:`encode` and :meth:`decode` only."""

    def __init__(self, features: int = DEFAULT_FEATURES, width: int = DEFAULT_WIDTH,
                 blocks: int = DEFAULT_BLOCKS) -> None:
        super().__init__()
        self.features, self.width, self.blocks = int(features), int(width), int(blocks)
        self.encoder = FaceEncoder(self.features, self.width, self.blocks)
        self.decoder = FaceDecoder(self.features, self.width, self.blocks)
        self.heads = AttributeHeads(self.features)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        _check_size(x)
        return self.encoder(x)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return self.decoder(f)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.encode(x)
        age, gender = self.heads(f)
        return {"features": f, "output": self.decode(f), "age": age, "gender": gender}


class Facelet(nn.Module):
    """One effect: feature map -> its change (same shape). Full-resolution path for local
    detail plus one stride-2 stage for context, summed; the last layer starts at zero so
    a fresh facelet changes nothing."""

    def __init__(self, features: int = DEFAULT_FEATURES, width: int = 48) -> None:
        super().__init__()
        self.features, self.width = int(features), int(width)
        self.inp = nn.Conv2d(self.features, self.width, 3, padding=1)
        self.down = nn.Conv2d(self.width, self.width, 3, stride=2, padding=1)
        self.mid = nn.Conv2d(self.width, self.width, 3, padding=2, dilation=2)
        self.fuse = nn.Conv2d(2 * self.width, self.width, 3, padding=1)
        self.out = nn.Conv2d(self.width, self.features, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.inp(f))
        c = F.relu(self.mid(F.relu(self.down(h))))
        c = F.interpolate(c, size=h.shape[-2:], mode="bilinear", align_corners=False)
        return self.out(F.relu(self.fuse(torch.cat([h, c], 1))))


def edit(autoencoder: FaceAutoencoder, facelet: Facelet, x: torch.Tensor,
         strength: float) -> torch.Tensor:
    """decode(encode(x) + strength * facelet(encode(x))) for RGB x (N, 3, H, W)."""
    f = autoencoder.encode(x)
    return autoencoder.decode(f + strength * facelet(f))


def _check_size(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[-1] % STRIDE or x.shape[-2] % STRIDE:
        raise ValueError(f"expected RGB (N, 3, H, W) with H and W multiples of {STRIDE}, "
                         f"got {tuple(x.shape)}")


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
