"""SRNDeblur: the paper's structure (3 levels at ratio 0.5, one weight set shared by every
level, a ConvLSTM whose state is carried from level to level, 5x5 kernels, no batch norm,
32-64-128 at full width), any image size including tiny ones, the identity at start, and
the numbers the model card and the tile overlap rely on (multiply-adds, receptive field,
measured context)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from editor.engine.registry import ARCHITECTURES, REGISTRY
from editor.nets.srn_deblur import (ConvLSTMCell, SRNDeblur, _level_radius, context_radius,
                                    count_parameters, multiply_adds_per_pixel, pad_multiple,
                                    receptive_radius)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks are hundreds of small operations; a second thread only adds waiting
    (on a busy machine, seconds of it). The caller's thread count comes back after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def random_net(width: int = 4, scales: int = 3, seed: int = 0, out_std: float = 0.05
               ) -> SRNDeblur:
    """A net whose output depends on its input (the real last conv starts at zero)."""
    torch.manual_seed(seed)
    net = SRNDeblur(width=width, scales=scales)
    with torch.no_grad():
        nn.init.normal_(net.out.conv.weight, 0.0, out_std)
    return net.eval()


def test_three_levels_at_ratio_one_half_coarsest_first():
    net = random_net()
    with torch.no_grad():
        outs = net.forward_scales(torch.rand(2, 3, 48, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 3, 12, 16), (2, 3, 24, 32), (2, 3, 48, 64)]
    with torch.no_grad():
        assert torch.equal(net(torch.ones(1, 3, 16, 16)),
                           net.forward_scales(torch.ones(1, 3, 16, 16))[-1])


def test_one_weight_set_serves_every_level():
    one, three = SRNDeblur(width=4, scales=1), SRNDeblur(width=4, scales=3)
    assert count_parameters(one) == count_parameters(three)
    assert list(one.state_dict()) == list(three.state_dict())
    # And the levels really run those modules: the coarsest estimate is level() of the
    # twice-pooled input guided by itself, with a fresh ConvLSTM state.
    net = random_net()
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        outs = net.forward_scales(x)
        quarter = F.avg_pool2d(F.avg_pool2d(x, 2), 2)
        coarse, _ = net.level(quarter, quarter, None)
    assert torch.allclose(outs[0], coarse, atol=1e-6)


def test_the_convlstm_state_is_carried_between_levels():
    net = random_net()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        carried = net.forward_scales(x)
        restarted = net.forward_scales(x, carry_state=False)
    # The coarsest level starts from zeros either way; finer ones see the carried state.
    assert torch.equal(carried[0], restarted[0])
    assert (carried[-1] - restarted[-1]).abs().max() > 1e-5   # float noise is ~1e-7
    assert isinstance(net.lstm, ConvLSTMCell)
    assert net.lstm.gates.in_channels == 2 * 4 * net.width   # [x, h] at 4c channels


@pytest.mark.parametrize("h, w", [(1, 1), (2, 3), (5, 3), (15, 16), (17, 10), (33, 47)])
def test_any_size_comes_back_the_same_size(h, w):
    net = random_net()
    x = torch.rand(1, 3, h, w)
    with torch.no_grad():
        outs = net.forward_scales(x)
    assert outs[-1].shape == x.shape and torch.isfinite(outs[-1]).all()
    assert outs[0].shape[2:] == (-(-h // 4), -(-w // 4))


def test_untrained_network_is_exactly_the_identity():
    x = torch.rand(1, 3, 23, 31)
    with torch.no_grad():
        assert torch.equal(SRNDeblur(width=4)(x), x)


def test_paper_structure_kernels_and_no_batch_norm():
    net = SRNDeblur(full_width=True)
    assert net.width == 32
    assert (net.enc1.conv.out_channels, net.enc2.conv.out_channels,
            net.enc3.conv.out_channels) == (32, 64, 128)
    assert net.enc1.conv.stride == (1, 1) and net.enc2.conv.stride == (2, 2)
    assert len(net.enc1.res) == len(net.dec3.res) == len(net.out.res) == 3
    assert net.enc1.conv.in_channels == 6                      # blurry + previous estimate
    for module in net.modules():
        assert not isinstance(module, nn.modules.batchnorm._BatchNorm)
        if isinstance(module, nn.ConvTranspose2d):
            assert module.kernel_size == (4, 4) and module.stride == (2, 2)
        elif isinstance(module, nn.Conv2d) and module is not net.lstm.gates:
            assert module.kernel_size == (5, 5)


def test_default_width_fits_the_weight_budget_and_the_paper_does_not():
    assert 4 * count_parameters(SRNDeblur()) <= 10_000_000
    assert 4 * count_parameters(SRNDeblur(full_width=True)) > 10_000_000


@pytest.mark.parametrize("width, lstm_kernel", [(4, 3), (12, 3), (6, 5)])
def test_multiply_add_count_matches_the_layers(width, lstm_kernel):
    net = SRNDeblur(width=width, lstm_kernel=lstm_kernel).eval()
    counted = []

    def hook(module, inputs, output):
        if isinstance(module, nn.ConvTranspose2d):   # in x out x k² per INPUT pixel
            pixels = inputs[0].shape[2] * inputs[0].shape[3]
            counted.append(pixels * module.in_channels * module.out_channels * 16)
        else:
            pixels = output.shape[2] * output.shape[3]
            k = module.kernel_size[0] * module.kernel_size[1]
            counted.append(pixels * module.in_channels * module.out_channels * k)

    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            module.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.rand(1, 3, 64, 64))
    assert sum(counted) / (64 * 64) == pytest.approx(
        multiply_adds_per_pixel(width, 3, lstm_kernel), rel=1e-9)


def test_receptive_radius_bounds_the_influence_of_a_pixel():
    # One level (scales=1), where the bound is ~187 px: a change to the centre pixel may
    # only reach outputs within it. (Three levels reach ~1300 px: too big to test quickly.)
    net = random_net(width=2, scales=1, out_std=0.2)
    for p in net.parameters():
        nn.init.normal_(p, 0.0, 0.3)
    size, centre = 448, 224
    x = torch.rand(1, 3, size, size)
    moved = x.clone()
    moved[0, :, centre, centre] += 0.5
    with torch.no_grad():
        diff = (net(x) - net(moved)).abs().sum(dim=(0, 1))
    rows, cols = torch.nonzero(diff > 1e-6, as_tuple=True)
    r = receptive_radius(1)
    assert r >= _level_radius()
    assert rows.min() >= centre - r and rows.max() <= centre + r
    assert cols.min() >= centre - r and cols.max() <= centre + r
    assert rows.max() - centre > 20                          # it does reach far
    assert receptive_radius(3) > 1000 and pad_multiple(3) == 16


def test_context_radius_is_what_tiling_needs():
    net = random_net(out_std=0.02)
    torch.manual_seed(1)
    image = F.interpolate(torch.rand(1, 3, 24, 24), size=(192, 192), mode="bicubic",
                          align_corners=False).clamp(0, 1)
    tolerance = 0.5 / 255
    radius = context_radius(net, image, tolerance=tolerance, core=32)
    assert radius is not None and radius <= 64
    with torch.no_grad():
        whole = net(image)[:, :, 80:112, 80:112]
        crop = image[:, :, 80 - radius:112 + radius, 80 - radius:112 + radius]
        part = net(crop)[:, :, radius:radius + 32, radius:radius + 32]
    assert (part - whole).abs().max() <= tolerance


def test_bad_arguments_raise():
    for kwargs in ({"width": 0}, {"scales": 0}, {"lstm_kernel": 4}):
        with pytest.raises(ValueError):
            SRNDeblur(**kwargs)
    with pytest.raises(ValueError, match="RGB"):
        SRNDeblur(width=4)(torch.rand(1, 4, 16, 16))


def test_catalog_entry_builds_the_default_network():
    spec = REGISTRY.get("deblur-srn")
    net = ARCHITECTURES[spec.architecture](**spec.kwargs)
    assert isinstance(net, SRNDeblur) and net.width == 12 and net.scales == 3
    assert spec.tile_overlap % pad_multiple(3) == 0
