"""Deblur: remove camera shake, motion blur and focus blur with a trained scale-recurrent
network (SRN-DeblurNet, :mod:`editor.nets.srn_deblur`; model ``deblur-srn``).

``strength`` blends the network's correction: ``result = input + strength · (restored -
input)``. 0 returns the input exactly (no network runs, no weights are needed), 1 the
network's result. Because the network itself predicts a correction over its input (see the
net's docstring), this is the same as scaling what it adds.

Lens blur. With ``lens_blur`` on (the default), the photo's spectrum is checked for the
zero rings of an out-of-focus disc (:mod:`editor.core.lens_blur`). Where the whole photo
shows one disc radius with confidence, and that disc re-blurs the network's result back
towards the photo (as a shake kernel must, below), the result is refined by deconvolving
the photo with that disc (:func:`editor.core.deconvolution.deconvolve_sparse`: a heavy-tailed gradient
prior, and the network's result as the prior image; a network this small, sized for a
CPU, recovers far less of a lens blur than the known disc does).

Camera shake. With ``shake_blur`` on (the default) and no lens blur found, a shake kernel is
estimated from the photo (:mod:`editor.core.shake_blur`: the L0-gradient blind method, on
the central crop and on each of its halves). Only a kernel the halves agree on, and larger
than the small blob the method invents on sharp photos, and one that re-blurs the network's
result back towards the photo (or, for a long shake the network barely touched, one the
halves agree on strongly), is used: the photo is then deconvolved with it the same way,
the network's result as the prior. When the estimated kernel is smaller than a pixel's RMS
radius (:data:`editor.core.shake_blur.SHARP_SPREAD`), or re-blurs the network's result far
from the photo (:data:`editor.core.shake_blur.NO_BLUR_REBLUR`: the network found little to
change), the photo shows no blur and is left as it is, because the network would only add
haloes to an already sharp photo. Otherwise (partly focused scenes, blur that varies across
the photo, estimates that disagree) the network's result stands alone. The strength
slider blends the refined result the same way.

Local means. Before any refinement, the low-pass of the network's change (a Gaussian of
:data:`MEAN_SIGMA` px) is taken out: a blur moves no local mean at that scale, so such a
change is the network's bias (it darkened photos slightly), never a deblurring.

Pixels. The work is in float32, so a 16-bit image keeps its precision (the file writer
quantises once, to the file's own depth). The network sees RGB only; grey images are
repeated to RGB and averaged back, alpha is passed through untouched, and colour under
fully transparent pixels is first replaced by nearby visible colour, because the network
reads those pixels as neighbours of the visible edge (and they are given back their own
colour afterwards: nothing invisible changes).

Tiling. Full renders run in tiles of :data:`TILE_SIZE` px on the engine's device with the
model's ``tile_overlap`` of context (at least twice the context radius measured on the
trained weights; export_deblur checks it), so large photos have no seams and
progress/cancel work per tile. Images of up to :data:`WHOLE_IMAGE_PIXELS` run as one tile.
Images smaller than the network's coarsest level needs (16 px) are padded by reflection and
cropped back.

The network result of the last small image is kept, so dragging only the strength slider
re-blends instead of re-running the network. Which model runs comes from a
:class:`DeblurModels` source: by default the application's registry and models folder;
tests and tools swap in their own with :func:`set_model_source` or ``source=``.

torch is imported only when the network runs, so listing tools and ``--help`` stay cheap.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import cv2
import numpy as np

from editor.engine.progress import Progress
from editor.engine.registry import REGISTRY, ModelSpec
from editor.tools.schema import Param, Tool
from editor.tools.result_cache import LastResult

if TYPE_CHECKING:  # torch stays unimported until the network runs
    from torch import nn

#: The catalog's deblurring model.
MODEL_ID = "deblur-srn"
#: Core size of a tile in input pixels (the engine halves it on out-of-memory). Large,
#: because the context margin is wide: with the shipped model's 256-px overlap (128 px a
#: side), 1024-px tiles spend 1.6x the pixels of their cores, 512-px ones 2.3x.
TILE_SIZE = 1024
#: Images up to this many pixels (with their bottom/right padding) run as one tile: no
#: pixel is computed twice. The network at width 12 peaks at ~0.7 kB per pixel on the CPU
#: (measured), so this is ~2 GB, about what a 1408-px tile of a large photo takes anyway.
WHOLE_IMAGE_PIXELS = 2_800_000
#: Sides are padded to a multiple of this (3 levels x 2 stride-2 convolutions).
MULTIPLE = 16
#: Inputs up to this many pixels (previews) keep their network result for the strength slider.
CACHE_MAX_PIXELS = 2_000_000
#: Below this alpha a pixel's colour is invisible.
_ALPHA_EPS = 1.0 / 4096.0
#: Gaussian sigma (px) over which visible colour is spread under transparent pixels.
_FILL_SIGMA = 4.0
#: Gaussian sigma (px) of the local mean the network's correction must not move. A blur
#: kernel sums to 1, so blurry and sharp photos share their local means at this scale (on
#: the true corrections of the training photos, with kernels up to 41 px, this low-pass is
#: below 1/255 rms); the network's own low-pass change is a bias: it darkened 180 training
#: photos by 0.005 on average (house.jpg of the real set by 0.011). Removing it gained
#: 0.04 / 0.00 / 0.02 dB on the three training sets the refinements were tuned on, and
#: more on the network alone (8 px beat 2 and 4 px there).
MEAN_SIGMA = 8.0


# -- where the network comes from ---------------------------------------------------------------

@dataclass(frozen=True)
class DeblurModels:
    """The deblurring model to use: ``spec`` (None: none installed), ``directory``
    replacing the weights search path and ``device`` the engine's default device."""

    spec: ModelSpec | None
    directory: str | os.PathLike[str] | None = None
    device: str | None = None

    def load(self) -> "nn.Module":
        """The ready network; a missing or damaged weights file raises the engine's
        one-line WeightsError."""
        from editor.engine.weights import WeightsError, load_model

        if self.spec is None:
            raise WeightsError(f"No deblurring model is installed (model '{MODEL_ID}' is not "
                               "in the model catalog).")
        return load_model(self.spec, self.device, self.directory)


def registry_source() -> DeblurModels:
    """The application's model (editor/engine/catalog.py) from the usual models folder."""
    return DeblurModels(REGISTRY.get(MODEL_ID) if MODEL_ID in REGISTRY else None)


_source: DeblurModels | None = None


def set_model_source(source: DeblurModels | None) -> DeblurModels | None:
    """Use ``source`` for every later deblur (None: back to the registry); returns the
    previous one so callers can restore it."""
    global _source
    previous, _source = _source, source
    return previous


def model_source() -> DeblurModels:
    return _source if _source is not None else registry_source()


@contextmanager
def using_models(source: DeblurModels) -> Iterator[DeblurModels]:
    """``with using_models(src):`` — deblurs inside use ``src``."""
    previous = set_model_source(source)
    try:
        yield source
    finally:
        set_model_source(previous)


# -- the kept network result --------------------------------------------------------------------

_last_result = LastResult()


def clear_cache() -> None:
    """Forget the kept network result (tests; freeing memory)."""
    _last_result.clear()


def _cache_key(rgb: np.ndarray, source: DeblurModels, tile: int) -> tuple | None:
    if rgb.shape[0] * rgb.shape[1] > CACHE_MAX_PIXELS:
        return None  # hashing a whole photo on every Apply would cost more than it saves
    digest = hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).digest()
    return (digest, rgb.shape, source.spec, tile,
            None if source.directory is None else str(source.directory), source.device)


# -- the work -----------------------------------------------------------------------------------

def _split_channels(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, int]:
    """-> (RGB HxWx3 float32, alpha HxW or None, colour channel count of the input)."""
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"deblur expects float pixels in [0, 1], got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"deblur expects an HxW or HxWx1-4 image, got {image.shape}")
    image = image.astype(np.float32, copy=False)
    colour = 1 if image.shape[2] in (1, 2) else 3
    rgb = image[..., :colour]
    if colour == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    alpha = image[..., colour] if image.shape[2] in (2, 4) else None
    return np.ascontiguousarray(rgb), alpha, colour


def _fill_hidden_colour(rgb: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """``rgb`` with the colour under ``hidden`` pixels replaced by a Gaussian-weighted
    average of the visible colour nearby (unchanged where no visible pixel is near)."""
    if not hidden.any() or hidden.all():
        return rgb
    visible = (~hidden).astype(np.float32)
    spread = cv2.GaussianBlur(np.ascontiguousarray(rgb * visible[..., None]), (0, 0),
                              _FILL_SIGMA, borderType=cv2.BORDER_REFLECT_101)
    weight = cv2.GaussianBlur(visible, (0, 0), _FILL_SIGMA, borderType=cv2.BORDER_REFLECT_101)
    reached = hidden & (weight > 1e-4)
    out = rgb.copy()
    out[reached] = spread[reached] / weight[reached][:, None]
    return out


def aligned_tiling(height: int, width: int, tile: int, overlap: int,
                   multiple: int = MULTIPLE) -> tuple[int, int, int, int]:
    """(padded height, padded width, tile, overlap) that make every tile start on a
    multiple of ``multiple`` px and span a whole number of them.

    Why: the network pools its input 2×2 twice per level, so it is only shift-equivariant
    for shifts by ``multiple`` px; a tile starting at an odd place would pool different
    pixel pairs than the whole image does, and differ from it everywhere, not just at
    seams. The image is also padded by at least ``overlap / 2`` px at the bottom and right,
    so every real pixel sees the same reflected border whether or not it was tiled (the
    pixels farther out, which differ, are beyond the context the overlap is sized for).
    """
    overlap = -(-max(0, overlap) // multiple) * multiple
    tile = max(multiple, int(tile) // multiple * multiple)

    def side(n: int) -> int:
        # run_tiled cuts a side into ceil(n / tile) balanced spans; a side of exactly
        # count x span px with span a multiple of ``multiple`` (and <= tile) is cut at
        # multiples of span, with the same count.
        need = n + overlap // 2
        count = -(-need // tile)
        return count * (-(-need // (count * multiple)) * multiple)

    return side(height), side(width), tile, overlap


def _default_tile(height: int, width: int, source: DeblurModels) -> int:
    """One tile for an image that fits :data:`WHOLE_IMAGE_PIXELS`, else :data:`TILE_SIZE`."""
    margin = (source.spec.tile_overlap if source.spec is not None else 0) // 2
    h, w = height + margin, width + margin
    if h * w > WHOLE_IMAGE_PIXELS:
        return TILE_SIZE
    # Rounded up to whole padding steps, so aligned_tiling fits the image in one tile.
    return -(-(max(h, w) + MULTIPLE) // MULTIPLE) * MULTIPLE


def _restore(rgb: np.ndarray, source: DeblurModels, progress: Progress, tile: int) -> np.ndarray:
    from editor.engine.tiling import run_tiled

    model = source.load()
    progress.set_progress(0.0, "Deblurring")
    multiple = int(getattr(model, "multiple", MULTIPLE))
    height, width = rgb.shape[:2]
    padded_h, padded_w, tile, overlap = aligned_tiling(
        height, width, tile, source.spec.tile_overlap if source.spec is not None else 0,
        multiple)
    # Reflection, like the network's own padding; numpy's copes with pads longer than the
    # image (a 1-pixel image becomes a 16-pixel flat one).
    padded = np.pad(rgb, ((0, padded_h - height), (0, padded_w - width), (0, 0)),
                    mode="reflect" if min(height, width) > 1 else "edge")
    from editor.engine.device import fast_convolutions

    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = "cpu"
    context, prepare = fast_convolutions(model, device)
    with context:
        restored = run_tiled(lambda tensor: model(prepare(tensor)), padded, tile=tile,
                             overlap=overlap, progress=progress, multiple=multiple,
                             min_size=multiple, device=device)
    restored = np.ascontiguousarray(restored[:height, :width])
    return np.clip(restored, 0.0, 1.0, out=restored)


def keep_local_mean(restored: np.ndarray, blurry: np.ndarray,
                    sigma: float = MEAN_SIGMA) -> np.ndarray:
    """``restored`` minus the low-pass (Gaussian ``sigma``) of its change from ``blurry``,
    in place: deblurring sharpens, it never brightens, darkens or tints (see
    :data:`MEAN_SIGMA`)."""
    change = cv2.GaussianBlur(np.ascontiguousarray(restored - blurry), (0, 0), sigma,
                              borderType=cv2.BORDER_REFLECT_101)
    restored -= change.reshape(restored.shape)
    return np.clip(restored, 0.0, 1.0, out=restored)


def _refine(blurry: np.ndarray, restored: np.ndarray, lens_blur: bool, shake_blur: bool,
            progress: Progress) -> np.ndarray:
    """``restored`` refined by deconvolving ``blurry`` with the lens-blur disc or the
    camera-shake kernel the photo shows (in that order), ``blurry`` itself when the shake
    estimate finds the photo sharp, or ``restored`` when it shows neither."""
    from editor.core import deconvolution as dc
    from editor.core.lens_blur import disc_kernel, estimate_defocus
    from editor.core.shake_blur import LARGE_PIXELS, MAX_REBLUR, estimate_shake, reblur_on_crop

    kernel, sparsity = None, dc.SPARSITY
    if lens_blur:
        estimate = estimate_defocus(blurry)
        # A disc must also re-blur the network's result back towards the photo, as a
        # shake kernel must: the spectrum test alone took two sharp training photos for
        # 15-px discs (ratio ~1,400; true discs 0.07-0.47), and deconvolving them lost 31-35 dB.
        if estimate.found and reblur_on_crop(disc_kernel(estimate.radius), blurry,
                                             restored) <= MAX_REBLUR:
            kernel = disc_kernel(estimate.radius)
            progress.set_progress(0.9, f"Lens blur, radius {estimate.radius:.2f} px: "
                                  "deconvolving")
    if kernel is None and shake_blur:
        progress.set_progress(0.85, "Camera shake: estimating the blur kernel")
        shake = estimate_shake(blurry, check=progress.check_cancelled, prior=restored)
        if shake.found:
            kernel, sparsity = shake.kernel, dc.ESTIMATED_SPARSITY
            progress.set_progress(0.9, f"Camera shake, {kernel.shape[0]} px kernel: "
                                  "deconvolving")
        elif shake.sharp:
            # No blur to remove: the network would only sharpen it further (haloes).
            progress.set_progress(0.9, "No blur found: the photo is left as it is")
            return blurry.copy()
    if kernel is None:
        return restored
    # One threshold for every cheap path a large photo takes (its 3 s/MP budget).
    large = blurry.shape[0] * blurry.shape[1] > LARGE_PIXELS
    refined = dc.deconvolve_sparse(blurry, restored, kernel, sparsity=sparsity,
                                   steps=dc.LARGE_STEPS if large else dc.STEPS,
                                   check=progress.check_cancelled)
    return np.clip(refined, 0.0, 1.0, out=refined)


def deblur_image(image: np.ndarray, *, strength: float = 1.0, lens_blur: bool = True,
                 shake_blur: bool = True, progress: Progress | None = None,
                 source: DeblurModels | None = None, tile: int | None = None) -> np.ndarray:
    """Deblur float32 RGB(A), grey HxW / HxWx1 or grey+alpha pixels in [0, 1]; returns
    float32 of the same shape in [0, 1]. ``lens_blur`` / ``shake_blur``: refine with the
    disc a lens blur shows / the kernel a camera shake shows (see the module docstring).
    Raises ValueError for bad input, WeightsError when the model is missing (only when
    ``strength`` > 0), Cancelled via ``progress``."""
    strength = float(strength)
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength: {strength!r} is outside 0–1")
    image = np.asarray(image)
    progress = progress or Progress()
    rgb, alpha, colour = _split_channels(image)
    progress.set_progress(0.0, "Deblur")
    if strength == 0.0:
        progress.set_progress(1.0)
        return np.array(image, dtype=np.float32)   # a copy: exactly the input

    source = source or model_source()
    if tile is None:
        tile = _default_tile(*rgb.shape[:2], source)
    hidden = alpha <= _ALPHA_EPS if alpha is not None else None
    network_input = _fill_hidden_colour(rgb, hidden) if hidden is not None else rgb
    key = _cache_key(network_input, source, tile)
    if key is not None:
        key += (lens_blur, shake_blur)
    restored = _last_result.get(key) if key is not None else None
    if restored is None:
        refine = lens_blur or shake_blur
        restored = _restore(network_input, source,
                            progress.sub_progress(0.0, 0.85 if refine else 0.95), tile)
        restored = keep_local_mean(restored, network_input)
        if refine:
            restored = _refine(network_input, restored, lens_blur, shake_blur, progress)
        if key is not None:   # the refined result: a strength drag re-blends only
            _last_result.put(key, restored)
    progress.set_progress(0.95, "Blending")

    if strength < 1.0:
        # input + strength * correction, computed in place in the restored buffer.
        restored -= rgb
        restored *= np.float32(strength)
        restored += rgb
        np.clip(restored, 0.0, 1.0, out=restored)
    if hidden is not None:
        restored[hidden] = rgb[hidden]           # nothing invisible changes
    if colour == 1:
        restored = restored.mean(axis=2, keepdims=True)
    elif np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        # The network may tint a grey photo slightly; grey in, grey out.
        restored = np.repeat(restored.mean(axis=2, keepdims=True), 3, axis=2)
    parts = [restored] if alpha is None else [restored, alpha[..., None]]
    out = np.concatenate(parts, axis=2) if len(parts) > 1 else parts[0]
    if image.ndim == 2:
        out = out[..., 0]
    progress.set_progress(1.0)
    return np.ascontiguousarray(out, dtype=np.float32)


def deblur(image: np.ndarray, params: dict, progress: Progress) -> np.ndarray:
    """Tool entry point: :func:`deblur_image` with the panel's/CLI's parameters."""
    return deblur_image(image, strength=params["strength"], lens_blur=params["lens_blur"],
                        shake_blur=params["shake_blur"], progress=progress)


TOOL = Tool(
    id="deblur",
    label="Deblur",
    icon="mdi6.blur-off",
    help="Remove camera shake, motion blur and focus blur with a trained network "
         "(scale-recurrent SRN-DeblurNet).",
    params=(
        Param("strength", float, 1.0, range=(0.0, 1.0), step=0.05, label="Strength",
              help="How much of the network's correction is applied "
                   "(0 = unchanged, 1 = fully deblurred)"),
        Param("lens_blur", bool, True, label="Refine lens blur",
              help="When the whole photo is out of focus by one amount, detect the lens "
                   "blur's radius from the photo and deconvolve with it (the network's "
                   "result as the guide)"),
        Param("shake_blur", bool, True, label="Refine camera shake",
              help="When the whole photo is shaken the same way, estimate the shake's "
                   "blur path from the photo and deconvolve with it (the network's result "
                   "as the guide); used only when the photo's halves agree on it. "
                   "A photo this finds sharp is left as it is"),
    ),
    run=deblur,
    preview="reduced",
    output_suffix="_deblurred",
    model_ids=(MODEL_ID,),
)
