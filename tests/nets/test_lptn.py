"""LPTN: the Laplacian pyramid gives the photo back exactly, follows OpenCV's pyramid (so
the tool's fast renderer is the same network), handles odd and tiny sizes, and a fresh
network changes nothing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from editor.nets.lptn import (DEFAULT_LEVELS, LOW_SIDE, LPTN, blur_down, count_parameters,
                              laplacian_pyramid, levels_for, reconstruct, up)


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].numpy().transpose(1, 2, 0)


@pytest.mark.parametrize("levels", [1, 3, 5])
@pytest.mark.parametrize("h, w", [(64, 64), (37, 53), (1, 1), (2, 9), (101, 3)])
def test_pyramid_reconstruction_is_exact(h, w, levels):
    x = torch.rand(2, 3, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(h))
    bands = laplacian_pyramid(x, levels)
    assert len(bands) == levels + 1
    assert bands[0].shape == x.shape
    torch.testing.assert_close(reconstruct(bands), x, rtol=0, atol=1e-12)
    x32 = x.float()
    assert (reconstruct(laplacian_pyramid(x32, levels)) - x32).abs().max() < 1e-6


@pytest.mark.parametrize("h, w", [(37, 53), (5, 4), (1, 7), (2, 2), (64, 33)])
def test_pyramid_matches_opencv(h, w):
    """cv2.pyrDown / pyrUp(dstsize) to float rounding, borders and odd sizes included."""
    image = np.random.default_rng(h * 100 + w).random((h, w, 3), dtype=np.float32)
    down = cv2.pyrDown(image).reshape((h + 1) // 2, (w + 1) // 2, 3)
    np.testing.assert_allclose(_array(blur_down(_tensor(image))), down, atol=1e-6)
    back = cv2.pyrUp(down, dstsize=(w, h)).reshape(h, w, 3)
    np.testing.assert_allclose(_array(up(_tensor(down), (h, w))), back, atol=1e-6)


def test_bands_hold_detail_and_low_band_holds_colour():
    # A flat colour has no detail at all: every band is zero, the low band is the colour.
    flat = torch.tensor([0.8, 0.3, 0.1]).view(1, 3, 1, 1).expand(1, 3, 40, 60).contiguous()
    bands = laplacian_pyramid(flat, 3)
    for band in bands[:-1]:
        assert band.abs().max() < 1e-6
    torch.testing.assert_close(bands[-1], flat[..., :5, :8], atol=1e-6, rtol=0)


def test_levels_grow_with_size_so_the_low_band_stays_small():
    assert levels_for(256, 256) == DEFAULT_LEVELS
    for h, w in [(1080, 1920), (2160, 3840), (6000, 4000), (300, 20000)]:
        levels = levels_for(h, w)
        assert max(h, w) / 2 ** levels <= LOW_SIDE
        assert max(h, w) / 2 ** (levels - 1) > LOW_SIDE


@pytest.mark.parametrize("h, w", [(37, 53), (1, 1), (3, 200), (257, 129)])
def test_odd_sizes_keep_their_shape(h, w):
    net = LPTN(low_width=8, low_blocks=1, mask_width=8, mask_blocks=1).eval()
    with torch.no_grad():
        for conv in (net.low.tail, net.mask.tail, *[r.conv2 for r in net.refine]):
            torch.nn.init.normal_(conv.weight, 0.0, 0.05)
        out = net(torch.rand(1, 3, h, w))
    assert out.shape == (1, 3, h, w)
    assert torch.isfinite(out).all()


def test_fresh_network_is_the_identity():
    x = torch.rand(1, 3, 45, 70)
    with torch.no_grad():
        out = LPTN().eval()(x)
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)


def test_parameter_budget():
    # The issue allows about 0.6 M; the paper's own configuration is ~0.62 M.
    assert count_parameters(LPTN()) <= 600_000


def test_gradients_reach_every_branch():
    net = LPTN(low_width=8, low_blocks=1, mask_width=8, mask_blocks=1)
    with torch.no_grad():
        for conv in (net.low.tail, net.mask.tail, *[r.conv2 for r in net.refine]):
            torch.nn.init.normal_(conv.weight, 0.0, 0.05)
    net(torch.rand(2, 3, 64, 64)).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert net.low.head.weight.grad.abs().sum() > 0
    assert net.mask.head.weight.grad.abs().sum() > 0
    assert net.refine[-1].conv1.weight.grad.abs().sum() > 0


def test_papers_instance_norm_variant_runs_even_on_a_one_pixel_band():
    net = LPTN(low_width=8, low_blocks=1, mask_width=8, mask_blocks=1,
               instance_norm=True).eval()
    with torch.no_grad():
        for size in [(1, 1), (9, 9), (40, 30)]:
            assert net(torch.rand(1, 3, *size)).shape == (1, 3, *size)
