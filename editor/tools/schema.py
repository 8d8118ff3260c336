"""The declarative shape of a tool: its parameters generate the Qt panel, the CLI flags
and the parameter tests; ``run`` does the work (no Qt, no file I/O)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from editor.engine.progress import Progress


@dataclass(frozen=True)
class Param:
    """One user-facing parameter.

    ``kind`` is ``float``, ``int``, ``bool``, ``choice`` or ``path``. Floats and ints
    have a ``range`` (inclusive) and optional ``step``; choices have ``choices`` as
    ``(value, label)`` pairs; a path is a file name string ("" = none; the tool says what
    a missing file means).
    """

    name: str
    kind: type | str
    default: Any
    label: str = ""
    help: str = ""
    range: tuple[float, float] | None = None
    step: float | None = None
    choices: tuple[tuple[str, str], ...] = ()
    decimals: int = 2
    suffix: str = ""

    def __post_init__(self) -> None:
        if self.kind not in (float, int, bool, "choice", "path"):
            raise ValueError(f"param {self.name!r}: kind must be float, int, bool, 'choice' "
                             "or 'path'")
        if self.kind in (float, int) and self.range is None:
            raise ValueError(f"param {self.name!r}: numeric params need a range")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"param {self.name!r}: choice params need choices")
        self.validate(self.default)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def validate(self, value: Any) -> Any:
        """Return ``value`` coerced to this parameter's type; raise ValueError naming the
        parameter and its allowed values when it does not fit."""
        if self.kind is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(f"{self.name}: expected true/false, got {value!r}")
            return bool(value)
        if self.kind == "path":
            if value is None:
                return ""
            if not isinstance(value, (str, os.PathLike)):
                raise ValueError(f"{self.name}: expected a file name, got {value!r}")
            return str(value).strip()
        if self.kind == "choice":
            allowed = [c for c, _ in self.choices]
            if value not in allowed:
                raise ValueError(f"{self.name}: {value!r} is not one of {', '.join(allowed)}")
            return value
        try:
            v = self.kind(value) if not isinstance(value, str) else self.kind(float(value))
        except (TypeError, ValueError, OverflowError):  # int(inf) overflows
            raise ValueError(f"{self.name}: expected a number, got {value!r}") from None
        if isinstance(value, str) and self.kind is int and float(value) != int(float(value)):
            raise ValueError(f"{self.name}: expected a whole number, got {value!r}")
        lo, hi = self.range
        if not (lo <= v <= hi) or v != v:
            raise ValueError(f"{self.name}: {value!r} is outside {lo:g}–{hi:g}")
        return v


#: How the GUI previews a tool while sliders move (shared with ``bench editor``, which
#: measures the same work without Qt): wait this long for the slider to settle, and
#: compute this many extra document pixels around the visible region so filters with a
#: radius see real neighbours at the view's edge and a small pan needs no new preview.
PREVIEW_DEBOUNCE_MS = 15
PREVIEW_MARGIN = 32

@dataclass(frozen=True)
class Masked:
    """A tool result that applies only somewhere (e.g. inside detected faces): ``image`` is
    the full effect, ``mask`` (HxW float32 in [0, 1]) where it shows. The GUI lands
    ``image`` as a new layer with ``mask`` as its layer mask, so the retoucher can refine
    the mask with the brush; :meth:`Tool.apply` (CLI, previews) composites the two."""

    image: np.ndarray
    mask: np.ndarray


#: run(image RGB(A) float32 HxWxC in [0,1], params dict, progress) -> image float32 or Masked
RunFn = Callable[[np.ndarray, dict, Progress], "np.ndarray | Masked"]


def composite_masked(source: np.ndarray, result: Masked) -> np.ndarray:
    """``result`` seen through its mask over ``source``: the pixels a user would see."""
    image = np.asarray(result.image, dtype=np.float32)
    mask = np.asarray(result.mask, dtype=np.float32)
    if mask.shape != image.shape[:2] or source.shape[:2] != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not fit the {image.shape[:2]} result")
    source = np.asarray(source, dtype=np.float32)
    if source.ndim == 2:
        source = source[..., None]
    m = mask if image.ndim == 2 else mask[..., None]
    src = source if image.ndim == 3 else source[..., 0]
    out = src + m * (image - src)
    return np.ascontiguousarray(out, dtype=np.float32)


@dataclass(frozen=True)
class Tool:
    """A user-facing tool. ``preview`` says how the GUI previews it: ``full`` (cheap: render
    the visible region at screen resolution) or ``reduced`` (expensive: reduced resolution
    while sliders move, full size only on Apply). ``changes_size`` tools (resize, SR)
    produce an image of another size: the GUI applies them to a new document size instead
    of a new layer."""

    id: str
    label: str
    params: tuple[Param, ...]
    run: RunFn
    icon: str = "mdi6.tune"
    help: str = ""
    preview: str = "full"
    changes_size: bool = False
    output_suffix: str = ""
    model_ids: tuple[str, ...] = field(default=())

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def resolve(self, values: dict | None = None) -> dict:
        """Defaults overlaid with ``values``, every value validated. Unknown names raise."""
        names = {p.name: p for p in self.params}
        out = self.defaults()
        for k, v in (values or {}).items():
            if k not in names:
                raise ValueError(f"{self.id}: unknown parameter {k!r}; known: {', '.join(names)}")
            out[k] = names[k].validate(v)
        return out

    def apply(self, image: np.ndarray, values: dict | None = None,
              progress: Progress | None = None) -> np.ndarray:
        """The pixels the user sees after the tool (a masked result composited)."""
        result = self.apply_masked(image, values, progress)
        return result if not isinstance(result, Masked) else composite_masked(image, result)

    def apply_masked(self, image: np.ndarray, values: dict | None = None,
                     progress: Progress | None = None) -> "np.ndarray | Masked":
        """The tool's own result: an image, or a :class:`Masked` effect for a new layer."""
        params = self.resolve(values)
        return self.run(image, params, progress or Progress())
