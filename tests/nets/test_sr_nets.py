"""Super-resolution networks: output geometry at every scale and odd sizes, no batch norm,
within the 5 MB weight budget, an untrained quality net equals bicubic, and the catalog
builds every shipped model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from editor.engine import catalog
from editor.engine.registry import ARCHITECTURES, REGISTRY
from editor.engine.weights import WeightsError, load_model
from editor.nets.espcn import ESPCN
from editor.nets.sr_residual import ResidualSR, receptive_radius

torch.set_num_threads(2)

SIZES = [(1, 1), (1, 7), (5, 3), (17, 10)]


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("h,w", SIZES)
def test_residual_sr_output_is_exactly_scaled(scale, h, w):
    net = ResidualSR(scale=scale, channels=8, blocks=1).eval()
    with torch.no_grad():
        y = net(torch.rand(2, 3, h, w))
    assert y.shape == (2, 3, h * scale, w * scale)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("h,w", SIZES)
def test_espcn_output_is_exactly_scaled(scale, h, w):
    net = ESPCN(scale=scale, width=8, mid=4).eval()
    with torch.no_grad():
        y = net(torch.rand(1, 3, h, w))
    assert y.shape == (1, 3, h * scale, w * scale)


@pytest.mark.parametrize("net", [ResidualSR(4), ESPCN(2)], ids=["residual_sr", "espcn"])
def test_no_batch_norm_and_within_weight_budget(net):
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    bytes_float32 = 4 * sum(p.numel() for p in net.parameters())
    assert bytes_float32 <= 5_000_000


def test_untrained_quality_net_is_exactly_bicubic():
    # Zero-initialised upsampler: training starts from bicubic, never below it.
    x = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        y = ResidualSR(3, channels=8, blocks=2)(x)
    assert torch.allclose(y, F.interpolate(x, scale_factor=3, mode="bicubic",
                                           align_corners=False), atol=1e-6)


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        ResidualSR(scale=5)
    with pytest.raises(ValueError):
        ResidualSR(base="nearest")
    with pytest.raises(ValueError):
        ESPCN(scale=1)


def test_receptive_radius_bounds_the_influence_of_a_pixel():
    # Changing one input pixel may only change outputs within the stated radius, which
    # is what the catalog's tile overlap relies on for seamless tiling.
    torch.manual_seed(0)
    net = ResidualSR(2, channels=8, blocks=2)
    for p in net.parameters():
        nn.init.normal_(p, 0, 0.2)
    x = torch.rand(1, 3, 31, 31)
    x2 = x.clone()
    x2[0, :, 15, 15] += 0.5
    with torch.no_grad():
        diff = (net(x) - net(x2)).abs().sum(dim=(0, 1))
    rows, cols = torch.nonzero(diff > 1e-6, as_tuple=True)
    r = receptive_radius(2)
    assert rows.min() >= (15 - r) * 2 and rows.max() < (16 + r) * 2
    assert cols.min() >= (15 - r) * 2 and cols.max() < (16 + r) * 2


def test_catalog_models_are_registered_and_buildable():
    ids = {s.id for s in REGISTRY.specs("superres")}
    assert {"sr-quality-x2", "sr-quality-x3", "sr-quality-x4", "sr-fast-x2",
            "sr-real-x4"} <= ids
    for spec in REGISTRY.specs("superres"):
        net = ARCHITECTURES[spec.architecture](**spec.kwargs)
        assert net.scale == spec.scale
        with torch.no_grad():
            assert net(torch.rand(1, 3, 4, 5)).shape == (1, 3, 4 * spec.scale, 5 * spec.scale)


def test_missing_card_gives_placeholder_and_a_clear_load_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RESTORA_MODELS_DIR", str(tmp_path))
    assert catalog.card_sha256("sr-quality-x4") == catalog.MISSING_SHA256
    with pytest.raises(WeightsError, match="not found"):
        load_model(REGISTRY.get("sr-quality-x4"), device="cpu", directory=tmp_path)
