"""Component Regression Network (CRN) for blind reversion of portrait edits, and the plain
CNN it is compared with.

Chen, Shen and Jia, "Makeup-Go: Blind Reversion of Portrait Edit", ICCV 2017.

The paper's observation: for faces, the discrepancy between an edited portrait and its
original, ``I_e = I_target - I_input``, has its energy concentrated in a few principal
components (overall tone, colour cast, large smooth shading). A CNN trained with the plain
per-pixel Euclidean loss is dominated by those few components ("component domination"):
it learns them and under-fits the many small components that carry fine detail (skin
texture, pores, the sharp edges of lips and eyes), so it cannot really undo
beautification.

The CRN regresses each principal component separately, with its own, balanced loss:

- A PCA basis ``u_1..u_K`` (sorted by eigenvalue) of ``m x m x 3`` patches of training
  discrepancy maps is computed beforehand (:mod:`editor.training.pca_basis`). Each basis
  vector is a convolution kernel ``k_i`` (3 x m x m), so decomposing a discrepancy map
  into component coefficient maps is one convolution, ``c_i = k_i * I_e``, and rebuilding
  it is the transposed convolution with the same kernels.
- Patches are taken with stride ``s = m / 2`` (half-overlapping; m = 8, s = 4 here): each
  pixel lies in (m/s)^2 = 4 patches (fewer at the image border), and with the full,
  orthonormal basis ``conv_transpose(conv(I_e)) / coverage == I_e`` exactly. Why not
  stride 1 or m: stride 1 makes K full-resolution coefficient maps (K = 192 channels at
  full size, far too slow for a CPU), stride m (non-overlapping) makes every coefficient
  error a visible m x m block seam; half-overlap costs 4x less than stride 1 and averages
  four predictions per pixel, which hides block edges.
- The network predicts every coefficient map *normalised* by its component's standard
  deviation ``sigma_i`` (the square root of the PCA eigenvalue, with a small floor so
  pure-noise components do not get unbounded weight). The **component loss** is the mean
  over components of the squared error of the normalised maps, i.e.
  ``sum_i ||c_hat_i - c_i||^2 / sigma_i^2`` up to a constant: every component, large or
  small, counts equally, instead of in proportion to its eigenvalue as under the pixel
  loss (which equals ``sum_i ||c_hat_i - c_i||^2`` up to a constant, by orthonormality).
- As in the paper, components are split into groups (by eigenvalue order, geometric
  sizes: 6 / 27 / 159 of 192 for three groups) with one small sub-network head each,
  sharing a trunk; the predicted coefficients are turned back into the discrepancy by
  the transposed convolution, and ``output = input + predicted discrepancy``.

:class:`PlainCNN` has the same trunk and a head of about the same size that predicts the
discrepancy directly in pixels; it is trained with the plain L2 loss (the baseline the
paper argues against).

The trunk works at 1/4 resolution for CPU speed: the input is rearranged space-to-depth
(4 x 4 pixels -> 48 channels, nothing lost), processed by residual blocks plus a global
context term (the mean feature, so a global brightening of the whole face can be seen
and undone), and the heads predict at 1/4 resolution — exactly the grid of the stride-4
coefficient maps. Images of any size are padded (replicate) to a multiple of 4 and
cropped back. Input and output: float32 NCHW RGB in [0, 1] (the output is not clipped).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_PATCH = 8
DEFAULT_STRIDE = 4
DEFAULT_WIDTH = 64
DEFAULT_DEPTH = 4
DEFAULT_GROUPS = 3
HEAD_WIDTH = 32


def group_bounds(components: int, groups: int) -> list[int]:
    """Component index boundaries of ``groups`` groups with geometrically growing sizes:
    ``round(K ** (g / G))`` (the few dominant components get a head of their own)."""
    if groups < 1 or groups > components:
        raise ValueError(f"groups must be in 1..{components}, got {groups}")
    bounds = [0]
    for g in range(1, groups):
        b = int(round(components ** (g / groups)))
        bounds.append(min(max(b, bounds[-1] + 1), components - (groups - g)))
    bounds.append(components)
    return bounds


class ResBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class ContextPyramid(nn.Module):
    """``levels`` stride-2 stages below the trunk's 1/4 grid (1/8, 1/16, ...: a 128 px face
    is seen whole at 1/32), each a conv and a residual block, brought back coarse to fine
    and added through zero-initialised 1x1 convolutions.

    Why: an edit such as whitening is told apart from a naturally light face only by
    comparing regions far apart (the mask's edge across the forehead and jaw against the
    face inside), and the correction must then reach the whole face; the trunk alone sees
    ~50 px and the mean feature cannot say *where* the brightness steps. Zero-initialised
    merges make a network with shipped pyramid-less weights start as exactly that network
    (``--init``), so the pyramid is learnt on top of it."""

    def __init__(self, width: int, levels: int) -> None:
        super().__init__()
        self.down = nn.ModuleList(nn.Sequential(
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            ResBlock(width)) for _ in range(levels))
        self.merge = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(levels))
        for conv in self.merge:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        features = [f]
        for stage in self.down:
            features.append(stage(features[-1]))
        up = features[-1]
        for level in reversed(range(len(self.down))):
            fine = features[level]
            up = fine + self.merge[level](F.interpolate(
                up, size=fine.shape[-2:], mode="bilinear", align_corners=False))
        return up


class Trunk(nn.Module):
    """Space-to-depth by 4, a 3x3 conv, ``depth`` residual blocks, an optional context
    pyramid (``context_levels`` > 0), a global-context term, a last 3x3 conv: features at
    1/4 resolution."""

    def __init__(self, width: int, depth: int, factor: int = 4, context_levels: int = 0
                 ) -> None:
        super().__init__()
        self.factor = factor
        self.inp = nn.Conv2d(3 * factor * factor, width, 3, padding=1)
        self.blocks = nn.Sequential(*[ResBlock(width) for _ in range(depth)])
        self.pyramid = ContextPyramid(width, context_levels) if context_levels else None
        self.context = nn.Conv2d(width, width, 1)
        self.out = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = F.relu(self.inp(F.pixel_unshuffle(x, self.factor)))
        f = self.blocks(f)
        if self.pyramid is not None:
            f = self.pyramid(f)
        f = f + F.relu(self.context(f.mean((2, 3), keepdim=True)))
        return F.relu(self.out(f))


def _pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, h, w


class ComponentRegressionNet(nn.Module):
    """The CRN. ``basis`` (K, 3, m, m): orthonormal PCA basis sorted by eigenvalue;
    ``std`` (K,): each component's coefficient standard deviation. Both are buffers (saved
    with the weights); without them (building the architecture before loading weights),
    ``components``/``patch`` give the shapes and an identity basis is a placeholder.

    ``forward(x)`` returns ``{"output", "discrepancy", "coefficients"}``; coefficients are
    the normalised maps (K, H'/s - m/s + 1 squared, i.e. the fully-inside patches), the
    quantity the component loss compares.
    """

    def __init__(self, basis: torch.Tensor | None = None, std: torch.Tensor | None = None,
                 *, components: int | None = None, patch: int = DEFAULT_PATCH,
                 stride: int = DEFAULT_STRIDE, width: int = DEFAULT_WIDTH,
                 depth: int = DEFAULT_DEPTH, groups: int = DEFAULT_GROUPS,
                 head_width: int = HEAD_WIDTH, context_levels: int = 0) -> None:
        super().__init__()
        if basis is None:
            k = 3 * patch * patch if components is None else components
            basis = torch.eye(k, 3 * patch * patch)[:k].reshape(k, 3, patch, patch)
        basis = torch.as_tensor(basis, dtype=torch.float32)
        k, c, m, m2 = basis.shape
        if c != 3 or m != m2:
            raise ValueError(f"basis must be (K, 3, m, m), got {tuple(basis.shape)}")
        if stride != 4 or m % stride or m < stride:
            raise ValueError(f"stride must be 4 (the trunk's resolution) and divide the patch "
                             f"size {m}, got stride {stride}")
        std = torch.ones(k) if std is None else torch.as_tensor(std, dtype=torch.float32)
        if std.shape != (k,):
            raise ValueError(f"std must have shape ({k},), got {tuple(std.shape)}")
        self.patch, self.stride, self.components = m, stride, k
        self.width, self.depth, self.groups = width, depth, groups
        self.context_levels = context_levels
        self.register_buffer("basis", basis.clone().contiguous())
        self.register_buffer("std", std.clone())
        self.trunk = Trunk(width, depth, stride, context_levels)
        self.bounds = group_bounds(k, groups)
        span = m // stride  # a coefficient sees span x span trunk cells
        self.heads = nn.ModuleList()
        for g in range(groups):
            n = self.bounds[g + 1] - self.bounds[g]
            last = nn.Conv2d(head_width, n, span)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.heads.append(nn.Sequential(nn.Conv2d(width, head_width, 3, padding=1),
                                            nn.ReLU(inplace=True), last))

    # -- the PCA transform as (transposed) convolutions ------------------------------------

    def decompose(self, discrepancy: torch.Tensor, normalised: bool = True) -> torch.Tensor:
        """Coefficient maps of the fully-inside m x m patches at stride s (the input's
        size must be a multiple of s); divided by ``std`` when ``normalised``."""
        c = F.conv2d(discrepancy, self.basis, stride=self.stride)
        return c / self.std.view(1, -1, 1, 1) if normalised else c

    def coverage(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        """How many patches cover each pixel of an h x w map (the normaliser)."""
        n_h = (h - self.patch) // self.stride + 1
        n_w = (w - self.patch) // self.stride + 1
        ones = like.new_ones(1, 1, n_h, n_w)
        kernel = like.new_ones(1, 1, self.patch, self.patch)
        return F.conv_transpose2d(ones, kernel, stride=self.stride)

    def reconstruct(self, coefficients: torch.Tensor, normalised: bool = True) -> torch.Tensor:
        """The discrepancy map from coefficient maps (inverse of :meth:`decompose`)."""
        c = coefficients * self.std.view(1, -1, 1, 1) if normalised else coefficients
        n, k, h, w = c.shape
        # conv_transpose2d(c, basis, stride) written as "each cell's patch = basis^T c,
        # then overlap-add" (F.fold): the same sum, about 3x faster on a CPU.
        patches = torch.einsum("kp,nkl->npl", self.basis.reshape(k, -1), c.reshape(n, k, h * w))
        size = ((h - 1) * self.stride + self.patch, (w - 1) * self.stride + self.patch)
        summed = F.fold(patches, size, self.patch, stride=self.stride)
        return summed / self.coverage(size[0], size[1], summed)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        padded, h, w = _pad_to(x, self.stride)
        if min(padded.shape[-2:]) < self.patch:
            raise ValueError(f"image too small: at least {self.patch} px, got {h}x{w}")
        features = self.trunk(padded)
        coefficients = torch.cat([head(features) for head in self.heads], 1)
        discrepancy = self.reconstruct(coefficients)[..., :h, :w]
        return {"output": x + discrepancy, "discrepancy": discrepancy,
                "coefficients": coefficients}


class PlainCNN(nn.Module):
    """The baseline: the CRN's trunk and a head of about the same size predicting the
    discrepancy in pixels (at 1/4 resolution, depth-to-space); trained with plain L2.
    ``forward(x)`` returns ``{"output", "discrepancy"}``."""

    def __init__(self, *, width: int = DEFAULT_WIDTH, depth: int = DEFAULT_DEPTH,
                 groups: int = DEFAULT_GROUPS, head_width: int = HEAD_WIDTH,
                 context_levels: int = 0) -> None:
        super().__init__()
        self.width, self.depth, self.factor = width, depth, 4
        self.context_levels = context_levels
        self.trunk = Trunk(width, depth, self.factor, context_levels)
        hidden = head_width * groups
        last = nn.Conv2d(hidden, 3 * self.factor ** 2, 3, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.head = nn.Sequential(nn.Conv2d(width, hidden, 3, padding=1),
                                  nn.ReLU(inplace=True), last)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        padded, h, w = _pad_to(x, self.factor)
        discrepancy = F.pixel_shuffle(self.head(self.trunk(padded)), self.factor)[..., :h, :w]
        return {"output": x + discrepancy, "discrepancy": discrepancy}


def component_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Balanced component loss on *normalised* coefficient maps (N, K, h, w): the mean over
    components of each one's mean squared error, so every component weighs the same."""
    return per_component_loss(predicted, target).mean()


def per_component_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(K,) mean squared error of each normalised component map."""
    return ((predicted - target) ** 2).mean((0, 2, 3))


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def output_of(result: dict[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """The output image of either network's forward (a plain tensor passes through)."""
    return result["output"] if isinstance(result, dict) else result


@torch.no_grad()
def revert_crop(net: nn.Module, crop: np.ndarray) -> np.ndarray:
    """Run either network on one aligned face crop: float32 RGB HWC numpy in [0, 1] in,
    the reverted crop (same size, clipped to [0, 1]) out. Uses the network's device."""
    device = next(net.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(np.asarray(crop, np.float32).transpose(2, 0, 1)))
    was_training = net.training
    net.eval()
    out = output_of(net(x[None].to(device)))[0]
    net.train(was_training)
    return out.clamp(0.0, 1.0).permute(1, 2, 0).cpu().numpy()


__all__ = ["ComponentRegressionNet", "PlainCNN", "component_loss", "per_component_loss",
           "group_bounds", "count_parameters", "output_of", "revert_crop"]
