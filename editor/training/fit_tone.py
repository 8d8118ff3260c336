"""Fit a global grade (:class:`editor.nets.tone_curve.GlobalTone`) to before/after pixels.

The grade has ~200 parameters and the before/after pairs give hundreds of thousands of
pixel correspondences, so it is fitted directly (Adam on a random sample of pixels,
mean squared error: what PSNR scores) in a few seconds, before any network training: a
look that is mostly global is then right from the first step, and the network only
learns what is left. A small penalty on the curves' second differences keeps the parts of
a curve that few pixels reach smooth instead of letting them swing.

Pixels: lists of HxWx3 float32 RGB arrays of equal sizes per pair.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from editor.nets.tone_curve import GlobalTone

#: Pixels sampled from all pairs together.
SAMPLES = 200_000
STEPS = 800
LR = 0.01
#: Weight of the curves' squared second differences (per knot).
SMOOTHNESS = 1e-3


def sample_pixels(pairs: Sequence[tuple[np.ndarray, np.ndarray]], count: int = SAMPLES,
                  seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(count, 3) before and after pixels drawn uniformly over all pairs' pixels."""
    rng = np.random.default_rng(seed)
    sizes = np.array([b.shape[0] * b.shape[1] for b, _ in pairs], np.int64)
    owner = rng.choice(len(pairs), size=count, p=sizes / sizes.sum())
    before, after = [], []
    for i, (b, a) in enumerate(pairs):
        n = int((owner == i).sum())
        if not n:
            continue
        flat = rng.integers(0, sizes[i], n)
        before.append(np.asarray(b, np.float32).reshape(-1, 3)[flat])
        after.append(np.asarray(a, np.float32).reshape(-1, 3)[flat])
    return torch.from_numpy(np.concatenate(before)), torch.from_numpy(np.concatenate(after))


def _as_image(pixels: torch.Tensor) -> torch.Tensor:
    """(P, 3) -> (1, 3, P, 1), the layout GlobalTone takes."""
    return pixels.t().reshape(1, 3, -1, 1)


def histogram_curves(before: np.ndarray, after: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """(3, len(levels)) float32: per channel, the monotone map taking the distribution of
    ``before`` values onto that of ``after`` ((P, 3) each), at the input ``levels``: the
    ``after`` quantile at the fraction of ``before`` values at or below each level."""
    curves = []
    for c in range(3):
        x = np.sort(np.asarray(before[:, c], np.float64))
        cdf = np.searchsorted(x, levels, side="right") / x.size
        curves.append(np.quantile(np.asarray(after[:, c], np.float64), np.clip(cdf, 0, 1)))
    return np.stack(curves).astype(np.float32)


def match_histograms(tone: GlobalTone, before: torch.Tensor, after: torch.Tensor) -> None:
    """Start ``tone`` (in place) at per-channel histogram matching of the pooled ``before``
    pixels onto the pooled ``after`` pixels ((P, 3) each): the input curves become the
    monotone maps between the two distributions, the rest the identity.

    Why: with few pairs, a least-squares fit from the identity regresses toward the
    training images' average (a curve at a level outputs the mean target there, flattening
    contrast where the photos disagree), while histogram matching keeps the look's full
    range and generalised better to unseen photos. Starting from it and fitting briefly
    keeps both: measured leave-one-out on the 13 FiveK training pairs, matching alone
    23.67 dB, a fit from the identity 23.75 dB, matching then 150 fitting steps 24.10 dB."""
    knots = tone.curve_in.shape[1]
    curves = histogram_curves(before.cpu().numpy(), after.cpu().numpy(),
                              np.linspace(0.0, 1.0, knots))
    levels = torch.linspace(0.0, 1.0, knots)
    with torch.no_grad():
        tone.curve_in.copy_(torch.from_numpy(curves).to(tone.curve_in))
        tone.matrix.copy_(torch.eye(3))
        tone.offset.zero_()
        tone.curve_out.copy_(levels.to(tone.curve_out).repeat(3, 1))


def roughness(tone: GlobalTone) -> torch.Tensor:
    return sum(torch.diff(c, n=2, dim=1).pow(2).sum() for c in (tone.curve_in, tone.curve_out))


def fit_tone(tone: GlobalTone, pairs: Sequence[tuple[np.ndarray, np.ndarray]], *,
             samples: int = SAMPLES, steps: int = STEPS, lr: float = LR,
             smoothness: float = SMOOTHNESS, seed: int = 0, check=None,
             start: str = "current") -> float:
    """Fit ``tone`` (in place) so that ``tone(before) ≈ after``; returns the final mean
    squared error on the sample. ``check`` (optional) is called every step (a cancel
    check: it may raise). ``start``: ``"current"`` fits from the tone's present values
    (the identity when fresh), ``"histogram"`` from :func:`match_histograms` of the sample.

    Runs on ONE thread: every step is ~50 small operations, and with a second thread each
    of them waits for it; when another process holds the other core that wait is a
    scheduler time slice (800 steps took 171 s on 2 threads next to a busy process, 10 s
    on one)."""
    if start not in ("current", "histogram"):
        raise ValueError(f"unknown start {start!r}")
    before, after = sample_pixels(pairs, samples, seed)
    if start == "histogram":
        match_histograms(tone, before, after)
    device = tone.curve_in.device                # the trainer's device (CUDA there)
    x, y = _as_image(before).to(device), _as_image(after).to(device)
    optimizer = torch.optim.Adam(tone.parameters(), lr=lr)
    error = torch.tensor(0.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    # A grade frozen for the network's training (train_retouch --freeze-grade) is still
    # fitted here; its flags are put back afterwards.
    frozen = [not p.requires_grad for p in tone.parameters()]
    tone.requires_grad_(True)
    try:
        for step in range(steps):
            if check is not None:
                check()
            for group in optimizer.param_groups:             # linear decay to a tenth
                group["lr"] = lr * (1.0 - 0.9 * step / max(steps - 1, 1))
            error = torch.mean((tone(x) - y) ** 2)
            loss = error + smoothness * roughness(tone)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
        for parameter, was_frozen in zip(tone.parameters(), frozen):
            parameter.requires_grad_(not was_frozen)
    return float(error.detach())
