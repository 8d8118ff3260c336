"""The one explicit registry of models and network architectures (the spandrel habit).

Every model is a frozen :class:`ModelSpec` added with an explicit ``REGISTRY.register(...)``
call at the bottom of this module; every architecture is an explicit
``register_architecture(name, builder)`` call. No directory scanning, no if/elif chains:
reading this file tells you everything the application can run.

This module stays torch-free at import time (architectures are imported lazily when a
model is built), so listing models for a menu or ``restora-cli --help`` is cheap.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

_SHA256 = re.compile(r"^[0-9a-f]{64}$")

#: Environment variable that replaces every other place weights are looked for.
MODELS_DIR_ENV = "RESTORA_MODELS_DIR"


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build, load, tile and credit one trained model.

    ``arch_kwargs`` may be given as a dict; it is stored as a sorted tuple of
    ``(key, value)`` pairs so the spec stays hashable (it keys the model cache).
    ``tile_overlap`` is the context margin in input pixels each tile gets on every
    side; tiled output equals untiled output when it is at least twice the
    network's receptive-field radius (see :mod:`editor.engine.tiling`).
    """

    id: str
    task: str
    architecture: str
    weights: str
    sha256: str
    licence: str
    scale: int = 1
    tiling: bool = True
    tile_overlap: int = 16
    arch_kwargs: tuple[tuple[str, Any], ...] | Mapping[str, Any] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not self.id or not self.id.strip():
            raise ValueError(f"model id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.scale, int) or self.scale < 1:
            raise ValueError(f"model {self.id!r}: scale must be an int >= 1, got {self.scale!r}")
        if not isinstance(self.tile_overlap, int) or self.tile_overlap < 0:
            raise ValueError(f"model {self.id!r}: tile_overlap must be an int >= 0, "
                             f"got {self.tile_overlap!r}")
        # A bare file name keeps a spec from pointing outside the models directory.
        if not self.weights or Path(self.weights).name != self.weights or self.weights == "..":
            raise ValueError(f"model {self.id!r}: weights must be a bare file name, "
                             f"got {self.weights!r}")
        sha = self.sha256.lower()
        if not _SHA256.match(sha):
            raise ValueError(f"model {self.id!r}: sha256 must be 64 hex digits, "
                             f"got {self.sha256!r}")
        object.__setattr__(self, "sha256", sha)
        pairs = (self.arch_kwargs.items() if isinstance(self.arch_kwargs, Mapping)
                 else self.arch_kwargs)
        object.__setattr__(self, "arch_kwargs", tuple(sorted((str(k), v) for k, v in pairs)))

    @property
    def kwargs(self) -> dict[str, Any]:
        """``arch_kwargs`` as a fresh dict, ready for ``builder(**spec.kwargs)``."""
        return dict(self.arch_kwargs)


class UnknownModelError(KeyError):
    """Asked for a model id that was never registered."""

    def __str__(self) -> str:
        # KeyError's default str() wraps the message in quotes; users should see plain text.
        return str(self.args[0]) if self.args else "unknown model"


class ModelRegistry:
    """Ordered, duplicate-free collection of :class:`ModelSpec`."""

    def __init__(self) -> None:
        self._specs: dict[str, ModelSpec] = {}

    def register(self, spec: ModelSpec) -> ModelSpec:
        if spec.id in self._specs:
            raise ValueError(f"model id {spec.id!r} is already registered")
        if spec.architecture not in ARCHITECTURES:
            raise ValueError(f"model {spec.id!r}: unknown architecture {spec.architecture!r} "
                             f"(known: {', '.join(sorted(ARCHITECTURES)) or 'none'})")
        self._specs[spec.id] = spec
        return spec

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._specs[model_id]
        except KeyError:
            known = ", ".join(sorted(self._specs)) or "none registered"
            raise UnknownModelError(f"unknown model {model_id!r} (known: {known})") from None

    def specs(self, task: str | None = None) -> list[ModelSpec]:
        return [s for s in self._specs.values() if task is None or s.task == task]

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._specs


# ---------------------------------------------------------------------------------------
# Architectures: name -> builder(**arch_kwargs) -> torch.nn.Module

ARCHITECTURES: dict[str, Callable[..., Any]] = {}


def register_architecture(name: str, builder: Callable[..., Any]) -> None:
    if name in ARCHITECTURES:
        raise ValueError(f"architecture {name!r} is already registered")
    if not callable(builder):
        raise ValueError(f"architecture {name!r}: builder must be callable, got {builder!r}")
    ARCHITECTURES[name] = builder


def lazy_builder(module: str, attr: str) -> Callable[..., Any]:
    """A builder that imports ``module.attr`` on first call, keeping this module torch-free."""

    def build(**kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), attr)(**kwargs)

    build.__qualname__ = f"lazy_builder({module}:{attr})"
    return build


# ---------------------------------------------------------------------------------------
# Where weights live: a checkout's models/, or the copy a wheel installs into
# <prefix>/share/restora/models (pyproject [tool.setuptools.data-files]).

def _checkout_models_dir() -> Path | None:
    import editor

    root = Path(editor.__file__).resolve().parents[1]
    # pyproject.toml marks a source checkout; an installed editor/ sits in site-packages,
    # where an unrelated top-level "models" package could otherwise be mistaken for ours.
    return root / "models" if (root / "pyproject.toml").is_file() else None


def model_search_dirs() -> list[Path]:
    """Directories searched for weights, in order (RESTORA_MODELS_DIR replaces them all)."""
    override = os.environ.get(MODELS_DIR_ENV)
    if override:
        return [Path(override).expanduser()]
    dirs: list[Path] = []
    checkout = _checkout_models_dir()
    if checkout is not None:
        dirs.append(checkout)
    # sys.prefix covers venvs and system installs; the "data" scheme path also covers --user.
    user_data = sysconfig.get_path("data", sysconfig.get_preferred_scheme("user"))
    for prefix in (sys.prefix, sysconfig.get_path("data"), user_data):
        if prefix:
            candidate = Path(prefix) / "share" / "restora" / "models"
            if candidate not in dirs:
                dirs.append(candidate)
    return dirs


def models_dir() -> Path:
    """The primary models directory: the first search directory that exists (else the first)."""
    dirs = model_search_dirs()
    return next((d for d in dirs if d.is_dir()), dirs[0])


def find_weights(filename: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """Path of a weights/model-card file; ``directory`` (tests, tools) replaces the search.

    Raises FileNotFoundError whose ``searched`` attribute lists the directories tried.
    """
    dirs = [Path(directory)] if directory is not None else model_search_dirs()
    for d in dirs:
        path = d / filename
        if path.is_file():
            return path
    error = FileNotFoundError(f"{filename} not found in: {', '.join(str(d) for d in dirs)}")
    error.searched = dirs  # type: ignore[attr-defined]
    raise error


# ---------------------------------------------------------------------------------------
# Explicit registrations. Architectures first: register() checks the name exists.

register_architecture("tiny", lazy_builder("editor.nets.tiny", "TinyNet"))

#: The application's models. Later issues add ``REGISTRY.register(ModelSpec(...))`` here.
REGISTRY = ModelRegistry()

# The shipped models live in their own module (one entry per trained model, checksums read
# from the model cards); importing it here means anyone who imports the registry sees them.
from editor.engine import catalog as _catalog  # noqa: E402,F401  (registers on import)
