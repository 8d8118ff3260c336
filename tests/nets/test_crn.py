"""Makeup-Go's Component Regression Network and the plain CNN: the PCA transform as
(transposed) convolutions is exact, any image size works, both start as the identity, the
basis travels with the weights, and the component loss weighs every component equally."""

from __future__ import annotations

import numpy as np
import pytest
import torch


from editor.nets.crn import (ComponentRegressionNet, PlainCNN, component_loss,
                             count_parameters, group_bounds, per_component_loss, revert_crop)


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def orthonormal_basis(k: int = 192, patch: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(3 * patch * patch, 3 * patch * patch, generator=g,
                                       dtype=torch.float64))
    return q.T[:k].reshape(k, 3, patch, patch).float()


def small_net(seed: int = 0, **kwargs) -> ComponentRegressionNet:
    std = 10.0 ** torch.linspace(0.0, -2.5, 192)  # eigenvalue-like decay
    torch.manual_seed(seed)
    return ComponentRegressionNet(orthonormal_basis(), std, width=8, depth=1, **kwargs)


@pytest.mark.parametrize("normalised", [True, False])
def test_decomposition_then_reconstruction_is_the_identity(normalised):
    net = small_net()
    discrepancy = torch.randn(2, 3, 40, 56, generator=torch.Generator().manual_seed(1)) * 0.1
    coefficients = net.decompose(discrepancy, normalised)
    assert coefficients.shape == (2, 192, 40 // 4 - 1, 56 // 4 - 1)
    rebuilt = net.reconstruct(coefficients, normalised)
    torch.testing.assert_close(rebuilt, discrepancy, atol=1e-5, rtol=0)


def test_coverage_counts_the_half_overlapping_patches():
    net = small_net()
    count = net.coverage(24, 24, torch.zeros(1))
    assert count.shape[-2:] == (24, 24)
    assert count[0, 0, 0, 0] == 1 and count[0, 0, 12, 12] == 4 and count[0, 0, 0, 12] == 2


@pytest.mark.parametrize("size", [(37, 53), (16, 16), (65, 97), (128, 128)])
def test_any_size_keeps_its_shape(size):
    crn, plain = small_net(), PlainCNN(width=8, depth=1)
    x = torch.rand(2, 3, *size)
    out = crn(x)
    assert out["output"].shape == x.shape and out["discrepancy"].shape == x.shape
    h4, w4 = -(-size[0] // 4), -(-size[1] // 4)
    assert out["coefficients"].shape == (2, 192, h4 - 1, w4 - 1)
    assert plain(x)["output"].shape == x.shape


def test_both_start_as_the_identity_and_are_residual():
    x = torch.rand(1, 3, 33, 47)
    for net in (small_net(), PlainCNN(width=8, depth=1)):
        torch.testing.assert_close(net(x)["output"], x)
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        out = net(x)
        torch.testing.assert_close(out["output"], x + out["discrepancy"])
        assert out["discrepancy"].abs().mean() > 1e-4


def test_the_basis_and_deviations_are_saved_with_the_weights():
    net = small_net()
    state = net.state_dict()
    assert "basis" in state and "std" in state
    fresh = ComponentRegressionNet(components=192, patch=8, width=8, depth=1)
    assert not torch.equal(fresh.basis, net.basis)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.basis, net.basis)
    torch.testing.assert_close(fresh.std, net.std)
    assert "basis" not in dict(net.named_parameters())  # a buffer, not trained


def test_the_component_loss_weighs_every_component_equally():
    """An error of a times each component's deviation costs every component the same
    (a^2); under the pixel loss the same errors are dominated by the large components."""
    net = small_net()
    std = net.std
    g = torch.Generator().manual_seed(3)
    target = torch.randn(4, 192, 6, 6, generator=g)   # normalised coefficients
    signs = torch.randint(0, 2, target.shape, generator=g).float() * 2 - 1
    a = 0.3
    raw_error = a * std.view(1, -1, 1, 1) * signs      # error in raw coefficient units
    predicted = target + raw_error / std.view(1, -1, 1, 1)
    per = per_component_loss(predicted, target)
    torch.testing.assert_close(per, torch.full((192,), a * a))
    torch.testing.assert_close(component_loss(predicted, target), torch.tensor(a * a))
    # The same errors in pixels: the first components carry almost all of the energy.
    pixel_energy = raw_error.pow(2).mean((0, 2, 3))
    assert pixel_energy[:10].sum() / pixel_energy.sum() > 0.4       # vs 10/192 balanced
    assert per[:10].sum() / per.sum() == pytest.approx(10 / 192)
    assert pixel_energy[0] / pixel_energy[-1] > 1000


def test_groups_split_components_geometrically():
    assert group_bounds(192, 3) == [0, 6, 33, 192]
    assert group_bounds(192, 1) == [0, 192]
    net = small_net(groups=3)
    assert [h[-1].out_channels for h in net.heads] == [6, 27, 159]
    with pytest.raises(ValueError):
        group_bounds(4, 5)


def test_sizes_are_small_and_comparable():
    crn, plain = ComponentRegressionNet(components=192), PlainCNN()
    n_crn, n_plain = count_parameters(crn), count_parameters(plain)
    assert n_crn * 4 < 5_000_000 and n_plain * 4 < 5_000_000
    assert abs(n_crn - n_plain) / n_plain < 0.1


def test_revert_crop_takes_and_gives_hwc_numpy():
    net = small_net()
    crop = np.random.default_rng(0).random((45, 51, 3), dtype=np.float32)
    out = revert_crop(net, crop)
    assert out.shape == crop.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, crop, atol=1e-6)  # identity at start


def test_bad_basis_shapes_are_refused():
    with pytest.raises(ValueError):
        ComponentRegressionNet(torch.zeros(10, 1, 8, 8))
    with pytest.raises(ValueError):
        ComponentRegressionNet(orthonormal_basis(), torch.ones(3))
    with pytest.raises(ValueError):
        small_net()(torch.zeros(1, 3, 4, 4))



@pytest.mark.parametrize("size", [(37, 53), (16, 16), (128, 128)])
def test_a_context_pyramid_keeps_any_size_and_starts_as_the_net_without_it(size):
    """Shipped weights without the pyramid load into a net with one (``--init``), and the
    zero-initialised merges make it compute exactly what the shipped net did."""
    from pathlib import Path
    from tempfile import TemporaryDirectory

    from safetensors.torch import save_file

    from editor.training.checkpoints import load_exact

    x = torch.rand(2, 3, *size)
    for without in (small_net(), PlainCNN(width=8, depth=1)):
        with torch.no_grad():
            for p in without.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        if isinstance(without, PlainCNN):
            with_pyramid = PlainCNN(width=8, depth=1, context_levels=3)
        else:
            with_pyramid = small_net(context_levels=3)
        with TemporaryDirectory() as folder:
            path = Path(folder) / "shipped.safetensors"
            save_file({k: v.contiguous() for k, v in without.state_dict().items()}, str(path))
            with pytest.raises(ValueError):
                load_exact(with_pyramid, path)  # the pyramid is absent from the file
            load_exact(with_pyramid, path, new=("trunk.pyramid.",))
        out = with_pyramid(x)["output"]
        assert out.shape == x.shape
        torch.testing.assert_close(out, without(x)["output"])
        # ...and the pyramid is live: once its merges move, so does the output.
        with torch.no_grad():
            for p in with_pyramid.trunk.pyramid.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        assert not torch.allclose(with_pyramid(x)["output"], out)
