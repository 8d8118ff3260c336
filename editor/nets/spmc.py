"""SPMC video super-resolution (Tao, Gao, Liao, Wang, Jia, ICCV 2017, "Detail-revealing Deep
Video Super-resolution"), sized for a CPU.

One output frame from a window of low-resolution frames (the reference and its neighbours):

    neighbour_i, reference ─► MotionNet ─► flow_i (LR pixels, on the neighbour's grid)
    neighbour_i, flow_i ─► SPMC layer (scale s) ─► sparse HR image + weight map
    every compensated frame ─► Encoder ─► ConvLSTM (over the frames, reference last)
                            ─► Decoder (skips from the encoders) ─► HR residual + bicubic

* :func:`spmc_splat` is the paper's sub-pixel motion compensation layer: every LR pixel is
  moved by its flow, scaled to the output grid and bilinearly *splatted* (forward-warped)
  onto the 4 nearest HR pixels, accumulating values and weights ("zero up-sampling" and
  warping in one step). No parameters; differentiable in the values and in the flow; the
  scale is an argument, so one set of weights serves ×2, ×3 and ×4.
* LR pixel ``x`` sits at HR coordinate ``(x + 0.5)·s − 0.5`` (pixel centres, the convention of
  MATLAB's bicubic down-sampling), not the paper's ``s·x``: the splatted frames then line up
  with the bicubic base the network adds its residual to, at every scale.
* The network works on luma (BT.601 Y, as the paper and Vid4's scores do); colour is
  up-sampled bicubically by the caller (:mod:`editor.tools.video_sr`).
* MotionNet: coarse to fine over 3 levels (the paper's motion estimation, after VESPCN):
  at each level the reference is backward-warped by the up-sampled coarser flow and a small
  CNN predicts the remaining flow.
* Detail fusion: the encoder runs on each compensated frame after a 2×2 space-to-depth (so
  its first convolution is at half the output resolution: the HR grid holds at most one
  real sample per LR pixel anyway), then two stride-2 stages; the ConvLSTM runs over the
  frames at 1/8 of the output size, neighbours first (farthest first) and the reference
  last; the decoder gets the final hidden state, and at each level a skip made of the
  reference frame's encoder features and the mean over all frames (any number of frames).
  Each frame's encoder input also carries a degradation flag (0: bicubic "BI", 1: Gaussian
  blur "BD") and 1/scale, so one set of weights serves both degradations and all scales,
  and the shift-and-add of all the compensated frames (their samples averaged on the HR
  grid by their splatting weights; our addition: a first run without it learnt to add
  only +0.02 dB from 4 neighbours over 600 iterations, the fused grid hands the fusion
  net the sub-pixel samples directly).
* Residual over bicubic, last layer zero at start: an untrained network gives bicubic.

Tensors: ``frames`` (N, T, 1, h, w) luma in [0, 1]; the reference is ``frames[:, ref]``.
Output (N, 1, h·s, w·s), not clipped. Any size works (padded internally).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from editor.nets.srn_deblur import ConvLSTMCell

SCALES = (2, 3, 4)
#: Motion estimation levels (coarse to fine, ratio 2).
FLOW_LEVELS = 3
#: Weight below which a splatted HR pixel is treated as holding no sample.
MIN_WEIGHT = 1e-3


# -- the SPMC layer ------------------------------------------------------------------------------
def spmc_splat(values: torch.Tensor, flow: torch.Tensor, scale: int,
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward-warp ``values`` (N, C, h, w) by ``flow`` (N, 2, h, w; x then y, in LR pixels)
    onto the ×``scale`` grid with bilinear splatting.

    Returns ``(image, weight)``: ``image`` (N, C, h·s, w·s) is the weighted mean of the samples
    that landed on each HR pixel (0 where none did), ``weight`` (N, 1, h·s, w·s) their summed
    bilinear weights. A sample landing exactly on an HR pixel gives it weight 1; one landing
    between pixels shares its weight among the 4 around it; samples landing outside are lost.
    """
    n, c, h, w = values.shape
    height, width = h * scale, w * scale
    ys, xs = torch.meshgrid(torch.arange(h, dtype=values.dtype, device=values.device),
                            torch.arange(w, dtype=values.dtype, device=values.device),
                            indexing="ij")
    # Pixel centres: LR x -> HR (x + 0.5)·s - 0.5.
    hx = (xs + flow[:, 0] + 0.5) * scale - 0.5
    hy = (ys + flow[:, 1] + 0.5) * scale - 0.5
    x0, y0 = torch.floor(hx), torch.floor(hy)
    fx, fy = hx - x0, hy - y0
    x0, y0 = x0.long(), y0.long()
    flat_values = values.reshape(n, c, h * w)
    acc = values.new_zeros(n, c, height * width)
    wsum = values.new_zeros(n, 1, height * width)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
            weight = (wx * wy * inside).reshape(n, 1, h * w)
            index = (yi.clamp(0, height - 1) * width + xi.clamp(0, width - 1)).reshape(n, 1, h * w)
            wsum = wsum.scatter_add(2, index, weight)
            acc = acc.scatter_add(2, index.expand(n, c, h * w), flat_values * weight)
    image = acc / wsum.clamp_min(MIN_WEIGHT)
    return image.reshape(n, c, height, width), wsum.reshape(n, 1, height, width)


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at ``p + flow(p)`` (bilinear, edges repeated): the reference seen from
    a neighbour's grid, which should match the neighbour where the flow is right."""
    n, _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=image.dtype, device=image.device),
                            torch.arange(w, dtype=image.dtype, device=image.device),
                            indexing="ij")
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border",
                         align_corners=True)


# -- motion estimation ---------------------------------------------------------------------------
class FlowStage(nn.Module):
    """One level: neighbour, warped reference, their difference and the warped reference's
    gradients (the terms of a Lucas-Kanade step, amplified: frame differences are small
    numbers, and without them the CNN sits on a long plateau of predicting no motion), and
    the current flow -> flow correction."""

    #: Gain on the difference and gradient channels (luma differences are ~0.01-0.1).
    GAIN = 8.0

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(7, width, 3, padding=1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(width, 2, 3, padding=1))
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, neighbour: torch.Tensor, reference: torch.Tensor,
                flow: torch.Tensor) -> torch.Tensor:
        warped = backward_warp(reference, flow)
        padded = F.pad(warped, (1, 1, 1, 1), mode="replicate")
        gx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) * 0.5
        gy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) * 0.5
        g = self.GAIN
        features = torch.cat([neighbour, warped, (neighbour - warped) * g, gx * g, gy * g,
                              flow], dim=1)
        return flow + self.body(features)


class MotionNet(nn.Module):
    """Coarse-to-fine flow from a neighbour's grid to the reference (LR pixels).
    Levels share nothing: motion at 1/4 size is mostly large and smooth, at full size small
    and detailed."""

    def __init__(self, width: int = 24, levels: int = FLOW_LEVELS) -> None:
        super().__init__()
        self.levels = levels
        self.stages = nn.ModuleList(FlowStage(width) for _ in range(levels))

    def forward(self, neighbour: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        multiple = 2 ** (self.levels - 1)
        h, w = neighbour.shape[-2:]
        pad_h, pad_w = (-h) % multiple, (-w) % multiple
        if pad_h or pad_w:
            neighbour = F.pad(neighbour, (0, pad_w, 0, pad_h), mode="replicate")
            reference = F.pad(reference, (0, pad_w, 0, pad_h), mode="replicate")
        pyramid = [(neighbour, reference)]
        for _ in range(self.levels - 1):
            nb, ref = pyramid[-1]
            pyramid.append((F.avg_pool2d(nb, 2), F.avg_pool2d(ref, 2)))
        flow = None
        for stage, (nb, ref) in zip(self.stages, reversed(pyramid)):
            if flow is None:
                flow = nb.new_zeros(nb.shape[0], 2, nb.shape[2], nb.shape[3])
            else:
                flow = 2.0 * F.interpolate(flow, size=nb.shape[-2:], mode="bilinear",
                                           align_corners=False)
            flow = stage(nb, ref, flow)
        return flow[..., :h, :w]


# -- detail fusion -------------------------------------------------------------------------------
class ResBlock3(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


#: Channels per compensated frame into the encoder: splatted-minus-bicubic, weight, bicubic,
#: degradation flag, 1/scale, and the shift-and-add of ALL frames (minus bicubic, weight).
FRAME_CHANNELS = 7


class FusionNet(nn.Module):
    """Encoder (per frame, shared weights) -> ConvLSTM over frames -> decoder with skips."""

    def __init__(self, widths: tuple[int, int, int] = (16, 32, 48), hidden: int = 32) -> None:
        super().__init__()
        c1, c2, c3 = widths
        self.enc1 = nn.Conv2d(FRAME_CHANNELS * 4, c1, 3, padding=1)
        self.enc2 = nn.Sequential(nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(True),
                                  ResBlock3(c2))
        self.enc3 = nn.Sequential(nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.ReLU(True),
                                  ResBlock3(c3), nn.Conv2d(c3, hidden, 1))
        self.lstm = ConvLSTMCell(hidden)
        self.dec3 = nn.Sequential(nn.Conv2d(2 * hidden, c3, 3, padding=1), nn.ReLU(True),
                                  ResBlock3(c3),
                                  nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1),
                                  nn.ReLU(True))
        self.skip2 = nn.Conv2d(2 * c2, c2, 1)
        self.dec2 = nn.Sequential(ResBlock3(c2),
                                  nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),
                                  nn.ReLU(True))
        self.skip1 = nn.Conv2d(2 * c1, c1, 1)
        self.dec1 = nn.Sequential(nn.Conv2d(c1, c1, 3, padding=1), nn.ReLU(True),
                                  ResBlock3(c1))
        self.out = nn.Conv2d(c1, 4, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """``inputs``: per frame (N, FRAME_CHANNELS, H, W), the reference LAST. H, W must be
        multiples of 8. Returns the HR residual (N, 1, H, W)."""
        state = None
        sum1 = sum2 = None
        h = feat1 = feat2 = None
        for x in inputs:
            feat1 = F.relu(self.enc1(F.pixel_unshuffle(x, 2)))
            feat2 = self.enc2(feat1)
            h, state = self.lstm(self.enc3(feat2), state)
            sum1 = feat1 if sum1 is None else sum1 + feat1
            sum2 = feat2 if sum2 is None else sum2 + feat2
        count = float(len(inputs))
        # The reference's hidden state is ``h``; the LSTM's input at the reference step adds
        # the reference's own bottleneck view to what the neighbours left in the state.
        y = self.dec3(torch.cat([h, state[1]], dim=1))
        y = self.dec2(y + self.skip2(torch.cat([feat2, sum2 / count], dim=1)))
        y = self.dec1(y + self.skip1(torch.cat([feat1, sum1 / count], dim=1)))
        return F.pixel_shuffle(self.out(y), 2)


def frame_order(count: int, ref: int) -> list[int]:
    """The order frames go through the ConvLSTM: neighbours farthest first, the reference
    last (so the state that decodes the output was updated by the reference most recently)."""
    others = [i for i in range(count) if i != ref]
    others.sort(key=lambda i: (-abs(i - ref), i))
    return others + [ref]


class SPMCVideoSR(nn.Module):
    """Motion estimation + SPMC + detail fusion, for any scale in SCALES and any number of
    frames (1 works too: single-image SR with the same weights)."""

    def __init__(self, flow_width: int = 24, widths: tuple[int, int, int] = (16, 32, 48),
                 hidden: int = 32) -> None:
        super().__init__()
        self.motion = MotionNet(flow_width)
        self.fusion = FusionNet(tuple(widths), hidden)

    def flows(self, frames: torch.Tensor, ref: int) -> list[torch.Tensor | None]:
        """Per frame, the flow from its grid to the reference's (None for the reference)."""
        reference = frames[:, ref]
        return [None if i == ref else self.motion(frames[:, i], reference)
                for i in range(frames.shape[1])]

    def forward(self, frames: torch.Tensor, ref: int, scale: int,
                degradation: float | torch.Tensor = 0.0,
                flows: list[torch.Tensor | None] | None = None) -> torch.Tensor:
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale}")
        n, t, _, h, w = frames.shape
        if not 0 <= ref < t:
            raise ValueError(f"reference frame {ref} is outside the {t} frames")
        if flows is None:
            flows = self.flows(frames, ref)
        # Pad the LR frames so the HR size is a multiple of 8 (space-to-depth + 2 strides).
        step = 8 // math.gcd(8, scale)
        pad_h, pad_w = (-h) % step, (-w) % step
        if pad_h or pad_w:
            frames = F.pad(frames.reshape(n, t, h, w), (0, pad_w, 0, pad_h),
                           mode="replicate").reshape(n, t, 1, h + pad_h, w + pad_w)
            flows = [None if f is None else F.pad(f, (0, pad_w, 0, pad_h), mode="replicate")
                     for f in flows]
        lr_h, lr_w = frames.shape[-2:]
        bicubic = F.interpolate(frames[:, ref], scale_factor=scale, mode="bicubic",
                                align_corners=False)
        if not torch.is_tensor(degradation):
            degradation = bicubic.new_full((n,), float(degradation))
        flag = degradation.to(bicubic).reshape(n, 1, 1, 1).expand_as(bicubic)
        inv_scale = torch.full_like(bicubic, 1.0 / scale)
        splats = {}
        for i in range(t):
            flow = flows[i] if flows[i] is not None else frames.new_zeros(n, 2, lr_h, lr_w)
            splats[i] = spmc_splat(frames[:, i], flow, scale)
        # Shift-and-add: every frame's samples on the one HR grid, weighted — the classic
        # multi-frame estimate, which is denser than any one frame's wherever the frames
        # moved by fractions of an LR pixel (and no denser when they did not). Every frame's
        # encoder sees it, so the fusion starts from what the motion already reveals.
        total = sum(w for _, w in splats.values())
        fused = sum(im * w for im, w in splats.values()) / total.clamp_min(MIN_WEIGHT)
        fused_has = total.clamp(0.0, 1.0)
        fused_residual = (fused - bicubic) * fused_has
        inputs = []
        for i in frame_order(t, ref):
            image, weight = splats[i]
            has = weight.clamp(0.0, 1.0)
            inputs.append(torch.cat([(image - bicubic) * has, has, bicubic, flag, inv_scale,
                                     fused_residual, fused_has], dim=1))
        out = bicubic + self.fusion(inputs)
        return out[..., :h * scale, :w * scale]


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
