"""ResidualSR: the quality super-resolution network (EDSR-baseline-like, sized for CPUs).

    x ──► conv3x3 ─► [ResBlock] x blocks ─► conv3x3 ─(+ head)─► conv3x3 ─► PixelShuffle(s) ─┐
    │                                                                                       + ─► y
    └──────────────────────────► bicubic upsample x s ─────────────────────────────────────┘

Choices, and why (the budget is quality per CPU-second, on 2 threads, with short training):

* Plain 3x3 convolutions + ReLU, no batch norm (EDSR): oneDNN runs them at close to peak
  speed on a CPU, whereas the channel-split / attention blocks of IMDN or RFDN spend much of
  their time moving memory, which costs more on 2 cores than their MACs suggest.
* All work at the low resolution, one sub-pixel convolution at the end (ESPCN / IMDN
  "light" upsampler): at x4 that is 1/16 of the output pixels.
* The network predicts only the residual over a bicubic upsample of its input, and the
  last convolution starts at zero, so an untrained net already equals bicubic and training
  spends its few iterations on detail, not on learning to copy colours (VDSR's lesson).
* The second convolution of each block starts scaled down (``res_init``) so a deep stack
  of residual blocks starts close to the identity and tolerates a high learning rate.

Pixels: (N, 3, H, W) RGB float in [0, 1] -> (N, 3, H*s, W*s); the output is not clipped.
Receptive-field radius in input pixels: ``2 * blocks + 3`` (every 3x3 conv adds one), plus
2 for the bicubic path, which is inside that already for ``blocks`` >= 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, added to the input (no batch norm: it hurts SR)."""

    def __init__(self, channels: int, res_init: float = 0.1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        with torch.no_grad():
            self.conv2.weight.mul_(res_init)
            self.conv2.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class Upsampler(nn.Module):
    """One conv to ``out_channels * scale**2`` channels, then PixelShuffle (ESPCN)."""

    def __init__(self, channels: int, scale: int, out_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        # Zero start: the whole network begins as exactly the bicubic upsample.
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


class ResidualSRBody(nn.Module):
    """Everything but the upsampler; scale-independent, so one body can serve several
    upsamplers (multi-scale training) and ×3/×4 can start from a ×2 body."""

    def __init__(self, channels: int = 48, blocks: int = 4, in_channels: int = 3,
                 res_init: float = 0.1) -> None:
        super().__init__()
        self.head = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.blocks = nn.Sequential(*(ResBlock(channels, res_init) for _ in range(blocks)))
        self.tail = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        return features + self.tail(self.blocks(features))


def base_upsample(x: torch.Tensor, scale: int, mode: str) -> torch.Tensor:
    """The cheap interpolation the network adds its residual to."""
    if mode == "bilinear":
        return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


class ResidualSR(nn.Module):
    """Residual SR network for one ``scale`` (2, 3 or 4).

    State-dict keys: ``body.*`` (shared by every scale) and ``upsampler.*`` (this scale's),
    which is what lets training start one scale from another's weights.
    """

    def __init__(self, scale: int = 4, channels: int = 48, blocks: int = 4,
                 base: str = "bicubic", res_init: float = 0.1) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {scale!r}")
        if channels < 1 or blocks < 0:
            raise ValueError(f"need channels >= 1 and blocks >= 0, got {channels!r}, {blocks!r}")
        if base not in ("bicubic", "bilinear"):
            raise ValueError(f"base must be 'bicubic' or 'bilinear', got {base!r}")
        self.scale = scale
        self.base = base
        self.body = ResidualSRBody(channels, blocks, 3, res_init)
        self.upsampler = Upsampler(channels, scale, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return base_upsample(x, self.scale, self.base) + self.upsampler(self.body(x))


def receptive_radius(blocks: int) -> int:
    """Input pixels of context one output pixel depends on, each side (3x3 convs only)."""
    return 2 * blocks + 3


def multiply_adds_per_input_pixel(channels: int, blocks: int, scale: int) -> int:
    """Convolution multiply-adds per low-resolution input pixel (the interpolation and
    additions are a few tens more and are left out)."""
    c = channels
    head = 3 * c * 9
    body = (2 * blocks + 1) * c * c * 9
    up = c * 3 * scale * scale * 9
    return head + body + up
