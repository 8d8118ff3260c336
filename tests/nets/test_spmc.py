"""SPMC video SR network: the sub-pixel motion compensation layer moves pixels where the
flow says, with the right bilinear weights, and passes gradients; the whole network runs
for every scale and frame count on odd sizes."""

from __future__ import annotations

import pytest
import torch

from editor.nets.spmc import (SCALES, MotionNet, SPMCVideoSR, backward_warp, count_parameters,
                              frame_order, spmc_splat)


def _frame(h=7, w=9, seed=0):
    return torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("scale", SCALES)
def test_integer_shift_moves_pixels_exactly(scale):
    frame = _frame()
    flow = torch.zeros(1, 2, 7, 9)
    flow[:, 0], flow[:, 1] = 2.0, -1.0          # 2 px right, 1 px up (LR pixels)
    moved, weight = spmc_splat(frame, flow, scale)
    # The same frame shifted by hand, then splatted with no motion.
    shifted = torch.zeros_like(frame)
    shifted[..., :-1, 2:] = frame[..., 1:, :-2]
    still, still_weight = spmc_splat(shifted, torch.zeros_like(flow), scale)
    covered = still_weight > 0
    covered[..., -scale:, :] = False  # the bottom row of `shifted` is a hole, not a sample
    covered[..., :, :2 * scale] = False
    assert torch.equal(weight[covered], still_weight[covered])
    torch.testing.assert_close(moved[covered.expand_as(moved)],
                               still[covered.expand_as(still)], rtol=0, atol=1e-6)


def test_zero_flow_on_odd_scale_lands_on_pixel_centres():
    frame = _frame(4, 5)
    image, weight = spmc_splat(frame, torch.zeros(1, 2, 4, 5), 3)
    # LR pixel x sits at HR (x + 0.5)*3 - 0.5 = 3x + 1: exactly one HR pixel, weight 1.
    assert torch.equal(weight[0, 0, 1::3, 1::3], torch.ones(4, 5))
    assert float(weight.sum()) == pytest.approx(20.0)
    torch.testing.assert_close(image[0, 0, 1::3, 1::3], frame[0, 0])
    assert float(image[0, 0, 0::3, :].abs().sum()) == 0.0  # no sample, no value


def test_half_pixel_shift_splits_between_the_right_neighbours():
    frame = torch.zeros(1, 1, 3, 3)
    frame[0, 0, 1, 1] = 1.0
    flow = torch.zeros(1, 2, 3, 3)
    flow[:, 0] = 0.5 / 3  # a sixth of an LR pixel = half an HR pixel at x3
    image, weight = spmc_splat(frame, flow, 3)
    # Centre pixel: HR x = (1 + 1/6 + 0.5)*3 - 0.5 = 4.5 -> half on x=4, half on x=5 (y=4).
    assert weight[0, 0, 4, 4] == pytest.approx(0.5)
    assert weight[0, 0, 4, 5] == pytest.approx(0.5)
    assert image[0, 0, 4, 4] == pytest.approx(1.0)
    assert image[0, 0, 4, 5] == pytest.approx(1.0)
    assert float(weight.sum()) == pytest.approx(9.0)  # every sample's weight is kept


def test_samples_leaving_the_frame_are_dropped():
    frame = _frame(3, 3)
    flow = torch.full((1, 2, 3, 3), 10.0)
    _, weight = spmc_splat(frame, flow, 2)
    assert float(weight.sum()) == 0.0


def test_gradients_flow_to_values_and_flow():
    frame = _frame().requires_grad_(True)
    flow = (torch.rand(1, 2, 7, 9) * 0.6 - 0.3).requires_grad_(True)
    image, weight = spmc_splat(frame, flow, 4)
    (image.sum() + weight.square().sum()).backward()
    assert frame.grad is not None and float(frame.grad.abs().sum()) > 0
    assert flow.grad is not None and float(flow.grad.abs().sum()) > 0


def test_backward_warp_by_whole_pixels_is_a_shift():
    image = _frame(6, 6)
    flow = torch.zeros(1, 2, 6, 6)
    flow[:, 0] = 1.0
    warped = backward_warp(image, flow)
    torch.testing.assert_close(warped[..., :, :-1], image[..., :, 1:])


def test_motion_net_is_still_at_start_and_runs_on_odd_sizes():
    net = MotionNet(8)
    flow = net(_frame(11, 13, 1), _frame(11, 13, 2))
    assert flow.shape == (1, 2, 11, 13)
    assert float(flow.detach().abs().max()) == 0.0  # zero-initialised last layers: no motion yet


def test_reference_goes_through_the_lstm_last():
    assert frame_order(5, 2) == [0, 4, 1, 3, 2]
    assert frame_order(3, 0) == [2, 1, 0]
    assert frame_order(1, 0) == [0]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("frames", (1, 3, 5, 7))
def test_every_scale_and_frame_count_runs_on_odd_sizes(scale, frames):
    torch.manual_seed(0)
    net = SPMCVideoSR(flow_width=8, widths=(8, 8, 8), hidden=8).eval()
    x = torch.rand(1, frames, 1, 9, 11)
    with torch.no_grad():
        out = net(x, frames // 2, scale, 1.0)
    assert out.shape == (1, 1, 9 * scale, 11 * scale)
    assert torch.isfinite(out).all()


def test_untrained_network_gives_bicubic():
    net = SPMCVideoSR(flow_width=8, widths=(8, 8, 8), hidden=8).eval()
    x = torch.rand(1, 3, 1, 8, 8)
    with torch.no_grad():
        out = net(x, 1, 2, 0.0)
    bicubic = torch.nn.functional.interpolate(x[:, 1], scale_factor=2, mode="bicubic",
                                              align_corners=False)
    torch.testing.assert_close(out, bicubic)


def test_bad_scale_and_reference_are_refused():
    net = SPMCVideoSR(flow_width=8, widths=(8, 8, 8), hidden=8)
    x = torch.rand(1, 3, 1, 8, 8)
    with pytest.raises(ValueError, match="scale"):
        net(x, 1, 5)
    with pytest.raises(ValueError, match="reference"):
        net(x, 3, 2)


def test_default_size_fits_the_weights_budget():
    assert count_parameters(SPMCVideoSR()) * 4 < 10_000_000
