"""FRGD's networks and sampler on tiny random-weight models: shapes, the unconditional
branch, a deterministic sampler step, finite guidance gradients, the slider's mapping and
content consistency at identity 0."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from editor.nets import frgd_sampler as fs
from editor.nets.face_id import FaceIdNet, centred_cosine, distillation_loss
from editor.nets.frgd_unet import (FRGDUNet, RegressionUNet, alpha_sigma, from_residual,
                                   to_residual)
from tests.face_enhance_fakes import randomise_zero_layers

TINY = {"widths": (8, 8, 16), "cond_dim": 16}


@pytest.fixture
def nets():
    torch.manual_seed(0)
    net = FRGDUNet(**TINY).eval()
    randomise_zero_layers(net)
    return net, FaceIdNet(width=4, input_size=16).eval()


def test_unet_shapes_and_null_identity(nets):
    net, _ = nets
    x, lq = torch.randn(2, 3, 32, 48), torch.rand(2, 3, 32, 48)
    t, ident = torch.tensor([0.1, 0.9]), torch.randn(2, 128)
    assert net(x, lq, t, ident).shape == x.shape
    # Dropping every row's identity is the unconditional prediction.
    dropped = net(x, lq, t, ident, torch.tensor([True, True]))
    assert torch.allclose(dropped, net(x, lq, t, None), atol=1e-6)
    assert not torch.allclose(net(x, lq, t, ident), dropped)
    assert RegressionUNet((8, 8, 16))(lq).shape == lq.shape
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.randn(1, 3, 30, 30), torch.rand(1, 3, 30, 30), t[:1])


def test_identity_net_predicts_offsets_from_its_centre_and_loss_is_finite():
    torch.manual_seed(0)
    net = FaceIdNet(width=4, input_size=16).eval()
    net.centre.fill_(0.1)
    x = torch.rand(4, 3, 128, 128)
    out = net(x)
    assert out.shape == (4, 128)
    net.centre.zero_()
    assert torch.allclose(out - 0.1, net(x), atol=1e-6)
    target = torch.randn(4, 128)
    loss, terms = distillation_loss(net.train()(x), target, centre=torch.full((128,), 0.1))
    loss.backward()
    assert torch.isfinite(loss) and set(terms) == {"cosine", "l2"}
    # The cosine is that of the offsets: a shared offset does not make faces alike.
    same = torch.ones(2, 128)
    assert torch.allclose(centred_cosine(same + torch.eye(2, 128), same + torch.eye(2, 128)
                                         .flip(0), torch.ones(128)), torch.zeros(2))


def test_residual_round_trip_and_schedule_ends():
    face, lq = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    assert torch.allclose(from_residual(to_residual(face, lq), lq), face, atol=1e-6)
    a, s = alpha_sigma(torch.tensor([0.0, 1.0]))
    assert a[0] > 0.99 and s[1] > 0.99 and torch.allclose(a ** 2 + s ** 2, torch.ones(2))


def test_one_sampler_step_is_deterministic_for_a_seed(nets):
    net, id_net = nets
    lq_small = torch.rand(1, 3, 16, 16)
    lq = fs.up(lq_small, (128, 128))
    ref = torch.randn(1, 128)
    guidance = fs.guidance_for(0.5)

    def one(seed):
        x = fs.initial_noise((1, 3, 128, 128), seed)
        return fs.step(net, x, 1.0, 0.96, lq, lq_small, ref, guidance, id_net).x_next

    assert torch.equal(one(3), one(3))
    assert not torch.equal(one(3), one(4))


def test_guidance_gradient_is_finite_and_raises_the_cosine(nets):
    _, id_net = nets
    face = torch.rand(1, 3, 128, 128)
    ref = torch.randn(1, 128)
    grad, cosine = fs.identity_gradient(id_net, face, ref)
    assert grad.shape == face.shape and torch.isfinite(grad).all() and grad.abs().sum() > 0
    stepped = face + 0.01 * grad / grad.pow(2).mean().sqrt()
    _, after = fs.identity_gradient(id_net, stepped, ref)
    assert after > cosine


def test_slider_maps_to_monotonic_guidance():
    weights = [fs.guidance_for(s) for s in (0.0, 0.25, 0.5, 1.0)]
    assert [w.cfg for w in weights] == sorted(w.cfg for w in weights)
    assert [w.identity_step for w in weights] == sorted(w.identity_step for w in weights)
    assert [w.content for w in weights] == sorted((w.content for w in weights), reverse=True)
    assert weights[0].cfg == 0.0 and weights[0].identity_step == 0.0
    with pytest.raises(ValueError):
        fs.timesteps(fs.MAX_STEPS + 1)


def test_identity_zero_stays_consistent_with_the_input_when_down_scaled(nets):
    net, id_net = nets
    torch.manual_seed(1)   # a smooth low-quality face-like image, not pixel noise
    lq_small = F.interpolate(torch.rand(1, 3, 4, 4), size=(16, 16), mode="bilinear") \
        .clamp(0.05, 0.95)
    ref = torch.randn(1, 128)
    errors = {}
    for s in (0.0, 1.0):
        out = fs.sample(net, lq_small, ref, s, seed=0, id_net=id_net, steps=5)
        assert out.shape == (1, 3, 128, 128) and torch.isfinite(out).all()
        errors[s] = float((F.interpolate(out, size=(16, 16), mode="area") - lq_small)
                          .abs().mean())
    assert errors[0.0] < 0.02 and errors[0.0] < errors[1.0]


def test_guidance_search_scores_what_the_slider_does(nets):
    """frgd_guidance's candidates go through sample(guidance=...): the shipped mapping's
    candidate reproduces the slider exactly at 0, 0.5 and 1, so what the search measures
    on val faces is what the tool would do."""
    from editor.training.frgd_guidance import parse_candidate, scaled

    net, id_net = nets
    shipped = (fs.CFG_MAX, fs.IDENTITY_STEP_MAX, fs.CONTENT_MIN)
    lq_small, ref = torch.rand(1, 3, 16, 16), torch.randn(1, 128)
    for s in (0.0, 0.5, 1.0):
        assert scaled(shipped, s) == fs.guidance_for(s)
        a = fs.sample(net, lq_small, ref, s, seed=3, id_net=id_net, steps=3)
        b = fs.sample(net, lq_small, ref, 0.0, seed=3, id_net=id_net, steps=3,
                      guidance=scaled(shipped, s))
        assert torch.equal(a, b)
    assert parse_candidate("2,0.05,0.4") == (2.0, 0.05, 0.4)


def test_a_two_stage_model_samples_around_its_prior(nets):
    """A diffusion model built with a prior is conditioned on that regression network's
    restoration: sampling without the prior is refused with a message, and with it the
    untrained (zero-output) diffusion model returns the prior's restoration itself."""
    _, id_net = nets
    torch.manual_seed(0)
    net = FRGDUNet(**TINY, prior="frgd-l1").eval()   # zero output layer: v = 0
    prior = randomise_zero_layers(RegressionUNet((8, 8, 16))).eval()
    lq_small = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="frgd-l1"):
        fs.sample(net, lq_small, None, 0.0, seed=0, steps=2)
    content_free = fs.Guidance(cfg=0.0, identity_step=0.0, content=0.0)
    out = fs.sample(net, lq_small, None, 0.0, seed=0, steps=1, prior=prior,
                    guidance=content_free)
    with torch.no_grad():
        bicubic = fs.up(lq_small, (128, 128)).clamp(0, 1)
        expected = prior(bicubic).clamp(0, 1)
    # What is left at t = 1 is alpha(1) ~ 0.0016 of the noise.
    assert torch.allclose(out, expected, atol=3e-3)
    assert (expected - bicubic).abs().max() > 0.05     # the prior really changed it
