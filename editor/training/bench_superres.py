"""``restora-cli bench superres``: how good and how fast are our super-resolution models,
side by side with bicubic and OpenCV's published networks, measured the way the field
measures?

One run on one machine fills four tables:

1. Quality: Y-channel PSNR / SSIM of bicubic, the OpenCV peers (FSRCNN, ESPCN, LapSRN;
   :mod:`editor.training.peers`) and each of our catalog models on Set5 (x2, x3, x4),
   Set14 x4 and B100 x4 (``../shared/data/bench/sr``), with the median seconds per output
   megapixel over the images.
2. Speed and memory on a fixed ~1-megapixel output (250x250 -> 1000x1000 at x4,
   500x500 -> 1000x1000 at x2, 333x333 -> 999x999 at x3), torch and OpenCV on 2 threads;
   plus the SR tool's whole path (tiling, colour matching) for comparison.
3. The issue's real-photo test: B100 x4 LR with Gaussian noise sigma 5/255 then JPEG
   quality 60 (seeded by image index), quality x4 against real-photo x4.
4. The issue's targets, each with the measured number and PASS / MISS.

The protocol, and why (each choice moves numbers by tenths of a dB, the size of the
differences being measured):

* LR inputs are the benchmark's own MATLAB-bicubic files; the HR is cropped to
  ``LR size x scale`` when it is not a multiple of the scale (what the field's "modcrop"
  amounts to).
* Every method's output is clipped and rounded to 8 bits before scoring, as a saved
  result would be; the peers return 8-bit images anyway.
* Scores are on BT.601 studio-range luma with ``scale`` pixels of border cropped; SSIM
  uses the 11x11 Gaussian window, sigma 1.5 (:mod:`editor.core.metrics`).
* Bicubic is MATLAB's (:func:`editor.core.imresize.imresize`), the baseline papers quote.
* Our networks run directly at their native scale on the whole LR image and are scored
  on their plain output: no tiling, no strength blend and no mean-colour correction
  (the tool's :func:`~editor.tools.superres.upscale` adds those; the literature reports
  networks, so that is what is compared). The tool's own speed is in table 2.

Models whose weights are not in the models folder yet are listed as "not trained yet",
and a peer that cannot be loaded is listed with the reason, so the table always shows
what is missing rather than silently dropping a row.

``--quick`` takes 2 images per set and a 240-pixel timing image, for the test suite.
Results go to ``models/RESULTS.md`` and ``models/results/superres.json`` (``--out DIR``
elsewhere). No PySide6 anywhere: this runs on headless machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch

from editor.core.imageio import load_image
from editor.core.imresize import imresize
from editor.core.metrics import psnr_y, ssim_y
from editor.engine.registry import find_weights
from editor.engine.weights import WeightsError, load_model
from editor.training.bench_common import (OTHERS_SHARE_WARNING, cpu_seconds as _cpu_seconds,
                                          cpus as _cpus,
                                          json_safe as _json_safe,
                                          load_average as _load_average, measure_speed,
                                          others_share as _others_share, quantise,
                                          timing_image)
from editor.training import peers as peer_models
from editor.training.degrade import noisy_jpeg
from editor.training.results import PEAK_RSS_METHOD, write_results
from editor.tools.superres import MODE_LABELS, ModelSource, clear_cache, registry_source, upscale

NAME = "superres"
TITLE = "Super-resolution"

#: The issue measures speed "with torch limited to 2 threads"; OpenCV gets the same.
THREADS = 2
#: Benchmark sets in the order the field tabulates them; other folders follow by name.
SET_ORDER = ("Set5", "Set14", "B100")
SCALES = (2, 3, 4)
#: Model choices in table order (the product's names; see editor.tools.superres).
MODES = ("quality", "fast", "real")

#: The issue's real-photo degradation of the B100 x4 LR images (the same values the
#: training code validates the real-photo model with).
REAL_NOISE_SIGMA = 5.0 / 255.0
REAL_JPEG_QUALITY = 60

#: The issue's targets.
PSNR_TARGETS: tuple[tuple[int, str, float], ...] = (
    (4, "Set5", 30.8), (4, "Set14", 27.5), (4, "B100", 26.9), (2, "Set5", 36.8),
    (3, "Set5", 32.9))
SPEED_TARGET_X4 = 0.5        # s per output megapixel, quality x4, 2 threads
FAST_PREVIEW_TARGET = 0.15   # s for a 1-megapixel preview with the fast model
WEIGHTS_LIMIT_BYTES = 5_000_000
REAL_CLEAN_MARGIN_DB = 1.0

EMPTY = "—"


@dataclass(frozen=True)
class Plan:
    """How much to measure: the full run (a few minutes on 2 cores) or the tests' run."""

    images_per_set: int | None   # None: all
    timing_output_side: int      # the fixed-size timing makes about this square output
    timing_repeats: int
    quick: bool


FULL = Plan(images_per_set=None, timing_output_side=1000, timing_repeats=5, quick=False)
QUICK = Plan(images_per_set=2, timing_output_side=240, timing_repeats=1, quick=True)


class DataMissing(RuntimeError):
    """The benchmark images are not where they were looked for."""


# -- data ------------------------------------------------------------------------------------

@dataclass
class Pair:
    name: str
    lr: np.ndarray   # float32 RGB, the benchmark's LR file
    hr: np.ndarray   # float32 RGB, cropped to exactly lr size x scale


def default_data_dir() -> Path:
    """``../shared/data`` beside the checkout."""
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def sr_root(data_dir: str | os.PathLike[str]) -> Path:
    """The folder holding Set5/Set14/B100: ``DIR/bench/sr``, or ``DIR`` itself when it
    already is one. Raises DataMissing with what was looked for."""
    data_dir = Path(data_dir).expanduser()
    for candidate in (data_dir / "bench" / "sr", data_dir):
        if candidate.is_dir() and any((candidate / name).is_dir() for name in SET_ORDER):
            return candidate
    raise DataMissing(f"no super-resolution benchmark data under {data_dir} (looked for "
                      f"{data_dir / 'bench' / 'sr'}/{{{','.join(SET_ORDER)}}}); pass "
                      "--data DIR pointing at the shared data folder")


def _set_dirs(root: Path) -> list[Path]:
    known = [root / name for name in SET_ORDER if (root / name).is_dir()]
    others = sorted(p for p in root.iterdir() if p.is_dir() and p.name not in SET_ORDER)
    return known + others


def _file_pairs(set_dir: Path, scale: int) -> list[tuple[str, Path, Path]]:
    """(name, HR path, LR path) for one set and scale, in either layout the data uses:
    ``HR/NAME.png`` + ``LR_bicubic/X{s}/NAMEx{s}.png`` (SwinIR's), or
    ``x{s}/NAME_HR.png`` + ``x{s}/NAME_LR.png`` (SelfExSR's)."""
    found = []
    lr_dir = set_dir / "LR_bicubic" / f"X{scale}"
    if (set_dir / "HR").is_dir() and lr_dir.is_dir():
        for hr_path in sorted((set_dir / "HR").glob("*.png")):
            lr_path = lr_dir / f"{hr_path.stem}x{scale}.png"
            if lr_path.is_file():
                found.append((hr_path.stem, hr_path, lr_path))
    pair_dir = set_dir / f"x{scale}"
    if pair_dir.is_dir():
        for hr_path in sorted(pair_dir.glob("*_HR.png")):
            lr_path = hr_path.with_name(hr_path.name[: -len("_HR.png")] + "_LR.png")
            if lr_path.is_file():
                found.append((hr_path.name[: -len("_HR.png")], hr_path, lr_path))
    return found


def _rgb(path: Path) -> np.ndarray:
    pixels, _meta = load_image(path)
    return np.ascontiguousarray(pixels[..., :3])  # grey files come back as RGB already


def load_pairs(files: Sequence[tuple[str, Path, Path]], scale: int) -> list[Pair]:
    pairs = []
    for name, hr_path, lr_path in files:
        lr, hr = _rgb(lr_path), _rgb(hr_path)
        h, w = lr.shape[0] * scale, lr.shape[1] * scale
        if hr.shape[0] < h or hr.shape[1] < w:
            raise DataMissing(f"{hr_path.name} is {hr.shape[1]}x{hr.shape[0]}, smaller than "
                              f"its LR x{scale} ({w}x{h})")
        pairs.append(Pair(name, lr, np.ascontiguousarray(hr[:h, :w])))
    return pairs


def discover(root: Path, limit: int | None = None) -> list[tuple[str, int, list]]:
    """(set name, scale, files) for every set and scale with data, scale-major in table
    order; ``limit`` keeps the first images of each (sorted by name)."""
    out = []
    for scale in SCALES:
        for set_dir in _set_dirs(root):
            files = _file_pairs(set_dir, scale)
            if files:
                out.append((set_dir.name, scale, files[:limit] if limit else files))
    return out


# -- methods ---------------------------------------------------------------------------------

Upscaler = Callable[[np.ndarray], np.ndarray]


@dataclass
class Method:
    """One row of the quality table: something that enlarges float RGB by ``scale``."""

    key: str            # unique: "bicubic-x4", "peer:ESPCN_x4", the model id
    label: str
    kind: str           # "baseline", "peer", "ours"
    scale: int
    run: Upscaler | None
    note: str = ""      # why ``run`` is None, or how the method was run
    params: int | None = None
    file_bytes: int | None = None
    mode: str | None = None   # our model choice ("quality", "fast", "real")


def _bicubic(scale: int) -> Upscaler:
    return lambda lr: imresize(lr, float(scale))


def _network(net: torch.nn.Module) -> Upscaler:
    def run(lr: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)))[None]
            return net(x)[0].numpy().transpose(1, 2, 0)
    return run


def _peer_methods(scale: int, peers_dir: Path | None) -> list[Method]:
    methods = []
    for spec in peer_models.peers_for_scale(scale):
        key = f"peer:{spec.filename[:-3]}"
        label = f"OpenCV {spec.name}"
        try:
            peer = peer_models.load_peer(spec, peers_dir)
        except peer_models.PeerUnavailable as why:
            methods.append(Method(key, label, "peer", scale, None, note=f"skipped: {why}"))
            continue
        methods.append(Method(key, label, "peer", scale, peer.upscale, file_bytes=peer.file_bytes,
                              note="cv2.dnn, dnn_superres pre/post-processing"))
    return methods


def _our_methods(scale: int, source: ModelSource) -> list[Method]:
    methods = []
    for mode in MODES:
        spec = source.scales(mode).get(scale)
        if spec is None:
            continue
        label = f"Restora {MODE_LABELS.get(mode, mode)} ×{scale} ({spec.id})"
        try:
            path = find_weights(spec.weights, source.directory)
        except FileNotFoundError:
            methods.append(Method(spec.id, label, "ours", scale, None, mode=mode,
                                  note=f"not trained yet ({spec.weights} not in the models "
                                       "folder)"))
            continue
        try:
            # CPU explicitly: the benchmark measures the 2-thread CPU promise even on a
            # machine with a GPU.
            net = load_model(spec, "cpu", source.directory)
        except WeightsError as why:
            methods.append(Method(spec.id, label, "ours", scale, None, mode=mode,
                                  note=f"could not load: {why}"))
            continue
        methods.append(Method(spec.id, label, "ours", scale, _network(net), mode=mode,
                              params=sum(p.numel() for p in net.parameters()),
                              file_bytes=path.stat().st_size,
                              note="raw network output, whole image, no colour correction"))
    return methods


def methods_for_scale(scale: int, source: ModelSource, peers_dir: Path | None) -> list[Method]:
    return ([Method(f"bicubic-x{scale}", f"Bicubic ×{scale} (MATLAB imresize)", "baseline",
                    scale, _bicubic(scale))]
            + _peer_methods(scale, peers_dir) + _our_methods(scale, source))


# -- scoring ---------------------------------------------------------------------------------

def score(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float]:
    """(PSNR-Y dB, SSIM-Y) of ``sr`` (quantised here) against ``hr``, border = scale."""
    if sr.shape != hr.shape:
        raise ValueError(f"output is {sr.shape[1]}x{sr.shape[0]}, expected "
                         f"{hr.shape[1]}x{hr.shape[0]}")
    sr = quantise(sr)
    return psnr_y(sr, hr, scale), ssim_y(sr, hr, scale)


def evaluate(method: Method, pairs: list[Pair], scale: int) -> dict[str, Any]:
    """Scores and timing of ``method`` on every pair; the mean PSNR/SSIM and the median
    seconds per output megapixel (each image timed once, after one untimed warm-up call
    that pays for lazy initialisation)."""
    assert method.run is not None
    method.run(pairs[0].lr)
    cpu_start, started = _cpu_seconds(), time.perf_counter()
    per_image = []
    for pair in pairs:
        start = time.perf_counter()
        out = method.run(pair.lr)
        seconds = time.perf_counter() - start
        p, s = score(out, pair.hr, scale)
        megapixels = out.shape[0] * out.shape[1] / 1e6
        per_image.append({"image": pair.name, "psnr_y": p, "ssim_y": s, "seconds": seconds,
                          "s_per_mp": seconds / megapixels})
    return {"psnr_y": statistics.fmean(r["psnr_y"] for r in per_image),
            "ssim_y": statistics.fmean(r["ssim_y"] for r in per_image),
            "median_s_per_mp": statistics.median(r["s_per_mp"] for r in per_image),
            "other_processes_cpu_share": _others_share(cpu_start,
                                                       time.perf_counter() - started),
            "images": len(per_image), "per_image": per_image}


# -- fixed-size speed and memory -------------------------------------------------------------


def _tool_runner(source: ModelSource, mode: str, scale: int) -> Upscaler:
    cpu_source = replace(source, device="cpu")

    def run(image: np.ndarray) -> np.ndarray:
        clear_cache()  # the tool keeps its last small result; a repeat must recompute
        return upscale(image, float(scale), mode=mode, source=cpu_source)
    return run


# -- the real-photo test ---------------------------------------------------------------------

def degraded_lr(pairs: list[Pair]) -> list[np.ndarray]:
    """The issue's real-photo inputs: each LR + N(0, 5/255) noise (numpy default_rng
    seeded with the image's index in sorted order) then JPEG quality 60 (OpenCV)."""
    return [noisy_jpeg(p.lr, REAL_NOISE_SIGMA, REAL_JPEG_QUALITY, seed=i)
            for i, p in enumerate(pairs)]


def real_photo_test(methods: list[Method], pairs: list[Pair],
                    clean: dict[str, dict[str, Any]]) -> dict[str, Any]:
    degraded = degraded_lr(pairs)
    rows = {}
    for method in methods:
        if method.run is None:
            continue
        scores = [score(method.run(lr), p.hr, 4) for lr, p in zip(degraded, pairs)]
        rows[method.key] = {
            "label": method.label,
            "clean_psnr_y": clean.get(method.key, {}).get("psnr_y"),
            "clean_ssim_y": clean.get(method.key, {}).get("ssim_y"),
            "degraded_psnr_y": statistics.fmean(s[0] for s in scores),
            "degraded_ssim_y": statistics.fmean(s[1] for s in scores)}
    return {"protocol": f"B100 x4 LR + Gaussian noise sigma {REAL_NOISE_SIGMA * 255:g}/255 "
                        "(numpy default_rng(seed = image index in sorted order)), clipped, "
                        f"then OpenCV JPEG quality {REAL_JPEG_QUALITY}",
            "images": len(pairs), "rows": rows}


# -- targets ---------------------------------------------------------------------------------

def _disturbed(entry: dict | None) -> str:
    # A timing target judged while other processes took the cores must say so.
    share = (entry or {}).get("other_processes_cpu_share")
    if share is None or share <= OTHERS_SHARE_WARNING:
        return ""
    return f"; other processes took {share:.0%} of the CPU meanwhile"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def check_targets(methods: dict[str, Method], quality: dict[str, dict[str, dict]],
                  speed: dict[str, dict], real: dict[str, Any] | None,
                  source: ModelSource, plan: Plan) -> list[dict[str, Any]]:
    """Every target of the issue with its measured value and PASS / MISS ("n/a" with the
    reason when the model is not trained yet or the data is absent)."""
    out: list[dict[str, Any]] = []

    def spec_id(mode: str, scale: int) -> str | None:
        spec = source.scales(mode).get(scale)
        return spec.id if spec is not None else None

    def missing(model_id: str | None) -> str | None:
        if model_id is None:
            return "no such model in the catalog"
        method = methods.get(model_id)
        if method is None or method.run is None:
            return method.note if method is not None else "not measured"
        return None

    for scale, set_name, goal in PSNR_TARGETS:
        model_id = spec_id("quality", scale)
        why = missing(model_id)
        entry = {} if why else quality.get(model_id, {}).get(set_name, {})
        got = entry.get("psnr_y")
        if why is None and got is None:
            why = (f"error: {entry['error']}" if "error" in entry
                   else f"no {set_name} ×{scale} data")
        out.append({"target": f"quality ×{scale} on {set_name} ≥ {goal} dB", "model": model_id,
                    "goal": goal, "measured": got,
                    "text": f"{got:.2f} dB ({got - goal:+.2f})" if got is not None else why,
                    "ok": None if got is None else got >= goal})

    model_id = spec_id("quality", 4)
    why = missing(model_id)
    got = speed.get(model_id, {}).get("s_per_output_mp") if why is None else None
    out.append({"target": f"quality ×4 ≤ {SPEED_TARGET_X4} s per output MP on {THREADS} threads",
                "model": model_id, "goal": SPEED_TARGET_X4, "measured": got,
                "text": (f"{got:.3f} s/MP" + _disturbed(speed.get(model_id)))
                if got is not None else why,
                "ok": None if got is None else got <= SPEED_TARGET_X4})

    for method in methods.values():
        if method.kind != "ours":
            continue
        size = method.file_bytes
        out.append({"target": f"{method.key} weights ≤ {WEIGHTS_LIMIT_BYTES / 1e6:g} MB",
                    "model": method.key, "goal": WEIGHTS_LIMIT_BYTES, "measured": size,
                    "text": f"{size / 1e6:.3f} MB" if size is not None else method.note,
                    "ok": None if size is None else size <= WEIGHTS_LIMIT_BYTES})

    fast_id = next((spec.id for spec in source.modes.get("fast", ())), None)
    why = missing(fast_id)
    entry = speed.get(fast_id) if why is None else None
    # A full run times exactly a 1-megapixel output; a quick run's smaller image is scaled
    # to 1 MP by its seconds per megapixel.
    got = None if entry is None else (entry["median_s"] if not plan.quick
                                      else entry["s_per_output_mp"])
    out.append({"target": f"fast model 1-MP preview ≤ {FAST_PREVIEW_TARGET} s", "model": fast_id,
                "goal": FAST_PREVIEW_TARGET, "measured": got,
                "text": (f"{got:.3f} s ({entry['input'][0]}×{entry['input'][1]} → "
                         f"{entry['output'][0]}×{entry['output'][1]})" + _disturbed(entry))
                if got is not None else why,
                "ok": None if got is None else got <= FAST_PREVIEW_TARGET})

    real_id, quality_id = spec_id("real", 4), spec_id("quality", 4)
    rows = (real or {}).get("rows", {})
    why = missing(real_id) or missing(quality_id) or (None if rows else "no B100 ×4 data")
    r, q = rows.get(real_id), rows.get(quality_id)
    if why is None and (r is None or q is None):
        why = "not measured"
    beats = None if why else r["degraded_psnr_y"] > q["degraded_psnr_y"]
    out.append({"target": "real ×4 beats quality ×4 on degraded B100 ×4 (noise 5/255 + JPEG 60)",
                "model": real_id, "measured": None if why else r["degraded_psnr_y"],
                "text": why or f"{r['degraded_psnr_y']:.2f} vs {q['degraded_psnr_y']:.2f} dB "
                               f"({r['degraded_psnr_y'] - q['degraded_psnr_y']:+.2f})",
                "ok": beats})
    close = None if why else r["clean_psnr_y"] >= q["clean_psnr_y"] - REAL_CLEAN_MARGIN_DB
    out.append({"target": f"real ×4 ≤ {REAL_CLEAN_MARGIN_DB:g} dB below quality ×4 on clean "
                          "B100 ×4", "model": real_id,
                "measured": None if why else r["clean_psnr_y"],
                "text": why or f"{r['clean_psnr_y']:.2f} vs {q['clean_psnr_y']:.2f} dB "
                               f"({r['clean_psnr_y'] - q['clean_psnr_y']:+.2f})",
                "ok": close})
    for target in out:
        target["status"] = _verdict(target["ok"])
    return out


# -- the run ---------------------------------------------------------------------------------

@dataclass
class Outcome:
    markdown: str
    data: dict[str, Any]
    errors: list[str] = field(default_factory=list)


def run(plan: Plan, data_dir: str | os.PathLike[str], *, out: Path | None = None,
        source: ModelSource | None = None, peers_dir: Path | None = None,
        write: bool = True) -> Outcome:
    """Measure everything and (``write``) record it with :func:`write_results` into ``out``
    (default: the models folder). ``source`` replaces the application's models (tests).
    Raises DataMissing when there is no benchmark data."""
    root = sr_root(data_dir)
    groups = discover(root, plan.images_per_set)
    if not groups:
        raise DataMissing(f"{root} holds no LR/HR pairs for ×{', ×'.join(map(str, SCALES))}")
    source = source or registry_source()
    threads_before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(THREADS)
    cv2.setNumThreads(THREADS)
    try:
        return _run(plan, root, groups, out, source, peers_dir, write)
    finally:
        torch.set_num_threads(threads_before[0])
        cv2.setNumThreads(threads_before[1])


def _run(plan: Plan, root: Path, groups: list, out: Path | None, source: ModelSource,
         peers_dir: Path | None, write: bool) -> Outcome:
    started = time.perf_counter()
    load_start = _load_average()
    cpu_start = _cpu_seconds()
    errors: list[str] = []
    methods: dict[str, Method] = {}
    quality: dict[str, dict[str, dict]] = {}
    sets_seen: list[dict] = []
    b100_x4: list[Pair] | None = None

    scales = sorted({scale for _, scale, _ in groups})
    by_scale = {scale: methods_for_scale(scale, source, peers_dir) for scale in scales}
    for scale_methods in by_scale.values():
        for method in scale_methods:
            methods[method.key] = method

    for set_name, scale, files in groups:
        pairs = load_pairs(files, scale)
        sets_seen.append({"set": set_name, "scale": scale, "images": [p.name for p in pairs]})
        print(f"{set_name} ×{scale}: {len(pairs)} images", file=sys.stderr)
        for method in by_scale[scale]:
            if method.run is None:
                continue
            try:
                quality.setdefault(method.key, {})[set_name] = evaluate(method, pairs, scale)
            except Exception as error:  # one broken method must not lose the whole table
                errors.append(f"{method.label} on {set_name} ×{scale}: {error}")
                quality.setdefault(method.key, {})[set_name] = {"error": str(error)}
        if set_name == "B100" and scale == 4:
            b100_x4 = pairs

    real = None
    if b100_x4 is not None and 4 in by_scale:
        candidates = [m for m in by_scale[4]
                      if m.kind == "baseline" or m.mode in ("quality", "real")]
        clean = {k: v.get("B100", {}) for k, v in quality.items()}
        try:
            real = real_photo_test(candidates, b100_x4, clean)
        except Exception as error:
            errors.append(f"real-photo test: {error}")

    speed = _speed_table(plan, by_scale, source, errors)
    targets = check_targets(methods, quality, speed, real, source, plan)
    data: dict[str, Any] = {
        "plan": plan.__dict__.copy(),
        "data_root": str(root),
        "protocol": {
            "luma": "ITU-R BT.601 studio range, Y = (16 + 65.481 R + 128.553 G + 24.966 B)/255",
            "border": "scale pixels cropped on each side", "hr_crop": "HR[:h_lr*s, :w_lr*s]",
            "quantisation": "outputs clipped to [0, 1] and rounded to 8 bits before scoring",
            "ssim": "11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, valid windows only",
            "ours": "catalog networks run at native scale on the whole LR image, raw output "
                    "(no tiling, no strength blend, no mean-colour correction)",
            "peers": "OpenCV dnn_superres frozen graphs via cv2.dnn: Y of OpenCV YCrCb "
                     "through the network, Cr/Cb bilinear, 8-bit result",
            "bicubic": "MATLAB-compatible imresize of the benchmark LR",
            "speed": f"torch and OpenCV on {THREADS} threads, wall-clock medians",
            "memory": PEAK_RSS_METHOD},
        "sets": sets_seen,
        "methods": [{"key": m.key, "label": m.label, "kind": m.kind, "scale": m.scale,
                     "available": m.run is not None, "note": m.note, "params": m.params,
                     "file_bytes": m.file_bytes} for m in methods.values()],
        "quality": _json_safe(quality),
        "speed": _json_safe(speed),
        "real_photo": _json_safe(real),
        "targets": _json_safe(targets),
        "errors": errors,
        "environment": {"cpus": _cpus(), "torch": torch.__version__,
                        "torch_threads": torch.get_num_threads(), "opencv": cv2.__version__,
                        "opencv_threads": cv2.getNumThreads(),
                        "load_average_start": load_start, "load_average_end": _load_average(),
                        "other_processes_cpu_share": _others_share(
                            cpu_start, time.perf_counter() - started)},
        "total_seconds": time.perf_counter() - started,
    }
    from editor.training.bench_superres_report import report  # imports this module back

    markdown = report(plan, data, methods, by_scale, quality, speed, real, targets)
    if write:
        write_results(NAME, TITLE, markdown, data, out)
    return Outcome(markdown, data, errors)


def _speed_table(plan: Plan, by_scale: dict[int, list[Method]], source: ModelSource,
                 errors: list[str]) -> dict[str, dict]:
    speed: dict[str, dict] = {}
    for scale, scale_methods in by_scale.items():
        side = round(plan.timing_output_side / scale)
        image = timing_image(side, side, seed=scale)
        for method in scale_methods:
            if method.run is None:
                continue
            try:
                speed[method.key] = measure_speed(method.label, method.run, image, scale,
                                                  plan.timing_repeats)
            except Exception as error:
                errors.append(f"speed of {method.label}: {error}")
        # The product's path for comparison: tiles, colour matching, exact output size.
        for mode in ("quality", "fast"):
            spec = source.scales(mode).get(scale)
            method = next((m for m in scale_methods if spec is not None and m.key == spec.id),
                          None)
            if method is None or method.run is None:
                continue
            label = f"SR tool upscale(), {MODE_LABELS[mode]} ×{scale} (tiled, colour-matched)"
            try:
                speed[f"tool:{spec.id}"] = measure_speed(
                    label, _tool_runner(source, mode, scale), image, scale, plan.timing_repeats)
            except Exception as error:
                errors.append(f"speed of {label}: {error}")
    return speed


# -- the report ------------------------------------------------------------------------------

def main(args: list[str], *, source: ModelSource | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="restora-cli bench superres",
        description="Y-PSNR/SSIM, speed and memory of bicubic, OpenCV's published SR "
                    "networks and Restora's models on Set5/Set14/B100; writes "
                    "models/RESULTS.md and models/results/superres.json.")
    parser.add_argument("--quick", action="store_true",
                        help="2 images per set and a small timing image (for the tests)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for RESULTS.md and results/superres.json "
                             "(default: the models folder)")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="the shared data folder holding bench/sr "
                             f"(default: {default_data_dir()})")
    parser.add_argument("--peers", type=Path, default=None, metavar="DIR",
                        help="folder of OpenCV's .pb models (default: "
                             f"{peer_models.default_peers_dir()})")
    try:
        ns = parser.parse_args(args)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    data_dir = ns.data if ns.data is not None else default_data_dir()
    try:
        outcome = run(QUICK if ns.quick else FULL, data_dir, out=ns.out, source=source,
                      peers_dir=ns.peers)
    except DataMissing as missing:
        print(f"restora-cli bench superres: {missing}", file=sys.stderr)
        return 2
    print(f"## {TITLE}\n\n{outcome.markdown}\n")
    print(f"({outcome.data['total_seconds']:.0f} s in all)")
    for error in outcome.errors:
        print(f"FAILED: {error}", file=sys.stderr)
    # Missed targets are results, not failures: only a method that crashed fails the run.
    return 1 if outcome.errors else 0
