"""The conditional denoising U-Net of Face-Recognition-Guided Diffusion (FRGD), and the
same-size regression U-Net it is compared with.

Inputs (all NCHW float32, 128 x 128 aligned faces in the face toolkit's frame):

- ``x_t``: the noisy sample. The diffusion runs on the RESIDUAL over the up-sampled
  low-quality face, ``x_0 = RESIDUAL_SCALE * 2 * (face - lq_up)`` (faces in [0, 1]): the
  network only has to invent what the bicubic up-sampling lacks, which is what lets a
  CPU-sized model trained for hours (not GPU-weeks) produce a face at all. The scale brings
  the residual's spread near the noise's.
- ``lq``: the low-quality face up-sampled (bicubic) to 128 x 128, RGB in [0, 1],
  concatenated with ``x_t``; or, for a model built with ``prior="frgd-l1"``, that
  up-sampled face restored by the regression U-Net (two stages: the regression removes
  blur, noise and JPEG blocks, and the diffusion only invents the detail it cannot —
  trained so, the samples keep the regression's identity and PSNR instead of
  re-inventing the whole face from a blocky input).
- ``t``: (N,) continuous time in [0, 1] (cosine schedule, :func:`alpha_sigma`), through a
  sinusoidal embedding and an MLP.
- ``identity``: (N, 128) dlib-scale identity vectors, or None / rows masked by
  ``drop`` for the unconditional prediction (a learned null vector replaces them: the
  classifier-free dropout of training, the unconditional branch of guidance).

Both conditions modulate every residual block by FiLM (per-channel scale and shift).
For CPU speed the 128 x 128 inputs are pixel-unshuffled (2 x 2 -> channels, nothing lost)
to 64 x 64 first; three levels (64, 32, 16) of small widths follow; the output is
pixel-shuffled back. Output: the v-prediction (``v = alpha * eps - sigma * x_0``) for the
diffusion model, or the predicted face itself (``lq + output``) for the regression model
(:class:`RegressionUNet`, trained with L1, no time or identity).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

RESIDUAL_SCALE = 2.0
EMBEDDING_DIM = 128
#: Sized for <= 10 s per face (25 guided steps) on 2 CPU threads.
DEFAULT_WIDTHS = (16, 32, 64)


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine schedule (Nichol & Dhariwal): alpha = cos(pi/2 * t'), sigma = sin(...), with
    t' squeezed to [0.0005, 0.9995] * ... so neither is exactly 0 at the ends."""
    s = 0.008
    angle = (t.clamp(0.0, 1.0) * (1 - 2e-3) + 1e-3 + s) / (1 + s) * (math.pi / 2)
    return torch.cos(angle), torch.sin(angle)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1] (scaled to 0..1000 like DDPM step indices)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32,
                                                        device=t.device) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def to_residual(face: torch.Tensor, lq: torch.Tensor) -> torch.Tensor:
    """Faces in [0, 1] -> the diffusion's x_0."""
    return (face - lq) * (2.0 * RESIDUAL_SCALE)


def from_residual(x0: torch.Tensor, lq: torch.Tensor) -> torch.Tensor:
    """The diffusion's x_0 -> faces (not clipped)."""
    return lq + x0 / (2.0 * RESIDUAL_SCALE)


def _groups(channels: int) -> int:
    return 8 if channels % 8 == 0 else 1


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv -> FiLM(cond) -> GroupNorm -> SiLU -> conv, + skip."""

    def __init__(self, cin: int, cout: int, cond_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.film = nn.Linear(cond_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.norm2(h)
        if cond is not None:
            scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)
            h = h * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return h + self.skip(x)


class _UNetBody(nn.Module):
    """The shared trunk: unshuffle -> 3-level U-Net with FiLM -> shuffle."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], cond_dim: int) -> None:
        super().__init__()
        w0, w1, w2 = widths
        self.inp = nn.Conv2d(4 * in_channels, w0, 3, 1, 1)
        self.enc0 = ResBlock(w0, w0, cond_dim)
        self.down1 = nn.Conv2d(w0, w1, 3, 2, 1)
        self.enc1 = ResBlock(w1, w1, cond_dim)
        self.down2 = nn.Conv2d(w1, w2, 3, 2, 1)
        self.mid1 = ResBlock(w2, w2, cond_dim)
        self.mid2 = ResBlock(w2, w2, cond_dim)
        self.up1 = nn.Conv2d(w2, w1, 3, 1, 1)
        self.dec1 = ResBlock(2 * w1, w1, cond_dim)
        self.up0 = nn.Conv2d(w1, w0, 3, 1, 1)
        self.dec0 = ResBlock(2 * w0, w0, cond_dim)
        self.out_norm = nn.GroupNorm(_groups(w0), w0)
        self.out = nn.Conv2d(w0, 12, 3, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        h = self.inp(F.pixel_unshuffle(x, 2))
        e0 = self.enc0(h, cond)
        e1 = self.enc1(self.down1(e0), cond)
        m = self.mid2(self.mid1(self.down2(e1), cond), cond)
        d1 = self.up1(F.interpolate(m, scale_factor=2, mode="nearest"))
        d1 = self.dec1(torch.cat([d1, e1], 1), cond)
        d0 = self.up0(F.interpolate(d1, scale_factor=2, mode="nearest"))
        d0 = self.dec0(torch.cat([d0, e0], 1), cond)
        return F.pixel_shuffle(self.out(F.silu(self.out_norm(d0))), 2)


def _check(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[-1] % 8 or x.shape[-2] % 8:
        raise ValueError(f"expected N x 3 x H x W with H, W multiples of 8, got {tuple(x.shape)}")


class FRGDUNet(nn.Module):
    """Conditional DDPM U-Net: (x_t, lq, t, identity, drop) -> v (see the module doc)."""

    def __init__(self, widths: tuple[int, ...] = DEFAULT_WIDTHS, cond_dim: int = 128,
                 identity_dim: int = EMBEDDING_DIM, prior: str | None = None) -> None:
        super().__init__()
        self.widths, self.cond_dim, self.identity_dim = tuple(widths), cond_dim, identity_dim
        #: The registry id of the regression model whose restoration of the up-sampled
        #: low-quality face is this model's ``lq`` (conditioning image and residual base),
        #: or None for the bicubic up-sampling itself. Weights only fit the ``lq`` they
        #: were trained with, so callers read it here (frgd_sampler.sample's ``prior``).
        self.prior = prior
        self.time_mlp = nn.Sequential(nn.Linear(cond_dim, cond_dim), nn.SiLU(),
                                      nn.Linear(cond_dim, cond_dim))
        self.identity_mlp = nn.Sequential(nn.Linear(identity_dim, cond_dim), nn.SiLU(),
                                          nn.Linear(cond_dim, cond_dim))
        self.null_identity = nn.Parameter(torch.zeros(identity_dim))
        self.body = _UNetBody(6, self.widths, cond_dim)

    def condition(self, t: torch.Tensor, identity: torch.Tensor | None,
                  drop: torch.Tensor | None = None) -> torch.Tensor:
        """The FiLM conditioning vector: time + identity (null where dropped)."""
        n = t.shape[0]
        null = self.null_identity.expand(n, -1)
        if identity is None:
            identity = null
        elif drop is not None:
            identity = torch.where(drop[:, None], null, identity)
        return F.silu(self.time_mlp(timestep_embedding(t, self.cond_dim))
                      + self.identity_mlp(identity))

    def forward(self, x_t: torch.Tensor, lq: torch.Tensor, t: torch.Tensor,
                identity: torch.Tensor | None = None, drop: torch.Tensor | None = None
                ) -> torch.Tensor:
        _check(x_t)
        if lq.shape != x_t.shape:
            raise ValueError(f"lq {tuple(lq.shape)} and x_t {tuple(x_t.shape)} differ")
        t = t.reshape(-1).expand(x_t.shape[0]) if t.numel() == 1 else t.reshape(-1)
        cond = self.condition(t.to(x_t.dtype), identity, drop)
        return self.body(torch.cat([x_t, lq * 2.0 - 1.0], 1), cond)


class RegressionUNet(nn.Module):
    """The non-generative baseline: the same trunk without time or identity, predicting
    the face directly (``lq + body(lq)``), trained with L1. Input/output RGB in [0, 1]
    (the output is not clipped)."""

    def __init__(self, widths: tuple[int, ...] = DEFAULT_WIDTHS) -> None:
        super().__init__()
        self.widths = tuple(widths)
        self.body = _UNetBody(3, self.widths, cond_dim=1)

    def forward(self, lq: torch.Tensor) -> torch.Tensor:
        _check(lq)
        return lq + self.body(lq * 2.0 - 1.0, None)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
