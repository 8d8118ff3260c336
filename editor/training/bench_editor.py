"""``restora-cli bench editor``: does the editor's foundation hold its speed and memory
promises on a 24-megapixel photo?

Six measurements, taken in one run on the same machine and written side by side:

1. Slider preview latency for Sharpen: the work the GUI does per slider move (crop the
   visible region of the active layer, run the tool, convert for display), against the
   issue's target of a refresh within ~100 ms for cheap tools.
2. Sharpen applied to the full 24 MP layer.
3. Compositing: a full 3-layer composite versus the dirty-rectangle update the canvas
   does per 200x200 brush dab.
4. Undo memory: what the diff-based history keeps for a brush stroke and a tool result,
   versus whole-layer copies.
5. Tiling: tiled versus untiled network output (time, and the seam error, which must
   stay within 1/255), and a simulated out-of-memory that must end with a halved tile.
6. I/O: loading and saving the photo as 8-bit JPEG, 16-bit PNG and 16-bit TIFF.

The photo is synthetic and seeded (smooth gradients, mid-frequency texture, hard-edged
shapes, grain), so every machine measures the same pixels and nothing is read from the
data folder. ``--quick`` shrinks everything for the test suite.

No PySide6: the benchmark has to run on headless CI. The per-dab cache update and the
brush stroke use the canvas's own Qt-free modules (editor.qt.render_cache and
editor.qt.canvas_input); the preview steps of editor.qt.tool_controller, which does
import Qt, are re-enacted here step for step (see :func:`_preview_work`).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from editor.core import imageio
from editor.core.document import Document, Layer, to_rgba
from editor.core.edits import mask_from_shape, new_layer_from_image
from editor.core.history import History
from editor.core.meta import ImageMeta
from editor.engine.progress import Progress
from editor.engine.tiling import run_tiled
from editor.nets.tiny import TinyNet
# The canvas's Qt-free halves (numpy only; tests/training checks no PySide6 gets loaded):
# measuring the brush and the display cache the canvas really uses beats a look-alike.
from editor.qt.canvas_input import MaskStroke
from editor.qt.render_cache import DocumentCaches, premultiplied_rgba8
from editor.tools import get_tool
from editor.tools.schema import PREVIEW_DEBOUNCE_MS, PREVIEW_MARGIN
from editor.training.bench_common import cpus as _cpus, load_average as _load_average
from editor.training.results import (PEAK_RSS_METHOD, peak_rss_mb,
                                     reset_peak_rss, rss_mb, timings, write_results)

NAME = "editor"
TITLE = "Editor foundation"

#: The project runs torch with two threads in benchmarks, so numbers compare across runs.
TORCH_THREADS = 2

#: The issue's promise for cheap tools: the preview refreshes within ~100 ms of a move.
PREVIEW_TARGET_S = 0.100
# The GUI's own preview policy (Qt-free, so the benchmark measures the same numbers).
PREVIEW_DEBOUNCE_S = PREVIEW_DEBOUNCE_MS / 1000.0
#: The canvas area the preview covers: a 1600x1000 view at 100 % zoom.
VIEW_SIZE = (1600, 1000)

#: Brush dabs are about this big; the dirty rectangle the canvas re-renders per dab.
DAB_SIZE = 200
STROKE_DABS = 30

#: Any tiled result further than this from the untiled one would show as a seam.
TILE_TOLERANCE = 1.0 / 255.0


@dataclass(frozen=True)
class Plan:
    """Sizes and repeat counts of one run. The full plan stays under ~3 minutes on 2 cores;
    the quick one under ~20 s for the tests."""

    width: int
    height: int
    preview_repeats: int
    apply_repeats: int
    composite_repeats: int
    dab_repeats: int
    tile_image: int
    tile: int
    tile_overlap: int
    tile_repeats: int
    io_repeats: int
    quick: bool

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


FULL = Plan(width=6000, height=4000, preview_repeats=7, apply_repeats=3, composite_repeats=3,
            dab_repeats=15, tile_image=2048, tile=512, tile_overlap=8, tile_repeats=3,
            io_repeats=1, quick=False)
QUICK = Plan(width=1200, height=800, preview_repeats=3, apply_repeats=1, composite_repeats=1,
             dab_repeats=5, tile_image=768, tile=256, tile_overlap=8, tile_repeats=1,
             io_repeats=1, quick=True)


# -- the photo ------------------------------------------------------------------------------

def synthetic_photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A seeded photo-like float32 HxWx3 RGB image in [0, 1]: smooth gradients (sky,
    walls), mid-frequency texture (foliage, fabric), hard-edged shapes (the edges Sharpen
    works on and blend modes show) and fine grain (sensor noise). Random noise alone would
    be the wrong workload: codecs compress it differently and filters see no edges."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    image = np.empty((height, width, 3), dtype=np.float32)
    for c in range(3):
        ax, ay, fx, fy, phase = rng.uniform(-1.0, 1.0, size=5).astype(np.float32)
        wave = np.sin(np.float32(2 * np.pi) * (np.float32(2 + fx) * x + phase)) \
            * np.cos(np.float32(2 * np.pi) * np.float32(1.5 + fy) * y)
        image[..., c] = 0.45 + 0.2 * (ax * x + ay * y) + 0.12 * wave

    # Coarse noise upsampled smoothly: blotchy texture at ~16 px scale.
    coarse = rng.random((height // 16 + 2, width // 16 + 2, 3), dtype=np.float32) - 0.5
    image += 0.18 * cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)

    # Flat shapes with hard borders, sized relative to the frame so --quick looks alike.
    scale = min(width, height)
    for _ in range(48):
        colour = tuple(float(v) for v in rng.uniform(0.05, 0.95, size=3))
        cx, cy = int(rng.uniform(0, width)), int(rng.uniform(0, height))
        size = int(rng.uniform(0.02, 0.12) * scale)
        if rng.random() < 0.5:
            cv2.circle(image, (cx, cy), size, colour, thickness=-1)
        else:
            cv2.rectangle(image, (cx - size, cy - size // 2), (cx + size, cy + size // 2),
                          colour, thickness=-1)
    # A lens never renders a perfectly aliased step; soften edges to about a pixel.
    image = cv2.GaussianBlur(image, (0, 0), sigmaX=0.7)
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(0.015)
    np.clip(image, 0.0, 1.0, out=image)
    return image


def _retouch_layer_pixels(photo: np.ndarray) -> np.ndarray:
    # A warm colour grade of the photo: what a masked retouch layer typically holds.
    graded = photo * np.array([1.06, 1.0, 0.9], dtype=np.float32) + np.float32(0.02)
    return np.clip(graded, 0.0, 1.0, out=graded)


def _vignette_pixels(width: int, height: int) -> np.ndarray:
    # A multiply layer darkening the corners: 1 in the centre, 0.6 in the corners.
    y = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    shade = 1.0 - 0.2 * (x * x + y * y)
    return np.repeat(shade[..., None], 3, axis=2)


# -- measuring helpers ------------------------------------------------------------------------

@dataclass
class Memory:
    """Peak resident memory per stage; stages cover the whole run, so the largest stage
    peak is the run's peak."""

    resettable: bool = True
    stages: dict[str, dict] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[dict]:
        # The display caches hold their document through a reference cycle (a MipCache
        # keeps a bound method of its DocumentCaches), so a dropped document lingers until
        # the cyclic collector runs. Collect now, so each stage starts from what is really
        # still in use and its baseline is not inflated by the previous stage's garbage.
        gc.collect()
        before = rss_mb()
        self.resettable = reset_peak_rss() and self.resettable
        record: dict = {"rss_before_mb": before}
        yield record
        record["peak_mb"] = peak_rss_mb()
        self.stages[name] = record

    @property
    def peak_mb(self) -> float | None:
        peaks = [s["peak_mb"] for s in self.stages.values() if s["peak_mb"] is not None]
        return max(peaks) if peaks else None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else _ms(seconds)


def _mb(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.1f} MiB"


def _times(ratio: float) -> str:
    return f"{ratio:.1f}×" if ratio < 10 else f"{ratio:,.0f}×"


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _cycle(items: list) -> Callable[[], object]:
    state = {"i": 0}

    def next_item():
        item = items[state["i"] % len(items)]
        state["i"] += 1
        return item

    return next_item


# -- 1 + 2: Sharpen preview and apply ---------------------------------------------------------

def preview_bbox(width: int, height: int) -> tuple[int, int, int, int]:
    """The document region a preview covers: a VIEW_SIZE view centred in the photo at
    100 % zoom plus the controller's margin, clipped to the canvas."""
    vw, vh = min(VIEW_SIZE[0], width), min(VIEW_SIZE[1], height)
    x0, y0 = (width - vw) // 2, (height - vh) // 2
    m = PREVIEW_MARGIN
    return (max(0, x0 - m), max(0, y0 - m), min(width, x0 + vw + m), min(height, y0 + vh + m))


def _preview_work(pixels: np.ndarray, bbox: tuple[int, int, int, int], tool, values: dict
                  ) -> np.ndarray:
    """What one slider move costs in the GUI, after ToolController.request_preview and
    run_preview and Canvas.show_preview. At 100 % zoom a 1.6-megapixel view is under the
    controller's FULL_PREVIEW_MAX_PIXELS, so the preview runs at full resolution: the
    crop is copied (resize_image copies when no resize is needed), the tool runs, and the
    canvas converts the result to premultiplied 8-bit for the QImage it paints."""
    x0, y0, x1, y1 = bbox
    crop = np.array(pixels[y0:y1, x0:x1], dtype=np.float32, order="C", copy=True)
    result = tool.apply(crop, values, Progress())
    return premultiplied_rgba8(to_rgba(result))


def bench_sharpen(doc: Document, plan: Plan, data: dict) -> np.ndarray:
    tool = get_tool("sharpen")
    values = tool.defaults()
    layer = doc.layers[0]
    bbox = preview_bbox(doc.width, doc.height)
    shown = _preview_work(layer.pixels, bbox, tool, values)
    if shown.shape[:2] != (bbox[3] - bbox[1], bbox[2] - bbox[0]):
        raise AssertionError(f"preview came out {shown.shape}, expected the region {bbox}")
    preview = timings(lambda: _preview_work(layer.pixels, bbox, tool, values),
                      plan.preview_repeats, warmup=1)
    # The same steps one at a time, so the table says where a slow preview loses its time.
    x0, y0, x1, y1 = bbox
    crop = np.array(layer.pixels[y0:y1, x0:x1], dtype=np.float32, order="C", copy=True)
    filtered = tool.apply(crop, values, Progress())
    parts = {
        "crop_copy": timings(lambda: np.array(layer.pixels[y0:y1, x0:x1], dtype=np.float32,
                                              order="C", copy=True), plan.preview_repeats),
        "tool": timings(lambda: tool.apply(crop, values, Progress()), plan.preview_repeats),
        "display_8bit": timings(lambda: premultiplied_rgba8(to_rgba(filtered)),
                                plan.preview_repeats),
    }
    del crop, filtered

    # Apply: the GUI hands the tool a private copy of the layer (ToolController
    # _layer_job_fn), so the copy is part of the cost a user waits for.
    result: dict = {}

    def apply_full():
        result["image"] = tool.apply(layer.pixels.copy(), values, Progress())

    apply = timings(apply_full, plan.apply_repeats, warmup=0)
    data["preview"] = {"bbox": bbox, "values": values, "seconds": preview,
                       "median_s": _median(preview), "target_s": PREVIEW_TARGET_S,
                       "parts_seconds": parts,
                       "parts_median_s": {k: _median(v) for k, v in parts.items()},
                       "debounce_s": PREVIEW_DEBOUNCE_S}
    data["apply"] = {"size": [doc.width, doc.height], "seconds": apply,
                     "median_s": _median(apply)}
    return result["image"]


# -- 3: compositing -----------------------------------------------------------------------------

def add_stack(doc: Document, photo: np.ndarray) -> Layer:
    """Background + a masked normal layer at 60 % + a multiply layer. Returns the masked
    layer (the brush stroke paints its mask)."""
    w, h = doc.width, doc.height
    mask = mask_from_shape(w, h, "ellipse", (0.2 * w, 0.15 * h, 0.8 * w, 0.85 * h),
                           feather=0.03 * min(w, h))
    retouch = Layer(_retouch_layer_pixels(photo), "Retouch", opacity=0.6, mask=mask)
    doc.insert_layer(retouch, 1)
    doc.insert_layer(Layer(_vignette_pixels(w, h), "Vignette", blend_mode="multiply"), 2)
    return retouch


def dab_boxes(width: int, height: int, count: int) -> list[tuple[int, int, int, int]]:
    """``count`` DAB_SIZE squares along a diagonal through the masked middle, so every
    box has all three layers under it."""
    size = min(DAB_SIZE, width // 4, height // 4)
    boxes = []
    for i in range(count):
        t = (i + 0.5) / count
        cx, cy = int(width * (0.3 + 0.4 * t)), int(height * (0.3 + 0.4 * t))
        boxes.append((cx - size // 2, cy - size // 2, cx - size // 2 + size, cy - size // 2 + size))
    return boxes


def bench_composite(doc: Document, plan: Plan, data: dict) -> None:
    # Flatten: what export and merge do, the whole canvas in one numpy pass per layer.
    flatten = timings(lambda: doc.composite(), plan.composite_repeats, warmup=0)

    # What the canvas does after a change that touches everything (a layer's opacity or
    # blend mode): re-render the 8-bit display cache in bands, then its mip levels.
    caches = DocumentCaches(doc)
    caches.composite.ensure()  # allocation of the levels is a one-off, not per change

    def full_rerender():
        caches.composite.invalidate()
        caches.composite.ensure()

    rerender = timings(full_rerender, plan.composite_repeats, warmup=0)

    # Per dab: the dirty rectangle is re-composited and pushed through the mip levels.
    next_box = _cycle(dab_boxes(doc.width, doc.height, 8))

    def dab_update():
        caches.composite.invalidate(next_box())
        caches.composite.ensure()

    dab = timings(dab_update, plan.dab_repeats, warmup=2)

    # The dirty-rect path must show what a full composite shows, or the ratio means
    # nothing: erase the mask under one dab the way the brush does (a document event
    # the cache hears), update, compare, then put the mask back.
    box = dab_boxes(doc.width, doc.height, 1)[0]
    x0, y0, x1, y1 = box
    masked = next(l for l in doc.layers if l.mask is not None)
    old = doc.read_region(masked.id, "mask", box)
    doc.write_region(masked.id, "mask", box, np.zeros_like(old))
    caches.composite.ensure()
    dab_matches = bool(np.array_equal(caches.composite.levels[0][y0:y1, x0:x1],
                                      premultiplied_rgba8(doc.composite(box))))
    doc.write_region(masked.id, "mask", box, old)
    caches.close()
    data["composite"] = {
        "layers": [(l.name, l.blend_mode, l.opacity, l.mask is not None) for l in doc.layers],
        "flatten_seconds": flatten, "flatten_median_s": _median(flatten),
        "rerender_seconds": rerender, "rerender_median_s": _median(rerender),
        "dab_box": [x1 - x0, y1 - y0], "dab_seconds": dab, "dab_median_s": _median(dab),
        "full_over_dab": _median(rerender) / _median(dab), "dab_matches_full": dab_matches,
    }


# -- 4: undo memory ---------------------------------------------------------------------------

def bench_undo(doc: Document, retouch: Layer, sharpened: np.ndarray, data: dict) -> None:
    history = History(doc)
    # A stroke of STROKE_DABS dabs: the first at begin(), then one per spacing (a quarter
    # of the brush size) along a horizontal drag inside the mask's ellipse, where every dab
    # changes something (a dab that changes nothing is not recorded). Small canvases
    # (--quick) get a smaller brush so the whole stroke fits.
    x, y = doc.width * 0.25, doc.height * 0.5
    size = min(float(DAB_SIZE), doc.width * 0.5 / (0.25 * STROKE_DABS + 1))
    spacing = max(0.5, size * 0.25)
    mask_before = retouch.mask.copy()
    dabs = {"count": 0}

    def count_dabs(event):
        if event.kind == "pixels" and event.detail == "mask":
            dabs["count"] += 1

    doc.subscribe(count_dabs)
    stroke = MaskStroke(doc, history, retouch.id, value=0.0, size=size, hardness=0.5,
                        opacity=1.0)
    stroke.begin(x, y)
    stroke.move_to(x + spacing * (STROKE_DABS - 1) + spacing / 2, y)
    stroke.finish()
    doc.unsubscribe(count_dabs)
    stroke_steps = len(history.entries)
    stroke_bytes = history.nbytes
    stroke_full = retouch.pixels.nbytes + retouch.mask.nbytes

    # Undo must give back exactly the mask the stroke started from.
    history.undo()
    stroke_undo_exact = bool(np.array_equal(retouch.mask, mask_before))
    history.redo()
    del mask_before

    background = doc.layers[0]
    before = history.nbytes
    history.push(new_layer_from_image(doc, sharpened, "Sharpen", above_layer_id=background.id))
    sharpen_bytes = history.nbytes - before
    sharpen_full = background.pixels.nbytes + (0 if background.mask is None
                                               else background.mask.nbytes)
    data["undo"] = {
        "stroke_dabs": dabs["count"], "stroke_steps": stroke_steps, "brush_size": round(size),
        "stroke_bytes": stroke_bytes, "stroke_full_copy_bytes": stroke_full,
        "stroke_ratio": stroke_bytes / stroke_full, "stroke_undo_exact": stroke_undo_exact,
        "sharpen_bytes": sharpen_bytes, "sharpen_full_copy_bytes": sharpen_full,
        "history_bytes": history.nbytes, "full_copy_bytes": stroke_full + sharpen_full,
        "history_ratio": history.nbytes / (stroke_full + sharpen_full),
    }
    # Leave the document as section 3 measured it; nothing after this reads it.
    history.goto(0)


# -- 5: tiling ---------------------------------------------------------------------------------

class _OutOfMemoryAbove:
    """A network that 'runs out of memory' on any input side longer than ``limit``, as a
    GPU would on a tile too big for it."""

    def __init__(self, net: torch.nn.Module, limit: int) -> None:
        self.net, self.limit = net, limit

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if max(batch.shape[-2:]) > self.limit:
            raise torch.OutOfMemoryError(f"simulated: {tuple(batch.shape)} exceeds {self.limit} px")
        return self.net(batch)


def _untiled(net: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        batch = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
        return net(batch)[0].numpy().transpose(1, 2, 0)


def bench_tiling(plan: Plan, data: dict) -> None:
    torch.manual_seed(0)
    net = TinyNet(channels=3, scale=1, width=8).eval()
    image = synthetic_photo(plan.tile_image, plan.tile_image, seed=1)
    tile, overlap = plan.tile, plan.tile_overlap

    out: dict = {}

    def untiled():
        out["untiled"] = _untiled(net, image)

    def tiled():
        stats: dict = {}
        out["tiled"] = run_tiled(net, image, tile=tile, overlap=overlap, stats=stats)
        out["stats"] = stats

    untiled_s = timings(untiled, plan.tile_repeats, warmup=1)
    tiled_s = timings(tiled, plan.tile_repeats, warmup=1)
    diff = float(np.abs(out["tiled"] - out["untiled"]).max())

    # Too big at the planned tile, fits at half of it (a tile's input is the core plus
    # the overlap on each side).
    limit = tile // 2 + 2 * overlap + 4
    oom_stats: dict = {}
    start = time.perf_counter()
    survived = run_tiled(_OutOfMemoryAbove(net, limit), image, tile=tile, overlap=overlap,
                         stats=oom_stats)
    oom_s = time.perf_counter() - start
    oom_diff = float(np.abs(survived - out["untiled"]).max())
    data["tiling"] = {
        "image": [plan.tile_image, plan.tile_image], "tile": tile, "overlap": overlap,
        "net": "TinyNet(channels=3, width=8), random weights, seed 0",
        "untiled_seconds": untiled_s, "untiled_median_s": _median(untiled_s),
        "tiled_seconds": tiled_s, "tiled_median_s": _median(tiled_s),
        "tiles": out["stats"]["tiles"], "tiled_over_untiled": _median(tiled_s) / _median(untiled_s),
        "max_abs_diff": diff, "tolerance": TILE_TOLERANCE,
        "oom_limit_px": limit, "oom_final_tile": oom_stats["tile"], "oom_count": oom_stats["ooms"],
        "oom_tiles": oom_stats["tiles"], "oom_seconds": oom_s, "oom_max_abs_diff": oom_diff,
    }


# -- 6: I/O -----------------------------------------------------------------------------------

IO_FORMATS = (("JPEG", 8, ".jpg"), ("PNG", 16, ".png"), ("TIFF", 16, ".tif"))


def bench_io(photo: np.ndarray, plan: Plan, memory: Memory, data: dict) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="restora-bench-") as folder:
        for fmt, depth, suffix in IO_FORMATS:
            path = Path(folder) / f"photo{suffix}"
            meta = ImageMeta(format=fmt, bit_depth=depth)
            with memory.stage(f"save {fmt}") as save_mem:
                save = timings(lambda: imageio.save_image(path, photo, meta, format=fmt,
                                                          quality=95, bit_depth=depth),
                               plan.io_repeats, warmup=0)
            loaded: dict = {}
            with memory.stage(f"load {fmt}") as load_mem:
                load = timings(lambda: loaded.update(image=imageio.load_image(path)[0]),
                               plan.io_repeats, warmup=0)
            back = loaded.pop("image")
            if back.shape != photo.shape:
                raise AssertionError(f"{fmt} came back {back.shape}, saved {photo.shape}")
            error = float(np.abs(back - photo).max())
            del back
            rows.append({
                "format": fmt, "bit_depth": depth, "file_bytes": path.stat().st_size,
                "save_seconds": save, "save_median_s": _median(save),
                "load_seconds": load, "load_median_s": _median(load),
                "save_peak_mb": save_mem.get("peak_mb"),
                "save_rss_before_mb": save_mem["rss_before_mb"],
                "load_peak_mb": load_mem.get("peak_mb"),
                "load_rss_before_mb": load_mem["rss_before_mb"],
                "roundtrip_max_abs_error": error,
            })
            path.unlink()
    data["io"] = rows


def _peak_over(peak: float | None, before: float | None) -> str:
    if peak is None:
        return "n/a"
    if before is None:
        return f"{peak:,.0f} MiB"
    return f"{peak:,.0f} MiB (+{max(0.0, peak - before):,.0f})"


# -- the report --------------------------------------------------------------------------------

# -- entry point -------------------------------------------------------------------------------

def run(plan: Plan, out: Path | None) -> tuple[str, dict, list[str]]:
    """Measure everything, write the results (to ``out``, else the models folder) and
    return (markdown, data, failed checks)."""
    torch.set_num_threads(TORCH_THREADS)
    memory = Memory()
    data: dict = {"plan": plan.__dict__.copy()}
    load_start = _load_average()
    started = time.perf_counter()

    with memory.stage("setup"):
        photo = synthetic_photo(plan.width, plan.height, seed=0)
        doc = Document.from_image(photo, name="Background")
    with memory.stage("sharpen"):
        sharpened = bench_sharpen(doc, plan, data)
    with memory.stage("composite"):
        retouch = add_stack(doc, photo)
        bench_composite(doc, plan, data)
    with memory.stage("undo"):
        bench_undo(doc, retouch, sharpened, data)
    del sharpened, doc, retouch
    with memory.stage("tiling"):
        bench_tiling(plan, data)
    bench_io(photo, plan, memory, data)
    del photo

    data["memory"] = {"method": PEAK_RSS_METHOD, "per_stage_reset": memory.resettable,
                      "stages": memory.stages, "peak_mb": memory.peak_mb}
    data["total_seconds"] = time.perf_counter() - started
    data["environment"] = {"cpus": _cpus(), "torch": torch.__version__,
                       "torch_threads": torch.get_num_threads(),
                       "opencv_threads": cv2.getNumThreads(),
                       "load_average_start": load_start, "load_average_end": _load_average()}
    from editor.training.bench_editor_report import report  # imports this module back

    markdown, failures = report(plan, data, memory)
    data["failures"] = failures
    write_results(NAME, TITLE, markdown, data, out)
    return markdown, data, failures


def _load_note(machine: dict) -> str:
    start, end = machine["load_average_start"], machine["load_average_end"]
    if start is None:
        return ""
    note = f"; 1-minute load average {start:.1f} at the start, {end:.1f} at the end"
    # This process alone keeps the load near the thread count; well above the core count,
    # other processes were competing for the cores and the times run high.
    if max(start, end) > machine["cpus"] + 0.5:
        note += " (other processes were competing for the cores: times run high)"
    return note


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="restora-cli bench editor",
        description="Measure preview latency, apply, compositing, undo memory, tiling and "
                    "I/O on a synthetic 24-megapixel photo; writes models/RESULTS.md.")
    parser.add_argument("--quick", action="store_true",
                        help="a 1200×800 photo and fewer repeats (for the tests)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for RESULTS.md and results/editor.json "
                             "(default: the models folder)")
    try:
        ns = parser.parse_args(args)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    markdown, data, failures = run(QUICK if ns.quick else FULL, ns.out)
    print(f"## {TITLE}\n\n{markdown}\n")
    print(f"({data['total_seconds']:.0f} s in all)")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0
