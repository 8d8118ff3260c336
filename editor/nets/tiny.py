"""TinyNet: a deliberately small conv network for engine and tool tests.

Random weights are enough to test loading, tiling and the job machinery without
shipping a trained model. Input and output are NCHW RGB(A) float tensors.
Receptive-field radius: 2 input pixels (two 3x3 convolutions).
"""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """conv3x3 -> ReLU -> conv3x3 (-> PixelShuffle when ``scale`` > 1).

    Maps (N, channels, H, W) to (N, channels, H*scale, W*scale).
    """

    def __init__(self, channels: int = 3, scale: int = 1, width: int = 8) -> None:
        super().__init__()
        if scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale!r}")
        self.scale = scale
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.tail = nn.Conv2d(width, channels * scale * scale, 3, padding=1)
        # PixelShuffle turns the extra channels into a scale x scale block per pixel (ESPCN).
        self.shuffle = nn.PixelShuffle(scale) if scale > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.tail(self.act(self.head(x))))
