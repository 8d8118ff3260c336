"""SRNDeblur: the scale-recurrent deblurring network of Tao et al., CVPR 2018
("Scale-recurrent Network for Deep Image Deblurring"), sized for a CPU.

Coarse to fine over ``scales`` levels (ratio 0.5). At every level the SAME network (one
parameter set, shared by all levels) sees the blurry image at that level concatenated with
the bilinear up-sampling of the previous level's estimate (at the coarsest level: the blurry
image itself, as in the authors' code):

    B_i ──┐
          cat ─► EBlock1 ─┬─► EBlock2 ─┬─► EBlock3 ─► ConvLSTM ─► DBlock3 ─► + ─► DBlock2 ─► +
    I_i+1↑┘      (c)      │   (2c, /2) │   (4c, /4)    ▲    │                ▲               ▲
                          │            └───────────────┼────┼────────────────┘               │
                          └────────────────────────────┼────┼────────────────────────────────┘
                      state of level i+1, ×2 bilinear ─┘    └─► state to level i-1
    ... + ─► OutBlock ─► (+ B_i) ─► I_i          (each "+" adds an encoder output: a skip)

* EBlock = one 5×5 convolution (stride 2 in the second and third) + ReLU, then 3 ResBlocks;
  DBlock = 3 ResBlocks, then a 4×4 stride-2 transposed convolution + ReLU; OutBlock = 3
  ResBlocks and a 5×5 convolution to RGB. ResBlock = conv5×5 → ReLU → conv5×5, added to its
  input. Skips are additions (the authors' code). Channels ``c, 2c, 4c``; no batch norm.
* The ConvLSTM sits in the bottleneck (4c channels, 3×3 gates as in the authors' code, forget
  bias 1). Its hidden and cell states are bilinearly up-sampled ×2 and carried to the next
  (finer) level: the "recurrent" part. Weight sharing + this state is what lets one small
  network handle blurs far larger than one level's receptive field.
* Width: the paper's is ``c = 32`` (32-64-128; ``SRNDeblur(full_width=True)``, ~8 M
  parameters, 32 MB: over the 10 MB budget). The default here is ``c = 12`` (12-24-48,
  1.1 M parameters): 14 % of the paper's multiply-adds, for the 3 s per megapixel budget on
  2 CPU threads. Convolutions run near the CPU's peak here, so time follows the
  multiply-adds (``width²``): ``c = 16`` costs 1.8x as much.
* Residual output (our choice, not the paper's): every level predicts a correction that is
  added to its own blurry input, and the last convolution starts at zero, so an untrained
  network is exactly the identity. Training then starts from "no worse than the input"
  (what a sharp photo must stay) and spends its iterations on the blur, not on learning to
  copy colours; the strength slider blends exactly this correction.

Pixels: (N, 3, H, W) RGB float in [0, 1] -> (N, 3, H, W), not clipped. Any size works:
the input is padded internally (reflection, or edge replication where the image is too small
to reflect) to a multiple of ``4 · 2^(scales-1)`` (16 for 3 levels; at least that size, so the
coarsest level's bottleneck has a pixel) and the result is cropped back.

Receptive field: :func:`receptive_radius` is the theoretical bound (over a thousand pixels
for 3 levels: every level sees ~190 of its own pixels each side, and coarse levels' pixels
are 2× and 4× larger). What a trained network actually uses is far smaller and is measured
by :func:`context_radius`; the tile overlap is chosen from that measurement (see the model
card and :mod:`editor.engine.catalog`).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: Kernel size of every convolution but the ConvLSTM's (the paper's choice).
KERNEL = 5
#: The ConvLSTM's gate kernel (3×3 in the authors' released code).
LSTM_KERNEL = 3
#: ResBlocks per EBlock / DBlock / OutBlock.
RES_PER_BLOCK = 3
#: Default (reduced) base width, and the paper's.
DEFAULT_WIDTH = 12
PAPER_WIDTH = 32


def pad_multiple(scales: int) -> int:
    """Sides must be a multiple of this: two stride-2 convolutions at the coarsest level,
    which is ``2^(scales-1)`` times smaller than the input."""
    return 4 * 2 ** (scales - 1)


class ResBlock(nn.Module):
    """conv5×5 -> ReLU -> conv5×5, added to the input (no normalisation: it hurts
    restoration, and the authors' network has none)."""

    def __init__(self, channels: int, kernel: int = KERNEL) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class EBlock(nn.Module):
    """One (strided) 5×5 convolution + ReLU, then 3 ResBlocks."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, KERNEL, stride=stride,
                              padding=KERNEL // 2)
        self.act = nn.ReLU(inplace=True)
        self.res = nn.Sequential(*(ResBlock(out_channels) for _ in range(RES_PER_BLOCK)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res(self.act(self.conv(x)))


class DBlock(nn.Module):
    """3 ResBlocks, then a 4×4 stride-2 transposed convolution (exactly ×2) + ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.res = nn.Sequential(*(ResBlock(in_channels) for _ in range(RES_PER_BLOCK)))
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.up(self.res(x)))


class OutBlock(nn.Module):
    """3 ResBlocks, then a 5×5 convolution to the RGB correction (zero at start)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.res = nn.Sequential(*(ResBlock(channels) for _ in range(RES_PER_BLOCK)))
        self.conv = nn.Conv2d(channels, 3, KERNEL, padding=KERNEL // 2)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.res(x))


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM (Shi et al. 2015) without peepholes, as in the authors' code:
    one convolution over [x, h] gives the input, forget, output gates and the candidate."""

    def __init__(self, channels: int, kernel: int = LSTM_KERNEL) -> None:
        super().__init__()
        self.channels = channels
        self.gates = nn.Conv2d(2 * channels, 4 * channels, kernel, padding=kernel // 2)
        with torch.no_grad():
            # Forget bias 1: at the start the cell keeps what the coarser level passed on,
            # which is what makes the carried state useful early in training.
            self.gates.bias[channels:2 * channels].fill_(1.0)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.channels, x.shape[2], x.shape[3])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = torch.chunk(self.gates(torch.cat([x, h], dim=1)), 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


State = tuple[torch.Tensor, torch.Tensor]


def _pad(x: torch.Tensor, bottom: int, right: int) -> torch.Tensor:
    if bottom == 0 and right == 0:
        return x
    # Reflection keeps image statistics at the border (a blur streak continues instead of
    # meeting a flat edge); torch cannot reflect by more than the size - 1, so tiny images
    # replicate their edge instead.
    mode = "reflect" if bottom < x.shape[2] and right < x.shape[3] else "replicate"
    return F.pad(x, (0, right, 0, bottom), mode=mode)


class SRNDeblur(nn.Module):
    """Scale-recurrent deblurring network: ``forward(x)`` gives the finest restored image,
    :meth:`forward_scales` the estimate of every level (for the multi-scale loss).

    ``width`` is the base channel count ``c`` (levels ``c, 2c, 4c``); ``full_width=True``
    builds the paper's 32-64-128 whatever ``width`` says. ``scales`` is the number of levels
    (3 in the paper; 1 gives the plain encoder-decoder, for ablations). The state dict does
    not depend on ``scales``: the levels share every weight.
    """

    def __init__(self, width: int = DEFAULT_WIDTH, scales: int = 3, full_width: bool = False,
                 lstm_kernel: int = LSTM_KERNEL) -> None:
        super().__init__()
        width = PAPER_WIDTH if full_width else int(width)
        if width < 1 or scales < 1 or lstm_kernel < 1 or lstm_kernel % 2 == 0:
            raise ValueError(f"need width >= 1, scales >= 1 and an odd lstm_kernel, got "
                             f"width={width!r}, scales={scales!r}, lstm_kernel={lstm_kernel!r}")
        self.width = width
        self.scales = int(scales)
        self.lstm_kernel = int(lstm_kernel)
        c = width
        self.enc1 = EBlock(6, c, stride=1)
        self.enc2 = EBlock(c, 2 * c, stride=2)
        self.enc3 = EBlock(2 * c, 4 * c, stride=2)
        self.lstm = ConvLSTMCell(4 * c, lstm_kernel)
        self.dec3 = DBlock(4 * c, 2 * c)
        self.dec2 = DBlock(2 * c, c)
        self.out = OutBlock(c)

    @property
    def multiple(self) -> int:
        return pad_multiple(self.scales)

    def level(self, blurry: torch.Tensor, previous: torch.Tensor, state: State | None
              ) -> tuple[torch.Tensor, State]:
        """One level: restore ``blurry`` guided by ``previous`` (the up-sampled coarser
        estimate), given the ConvLSTM ``state`` (None: zeros). Sides must be multiples of 4."""
        # Centred inputs: the convolutions see values around 0, the residual stays in [0, 1].
        x = torch.cat([blurry, previous], dim=1) - 0.5
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        h, state = self.lstm(e3, state)
        d2 = self.dec3(h) + e2
        d1 = self.dec2(d2) + e1
        return blurry + self.out(d1), state

    def forward_scales(self, x: torch.Tensor, *, carry_state: bool = True
                       ) -> list[torch.Tensor]:
        """Every level's estimate, coarsest first; the last is the full-size result.

        Level ``k`` (0 = finest) has sides ``ceil(H / 2^k)`` x ``ceil(W / 2^k)``: the
        average-pooled input's size (for sides that are multiples of ``2^(scales-1)``,
        exactly ``H / 2^k``). ``carry_state=False`` restarts the ConvLSTM from zeros at
        every level (an ablation; tests use it to see the state matters).
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected an N x 3 x H x W RGB tensor, got {tuple(x.shape)}")
        height, width = x.shape[2], x.shape[3]
        m = self.multiple
        padded_h = max(m, -(-height // m) * m)
        padded_w = max(m, -(-width // m) * m)
        # Channels-last runs oneDNN's convolutions about 2.5x faster on a CPU than NCHW
        # (measured here); every later activation inherits the layout from this one.
        padded = _pad(x, padded_h - height, padded_w - width).contiguous(
            memory_format=torch.channels_last)
        # The blurry pyramid: 2×2 averaging is exactly the bilinear ×0.5 of the authors'
        # code on even sides, and cheaper.
        pyramid = [padded]
        for _ in range(self.scales - 1):
            pyramid.append(F.avg_pool2d(pyramid[-1], 2))
        estimate = pyramid[-1]
        state: State | None = None
        outputs = []
        for k in range(self.scales - 1, -1, -1):
            blurry = pyramid[k]
            if estimate.shape[2:] != blurry.shape[2:]:
                estimate = F.interpolate(estimate, size=blurry.shape[2:], mode="bilinear",
                                         align_corners=False)
            if state is not None:
                bottleneck = (blurry.shape[2] // 4, blurry.shape[3] // 4)
                state = tuple(F.interpolate(s, size=bottleneck, mode="bilinear",
                                            align_corners=False) for s in state)
            estimate, state = self.level(blurry, estimate, state if carry_state else None)
            outputs.append(estimate[:, :, : -(-height // 2 ** k), : -(-width // 2 ** k)])
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_scales(x)[-1]


# -- numbers for the model card and the tile overlap ---------------------------------------------

def _level_radius() -> float:
    """Theoretical receptive-field radius of one level's encoder-decoder in that level's
    pixels: each k×k convolution adds (k-1)/2 input pixels times the stride product so far;
    a 4×4 stride-2 transposed convolution reaches 0.75 of its input pixels."""
    r = KERNEL // 2 * 1 + 2 * RES_PER_BLOCK * (KERNEL // 2)            # enc1 at stride 1
    r += KERNEL // 2 * 1 + 2 * RES_PER_BLOCK * (KERNEL // 2) * 2        # enc2 (/2)
    r += KERNEL // 2 * 2 + 2 * RES_PER_BLOCK * (KERNEL // 2) * 4        # enc3 (/4)
    r += LSTM_KERNEL // 2 * 4                                           # ConvLSTM
    r += 2 * RES_PER_BLOCK * (KERNEL // 2) * 4 + 0.75 * 4               # dec3 (/4 -> /2)
    r += 2 * RES_PER_BLOCK * (KERNEL // 2) * 2 + 0.75 * 2               # dec2 (/2 -> /1)
    r += 2 * RES_PER_BLOCK * (KERNEL // 2) + KERNEL // 2                 # out block
    return r


def receptive_radius(scales: int = 3) -> int:
    """Theoretical bound, in full-resolution pixels, on how far an input pixel can influence
    an output pixel: the finest level's radius plus every coarser level's (scaled by its
    pixel size), plus a pixel per level for the 2×2 pooling and bilinear up-sampling. A
    bound, not what a trained network uses (see :func:`context_radius`)."""
    level = _level_radius()
    return int(math.ceil(sum((level + 2) * 2 ** k for k in range(scales))))


def multiply_adds_per_pixel(width: int = DEFAULT_WIDTH, scales: int = 3,
                            lstm_kernel: int = LSTM_KERNEL) -> float:
    """Convolution multiply-adds per input pixel (all levels; activations, pooling and
    interpolation, a few tens per pixel, are left out). Counts the 2×2 down-sampled levels
    at their own size: level ``k`` costs a ``4^-k`` share of the finest level."""
    c, k2 = width, KERNEL * KERNEL
    res = 2 * RES_PER_BLOCK  # convolutions in a block of 3 ResBlocks
    # A 4×4 stride-2 transposed convolution costs in x out x 4 per OUTPUT pixel.
    full = (6 * c * k2 + res * c * c * k2            # enc1: input conv + ResBlocks
            + 2 * c * c * 4                          # dec2's transposed conv (output here)
            + res * c * c * k2 + c * 3 * k2)         # out block
    half = (c * 2 * c * k2 + res * (2 * c) ** 2 * k2     # enc2 (strided conv's output here)
            + 4 * c * 2 * c * 4                          # dec3's transposed conv
            + res * (2 * c) ** 2 * k2)                   # dec2's ResBlocks
    quarter = (2 * c * 4 * c * k2 + res * (4 * c) ** 2 * k2   # enc3
               + 8 * c * 16 * c * lstm_kernel ** 2            # ConvLSTM gates over [x, h]
               + res * (4 * c) ** 2 * k2)                     # dec3's ResBlocks
    per_level = full + half / 4 + quarter / 16
    return per_level * sum(4.0 ** -k for k in range(scales))


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@torch.no_grad()
def context_radius(net: nn.Module, image: torch.Tensor, *, core: int = 32,
                   tolerance: float = 0.5 / 255,
                   margins: Sequence[int] = (8, 16, 24, 32, 48, 64, 80, 96, 128, 160, 192, 256)
                   ) -> int | None:
    """The smallest context margin (px) around a ``core`` x ``core`` region in the middle
    of ``image`` (1 x 3 x H x W) for which running the network on the region plus that
    margin gives the region's pixels within ``tolerance`` of running it on the whole image.

    This is what tiling needs: a tile whose blended pixels all have at least this much real
    context matches the untiled result (run_tiled's weighted pixels have ``overlap / 2``).
    Margins larger than the image allows are not tried; None when none was enough.
    """
    _, _, height, width = image.shape
    y0, x0 = (height - core) // 2, (width - core) // 2
    reference = net(image)[:, :, y0:y0 + core, x0:x0 + core]
    for margin in margins:
        if y0 - margin < 0 or x0 - margin < 0 or y0 + core + margin > height \
                or x0 + core + margin > width:
            break
        crop = image[:, :, y0 - margin:y0 + core + margin, x0 - margin:x0 + core + margin]
        out = net(crop)[:, :, margin:margin + core, margin:margin + core]
        if float((out - reference).abs().max()) <= tolerance:
            return margin
    return None
