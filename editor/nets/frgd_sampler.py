"""FRGD inference: a deterministic DDIM sampler (<= 25 steps) over the conditional U-Net of
:mod:`editor.nets.frgd_unet`, with the three guidances of Face-Recognition-Guided
Diffusion, all applied to the x_0 estimate of every step:

(a) classifier-free guidance on the identity embedding: ``v = v_null + cfg (v_id - v_null)``;
(b) identity guidance: the gradient of the cosine similarity between the distilled
    identity (:class:`editor.nets.face_id.FaceIdNet`) of the predicted clean face and the
    reference embedding (both as offsets from dlib's mean vector), taken w.r.t. the
    predicted face (not back through the U-Net: one identity-net pass per step instead of
    a U-Net backward), low-passed (Gaussian, GRADIENT_SIGMA px), normalised to unit RMS
    and scaled by ``identity_step``;
(c) content guidance: the predicted face's down-scaled copy is pulled toward the input
    (``face += content * up(lq_small - down(face))``: a back-projection step, i.e. a
    gradient step on ||down(face) - lq_small||^2 preconditioned by the up-sampling; the
    last step repeats it FINAL_PROJECTIONS times).

Each step's estimate is clipped to [0, 1] ("clip denoised"). One slider ``s`` in [0, 1]
(0 = follow the photo's content, 1 = follow the reference identity) sets all three
(:func:`guidance_for`). The initial noise comes from ``seed``; with
eta = 0 every step is deterministic. Faces are NCHW float32 RGB in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from editor.nets.face_id import centred_cosine
from editor.nets.frgd_unet import alpha_sigma, from_residual, to_residual

MAX_STEPS = 25
DEFAULT_STEPS = 20
#: Slider -> guidance weights (see guidance_for), chosen for the two-stage frgd-face and
#: the 8,000-iteration face-id by ``python -m editor.training.frgd_guidance`` on 16 ``val``
#: faces at x8 (never the benchmark's test faces), in four rounds: the lowest mean dlib
#: distance to the ground truth at identity 1 among the candidates (cfg, identity step,
#: content at 1) whose distance to the reference falls monotonically with the slider.
#: The identity gradient does the work and wants small steps: (2, 0, 0.4) 0.573,
#: (2, 0.0025, 0.4) 0.504, (2, 0.005, 0.4) 0.491-0.507, (2, 0.01, 0.4) 0.502,
#: (2, 0.02, 0.4) 0.529 and not monotonic (the old mapping), (2, 0.04, 0.4) 0.594;
#: cfg 1 / 3 / 4 changed little; less content at 1 helped a little. Final round, on the
#: final weights: (2, 0.005, 0.15) 0.493, (2, 0.0035, 0.25) 0.500, (2, 0.005, 0.25) 0.502,
#: (2, 0.005, 0.4) 0.507, (2, 0.0075, 0.25) 0.522 and not monotonic (frgd-l1 0.571,
#: bicubic 0.585 on the same faces).
CFG_MAX = 2.0
IDENTITY_STEP_MAX = 0.005
CONTENT_MIN, CONTENT_MAX = 0.15, 0.9
#: Gaussian sigma (px at 128) of the low-pass on the identity gradient.
GRADIENT_SIGMA = 1.5
#: Back-projection repeats on the last step (a cheap, net-free correction).
FINAL_PROJECTIONS = 3


@dataclass(frozen=True)
class Guidance:
    cfg: float             # 0 = unconditional, 1 = conditional, > 1 = pushed further
    identity_step: float   # RMS size (face units, 0-1) of the identity step per sampler step
    content: float         # back-projection weight toward the input, 0-1

    @property
    def needs_reference(self) -> bool:
        return self.cfg != 0.0 or self.identity_step != 0.0


def guidance_for(identity: float) -> Guidance:
    """The slider's mapping: cfg = 2 s, identity step = 0.005 s, content = 0.9 - 0.75 s."""
    s = min(max(float(identity), 0.0), 1.0)
    return Guidance(cfg=CFG_MAX * s, identity_step=IDENTITY_STEP_MAX * s,
                    content=CONTENT_MAX - (CONTENT_MAX - CONTENT_MIN) * s)


def timesteps(steps: int) -> list[float]:
    """Times from 1 to 0 (inclusive) for ``steps`` DDIM steps."""
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be 1-{MAX_STEPS}, got {steps}")
    return [1.0 - i / steps for i in range(steps + 1)]


def down(face: torch.Tensor, side: tuple[int, int]) -> torch.Tensor:
    """Area down-scaling to ``side`` (the low-quality face's size)."""
    if tuple(face.shape[-2:]) == tuple(side):
        return face
    return F.interpolate(face, size=side, mode="area")


def up(image: torch.Tensor, side: tuple[int, int]) -> torch.Tensor:
    if tuple(image.shape[-2:]) == tuple(side):
        return image
    return F.interpolate(image, size=side, mode="bicubic", align_corners=False)


def identity_gradient(id_net: torch.nn.Module, face: torch.Tensor, reference: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(d cos(id_net(face), reference) / d face, the cosine), per face; finite. The cosine
    is of the offsets from the identity network's ``centre`` (dlib's mean vector)."""
    centre = getattr(id_net, "centre", None)
    with torch.enable_grad():
        x = face.detach().clamp(0.0, 1.0).requires_grad_(True)
        cosine = centred_cosine(id_net(x), reference, centre)
        (grad,) = torch.autograd.grad(cosine.sum(), x)
    return torch.nan_to_num(grad), cosine.detach()


def smooth(g: torch.Tensor, sigma: float = GRADIENT_SIGMA) -> torch.Tensor:
    """Gaussian low-pass of a gradient image: a CNN's input gradient is mostly pixel-level
    speckle; identity lives in the coarse structure."""
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=g.dtype, device=g.device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = (k / k.sum()).view(1, 1, 1, -1).repeat(g.shape[1], 1, 1, 1)
    g = F.conv2d(F.pad(g, (radius, radius, 0, 0), mode="replicate"), k, groups=g.shape[1])
    return F.conv2d(F.pad(g, (0, 0, radius, radius), mode="replicate"),
                    k.transpose(2, 3), groups=g.shape[1])


def _unit_rms(g: torch.Tensor) -> torch.Tensor:
    rms = g.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
    return g / (rms + 1e-12)


@dataclass
class StepResult:
    x_next: torch.Tensor
    face: torch.Tensor        # the guided x_0 estimate as a face (not clipped)
    cosine: torch.Tensor | None


def step(net: torch.nn.Module, x_t: torch.Tensor, t: float, t_next: float,
         lq: torch.Tensor, lq_small: torch.Tensor, reference: torch.Tensor | None,
         guidance: Guidance, id_net: torch.nn.Module | None = None) -> StepResult:
    """One guided DDIM (eta = 0) step from time ``t`` to ``t_next`` < t."""
    n = x_t.shape[0]
    tt = torch.full((n,), t, dtype=x_t.dtype, device=x_t.device)
    with torch.no_grad():
        if reference is None or guidance.cfg == 0.0:
            v = net(x_t, lq, tt, None)
        elif guidance.cfg == 1.0:
            v = net(x_t, lq, tt, reference)
        else:  # conditional and unconditional in one batch
            both = net(torch.cat([x_t, x_t]), torch.cat([lq, lq]), torch.cat([tt, tt]),
                       torch.cat([reference, reference]),
                       torch.cat([torch.zeros(n, dtype=torch.bool),
                                  torch.ones(n, dtype=torch.bool)]).to(x_t.device))
            v_id, v_null = both[:n], both[n:]
            v = v_null + guidance.cfg * (v_id - v_null)
    a, s = (value.view(1, 1, 1, 1) for value in alpha_sigma(torch.tensor([t])))
    a, s = a.to(x_t), s.to(x_t)
    x0 = a * x_t - s * v
    eps = s * x_t + a * v
    face = from_residual(x0, lq)
    cosine = None
    if reference is not None and id_net is not None and guidance.identity_step > 0:
        grad, cosine = identity_gradient(id_net, face, reference)
        face = face + guidance.identity_step * _unit_rms(smooth(grad))
    if guidance.content > 0:
        side = tuple(lq_small.shape[-2:])
        # The last step repeats the back-projection: the returned face is what it corrects.
        for _ in range(FINAL_PROJECTIONS if t_next <= 0.0 else 1):
            face = face + guidance.content * up(lq_small - down(face, side),
                                                tuple(face.shape[-2:]))
    face = face.clamp(0.0, 1.0)   # "clip denoised": keep the estimate a possible image
    x0 = to_residual(face, lq)
    if t_next <= 0.0:
        return StepResult(x0, face, cosine)
    a2, s2 = (value.view(1, 1, 1, 1).to(x_t) for value in alpha_sigma(torch.tensor([t_next])))
    return StepResult(a2 * x0 + s2 * eps, face, cosine)


def initial_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(int(seed)))


def sample(net: torch.nn.Module, lq_small: torch.Tensor, reference: torch.Tensor | None,
           identity: float, seed: int, *, id_net: torch.nn.Module | None = None,
           steps: int = DEFAULT_STEPS, side: int = 128,
           progress: Callable[[float], None] | None = None,
           guidance: Guidance | None = None,
           prior: torch.nn.Module | None = None) -> torch.Tensor:
    """Faces (N, 3, side, side) in [0, 1] restored from ``lq_small`` (N, 3, h, w: the
    low-quality faces at their own resolution), toward ``reference`` (N, 128) by the
    slider ``identity``. ``progress(fraction)`` is called after each step (it may raise
    to cancel). ``guidance`` replaces the slider's mapping (the guidance search of
    :mod:`editor.training.frgd_guidance` tries candidates with it). ``prior``: the
    regression network named by ``net.prior`` (required then; see
    :class:`~editor.nets.frgd_unet.FRGDUNet`), which restores the up-sampled input into
    the conditioning image."""
    if guidance is None:
        guidance = guidance_for(identity)
    device = next(net.parameters()).device
    lq_small = lq_small.to(device).float()
    lq = up(lq_small, (side, side)).clamp(0.0, 1.0)
    if getattr(net, "prior", None) is not None:
        if prior is None:
            raise ValueError(f"this diffusion model is conditioned on {net.prior!r}'s "
                             "restoration: pass that model as prior")
        with torch.no_grad():
            lq = prior(lq).clamp(0.0, 1.0)
    ref = None if reference is None else reference.to(device).float()
    x = initial_noise((lq.shape[0], 3, side, side), seed).to(device)
    times = timesteps(steps)
    face = lq
    for i, (t, t_next) in enumerate(zip(times[:-1], times[1:])):
        result = step(net, x, t, t_next, lq, lq_small, ref, guidance, id_net)
        x, face = result.x_next, result.face
        if progress is not None:
            progress((i + 1) / steps)
    return face.clamp(0.0, 1.0)
