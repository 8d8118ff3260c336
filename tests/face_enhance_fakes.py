"""Stand-ins for Face enhance tests: a narrow random-weight FRGD U-Net and identity
network saved as safetensors, so the tool, its CLI and GUI run without trained weights
(and, with tests/faces_fakes.fake_face_finder, without dlib)."""

from __future__ import annotations

from pathlib import Path

import torch

from editor.engine.registry import ModelSpec
from editor.engine.weights import save_weights
from editor.nets.face_id import FaceIdNet
from editor.nets.frgd_unet import FRGDUNet
from editor.tools.model_slot import SingleModel

TINY_FRGD = {"widths": (8, 8, 8), "cond_dim": 16}
TINY_ID = {"width": 4, "input_size": 16}


def _source(directory: Path, model_id: str, architecture: str, net: torch.nn.Module,
            kwargs: dict, what: str) -> SingleModel:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    filename = f"{model_id}.safetensors"
    sha = save_weights(net, directory / filename)
    spec = ModelSpec(id=model_id, task="face_enhance", architecture=architecture,
                     weights=filename, sha256=sha, licence="none (test weights)", tiling=False,
                     arch_kwargs=kwargs, description="random weights, for tests")
    return SingleModel(spec, directory=directory, what=what)


def randomise_zero_layers(net: torch.nn.Module, std: float = 0.05) -> torch.nn.Module:
    """The U-Net's output and residual-branch convolutions start at zero (training starts
    from the identity); random values make an untrained net depend on noise and identity."""
    with torch.no_grad():
        for p in net.parameters():
            if p.ndim > 1 and not p.any():
                p.normal_(0.0, std)
    return net


def tiny_frgd_sources(directory: Path) -> tuple[SingleModel, SingleModel]:
    """(diffusion model, identity network) with seeded random weights."""
    torch.manual_seed(0)
    net = randomise_zero_layers(FRGDUNet(**TINY_FRGD).eval())
    id_net = FaceIdNet(**TINY_ID).eval()
    return (_source(directory, "test-frgd", "frgd_unet", net, TINY_FRGD,
                    "face-enhance diffusion model"),
            _source(directory, "test-face-id", "face_id", id_net, TINY_ID,
                    "face identity network"))
