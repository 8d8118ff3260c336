"""Fixtures for engine tests: a TinyNet with seeded random weights saved as safetensors."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from editor.engine.registry import ModelSpec
from editor.engine.weights import clear_model_cache, save_weights
from editor.nets.tiny import TinyNet

# Two cores on the dev box and CI; more threads only add contention in small tests.
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    clear_model_cache()
    yield
    clear_model_cache()


@pytest.fixture
def make_tiny_spec(tmp_path: Path) -> Callable[..., ModelSpec]:
    """Factory: save a seeded random TinyNet under tmp_path and return its spec."""

    def make(model_id: str = "tiny-test", *, scale: int = 1, channels: int = 3, width: int = 8,
             seed: int = 0, spec_width: int | None = None) -> ModelSpec:
        torch.manual_seed(seed)
        net = TinyNet(channels=channels, scale=scale, width=width)
        filename = f"{model_id}.safetensors"
        sha = save_weights(net, tmp_path / filename)
        return ModelSpec(
            id=model_id, task="test", architecture="tiny", scale=scale, weights=filename,
            sha256=sha, licence="none (random weights)", tiling=True, tile_overlap=8,
            arch_kwargs={"channels": channels, "scale": scale, "width": spec_width or width},
            description="random TinyNet for tests")

    return make
