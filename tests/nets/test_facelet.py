"""Facelet-Bank networks: shapes, the zero start of a fresh facelet, the edit formula,
and the sizes the tool relies on (tiny random-weight networks; no trained weights)."""

from __future__ import annotations

import pytest
import torch

from editor.engine.catalog import FACE_AUTOENCODER_ARCH, FACELET_ARCH
from editor.nets.facelet import FaceAutoencoder, Facelet, count_parameters, edit


def _tiny() -> FaceAutoencoder:
    torch.manual_seed(0)
    return FaceAutoencoder(features=8, width=8, blocks=1).eval()


def test_autoencoder_shapes():
    net = _tiny()
    x = torch.rand(2, 3, 64, 48)
    out = net(x)
    assert out["features"].shape == (2, 8, 16, 12)
    assert out["output"].shape == x.shape
    assert out["age"].shape == (2,) and out["gender"].shape == (2,)
    assert net.decode(net.encode(x)).shape == x.shape


def test_autoencoder_refuses_sizes_off_the_stride():
    with pytest.raises(ValueError, match="multiples of 4"):
        _tiny().encode(torch.rand(1, 3, 30, 32))


def test_a_fresh_facelet_changes_nothing_and_keeps_the_shape():
    facelet = Facelet(features=8, width=8)
    f = torch.randn(1, 8, 12, 10)
    g = facelet(f)
    assert g.shape == f.shape and torch.count_nonzero(g) == 0


def test_edit_is_decode_of_shifted_features():
    net = _tiny()
    torch.manual_seed(1)
    facelet = Facelet(features=8, width=8)
    torch.nn.init.normal_(facelet.out.weight, std=0.1)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        f = net.encode(x)
        assert torch.equal(edit(net, facelet, x, 0.0), net.decode(f))
        assert torch.allclose(edit(net, facelet, x, -0.5), net.decode(f - 0.5 * facelet(f)))


def test_shipped_sizes_fit_the_targets():
    facelet = Facelet(**FACELET_ARCH)
    assert count_parameters(facelet) * 4 <= 2_000_000          # <= 2 MB of float32
    net = FaceAutoencoder(**FACE_AUTOENCODER_ARCH)
    assert net(torch.rand(1, 3, 128, 128))["features"].shape == (1, 64, 32, 32)
