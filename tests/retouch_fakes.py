"""Stand-in Retouch model for tests: a narrow LPTN (the real architecture: pyramid, low
branch, mask network, refine blocks) with seeded random weights, saved as
safetensors in the test's own folder, so no test depends on trained weights.

A fresh LPTN is exactly the identity (every branch's last convolution starts at zero),
which would make the tool tests pass trivially; here those convolutions get small random
weights, so the output visibly differs from the input."""

from __future__ import annotations

from pathlib import Path

import torch

from editor.engine.registry import ModelSpec
from editor.engine.weights import save_weights
from editor.nets.lptn import LPTN
from editor.tools.model_slot import SingleModel

FAKE_ARCH = {"levels": 3, "low_width": 8, "low_blocks": 1, "mask_width": 8,
             "mask_blocks": 1, "refine_width": 4, "low_side": 64, "instance_norm": False}
FAKE_ID = "test-retouch"


def tiny_lptn(seed: int = 0, std: float = 0.05, global_tone: bool = False) -> LPTN:
    """``global_tone``: with the pointwise grade, its curves and matrix disturbed too."""
    torch.manual_seed(seed)
    net = LPTN(**FAKE_ARCH, global_tone=global_tone)
    with torch.no_grad():
        for conv in (net.low.tail, net.mask.tail, *[r.conv2 for r in net.refine]):
            torch.nn.init.normal_(conv.weight, 0.0, std)
        if global_tone:
            for parameter in net.tone.parameters():
                parameter.add_(torch.randn_like(parameter) * std)
    return net.eval()


def tiny_retouch_source(directory: Path, *, save: bool = True, seed: int = 0) -> SingleModel:
    """A source whose spec points at weights saved into ``directory``; ``save=False``
    gives the same spec without the file (missing weights)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    filename = f"{FAKE_ID}.safetensors"
    sha = save_weights(tiny_lptn(seed), directory / filename) if save else "0" * 64
    spec = ModelSpec(id=FAKE_ID, task="retouch", architecture="lptn", weights=filename,
                     sha256=sha, licence="none (test weights)", tiling=False, tile_overlap=0,
                     arch_kwargs=FAKE_ARCH, description="narrow LPTN, random weights, tests")
    return SingleModel(spec, directory=directory, what="retouch model")
