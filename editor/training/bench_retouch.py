"""``restora-cli bench retouch``: how fast is the Retouch tool at full resolution, how close
does it get to an expert's retouching, and does Learn my look learn a look?

One run, three parts and the issue's targets:

1. Speed: the Retouch tool's whole path (:func:`editor.tools.retouch.retouch_image`,
   style Expert C, strength 1, nothing cached) on a synthetic photo-like 1920×1080 and
   3840×2160 image, torch and OpenCV on 2 threads: median seconds and the process's peak
   memory. Beside it a plain full-resolution CNN of about the same parameter count
   (:class:`PlainCNN`, random weights: speed does not depend on them), run the way a
   full-resolution network has to run on a photo, in 512-px tiles with a 16-px margin —
   what the pyramid buys.
2. Quality on the 4 FiveK pairs held out of training (``retouch_data.HELD_OUT``): PSNR /
   SSIM on RGB (8-bit rounded) of the input, two global baselines learnt on the 13
   training pairs — per-channel histogram matching and a per-channel tone curve (the
   least-squares curve: the mean Expert C value for every input value) — the neutral
   pre-trained style and Expert C.
3. Learn my look round trip: 8 photos of ``train/natural`` given a fixed hidden look (a
   tone curve and a colour matrix, :func:`editor.training.distort.hidden_look`), learnt
   through the product's own path (:func:`editor.training.learn_look.learn_look`, default
   settings, 2 threads, saved into a temporary styles folder and applied with the Retouch
   tool), scored on 8 other photos with the same look: the held-out natural images, which
   no training (pre-training included) has seen.

Nothing here reads ``bench/``: FiveK and the natural photos are training data, and the
parts above use only what training held out. ``--quick`` (tests) shrinks everything.
Results go to ``models/RESULTS.md`` and ``models/results/retouch.json`` (``--out DIR``
elsewhere). No PySide6.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from editor.core.metrics import psnr, ssim
from editor.engine.registry import REGISTRY, find_weights
from editor.engine.weights import WeightsError
from editor.tools import retouch, retouch_styles
from editor.training import distort, retouch_data, sr_data
from editor.training.bench_common import (cpu_seconds, json_safe, measure_speed, others_share,
                                          quantise, timing_image)
from editor.training.results import peak_rss_mb, reset_peak_rss, rss_mb, timings, write_results

NAME = "retouch"
TITLE = "Retouch (LPTN)"
THREADS = 2
SIZES = ((1080, 1920), (2160, 3840))
CNN_TILE = 512
CNN_OVERLAP = 16
LOOK_PAIRS = 8

#: The issue's targets.
TARGET_4K_S = 1.5
TARGET_1080_S = 0.4
TARGET_SPEEDUP = 5.0
TARGET_GAIN_DB = 3.0
TARGET_LOOK_DB = 30.0
TARGET_LOOK_S = 300.0


@dataclass(frozen=True)
class Plan:
    quick: bool
    sizes: tuple[tuple[int, int], ...]
    repeats: int
    cnn_repeats: int
    fivek_pairs: int | None        # None: all held-out pairs
    look_pairs: int
    look_iterations: int | None    # None: learn_look's default
    look_side: int | None          # shrink the look photos (quick)


FULL = Plan(False, SIZES, 5, 1, None, LOOK_PAIRS, None, None)
QUICK = Plan(True, ((96, 160), (128, 192)), 1, 1, 1, 5, 3, 96)


class DataMissing(RuntimeError):
    """The training data the benchmark reads is not there."""


def default_data_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "shared" / "data"


# -- the comparison network ------------------------------------------------------------------------

class PlainCNN(nn.Module):
    """A plain full-resolution residual CNN with about LPTN's parameter count: conv 3→64,
    6 residual blocks of two 3×3 convolutions at 64 channels, conv 64→3, added to the input
    (~447 k parameters, ~447 k multiply-adds per pixel)."""

    def __init__(self, width: int = 64, blocks: int = 6) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, width, 3, padding=1)
        self.body = nn.ModuleList(nn.Sequential(nn.Conv2d(width, width, 3, padding=1),
                                                nn.ReLU(inplace=True),
                                                nn.Conv2d(width, width, 3, padding=1))
                                  for _ in range(blocks))
        self.tail = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(x)
        for block in self.body:
            y = y + block(y)
        return x + self.tail(y)


def cnn_runner() -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    from editor.engine.tiling import run_tiled

    torch.manual_seed(0)
    net = PlainCNN().eval()

    def run(image: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return run_tiled(net, image, tile=CNN_TILE, overlap=CNN_OVERLAP, device="cpu")

    return run, sum(p.numel() for p in net.parameters())


# -- models ------------------------------------------------------------------------------------

def style_status(model_id: str) -> tuple[bool, str, int | None]:
    """(usable, note, parameter count) of a shipped style's weights."""
    from editor.engine.weights import load_model

    if model_id not in REGISTRY:
        return False, f"{model_id} is not in the catalog", None
    spec = REGISTRY.get(model_id)
    try:
        find_weights(spec.weights)
        net = load_model(spec, "cpu")
    except FileNotFoundError:
        return False, f"not trained yet ({spec.weights} not in the models folder)", None
    except WeightsError as why:
        return False, f"could not load: {why}", None
    return True, "", sum(p.numel() for p in net.parameters())


def run_style(style: str) -> Callable[[np.ndarray], np.ndarray]:
    def run(image: np.ndarray) -> np.ndarray:
        retouch.clear_cache()     # every call computes, as a new photo would
        return retouch.retouch_image(image, style=style, strength=1.0)

    return run


# -- part 1: speed ------------------------------------------------------------------------------

def measure_speeds(plan: Plan, ours: Callable | None, errors: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"ours": [], "cnn": []}
    cnn, cnn_params = cnn_runner()
    out["cnn_params"] = cnn_params
    for h, w in plan.sizes:
        image = timing_image(h, w, seed=11)
        if ours is not None:
            try:
                out["ours"].append(measure_speed(f"Retouch tool {w}×{h}", ours, image, 1,
                                                 plan.repeats))
            except Exception as error:  # noqa: BLE001 - a failed row must not lose the rest
                errors.append(f"speed ours {w}x{h}: {error}")
        try:
            out["cnn"].append(measure_once(f"Plain CNN {w}×{h} (tiled)", cnn, image,
                                           plan.cnn_repeats))
        except Exception as error:  # noqa: BLE001
            errors.append(f"speed CNN {w}x{h}: {error}")
        print(f"speed {w}x{h} done", file=sys.stderr, flush=True)
    return out


def measure_once(label: str, run: Callable[[np.ndarray], np.ndarray], image: np.ndarray,
                 repeats: int) -> dict[str, Any]:
    """Like :func:`measure_speed` for something slow (the full-resolution CNN takes minutes
    at 4K): warmed up on one small tile instead of a whole run, timed ``repeats`` times,
    never retried; the same fields, so the tables treat both alike."""
    run(np.ascontiguousarray(image[:CNN_TILE, :CNN_TILE]))
    resettable = reset_peak_rss()
    before = rss_mb()
    cpu_start, started = cpu_seconds(), time.perf_counter()
    seconds = timings(lambda: run(image), repeats=repeats, warmup=0)
    others = others_share(cpu_start, time.perf_counter() - started)
    h, w = image.shape[:2]
    median = statistics.median(seconds)
    return {"label": label, "scale": 1, "input": [w, h], "output": [w, h],
            "seconds": seconds, "median_s": median, "best_s": min(seconds),
            "s_per_output_mp": median / (w * h / 1e6), "peak_rss_mb": peak_rss_mb(),
            "rss_before_mb": before, "peak_reset": resettable,
            "other_processes_cpu_share": others, "attempts": 1}


# -- part 2: FiveK quality -------------------------------------------------------------------

def score(out: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    out = quantise(out)
    return psnr(out, target), ssim(out, target)


def curve_baseline(train: Sequence[retouch_data.Pair]) -> Callable[[np.ndarray], np.ndarray]:
    """Per-channel least-squares tone curve: for every 8-bit input level, the mean target
    value of the training pixels at that level (levels no pixel has are interpolated)."""
    luts = []
    for c in range(3):
        x = np.concatenate([np.round(p.before[..., c].ravel() * 255).astype(int) for p in train])
        y = np.concatenate([p.after[..., c].ravel() for p in train])
        sums = np.bincount(x, weights=y, minlength=256)
        counts = np.bincount(x, minlength=256)
        seen = counts > 0
        lut = np.interp(np.arange(256), np.flatnonzero(seen), sums[seen] / counts[seen])
        luts.append(lut.astype(np.float32))

    def apply(image: np.ndarray) -> np.ndarray:
        levels = np.round(np.clip(image, 0, 1) * 255).astype(int)
        return np.stack([luts[c][levels[..., c]] for c in range(3)], axis=2)

    return apply


def histogram_baseline(train: Sequence[retouch_data.Pair]) -> Callable[[np.ndarray], np.ndarray]:
    """Per-channel histogram matching of the pooled training inputs to the pooled Expert C
    outputs (a monotone curve that maps one distribution onto the other)."""
    from editor.training.fit_tone import histogram_curves

    luts = histogram_curves(np.concatenate([p.before.reshape(-1, 3) for p in train]),
                            np.concatenate([p.after.reshape(-1, 3) for p in train]),
                            np.linspace(0, 1, 256))

    def apply(image: np.ndarray) -> np.ndarray:
        levels = np.round(np.clip(image, 0, 1) * 255).astype(int)
        return np.stack([luts[c][levels[..., c]] for c in range(3)], axis=2)

    return apply


def fivek_quality(plan: Plan, root: Path, styles: dict[str, bool], errors: list[str]
                  ) -> dict[str, Any]:
    train, held = retouch_data.load_fivek(root / "train" / "retouch_fivek")
    if plan.fivek_pairs:
        held = held[:plan.fivek_pairs]
    methods: list[tuple[str, str, Callable | None]] = [
        ("input", "Input (unedited)", lambda im: im),
        ("histogram", "Global baseline: per-channel histogram match (13 training pairs)",
         histogram_baseline(train)),
        ("curve", "Global baseline: per-channel least-squares tone curve (13 training pairs)",
         curve_baseline(train)),
        ("base", "Retouch, Auto correct (retouch-base, no FiveK)",
         run_style("base") if styles.get("base") else None),
        ("ours", "Retouch, Auto retouch (Expert C) — ours",
         run_style("expert-c") if styles.get("expert-c") else None)]
    results: dict[str, Any] = {"pairs": [p.name for p in held], "methods": {}}
    for key, label, fn in methods:
        entry: dict[str, Any] = {"label": label}
        if fn is None:
            entry["note"] = "weights not available"
        else:
            try:
                scores = [score(fn(p.before), p.after) for p in held]
                entry.update({"psnr": statistics.mean(s[0] for s in scores),
                              "ssim": statistics.mean(s[1] for s in scores),
                              "per_image": [{"name": p.name, "psnr": s[0], "ssim": s[1]}
                                            for p, s in zip(held, scores)]})
            except Exception as error:  # noqa: BLE001
                errors.append(f"FiveK {key}: {error}")
                entry["error"] = str(error)
        results["methods"][key] = entry
    return results


# -- part 3: learn my look ------------------------------------------------------------------

def look_photos(plan: Plan, root: Path) -> tuple[list[tuple[str, np.ndarray]],
                                                 list[tuple[str, np.ndarray]]]:
    """(8 training photos, 8 evaluation photos): the first BSD200 training images and the
    images sr_data holds out (never trained on), as float RGB."""
    train_paths, val_paths = sr_data.list_images(root / "train" / "natural")
    bsd = [p for p in train_paths if p.parent.name == "BSD200"] or train_paths

    def load(paths):
        out = []
        for p in paths[:plan.look_pairs]:
            image = retouch_data.to_float(sr_data.load_rgb(p))
            if plan.look_side:
                image = retouch_data.shrink(image, plan.look_side)
            out.append((p.stem, image))
        return out

    return load(bsd), load(val_paths)


def learn_look_round_trip(plan: Plan, root: Path, base_ok: bool, errors: list[str]
                          ) -> dict[str, Any]:
    from editor.training import learn_look

    if not base_ok:
        return {"note": "retouch-base weights not available"}
    train_photos, eval_photos = look_photos(plan, root)
    pairs = learn_look.pairs_from_arrays([(n, im, distort.hidden_look(im))
                                          for n, im in train_photos])
    previous_dir = os.environ.get(retouch_styles.STYLES_DIR_ENV)
    previous_source = retouch.set_model_source(None)
    with tempfile.TemporaryDirectory(prefix="restora-bench-look-") as folder:
        os.environ[retouch_styles.STYLES_DIR_ENV] = folder
        retouch_styles.refresh_styles()
        try:
            started = time.perf_counter()
            result = learn_look.learn_look(pairs, "bench-hidden-look",
                                           iterations=plan.look_iterations)
            seconds = time.perf_counter() - started
            run = run_style("bench-hidden-look")
            rows = []
            for name, image in eval_photos:
                target = distort.hidden_look(image)
                ours = quantise(run(image))
                rows.append({"name": name, "input_psnr": psnr(quantise(image), target),
                             "psnr": psnr(ours, target), "ssim": ssim(ours, target)})
        except Exception as error:  # noqa: BLE001
            errors.append(f"learn my look: {error}")
            return {"error": str(error)}
        finally:
            if previous_dir is None:
                os.environ.pop(retouch_styles.STYLES_DIR_ENV, None)
            else:
                os.environ[retouch_styles.STYLES_DIR_ENV] = previous_dir
            retouch_styles.refresh_styles()
            retouch.set_model_source(previous_source)
    return {"train_photos": [n for n, _ in train_photos],
            "eval_photos": [n for n, _ in eval_photos],
            "seconds_total": seconds, "seconds_training": result.seconds,
            "iterations": result.iterations, "time_limit_s": learn_look.TIME_LIMIT_S,
            "first_loss": result.losses[0] if result.losses else None,
            "last_loss": float(np.mean(result.losses[-10:])) if result.losses else None,
            "input_psnr": statistics.mean(r["input_psnr"] for r in rows),
            "psnr": statistics.mean(r["psnr"] for r in rows),
            "ssim": statistics.mean(r["ssim"] for r in rows),
            "min_psnr": min(r["psnr"] for r in rows), "per_image": rows}


# -- targets ------------------------------------------------------------------------------------

def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def check_targets(plan: Plan, speed: dict, quality: dict, look: dict) -> list[dict]:
    out: list[dict] = []
    by_size = {tuple(e["output"]): e for e in speed.get("ours", [])}
    cnn_by_size = {tuple(e["output"]): e for e in speed.get("cnn", [])}
    big, small = (plan.sizes[1][1], plan.sizes[1][0]), (plan.sizes[0][1], plan.sizes[0][0])
    for size, goal in ((big, TARGET_4K_S), (small, TARGET_1080_S)):
        entry = by_size.get(size)
        got = None if entry is None else entry["median_s"]
        out.append({"target": f"{size[0]}×{size[1]} full-resolution output ≤ {goal:g} s on "
                              f"{THREADS} CPU threads", "measured": got,
                    "text": "not measured" if got is None else f"{got:.3f} s",
                    "ok": None if got is None or plan.quick else got <= goal})
    ours, cnn = by_size.get(big), cnn_by_size.get(big)
    ratio = None if ours is None or cnn is None else cnn["median_s"] / ours["median_s"]
    out.append({"target": f"≥ {TARGET_SPEEDUP:g}× faster than a full-resolution CNN of similar "
                          f"size at {big[0]}×{big[1]}", "measured": ratio,
                "text": "not measured" if ratio is None else
                f"{ratio:.1f}× ({cnn['median_s']:.1f} s vs {ours['median_s']:.2f} s)",
                "ok": None if ratio is None or plan.quick else ratio >= TARGET_SPEEDUP})
    methods = quality.get("methods", {})
    mine = methods.get("ours", {})
    base_in = methods.get("input", {}).get("psnr")
    if "psnr" in mine and base_in is not None:
        gain = mine["psnr"] - base_in
        out.append({"target": f"held-out FiveK: ours ≥ input + {TARGET_GAIN_DB:g} dB",
                    "measured": gain, "text": f"{mine['psnr']:.2f} vs {base_in:.2f} dB "
                                              f"({gain:+.2f} dB)",
                    "ok": gain >= TARGET_GAIN_DB})
        best = max((methods[k]["psnr"], k) for k in ("histogram", "curve")
                   if "psnr" in methods.get(k, {}))
        out.append({"target": "held-out FiveK: ours above the global baseline",
                    "measured": mine["psnr"] - best[0],
                    "text": f"{mine['psnr']:.2f} vs {best[0]:.2f} dB (best global: {best[1]})",
                    "ok": mine["psnr"] > best[0]})
    else:
        out.append({"target": "held-out FiveK: ours ≥ input + 3 dB and above the global "
                              "baseline", "measured": None,
                    "text": mine.get("note", mine.get("error", "not measured")), "ok": None})
    if "psnr" in look:
        out.append({"target": f"Learn my look round trip ≥ {TARGET_LOOK_DB:g} dB on 8 unseen "
                              "photos", "measured": look["psnr"],
                    "text": f"{look['psnr']:.2f} dB (input {look['input_psnr']:.2f} dB, worst "
                            f"photo {look['min_psnr']:.2f} dB)",
                    "ok": None if plan.quick else look["psnr"] >= TARGET_LOOK_DB})
        out.append({"target": f"Learn my look trained in ≤ {TARGET_LOOK_S / 60:g} minutes on "
                              f"{THREADS} CPU threads", "measured": look["seconds_total"],
                    "text": f"{look['seconds_total']:.0f} s ({look['iterations']} steps)",
                    "ok": look["seconds_total"] <= TARGET_LOOK_S})
    else:
        out.append({"target": "Learn my look round trip", "measured": None,
                    "text": look.get("note", look.get("error", "not measured")), "ok": None})
    for target in out:
        target["status"] = _verdict(target["ok"])
    return out


# -- the run ------------------------------------------------------------------------------------

@dataclass
class Outcome:
    markdown: str
    data: dict[str, Any]
    errors: list[str] = field(default_factory=list)


def run(plan: Plan, data_dir: str | os.PathLike[str], *, out: Path | None = None,
        write: bool = True) -> Outcome:
    root = Path(data_dir).expanduser()
    if not (root / "train" / "retouch_fivek").is_dir() or not (root / "train" / "natural").is_dir():
        raise DataMissing(f"no train/retouch_fivek and train/natural under {root}; pass "
                          "--data DIR pointing at the shared data folder")
    threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(THREADS)
    cv2.setNumThreads(THREADS)
    try:
        return _run(plan, root, out, write)
    finally:
        torch.set_num_threads(threads[0])
        cv2.setNumThreads(threads[1])


def _run(plan: Plan, root: Path, out: Path | None, write: bool) -> Outcome:
    started = time.perf_counter()
    errors: list[str] = []
    model: dict[str, Any] = {}
    usable: dict[str, bool] = {}
    for name, model_id, _ in retouch_styles.SHIPPED:
        ok, note, params = style_status(model_id)
        usable[name] = ok
        model[model_id] = {"available": ok, "note": note, "params": params}
    speed = measure_speeds(plan, run_style("expert-c") if usable.get("expert-c") else None,
                           errors)
    quality = fivek_quality(plan, root, usable, errors)
    print("FiveK done", file=sys.stderr, flush=True)
    look = learn_look_round_trip(plan, root, usable.get("base", False), errors)
    targets = check_targets(plan, speed, quality, look)
    data = {
        "plan": plan.__dict__.copy(),
        "data_root": str(root),
        "models": model,
        "speed": json_safe(speed),
        "fivek": json_safe(quality),
        "learn_look": json_safe(look),
        "targets": json_safe(targets),
        "errors": errors,
        "environment": {"cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                        else os.cpu_count(), "torch": torch.__version__, "threads": THREADS,
                        # How OpenMP's idle threads wait: with other processes on the cores,
                        # spinning ("ACTIVE", the default) costs 2 threads several times
                        # their speed; recorded because it changes the times that much.
                        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
                        "load_average": [round(v, 2) for v in os.getloadavg()]
                        if hasattr(os, "getloadavg") else None},
        "total_seconds": time.perf_counter() - started,
    }
    from editor.training.bench_retouch_report import report

    markdown = report(plan, data)
    if write:
        write_results(NAME, TITLE, markdown, data, out)
    return Outcome(markdown, data, errors)


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="restora-cli bench retouch",
        description="Retouch (LPTN): full-resolution speed and memory at 1080p and 4K beside a "
                    "plain full-resolution CNN; PSNR/SSIM on the held-out FiveK pairs beside "
                    "global curve baselines; the Learn-my-look round trip. Writes "
                    "models/RESULTS.md and models/results/retouch.json.")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few steps (tests)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for RESULTS.md and results/retouch.json (default: the "
                             "models folder)")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help=f"the shared data folder (default: {default_data_dir()})")
    try:
        ns = parser.parse_args(args)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        outcome = run(QUICK if ns.quick else FULL, ns.data or default_data_dir(), out=ns.out)
    except DataMissing as missing:
        print(f"restora-cli bench retouch: {missing}", file=sys.stderr)
        return 2
    print(f"## {TITLE}\n\n{outcome.markdown}\n")
    print(f"({outcome.data['total_seconds']:.0f} s in all)")
    for error in outcome.errors:
        print(f"FAILED: {error}", file=sys.stderr)
    return 1 if outcome.errors else 0
