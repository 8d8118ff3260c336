"""Super-resolution: enlarge a photo by any factor from 1 to 8 with trained networks.

How a continuous scale is reached. Networks exist only for whole factors (quality ×2, ×3,
×4; real photo ×4; fast ×2), so :func:`plan_scales` picks the network pass
sequence with the smallest total factor that reaches the request (ties: fewer passes),
and the result is resampled DOWN with the MATLAB-compatible antialiased bicubic
(:func:`editor.core.imresize.imresize`) to exactly ``round(w·s) × round(h·s)``, rounded
half up like Resize. Shrinking a sharper, larger result keeps its detail; enlarging a
smaller one would blur it. Beyond what one pass reaches (above ×4), ×2 passes follow the
first: ×5.3 = ×3 then ×2 (then down to 5.3), ×8 = ×4 then ×2. The first pass gets the
largest network factor because it is the only one that sees the photo's own
degradations, which is what the networks were trained on.

The extra ×2 passes use the mode's own ×2 network when it has one (fast stays fast) and
the quality ×2 network otherwise: after a real-photo pass the noise and JPEG blocks are
gone and the image is the clean kind of input the quality network was trained for.

Colour and alpha. The networks see straight RGB only. Alpha is resampled separately with
the same antialiased bicubic and re-attached (a network has no business inventing
transparency); colour under fully transparent pixels is first replaced by the colour of
nearby visible pixels, because both filters read it as the neighbour of visible edge
pixels and black "invisible" colour would otherwise darken the edges. A network that
drifts in colour is pulled back to the bicubic result's mean per channel, so the mean
colour never moves by more than a rounding error. An exactly gray input stays gray.

``strength`` blends the network result with the bicubic one (0 = plain bicubic, with no
network run at all). Everything runs in tiles on the engine's device with an overlap of
the model's ``tile_overlap`` (>= its receptive field), so large images have no seams, and
progress/cancel work per tile.

Which networks are used comes from a :class:`ModelSource`: by default the application's
registry and models folder; tests and tools swap in their own with
:func:`set_model_source` or pass ``source=`` to :func:`upscale`.

torch is imported only when a network runs, so listing tools and ``--help`` stay cheap.
"""

from __future__ import annotations

import hashlib
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping

import cv2
import numpy as np

from editor.core.imresize import imresize
from editor.engine.progress import Progress
from editor.engine.registry import REGISTRY, ModelSpec
from editor.tools.resize import output_size
from editor.tools.schema import Param, Tool
from editor.tools.result_cache import LastResult

if TYPE_CHECKING:  # torch stays unimported until a network runs
    from torch import nn

#: Model choice -> the registry ids it may use (whichever of them are registered).
MODE_MODEL_IDS: dict[str, tuple[str, ...]] = {
    "quality": ("sr-quality-x2", "sr-quality-x3", "sr-quality-x4"),
    "real": ("sr-real-x4",),
    "fast": ("sr-fast-x2",),
}
MODE_LABELS = {"quality": "quality", "real": "real photo", "fast": "fast"}

#: Core size of a tile in input pixels; the engine halves it on out-of-memory.
TILE_SIZE = 512
#: Below this alpha a pixel's colour is invisible and may be replaced.
_ALPHA_EPS = 1.0 / 4096.0
#: How far (Gaussian sigma, px) visible colour is spread under transparent pixels: wider
#: than the receptive field of the bicubic filter and of the first network layers.
_FILL_SIGMA = 4.0
#: Mean matching stops once every channel is this close to the bicubic mean.
_MEAN_TOLERANCE = 0.05 / 255.0
#: Share of the progress bar given to resampling and colour matching after the networks.
_FINISH_SHARE = 0.1

#: Largest working memory (bytes) one upscale may use; None = half the physical memory.
MEMORY_LIMIT_BYTES: int | None = None
#: Inputs up to this many pixels (previews, AI zoom views) keep their network result, so
#: moving only the strength slider re-blends instead of re-running the networks.
CACHE_MAX_PIXELS = 2_000_000


# -- where the networks come from ---------------------------------------------------------------

@dataclass(frozen=True)
class ModelSource:
    """The networks each model choice may use.

    ``modes`` maps a model choice ("quality", "real", "fast") to its specs (their
    ``scale`` says what each does); ``directory`` replaces the weights search path and
    ``device`` the engine's default device (None: the Preferences choice).
    """

    modes: Mapping[str, tuple[ModelSpec, ...]]
    directory: str | os.PathLike[str] | None = None
    device: str | None = None

    def scales(self, mode: str) -> dict[int, ModelSpec]:
        """Trained scale -> spec for ``mode`` (empty when none is installed)."""
        return {spec.scale: spec for spec in self.modes.get(mode, ())}

    def load(self, spec: ModelSpec) -> "nn.Module":
        """The ready network for ``spec``; a missing or damaged weights file raises the
        engine's one-line WeightsError."""
        from editor.engine.weights import load_model

        return load_model(spec, self.device, self.directory)


def registry_source() -> ModelSource:
    """The application's models (editor/engine/catalog.py, registered with the registry):
    the ids of :data:`MODE_MODEL_IDS`, with weights from the usual models folder."""
    return ModelSource({mode: tuple(REGISTRY.get(i) for i in ids if i in REGISTRY)
                        for mode, ids in MODE_MODEL_IDS.items()})


_source: ModelSource | None = None


def set_model_source(source: ModelSource | None) -> ModelSource | None:
    """Use ``source`` for every later upscale (None: back to the registry); returns the
    previous one so callers can restore it."""
    global _source
    previous, _source = _source, source
    return previous


def model_source() -> ModelSource:
    """The source upscales use when not given one."""
    return _source if _source is not None else registry_source()


@contextmanager
def using_models(source: ModelSource) -> Iterator[ModelSource]:
    """``with using_models(src):`` — upscales inside use ``src``."""
    previous = set_model_source(source)
    try:
        yield source
    finally:
        set_model_source(previous)


# -- planning -----------------------------------------------------------------------------------

def plan_scales(scale: float, first_scales: Iterable[int], extra_scale: int = 2) -> tuple[int, ...]:
    """Network factors to run one after another for ``scale``: one of ``first_scales``,
    then as many ``extra_scale`` passes as needed. The smallest total factor that
    reaches ``scale`` wins (less to throw away when resampling down), then fewer passes.

    >>> plan_scales(5.3, (2, 3, 4))
    (3, 2)
    >>> plan_scales(8, (4,))
    (4, 2)
    """
    firsts = sorted({int(s) for s in first_scales if int(s) >= 2}, reverse=True)
    if not firsts:
        raise ValueError("plan_scales needs at least one network scale >= 2")
    if extra_scale < 2:
        raise ValueError(f"extra passes must enlarge, got ×{extra_scale}")
    target = float(scale) * (1.0 - 1e-9)  # 2.0000000001 from float arithmetic is 2
    best: tuple[int, ...] | None = None
    best_key: tuple[int, int] | None = None
    for first in firsts:
        passes, total = [first], first
        while total < target:
            passes.append(extra_scale)
            total *= extra_scale
        key = (total, len(passes))
        if best_key is None or key < best_key:
            best, best_key = tuple(passes), key
    assert best is not None
    return best


def plan_models(scale: float, mode: str, source: ModelSource) -> list[ModelSpec]:
    """The specs to run, in order, for ``scale`` in ``mode`` (see the module docstring).
    Raises WeightsError when the mode has no network installed."""
    own = source.scales(mode)
    if not own:
        from editor.engine.weights import WeightsError

        wanted = ", ".join(MODE_MODEL_IDS.get(mode, ())) or "none defined"
        raise WeightsError(f"No {MODE_LABELS.get(mode, mode)} super-resolution model is "
                           f"installed (expected one of: {wanted}).")
    doubler = own.get(2) or source.scales("quality").get(2)
    if doubler is None:
        # No ×2 network anywhere: repeat the mode's smallest one (more to resample down,
        # but still detail from a network rather than from interpolation).
        doubler = own[min(own)]
    factors = plan_scales(scale, own, doubler.scale)
    return [own[factors[0]]] + [doubler] * (len(factors) - 1)


# -- memory -------------------------------------------------------------------------------------

def memory_limit() -> int:
    """Bytes one upscale may use: :data:`MEMORY_LIMIT_BYTES`, else half the physical memory
    (the document, its undo history and the rest of the system need the other half)."""
    if MEMORY_LIMIT_BYTES is not None:
        return int(MEMORY_LIMIT_BYTES)
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: assume a modest machine
        physical = 16 << 30
    return int(physical) // 2


def working_bytes(width: int, height: int, scale: float, factors: Iterable[int],
                  channels: int = 4) -> int:
    """About how many bytes upscaling a ``width`` x ``height`` image by ``scale`` through
    network ``factors`` (none: bicubic only) needs at its peak."""
    factors = tuple(factors)
    total = math.prod(factors)
    ow, oh = output_size(width, height, scale)
    out = ow * oh
    largest = width * total * height * total if factors else 0
    # Bytes per pixel in each phase; the peak is the largest phase. The bicubic reference
    # (12 B per output pixel) is held throughout. Networks: their RGB output and the
    # tiler's weight plane (16 B), the pass input (~3 B). Down-resample (when the
    # networks overshoot): the enlarged RGB (12 B) and, one plane at a time, imresize's
    # float64 copy and gather buffers (~32 B), into the float32 result. Finish: result,
    # output, and the float64 buffers of the alpha resample.
    networks = 19 * largest + 12 * out
    needs_down = bool(factors) and (width * total, height * total) != (ow, oh)
    down = 44 * largest + 24 * out if needs_down else 0
    finish = (48 + 4 * channels) * out
    # Measured peaks (tracemalloc) land within a few % of this; the margin covers torch's
    # own buffers and allocator slack.
    return int(1.15 * max(networks, down, finish))


def _factors(scale: float, mode: str, source: ModelSource, networks: bool) -> tuple[int, ...]:
    return tuple(s.scale for s in plan_models(scale, mode, source)) if networks else ()


def _largest_scale_that_fits(width: int, height: int, scale: float, mode: str,
                             source: ModelSource, channels: int, networks: bool,
                             limit: int) -> float | None:
    step = 0.1
    candidate = math.floor(scale / step - 1e-6) * step
    while candidate >= 1.0 - 1e-9:
        factors = _factors(candidate, mode, source, networks)
        if working_bytes(width, height, candidate, factors, channels) <= limit:
            return round(candidate, 1)
        candidate -= step
    return None


def check_memory(width: int, height: int, scale: float, mode: str, source: ModelSource,
                 channels: int = 4, networks: bool = True) -> None:
    """Raise ValueError, before any work, when the result would not fit in memory; the
    message says how large it would be and which scale would fit. ``networks=False``:
    only the bicubic result is made (strength 0)."""
    need = working_bytes(width, height, scale, _factors(scale, mode, source, networks),
                         channels)
    limit = memory_limit()
    if need <= limit:
        return
    ow, oh = output_size(width, height, scale)
    gb = 1 << 30
    smaller = _largest_scale_that_fits(width, height, scale, mode, source, channels,
                                       networks, limit)
    advice = (f"choose a scale of ×{smaller:g} or less, or crop the image first" if smaller
              else "crop the image first, or enlarge it in parts")
    raise ValueError(
        f"Super-resolution ×{scale:g} of this {width} × {height} image would give "
        f"{ow} × {oh} pixels ({ow * oh / 1e6:,.0f} megapixels, "
        f"{ow * oh * channels * 4 / gb:.1f} GB as a float image, about {need / gb:.1f} GB "
        f"to compute), more than the {limit / gb:.1f} GB this computer can spare; {advice}.")


# -- the work -----------------------------------------------------------------------------------

def _as_channels(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, int]:
    """-> (RGB HxWx3, alpha HxW or None, channel count of the input)."""
    image = np.asarray(image)
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"super-resolution expects float pixels in [0, 1], got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"super-resolution expects an HxW, HxWx1-4 image, got {image.shape}")
    image = image.astype(np.float32, copy=False)
    channels = image.shape[2]
    colour = 1 if channels in (1, 2) else 3
    rgb = image[..., :colour]
    if colour == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    alpha = image[..., colour] if channels in (2, 4) else None
    return rgb, alpha, channels


def _fill_transparent_colour(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``rgb`` with the colour under fully transparent pixels replaced by a Gaussian-
    weighted average of the visible colour nearby (see the module docstring)."""
    hidden = alpha <= _ALPHA_EPS
    if not hidden.any() or hidden.all():
        return rgb
    visible = (~hidden).astype(np.float32)
    spread = cv2.GaussianBlur(np.ascontiguousarray(rgb * visible[..., None]), (0, 0), _FILL_SIGMA,
                              borderType=cv2.BORDER_REFLECT_101)
    weight = cv2.GaussianBlur(visible, (0, 0), _FILL_SIGMA, borderType=cv2.BORDER_REFLECT_101)
    reached = hidden & (weight > 1e-4)  # beyond the spread the colour stays (it is far away)
    out = rgb.copy()
    out[reached] = spread[reached] / weight[reached][:, None]
    return out


def resample_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Antialiased (MATLAB) bicubic of HxW or HxWxC float32 to exactly ``width`` x
    ``height``; not clipped. The same array comes back when the size already fits."""
    if image.shape[:2] == (height, width):
        return image
    if image.ndim == 2:
        return imresize(image, output_shape=(height, width))
    # One channel at a time: imresize works in float64, and a plane is a third of the
    # memory (and, being contiguous, faster to gather than an interleaved HxWx3).
    out = np.empty((height, width, image.shape[2]), dtype=np.float32)
    for c in range(image.shape[2]):
        out[..., c] = imresize(np.ascontiguousarray(image[..., c]), output_shape=(height, width))
    return out


def _match_mean(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Shift each channel of ``image`` (in place) so its mean is the reference's. Clipping
    to [0, 1] after a shift moves the mean again, so repeat until it holds."""
    target = reference.mean(axis=(0, 1), dtype=np.float64)
    for _ in range(8):
        delta = target - image.mean(axis=(0, 1), dtype=np.float64)
        if np.all(np.abs(delta) <= _MEAN_TOLERANCE):
            break
        image += delta.astype(np.float32)
        np.clip(image, 0.0, 1.0, out=image)
    return image


def _run_networks(rgb: np.ndarray, specs: list[ModelSpec], source: ModelSource,
                  progress: Progress, tile: int) -> np.ndarray:
    from editor.engine.tiling import run_tiled

    # Each pass's share of the bar is its share of the output pixels computed.
    sizes, total = [], 1
    for spec in specs:
        total *= spec.scale
        sizes.append(total * total)
    done, whole = 0, sum(sizes)
    image = rgb
    for i, spec in enumerate(specs):
        progress.check_cancelled()
        model = source.load(spec)
        stage = progress.sub_progress(done / whole, (done + sizes[i]) / whole)
        stage.set_progress(0.0, f"Super-resolution ×{spec.scale}"
                           + (f" (pass {i + 1} of {len(specs)})" if len(specs) > 1 else ""))
        image = run_tiled(model, image, scale=spec.scale, tile=tile,
                          overlap=spec.tile_overlap, progress=stage)
        np.clip(image, 0.0, 1.0, out=image)  # the next pass and the blend expect [0, 1]
        done += sizes[i]
    return image


_last_result = LastResult()


def clear_cache() -> None:
    """Forget the kept network result (tests; freeing memory)."""
    _last_result.clear()


def _cache_key(rgb: np.ndarray, size: tuple[int, int], specs: list[ModelSpec],
               source: ModelSource, tile: int) -> tuple | None:
    if rgb.shape[0] * rgb.shape[1] > CACHE_MAX_PIXELS:
        return None  # hashing a whole photo on every Apply would cost more than it saves
    digest = hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).digest()
    # The tile size changes the result only by float rounding, but tests compare exactly it.
    return (digest, rgb.shape, size, tuple(specs), tile,
            None if source.directory is None else str(source.directory), source.device)


def upscale(image: np.ndarray, scale: float, *, mode: str = "quality", strength: float = 1.0,
            progress: Progress | None = None, source: ModelSource | None = None,
            tile: int | None = None) -> np.ndarray:
    """Enlarge float32 RGB(A) (or gray HxW / HxWx1, gray+alpha) pixels in [0, 1] by
    ``scale`` (>= 1; the tool limits it to 8, AI zoom goes further) to exactly
    ``round(w·scale) x round(h·scale)`` with the same channels, in [0, 1].

    ``mode`` picks the networks ("quality", "real", "fast"), ``strength`` blends the
    result with bicubic (0..1). Raises ValueError for bad values or a result too large for
    memory, WeightsError for missing weights, Cancelled via ``progress``.
    """
    scale = float(scale)
    if not scale >= 1.0 or not math.isfinite(scale):
        raise ValueError(f"scale: {scale!r} must be at least 1")
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength: {strength!r} is outside 0–1")
    if mode not in MODE_MODEL_IDS:
        raise ValueError(f"model: {mode!r} is not one of {', '.join(MODE_MODEL_IDS)}")
    progress = progress or Progress()
    source = source or model_source()
    rgb, alpha, channels = _as_channels(image)
    height, width = rgb.shape[:2]
    out_w, out_h = output_size(width, height, scale)
    strength = float(strength)
    check_memory(width, height, scale, mode, source, channels, networks=strength > 0.0)
    progress.set_progress(0.0, "Super-resolution")

    if alpha is not None:
        rgb = _fill_transparent_colour(rgb, alpha)
    gray = bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))
    # Bicubic is both the strength-0 result and the colour reference for the networks.
    bicubic = np.clip(resample_to(rgb, out_w, out_h), 0.0, 1.0)

    if strength == 0.0:
        result = bicubic
    else:
        specs = plan_models(scale, mode, source)
        tile = tile or TILE_SIZE
        key = _cache_key(rgb, (out_w, out_h), specs, source, tile)
        result = _last_result.get(key) if key is not None else None
        if result is None:
            networks = progress.sub_progress(0.0, 1.0 - _FINISH_SHARE)
            enlarged = _run_networks(rgb, specs, source, networks, tile)
            progress.set_progress(1.0 - _FINISH_SHARE, "Resampling to the exact size")
            # In place where possible: at ×8 of a big photo every extra copy is gigabytes.
            result = resample_to(enlarged, out_w, out_h)
            del enlarged
            np.clip(result, 0.0, 1.0, out=result)
            progress.check_cancelled()
            result = _match_mean(result, bicubic)
            if key is not None:
                _last_result.put(key, result)
        if strength < 1.0:
            # A convex blend of two [0, 1] images with matching means keeps both.
            result -= bicubic
            result *= np.float32(strength)
            result += bicubic
    if gray:
        # A network may tint a gray photo slightly; gray in, gray out.
        result = np.repeat(result.mean(axis=2, keepdims=True), 3, axis=2)

    parts = [result[..., :1] if channels in (1, 2) else result]
    if alpha is not None:
        if bool(np.all(alpha >= 1.0)):
            parts.append(np.ones((out_h, out_w, 1), dtype=np.float32))
        else:
            parts.append(np.clip(resample_to(alpha[..., None], out_w, out_h), 0.0, 1.0))
    out = np.concatenate(parts, axis=2) if len(parts) > 1 else parts[0]
    if np.ndim(image) == 2:
        out = out[..., 0]  # HxW in, HxW out
    progress.set_progress(1.0)
    return np.ascontiguousarray(out, dtype=np.float32)


def superres(image: np.ndarray, params: dict, progress: Progress) -> np.ndarray:
    """Tool entry point: :func:`upscale` with the panel's/CLI's parameters."""
    return upscale(image, params["scale"], mode=params["model"], strength=params["strength"],
                   progress=progress)


TOOL = Tool(
    id="superres",
    label="Super-resolution",
    icon="mdi6.image-size-select-large",
    help="Enlarge the image with trained networks that restore fine detail "
         "(sharper than bicubic).",
    params=(
        Param("scale", float, 2.0, range=(1.0, 8.0), step=0.1, decimals=2, suffix="×",
              label="Scale", help="Size factor for width and height (any value, e.g. 2.5)"),
        Param("model", "choice", "quality", label="Model",
              choices=(("quality", "Quality (most detail)"),
                       ("real", "Real photo (ignores noise and JPEG blocks)"),
                       ("fast", "Fast (quick, less detail)")),
              help="Quality for clean images, Real photo for phone/JPEG photos, "
                   "Fast for a quick result"),
        Param("strength", float, 1.0, range=(0.0, 1.0), step=0.05, label="Strength",
              help="Mix with plain bicubic enlargement (0 = bicubic only, 1 = network only)"),
    ),
    run=superres,
    preview="reduced",
    changes_size=True,
    output_suffix="_superres",
    model_ids=tuple(i for ids in MODE_MODEL_IDS.values() for i in ids),
)
