"""Where a single-model tool's network comes from: by default the application's registry
and models folder; tests and benchmarks swap in their own (other weights folder, device)
with :meth:`ModelSlot.set` or ``with slot.using(source):``."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from editor.engine.registry import REGISTRY, ModelSpec

if TYPE_CHECKING:  # torch stays unimported until a network runs
    from torch import nn


@dataclass(frozen=True)
class SingleModel:
    """One model: ``spec`` (None: not in the catalog), ``directory`` replacing the weights
    search path, ``device`` replacing the engine's default device."""

    spec: ModelSpec | None
    directory: str | os.PathLike[str] | None = None
    device: str | None = None
    what: str = "model"

    def load(self) -> "nn.Module":
        """The ready network; a missing or damaged weights file raises the engine's
        one-line WeightsError."""
        from editor.engine.weights import WeightsError, load_model

        if self.spec is None:
            raise WeightsError(f"No {self.what} is installed (it is not in the model catalog).")
        return load_model(self.spec, self.device, self.directory)


class ModelSlot:
    """The model a tool uses now: the registry's ``model_id`` unless one was set."""

    def __init__(self, model_id: str, what: str) -> None:
        self.model_id = model_id
        self.what = what
        self._source: SingleModel | None = None

    def registry(self) -> SingleModel:
        spec = REGISTRY.get(self.model_id) if self.model_id in REGISTRY else None
        return SingleModel(spec, what=self.what)

    def current(self) -> SingleModel:
        return self._source if self._source is not None else self.registry()

    def set(self, source: SingleModel | None) -> SingleModel | None:
        previous, self._source = self._source, source
        return previous

    @contextmanager
    def using(self, source: SingleModel) -> Iterator[SingleModel]:
        previous = self.set(source)
        try:
            yield source
        finally:
            self.set(previous)
