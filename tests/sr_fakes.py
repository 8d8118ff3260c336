"""Stand-in super-resolution models for tests: TinyNets saved as safetensors in a folder
of the test's own, wrapped in a ModelSource (so no test depends on trained weights).

A TinyNet with random weights outputs noise; these are set up instead as nearest-neighbour
enlargers (the head copies RGB through the ReLU, the tail copies each channel into every
sub-pixel of its PixelShuffle block) plus a seeded random perturbation, so the output
looks like a picture, still depends on 3x3 neighbourhoods (receptive radius 2, which
tiling must respect), and can be given a colour ``drift`` the tool has to correct.
"""

from __future__ import annotations

from pathlib import Path

import torch

from editor.engine.registry import ModelSpec
from editor.engine.weights import save_weights
from editor.nets.tiny import TinyNet
from editor.tools.superres import ModelSource

#: Every model choice with the scales the real catalogue has.
DEFAULT_MODES = {"quality": (2, 3, 4), "real": (4,), "fast": (2,)}


def tiny_sr_net(scale: int, *, seed: int = 0, noise: float = 0.05,
                drift: float = 0.0, width: int = 8) -> TinyNet:
    torch.manual_seed(seed * 100 + scale)
    net = TinyNet(channels=3, scale=scale, width=width)
    with torch.no_grad():
        head_w = torch.randn_like(net.head.weight) * noise
        head_w[:3, :3, 1, 1] += torch.eye(3)
        net.head.weight.copy_(head_w)
        net.head.bias.zero_()
        tail_w = torch.randn_like(net.tail.weight) * noise
        per_channel = scale * scale
        for c in range(3):
            tail_w[c * per_channel:(c + 1) * per_channel, c, 1, 1] += 1.0
        net.tail.weight.copy_(tail_w)
        net.tail.bias.fill_(drift)
    return net


def tiny_sr_source(directory: Path, modes: dict[str, tuple[int, ...]] | None = None, *,
                   drift: float = 0.0, save: bool = True) -> ModelSource:
    """Specs for ``modes`` (choice -> scales) with weights saved into ``directory``;
    ``save=False`` registers the same specs without writing the files (missing weights)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[ModelSpec, ...]] = {}
    for mode, scales in (modes or DEFAULT_MODES).items():
        specs = []
        for scale in scales:
            model_id = f"test-{mode}-x{scale}"
            filename = f"{model_id}.safetensors"
            net = tiny_sr_net(scale, seed=len(mode), drift=drift)
            if save:
                sha = save_weights(net, directory / filename)
            else:
                sha = "0" * 64
            specs.append(ModelSpec(
                id=model_id, task="superres", architecture="tiny", weights=filename,
                sha256=sha, licence="none (test weights)", scale=scale, tile_overlap=4,
                arch_kwargs={"channels": 3, "scale": scale, "width": 8},
                description="TinyNet nearest-neighbour enlarger for tests"))
        out[mode] = tuple(specs)
    return ModelSource(out, directory=directory)
