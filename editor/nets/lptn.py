"""LPTN: the Laplacian Pyramid Translation Network of Liang, Zeng and Zhang, CVPR 2021
("High-Resolution Photorealistic Image Translation in Real-Time"), sized for a CPU.

Why a pyramid: colour and illumination live in the low-frequency band, detail in the
high-frequency ones. So only a small low-frequency image goes through a real network; the
high-frequency bands are merely scaled by light masks, and a 4K photo costs little more
than a thumbnail.

    x ─► Laplacian pyramid: h_0 (finest) … h_{L-1}, low  (fixed 5×5 binomial kernel)
    low ─► LowFrequencyTranslator (residual blocks) ─► low'                     (colour/tone)
    cat(h_{L-1}, up(low), up(low')) ─► MaskNet ─► m                 (at h_{L-1}'s resolution)
    for each high band, coarse to fine: m ← refine_k(up(m)); h_k' = h_k · (1 + m)
    reconstruct(h_0' … h_{L-1}', low') ─► y

* Pyramid: blur with the 5-tap binomial ``[1 4 6 4 1] / 16`` (separable: the paper's 5×5
  Gaussian) and keep every second sample; ``up`` is the matching zero-insertion + blur,
  computed polyphase (even samples ``(a + 6b + c) / 8``, odd ``(b + c) / 2``), as
  cv2.pyrDown/pyrUp do. Each band is ``level − up(next level)`` with ``up`` cropped to the
  finer level's exact size, so odd sizes need no padding and the reconstruction
  ``up(coarser) + band`` gives the input back to float rounding BY CONSTRUCTION.
* Low-frequency branch (the paper's): conv 3→16, LeakyReLU, conv 16→64, LeakyReLU, 5
  residual blocks of 64 channels, conv 64→16, LeakyReLU, conv 16→3, added to its input (a
  residual: an untrained branch is the identity). One change: the paper's code normalises
  the first layer's features per image (instance norm, no affine). That removes each
  feature's mean and spread over the picture — exactly the brightness, contrast and colour
  cast a retouch has to see to correct (a pre-training run with it gained 0.19 dB in 250
  iterations on distort-and-recover, and learnt almost nothing of exposure or white
  balance), and it makes a zoomed-in preview, which sees only part of the picture, come out
  in other colours than the whole photo. It is off by default (``instance_norm=True``
  restores the paper's). The paper's code also ends with ``tanh`` because its images are
  in [-1, 1]; ours are RGB in [0, 1] and are only clipped by the tool, so there is none.
* High-frequency branch: the mask network (conv 9→c, LeakyReLU, residual blocks, conv c→3)
  sees the band next to the low one and both low bands up-sampled, as in the paper. Then,
  level by level towards the finest, the mask is up-sampled and refined by a 1×1 block
  (conv 3→16, LeakyReLU, conv 16→3), the paper's ``trans_mask_block``, and multiplied into
  that band. Two changes, both for a CPU: the mask network is ``mask_width`` = 32 channels
  wide (the paper's 64 costs 4× as much and missed the 1080p time budget), and masks are
  up-sampled with the pyramid's own smooth ``up`` rather than nearest-neighbour (which
  would print the coarse grid into the detail). The mask is written ``1 + m`` and every
  branch's last convolution starts at zero, so a fresh network is exactly the identity.
* Levels: ``levels`` (the paper's L, default 3) is a minimum. A larger input gets more
  levels, so that its low band is at most :data:`LOW_SIDE` px on its long side: the
  network then costs about the same for a 4K photo as for a 1 MP one, and — the point
  for an editor — a photo and its screen-sized preview see their low band at nearly the
  same scale, so they get the same look. The refine blocks are indexed from the coarse end
  (block k refines the k-th band above the low one); bands finer than the trained ones get
  the last refined mask up-sampled without further refinement. The refine blocks are 1×1
  (they look at the mask, not the picture), so this is the mask the trained network would
  have used, only at a finer grid.

* Optional global grade (``global_tone=True``, our addition): a pointwise tone curve →
  colour matrix → tone curve (:mod:`editor.nets.tone_curve`) applied to the reconstructed
  image at full resolution. The masks above scale detail smoothly, so they cannot follow
  a tone curve's slope across a sharp edge; the pointwise stage does that exactly and
  leaves the pyramid the local part of a look. It starts as the identity, so older
  weights (without it) load unchanged into a network built without it.

Pixels: (N, 3, H, W) RGB float in [0, 1] -> (N, 3, H, W), not clipped. Any size from 1×1.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from editor.nets.tone_curve import GlobalTone

#: The paper's default number of high-frequency levels (the minimum used here).
DEFAULT_LEVELS = 3
#: Larger inputs get extra levels until their low band's long side is at most this.
LOW_SIDE = 64
#: The paper's low-frequency branch: 64 channels, 5 residual blocks.
LOW_WIDTH = 64
LOW_BLOCKS = 5
#: The mask network: 3 residual blocks as in the paper, at half its width (see above).
MASK_WIDTH = 32
MASK_BLOCKS = 3
#: Hidden channels of the 1x1 refine blocks (the paper's 16).
REFINE_WIDTH = 16
#: LeakyReLU slope (PyTorch's default, which the paper's code uses).
SLOPE = 0.01


# -- the Laplacian pyramid -------------------------------------------------------------------
#
# Border rules copy OpenCV's pyrDown/pyrUp exactly (reflect-101 for pyrDown; for pyrUp
# reflect-101 before the first sample and the last sample repeated after the end), so the
# tool can run the full-resolution levels with cv2's fast SIMD pyramid and get this
# module's numbers to float rounding (editor/tools/retouch_render.py; tested there).

def reflect101(index: int, length: int) -> int:
    """OpenCV's ``borderInterpolate(index, length, BORDER_REFLECT_101)``."""
    if length == 1:
        return 0
    while not 0 <= index < length:
        index = -index if index < 0 else 2 * length - 2 - index
    return index


@lru_cache(maxsize=256)
def _down_taps(length: int) -> tuple[tuple[int, ...], ...]:
    """Source indices of the 5 taps of every kept sample (reflect-101 borders)."""
    kept = (length + 1) // 2
    return tuple(tuple(reflect101(2 * i + t - 2, length) for i in range(kept)) for t in range(5))


@lru_cache(maxsize=256)
def _up_pad(length: int) -> tuple[int, ...]:
    """Source indices of the coarse signal padded by one sample each side (pyrUp's rule)."""
    return (1 if length > 1 else 0, *range(length), length - 1)


def _taps(x: torch.Tensor, dim: int, index: tuple[int, ...]) -> torch.Tensor:
    return x.index_select(dim, torch.tensor(index, device=x.device))


def blur_down(x: torch.Tensor) -> torch.Tensor:
    """Binomial 5-tap blur and 2× decimation of (N, C, H, W) to (N, C, ceil(H/2),
    ceil(W/2)), as cv2.pyrDown; only the kept samples are computed."""
    for dim in (-1, -2):
        t = [_taps(x, dim, index) for index in _down_taps(x.shape[dim])]
        x = (t[0] + t[4]) + 4.0 * (t[1] + t[3]) + 6.0 * t[2]
    return x * (1.0 / 256.0)


def up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """2× up-sampling of (N, C, h, w) to exactly ``size`` = (H, W), H in {2h - 1, 2h}
    (likewise W): zero insertion and the binomial blur ×4, computed polyphase, as
    cv2.pyrUp with ``dstsize``."""
    for dim, length in ((-1, int(size[1])), (-2, int(size[0]))):
        p = _taps(x, dim, _up_pad(x.shape[dim]))
        n = p.shape[dim]
        a, b, c = p.narrow(dim, 0, n - 2), p.narrow(dim, 1, n - 2), p.narrow(dim, 2, n - 2)
        even = (a + c) * 0.125 + b * 0.75
        odd = (b + c) * 0.5
        # Interleave: (…, n, 2) along the axis, then one axis of 2n samples.
        x = torch.stack((even, odd), dim=dim).flatten(dim - 1, dim) if dim == -1 else \
            torch.stack((even, odd), dim=dim).flatten(-3, -2)
        x = x.narrow(dim, 0, length)
    return x


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``levels`` high-frequency bands, finest first, then the low band."""
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels!r}")
    bands = []
    current = x
    for _ in range(levels):
        down = blur_down(current)
        bands.append(current - up(down, current.shape[-2:]))
        current = down
    bands.append(current)
    return bands


def reconstruct(bands: list[torch.Tensor]) -> torch.Tensor:
    """The image whose :func:`laplacian_pyramid` is ``bands`` (finest first, low last)."""
    image = bands[-1]
    for band in reversed(bands[:-1]):
        image = up(image, band.shape[-2:]) + band
    return image


def levels_for(height: int, width: int, minimum: int = DEFAULT_LEVELS,
               low_side: int = LOW_SIDE) -> int:
    """Levels for an image: at least ``minimum``, more until the low band's long side is at
    most ``low_side`` px."""
    side = max(int(height), int(width), 1)
    extra = math.ceil(math.log2(side / low_side)) if side > low_side else 0
    return max(int(minimum), extra)


# -- the branches -------------------------------------------------------------------------------

class ResidualBlock(nn.Module):
    """conv3×3 → LeakyReLU → conv3×3, added to the input (the paper's block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), SLOPE))


class LowFrequencyTranslator(nn.Module):
    """The paper's low-frequency branch; predicts a residual over its input."""

    def __init__(self, width: int = LOW_WIDTH, blocks: int = LOW_BLOCKS,
                 instance_norm: bool = False) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, 16, 3, padding=1)
        self.norm = nn.InstanceNorm2d(16) if instance_norm else None
        self.expand = nn.Conv2d(16, width, 3, padding=1)
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.reduce = nn.Conv2d(width, 16, 3, padding=1)
        self.tail = nn.Conv2d(16, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, low: torch.Tensor) -> torch.Tensor:
        y = self.head(low)
        if self.norm is not None:
            # A one-pixel band normalises to zero; torch refuses to compute it.
            y = self.norm(y) if y.shape[-1] * y.shape[-2] > 1 else torch.zeros_like(y)
        y = F.leaky_relu(y, SLOPE)
        y = self.blocks(F.leaky_relu(self.expand(y), SLOPE))
        return low + self.tail(F.leaky_relu(self.reduce(y), SLOPE))


class MaskNet(nn.Module):
    """The high-frequency mask from the band next to the low one and both low bands."""

    def __init__(self, width: int = MASK_WIDTH, blocks: int = MASK_BLOCKS) -> None:
        super().__init__()
        self.head = nn.Conv2d(9, width, 3, padding=1)
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.tail = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.blocks(F.leaky_relu(self.head(x), SLOPE)))


class MaskRefine(nn.Module):
    """1×1 conv 3→16, LeakyReLU, 1×1 conv 16→3, added to the mask it refines."""

    def __init__(self, width: int = REFINE_WIDTH) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 1)
        self.conv2 = nn.Conv2d(width, 3, 1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        return mask + self.conv2(F.leaky_relu(self.conv1(mask), SLOPE))


class LPTN(nn.Module):
    """See the module docstring. ``levels`` is the minimum number of high-frequency bands
    (and the number of refine blocks); ``low_side`` bounds the low band for large inputs."""

    def __init__(self, levels: int = DEFAULT_LEVELS, low_width: int = LOW_WIDTH,
                 low_blocks: int = LOW_BLOCKS, mask_width: int = MASK_WIDTH,
                 mask_blocks: int = MASK_BLOCKS, refine_width: int = REFINE_WIDTH,
                 low_side: int = LOW_SIDE, instance_norm: bool = False,
                 global_tone: bool = False) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels!r}")
        self.levels = int(levels)
        self.low_side = int(low_side)
        self.low = LowFrequencyTranslator(low_width, low_blocks, instance_norm)
        self.mask = MaskNet(mask_width, mask_blocks)
        self.refine = nn.ModuleList([MaskRefine(refine_width) for _ in range(levels)])
        self.tone = GlobalTone() if global_tone else None

    def levels_for(self, height: int, width: int) -> int:
        return levels_for(height, width, self.levels, self.low_side)

    def translate_low(self, low: torch.Tensor) -> torch.Tensor:
        """The low-frequency branch alone (the tool blends its strength here)."""
        return self.low(low)

    def masked_bands(self, bands: list[torch.Tensor], low_out: torch.Tensor
                     ) -> list[torch.Tensor]:
        """The high-frequency bands (finest first) multiplied by their masks."""
        highs = bands[:-1]
        nearest = highs[-1]
        size = nearest.shape[-2:]
        mask = self.mask(torch.cat([nearest, up(bands[-1], size), up(low_out, size)], 1))
        out: list[torch.Tensor] = []
        for k, band in enumerate(reversed(highs)):         # coarse to fine
            if k:
                mask = up(mask, band.shape[-2:])
            if k < len(self.refine):
                mask = self.refine[k](mask)
            out.append(band + band * mask)
        return out[::-1]

    def forward(self, x: torch.Tensor, levels: int | None = None) -> torch.Tensor:
        levels = self.levels_for(*x.shape[-2:]) if levels is None else int(levels)
        bands = laplacian_pyramid(x, levels)
        low_out = self.low(bands[-1])
        y = reconstruct(self.masked_bands(bands, low_out) + [low_out])
        return y if self.tone is None else self.tone(y)

    def reset_to_identity(self) -> None:
        """Zero every branch's last convolution, as in a fresh network: the output is then
        the input exactly (with a fresh global grade), while the trained features inside
        are kept for fine-tuning to start from."""
        for conv in (self.low.tail, self.mask.tail, *(r.conv2 for r in self.refine)):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        if self.tone is not None:
            self.tone.load_state_dict(GlobalTone(self.tone.curve_in.shape[1]).state_dict())


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
