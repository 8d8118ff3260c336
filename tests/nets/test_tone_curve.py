"""The global grade (curve → matrix → curve): fresh is the identity, the tool's NumPy path
is the trained torch module, strength blends it, and adding it to LPTN keeps older
weights loadable and the reset network exactly the identity."""

from __future__ import annotations

import numpy as np
import torch

from editor.nets.lptn import LPTN
from editor.nets.tone_curve import GlobalTone, apply_tone


def disturbed(seed: int = 0) -> GlobalTone:
    torch.manual_seed(seed)
    tone = GlobalTone()
    with torch.no_grad():
        for parameter in tone.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return tone


def image(h: int = 40, w: int = 56, seed: int = 0) -> np.ndarray:
    """Values a little outside [0, 1] too: float photos and the matrix's output go there."""
    rng = np.random.default_rng(seed)
    return (rng.random((h, w, 3), dtype=np.float32) * 1.4 - 0.2).astype(np.float32)


def test_fresh_grade_is_the_identity_even_outside_0_1():
    x = image()
    np.testing.assert_allclose(apply_tone(x, GlobalTone().arrays()), x, atol=1e-6)
    with torch.no_grad():
        out = GlobalTone()(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])
    np.testing.assert_allclose(out[0].numpy().transpose(1, 2, 0), x, atol=1e-6)


def test_numpy_path_is_the_torch_module():
    tone, x = disturbed(), image(seed=1)
    with torch.no_grad():
        expected = tone(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])[0]
    np.testing.assert_allclose(apply_tone(x, tone.arrays()),
                               expected.numpy().transpose(1, 2, 0), atol=1e-5)


def test_strength_blends_between_the_photo_and_the_grade():
    tone, x = disturbed(2).arrays(), image(seed=2)
    full = apply_tone(x, tone, 1.0)
    assert np.abs(full - x).mean() > 0.01
    np.testing.assert_allclose(apply_tone(x, tone, 0.0), x, atol=1e-6)
    np.testing.assert_allclose(apply_tone(x, tone, 0.5), (x + full) / 2, atol=1e-5)
    assert not np.shares_memory(apply_tone(x, tone, 1.0), x)


def test_grade_gets_gradients():
    tone = GlobalTone()
    out = tone(torch.rand(2, 3, 8, 8) * 1.2 - 0.1)
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in tone.parameters())


def test_older_weights_load_and_reset_network_is_the_identity():
    torch.manual_seed(0)
    old = LPTN(low_width=8, low_blocks=1, mask_width=8, mask_blocks=1, refine_width=4)
    with torch.no_grad():
        for conv in (old.low.tail, old.mask.tail, *[r.conv2 for r in old.refine]):
            conv.weight.normal_(0, 0.05)
    net = LPTN(low_width=8, low_blocks=1, mask_width=8, mask_blocks=1, refine_width=4,
               global_tone=True)
    missing, unexpected = net.load_state_dict(old.state_dict(), strict=False)
    assert unexpected == [] and sorted(missing) == ["tone.curve_in", "tone.curve_out",
                                                    "tone.matrix", "tone.offset"]
    x = torch.rand(1, 3, 45, 61)
    with torch.no_grad():
        np.testing.assert_allclose(net(x).numpy(), old(x).numpy(), atol=1e-6)  # fresh grade
        with torch.no_grad():
            net.tone.offset.add_(0.1)
        net.reset_to_identity()
        np.testing.assert_allclose(net(x).numpy(), x.numpy(), atol=1e-5)
    # The features inside were kept: only the last layers were zeroed.
    assert torch.equal(net.low.head.weight, old.low.head.weight)
