"""Loading trained weights safely: safetensors only (never pickle), sha256-verified.

Failures become one :class:`WeightsError` whose message is a single line a user can act
on (which file, where we looked, which checksum), not a traceback.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Mapping

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from editor.engine.device import default_device, flush_denormals
from editor.engine.registry import ARCHITECTURES, ModelSpec, find_weights

PathLike = str | os.PathLike[str]

#: How many built models stay in memory; a few cover "preview + apply" on two devices.
MODEL_CACHE_SIZE = 3


class WeightsError(RuntimeError):
    """A model's weights are missing, corrupted, unreadable or do not fit its architecture."""

    def __init__(self, message: str, *, filename: str = "", expected_sha256: str = "",
                 actual_sha256: str = "") -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever went in
        self.filename = filename
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256


def sha256_file(path: PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def load_state_dict(spec: ModelSpec, directory: PathLike | None = None) -> dict[str, torch.Tensor]:
    """Verified CPU state dict of ``spec``; ``directory`` replaces the models search path."""
    try:
        path = find_weights(spec.weights, directory)
    except FileNotFoundError as missing:
        where = ", ".join(str(d) for d in getattr(missing, "searched", [])) or "nowhere"
        raise WeightsError(
            f"Weights file {spec.weights} for model '{spec.id}' was not found "
            f"(looked in: {where}); expected sha256 {spec.sha256}.",
            filename=spec.weights, expected_sha256=spec.sha256) from None
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise WeightsError(
            f"Weights file {path} for model '{spec.id}' is corrupted or the wrong version: "
            f"expected sha256 {spec.sha256}, actual sha256 {actual}.",
            filename=spec.weights, expected_sha256=spec.sha256, actual_sha256=actual)
    try:
        return load_file(str(path), device="cpu")
    except Exception as error:  # safetensors raises its own SafetensorError, or OSError
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise WeightsError(f"Weights file {path} for model '{spec.id}' is not a readable "
                           f"safetensors file ({reason}).", filename=spec.weights,
                           expected_sha256=spec.sha256, actual_sha256=actual) from None


def _check_fits(model: nn.Module, state: Mapping[str, torch.Tensor], spec: ModelSpec) -> None:
    # Comparing ourselves gives a one-line message; torch's strict error spans many lines.
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != expected[k])
    if missing or unexpected or wrong:
        detail = "; ".join(f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                           for label, keys in (("missing", missing), ("unexpected", unexpected),
                                               ("wrong shape", wrong)) if keys)
        raise WeightsError(f"Weights file {spec.weights} does not fit architecture "
                           f"'{spec.architecture}' of model '{spec.id}' ({detail}).",
                           filename=spec.weights, expected_sha256=spec.sha256)


def build_model(spec: ModelSpec) -> nn.Module:
    """The architecture of ``spec`` with freshly initialised weights."""
    try:
        builder = ARCHITECTURES[spec.architecture]
    except KeyError:
        raise WeightsError(f"Model '{spec.id}' needs unknown architecture "
                           f"'{spec.architecture}'.") from None
    return builder(**spec.kwargs)


_cache: OrderedDict[tuple, nn.Module] = OrderedDict()
_cache_lock = threading.Lock()


def load_model(spec: ModelSpec, device: torch.device | str | None = None,
               directory: PathLike | None = None) -> nn.Module:
    """Built, verified, eval-mode model on ``device`` (default: best available).

    The same module object is returned for repeated calls (LRU of MODEL_CACHE_SIZE), so
    callers must not modify it.
    """
    device = default_device() if device is None else torch.device(device)
    flush_denormals()      # every inference path loads its model here (CLI, benches, tools)
    # The whole (hashable) spec is in the key: a spec with a new sha256 reloads.
    key = (spec, str(device), str(directory) if directory is not None else None)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    state = load_state_dict(spec, directory)
    model = build_model(spec)
    _check_fits(model, state, spec)
    model.load_state_dict(state, strict=True)
    model.eval().requires_grad_(False).to(device)
    with _cache_lock:
        _cache[key] = model
        _cache.move_to_end(key)
        while len(_cache) > MODEL_CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def clear_model_cache() -> None:
    """Drop cached models (frees GPU memory, e.g. when the user switches device)."""
    with _cache_lock:
        _cache.clear()


def save_weights(model_or_state_dict: nn.Module | Mapping[str, torch.Tensor],
                 path: PathLike) -> str:
    """Write weights as safetensors (atomically) and return the file's sha256 for the spec."""
    state = (model_or_state_dict.state_dict() if isinstance(model_or_state_dict, nn.Module)
             else model_or_state_dict)
    # safetensors refuses shared or non-contiguous storage; independent CPU copies are safe.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    save_file(tensors, str(temporary))
    os.replace(temporary, path)
    return sha256_file(path)
