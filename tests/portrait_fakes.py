"""Stand-ins for Portrait edit's tests: a tiny random-weight face autoencoder and tiny
random-weight facelets (their last layer is randomised too: a fresh facelet starts at
zero and would change nothing), saved as safetensors in a test folder, so no test needs
trained weights. Faces come from tests/faces_fakes.py's finder."""

from __future__ import annotations

from pathlib import Path

import torch

from editor.engine.registry import ModelSpec
from editor.engine.weights import save_weights
from editor.nets.facelet import FaceAutoencoder, Facelet
from editor.tools.model_slot import SingleModel

TINY_AE = {"features": 8, "width": 8, "blocks": 1}
TINY_FACELET = {"features": 8, "width": 8}


def tiny_autoencoder(seed: int = 0) -> FaceAutoencoder:
    torch.manual_seed(seed)
    return FaceAutoencoder(**TINY_AE).eval()


def tiny_facelet(seed: int = 1, scale: float = 20.0) -> Facelet:
    torch.manual_seed(seed)
    net = Facelet(**TINY_FACELET)
    torch.nn.init.normal_(net.out.weight, std=scale / (net.width * 9) ** 0.5)
    return net.eval()


def tiny_autoencoder_source(directory: Path) -> SingleModel:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sha = save_weights(tiny_autoencoder(), directory / "test-face-ae.safetensors")
    spec = ModelSpec(id="test-face-ae", task="portrait_autoencoder",
                     architecture="face_autoencoder", weights="test-face-ae.safetensors",
                     sha256=sha, licence="none (test weights)", tiling=False, tile_overlap=0,
                     arch_kwargs=TINY_AE, description="tiny random face autoencoder (tests)")
    return SingleModel(spec, directory=directory, what="face autoencoder")


def tiny_facelet_sources(directory: Path, names=("older", "younger", "masculine", "feminine")
                         ) -> dict[str, SingleModel]:
    """effect name -> a tiny random facelet (a different seed for each effect)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, name in enumerate(names):
        filename = f"test-facelet-{name}.safetensors"
        sha = save_weights(tiny_facelet(seed=10 + i), directory / filename)
        spec = ModelSpec(id=f"test-facelet-{name}", task="portrait_facelet",
                         architecture="facelet", weights=filename, sha256=sha,
                         licence="none (test weights)", tiling=False, tile_overlap=0,
                         arch_kwargs=TINY_FACELET, description=f"tiny {name} facelet (tests)")
        out[name] = SingleModel(spec, directory=directory, what=f"facelet {name}")
    return out


def facelet_resolver(sources: dict[str, SingleModel]):
    """``effect -> SingleModel``: the fakes for the shipped effects, user effects from the
    real effects list (a user facelet trained in a test)."""
    from editor.tools import portrait

    def resolve(name: str) -> SingleModel:
        if name in sources:
            return sources[name]
        return portrait._registry_facelet(name)

    return resolve
