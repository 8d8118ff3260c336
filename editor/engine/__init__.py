"""The engine: model registry, safe weights loading, device choice, tiling with overlap
blend and split-on-OOM, Progress/Cancelled, and the job queue. Pure Python + torch, no Qt.

Names are re-exported lazily so ``from editor.engine import Progress`` (or importing the
registry) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Progress": "progress", "Cancelled": "progress", "silent": "progress",
    "ModelSpec": "registry", "ModelRegistry": "registry", "UnknownModelError": "registry",
    "REGISTRY": "registry", "ARCHITECTURES": "registry", "register_architecture": "registry",
    "models_dir": "registry", "find_weights": "registry",
    "WeightsError": "weights", "load_state_dict": "weights", "load_model": "weights",
    "save_weights": "weights", "sha256_file": "weights",
    "available_devices": "device", "pick_device": "device", "set_cpu_threads": "device",
    "run_tiled": "tiling", "tile_blend_weights": "tiling", "TileOutOfMemoryError": "tiling",
    "Job": "jobs", "JobResult": "jobs", "JobQueue": "jobs", "JobWorker": "jobs", "run_job": "jobs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value  # later lookups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
