"""Stand-in deblurring model for tests: a width-4 SRNDeblur (the real architecture, all 3
levels and the ConvLSTM) with seeded random weights, saved as safetensors in a folder of the
test's own and wrapped in a DeblurModels source, so no test depends on trained weights.

A freshly built SRNDeblur is exactly the identity (its last convolution starts at zero),
which would make every tool test pass trivially; here that convolution gets small random
weights, so the output visibly differs from the input (about 9 levels of 255 on average)
while each output pixel still depends on a neighbourhood the tiling must respect. Its
measured context radius (editor.nets.srn_deblur.context_radius, 0.5/255) is 16 px, so
the spec's tile overlap of 48 px (a multiple of the 16 px the tool aligns tiles to)
leaves a margin over the 2 x 16 tiling needs.
"""

from __future__ import annotations

from pathlib import Path

import torch

from editor.engine.registry import ModelSpec
from editor.engine.weights import save_weights
from editor.nets.srn_deblur import SRNDeblur
from editor.tools.deblur import DeblurModels

FAKE_WIDTH = 4
FAKE_OVERLAP = 48
FAKE_ID = "test-deblur"


def tiny_deblur_net(seed: int = 0, out_std: float = 0.02) -> SRNDeblur:
    torch.manual_seed(seed)
    net = SRNDeblur(width=FAKE_WIDTH)
    with torch.no_grad():
        torch.nn.init.normal_(net.out.conv.weight, 0.0, out_std)
    return net.eval()


def tiny_deblur_source(directory: Path, *, save: bool = True, seed: int = 0) -> DeblurModels:
    """A source whose spec points at weights saved into ``directory``; ``save=False``
    registers the same spec without writing the file (missing weights)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    filename = f"{FAKE_ID}.safetensors"
    sha = save_weights(tiny_deblur_net(seed), directory / filename) if save else "0" * 64
    spec = ModelSpec(id=FAKE_ID, task="deblur", architecture="srn_deblur", weights=filename,
                     sha256=sha, licence="none (test weights)", scale=1,
                     tile_overlap=FAKE_OVERLAP,
                     arch_kwargs={"width": FAKE_WIDTH, "scales": 3},
                     description="width-4 SRNDeblur with random weights, for tests")
    return DeblurModels(spec, directory=directory)
