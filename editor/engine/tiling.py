"""Run a network over an image in overlapping tiles, seamlessly, and survive running out
of memory by halving the tile.

Geometry. The image is cut into a grid of *cores* (at most ``tile`` x ``tile`` input
pixels, sizes balanced so no sliver is left at the end). Each core is fed to the network
with ``overlap`` pixels of real image context on every side that is not an image edge.
A tile's output is weighted by a separable ramp that is 0 over the outer half of each
margin, rises linearly across the core boundary (0.5 exactly on it) and is 1 inside the
core; image edges are never tapered. Accumulated outputs are divided by accumulated
weights. Consequence: when ``overlap`` is at least twice the network's receptive-field
radius, every pixel that gets weight is one the tile computed from real context, so tiled
output equals untiled output (up to float rounding); for networks with wider context
(normalisation, attention) the ramp hides the seams.

Pixels: ``image`` is float32 HxWxC RGB(A) in [0, 1]; ``fn`` sees NCHW float32 tensors.
The output is not clipped (the caller decides).
"""

from __future__ import annotations

from collections import deque
from typing import Callable

import numpy as np
import torch

from editor.engine.progress import Progress

TensorFn = Callable[[torch.Tensor], torch.Tensor]

#: Below this core size halving stops helping (the margins dominate) and we give up.
MIN_TILE = 32


class TileOutOfMemoryError(RuntimeError):
    """Even the smallest tile does not fit in the device's memory."""


def _ramp(n: int, start_margin: float, end_margin: float) -> np.ndarray:
    """1D weights over ``n`` pixels whose first/last ``*_margin`` pixels are context
    (0 = image edge or no margin: no taper on that side)."""
    centres = np.arange(n, dtype=np.float64) + 0.5
    weights = np.ones(n, dtype=np.float64)
    if start_margin > 0:
        weights *= np.clip(centres / start_margin - 0.5, 0.0, 1.0)
    if end_margin > 0:
        weights *= np.clip((n - centres) / end_margin - 0.5, 0.0, 1.0)
    return weights


def tile_blend_weights(h: int, w: int, overlap: int, at_top: bool, at_bottom: bool,
                       at_left: bool, at_right: bool) -> np.ndarray:
    """HxW float32 blend weights for a tile with ``overlap`` px of context on each side
    that is not at an image edge (``at_*`` True: that side is the image border, untapered)."""
    rows = _ramp(h, 0 if at_top else overlap, 0 if at_bottom else overlap)
    cols = _ramp(w, 0 if at_left else overlap, 0 if at_right else overlap)
    return np.outer(rows, cols).astype(np.float32)


def _spans(start: int, stop: int, tile: int) -> list[tuple[int, int]]:
    # Balanced split: ceil(length / tile) pieces whose sizes differ by at most one pixel.
    length = stop - start
    count = max(1, -(-length // tile))
    edges = [start + i * length // count for i in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


def _cores(box: tuple[int, int, int, int], tile: int) -> list[tuple[int, int, int, int]]:
    y0, y1, x0, x1 = box
    return [(a, b, c, d) for a, b in _spans(y0, y1, tile) for c, d in _spans(x0, x1, tile)]


def _is_oom(error: BaseException) -> bool:
    # CUDA raises torch.OutOfMemoryError; MPS still raises a plain RuntimeError.
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


def _free_device_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def _padded_size(n: int, multiple: int, min_size: int) -> int:
    n = max(n, min_size)
    return -(-n // multiple) * multiple


def _run_tile(fn: TensorFn, crop: np.ndarray, scale: int, multiple: int, min_size: int,
              device: torch.device) -> np.ndarray:
    h, w = crop.shape[:2]
    ph, pw = _padded_size(h, multiple, min_size), _padded_size(w, multiple, min_size)
    if (ph, pw) != (h, w):
        # Reflection keeps image statistics at the padded border; numpy's reflect also
        # copes with pads longer than the crop (and with 1-pixel crops).
        crop = np.pad(crop, ((0, ph - h), (0, pw - w), (0, 0)), mode="reflect")
    batch = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None].to(device)
    result = fn(batch)
    expected = (ph * scale, pw * scale)
    if (not isinstance(result, torch.Tensor) or result.ndim != 4 or result.shape[0] != 1
            or tuple(result.shape[2:]) != expected):
        got = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
        raise ValueError(f"tile function returned {got}, "
                         f"expected (1, C, {expected[0]}, {expected[1]})")
    result = result[0, :, : h * scale, : w * scale]
    return result.float().cpu().numpy().transpose(1, 2, 0)


def run_tiled(fn: TensorFn, image: np.ndarray, *, scale: int = 1, tile: int = 512,
              overlap: int = 16, progress: Progress | None = None,
              device: torch.device | str | None = None, stats: dict | None = None,
              multiple: int = 1, min_size: int = 8, min_tile: int = MIN_TILE) -> np.ndarray:
    """Apply ``fn`` ((1,C,h,w) -> (1,C',h*scale,w*scale) tensor) to ``image`` tile by tile.

    ``tile`` bounds the core of each tile (input px; context margins come on top) and
    ``overlap`` is that margin. ``device`` is where tiles are sent (default: the device of
    ``fn``'s parameters when it is a module, else CPU). Tiles are reflect-padded up to
    ``min_size`` and to a ``multiple`` the network needs. On out-of-memory the failing tile
    is halved and the job goes on; the final tile size lands in ``stats["tile"]`` (with
    ``tiles`` run and ``ooms`` survived) so the caller can start there next time.
    Raises Cancelled via ``progress``; TileOutOfMemoryError when even ``min_tile`` fails.
    Returns float32 (H*scale) x (W*scale) x C' RGB(A).
    """
    image = np.asarray(image)
    if not np.issubdtype(image.dtype, np.floating):  # uint8 0..255 here would be a silent bug
        raise ValueError(f"image must be float in [0, 1], got dtype {image.dtype}")
    image = image.astype(np.float32, copy=False)
    if image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be HxWxC, got shape {image.shape}")
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be an int >= 1, got {scale!r}")
    if tile < 1 or overlap < 0 or multiple < 1 or min_size < 1:
        raise ValueError(f"bad tiling: tile={tile!r} overlap={overlap!r} "
                         f"multiple={multiple!r} min_size={min_size!r}")
    progress = progress or Progress()
    if device is None:  # a model knows where it lives; plain functions get CPU tensors
        parameter = next(fn.parameters(), None) if isinstance(fn, torch.nn.Module) else None
        device = parameter.device if parameter is not None else "cpu"
    device = torch.device(device)
    height, width = image.shape[:2]
    s = scale
    output: np.ndarray | None = None
    weight_sum = np.zeros((height * s, width * s), dtype=np.float32)
    todo = deque(_cores((0, height, 0, width), tile))
    done_area, calls, ooms = 0, 0, 0

    with torch.inference_mode():
        while todo:
            core = y0, y1, x0, x1 = todo.popleft()
            if y1 - y0 > tile or x1 - x0 > tile:  # planned before a tile size cut
                todo.extendleft(reversed(_cores(core, tile)))
                continue
            progress.check_cancelled()
            ey0, ey1 = max(0, y0 - overlap), min(height, y1 + overlap)
            ex0, ex1 = max(0, x0 - overlap), min(width, x1 + overlap)
            try:
                result = _run_tile(fn, image[ey0:ey1, ex0:ex1], s, multiple, min_size, device)
            except RuntimeError as error:
                if not _is_oom(error):
                    raise
                result = None  # retry outside the handler so its traceback frees the tensors
            if result is None:
                ooms += 1
                _free_device_memory(device)
                smaller = max(y1 - y0, x1 - x0) // 2
                if smaller < min_tile:
                    raise TileOutOfMemoryError(
                        f"Out of memory on {device} even with {max(y1 - y0, x1 - x0)} px tiles; "
                        "try the CPU or close other programs using the GPU.")
                tile = min(tile, smaller)
                todo.appendleft(core)
                continue
            if output is None:
                output = np.zeros((height * s, width * s, result.shape[2]), dtype=np.float32)
            elif result.shape[2] != output.shape[2]:
                raise ValueError(f"tile function changed channel count: "
                                 f"{output.shape[2]} -> {result.shape[2]}")
            weights = np.outer(_ramp(result.shape[0], (y0 - ey0) * s, (ey1 - y1) * s),
                               _ramp(result.shape[1], (x0 - ex0) * s, (ex1 - x1) * s))
            weights = weights.astype(np.float32)
            region = np.s_[ey0 * s:ey1 * s, ex0 * s:ex1 * s]
            output[region] += result * weights[..., None]
            weight_sum[region] += weights
            calls += 1
            done_area += (y1 - y0) * (x1 - x0)
            progress.set_progress(done_area / (height * width),
                                  f"Tile {calls} of {calls + len(todo)}")

    assert output is not None  # at least one core always exists
    output /= weight_sum[..., None]  # > 0 everywhere: each pixel has weight >= 0.25 in its core
    if stats is not None:
        stats.update(tile=tile, tiles=calls, ooms=ooms)
    return output
