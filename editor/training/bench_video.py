"""``restora-cli bench video``: SPMC video super-resolution on Vid4, side by side, one run.

* Data: ``bench/video/vid4/{calendar,city,foliage,walk}`` (10 ground-truth frames each). LR
  ×4 made here both ways (:func:`editor.training.video_data.make_lr_uint8`): BI (MATLAB
  bicubic) and BD (Gaussian σ = 1.6, then every 4th pixel from the first), 8-bit.
* Methods: MATLAB bicubic; our single-image SR model (``sr-quality-x4``, trained on BI
  pairs) through the tiled engine; SPMC with 1 (the same weights given only the reference:
  what the neighbours add), 3 and 5 frames, through the tool's path (luma by the network,
  chroma bicubic); and the paper's analysis: SPMC-3 given 3 identical copies of the
  reference instead of 3 consecutive frames (consecutive must win: the detail comes from
  the motion). Every frame is scored, including the first and last, whose windows are cut.
* Scores: Y-channel PSNR / SSIM (BT.601, 8-pixel border cropped), mean over the 40 frames,
  and per sequence.
* Speed and memory: seconds per 720×576 output frame (×4 from 180×144, the whole tool path,
  2 CPU threads, median of 3) and the peak resident memory above the baseline.

Writes the ``video`` section of ``models/RESULTS.md`` and ``models/results/video.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from editor.core.imresize import imresize
from editor.core.metrics import psnr_y, ssim_y
from editor.training import results
from editor.training.video_data import make_lr_uint8

TITLE = "Video super-resolution (SPMC, issue 7)"
SEQUENCES = ("calendar", "city", "foliage", "walk")
SCALE = 4
BORDER = 8
TARGET_GAIN_DB = 0.3      # SPMC-5 over single-image SR, Vid4 x4 BD
TARGET_SECONDS = 2.0      # per 720x576 output frame, 2 threads
TARGET_BYTES = 10_000_000


class DataMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Config:
    frames_per_sequence: int | None   # None: all
    crop: int | None                  # HR crop side (tests), None: whole frames
    timing_repeats: int
    timing_size: tuple[int, int]      # output (height, width)


FULL = Config(None, None, 3, (576, 720))
QUICK = Config(3, 96, 1, (64, 96))


def default_data_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def load_sequences(data: Path, cfg: Config) -> dict[str, list[np.ndarray]]:
    from PIL import Image

    root = data / "bench" / "video" / "vid4"
    if not root.is_dir():
        raise DataMissing(f"{root} not found (the shared benchmark data)")
    out = {}
    for name in SEQUENCES:
        paths = sorted((root / name).glob("*.png"))[:cfg.frames_per_sequence]
        if not paths:
            raise DataMissing(f"no frames in {root / name}")
        frames = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
        if cfg.crop:
            frames = [f[:cfg.crop, :cfg.crop] for f in frames]
        h, w = frames[0].shape[:2]
        out[name] = [f[:h - h % SCALE, :w - w % SCALE] for f in frames]
    return out


def score(sr: np.ndarray, hr_uint8: np.ndarray) -> tuple[float, float]:
    sr8 = np.clip(np.round(sr * 255.0), 0, 255) / 255.0
    hr = hr_uint8.astype(np.float64) / 255.0
    return psnr_y(sr8, hr, BORDER), ssim_y(sr8, hr, BORDER)


def methods(upscalers: dict[str, Any], sisr: Callable[[np.ndarray], np.ndarray]
            ) -> dict[str, Callable[[list[np.ndarray], int], np.ndarray]]:
    """name -> f(LR clip as float RGB frames, index) -> SR frame."""

    def spmc(frames: int, identical: bool = False):
        def run(clip: list[np.ndarray], index: int) -> np.ndarray:
            up = upscalers[frames]
            window, ref = up.window(index, len(clip))
            if identical:
                return up.upscale([clip[index]] * frames, frames // 2)
            return up.upscale([clip[i] for i in window], ref)
        return run

    return {
        "Bicubic": lambda clip, i: np.clip(imresize(clip[i], SCALE), 0, 1),
        "Single-image SR (sr-quality-x4)": lambda clip, i: sisr(clip[i]),
        "SPMC, reference frame only": spmc(1),
        "SPMC-3 (3 identical frames)": spmc(3, identical=True),
        "SPMC-3": spmc(3),
        "SPMC-5": spmc(5),
    }


def evaluate(sequences: dict[str, list[np.ndarray]], degradation: str, sisr, make_upscalers
             ) -> dict[str, Any]:
    upscalers = make_upscalers(degradation)
    table = methods(upscalers, sisr)
    per: dict[str, dict[str, list[tuple[float, float]]]] = {m: {} for m in table}
    for name, hr_frames in sequences.items():
        clip = [make_lr_uint8(f, SCALE, degradation).astype(np.float32) / 255.0
                for f in hr_frames]
        for method, run in table.items():
            scores = [score(run(clip, i), hr_frames[i]) for i in range(len(clip))]
            per[method][name] = scores
    out = {}
    for method, by_seq in per.items():
        every = [s for scores in by_seq.values() for s in scores]
        out[method] = {
            "psnr_y": statistics.fmean(p for p, _ in every),
            "ssim_y": statistics.fmean(s for _, s in every),
            "per_sequence": {n: statistics.fmean(p for p, _ in sc) for n, sc in by_seq.items()},
        }
    return out


def timing(make_upscalers, sisr, cfg: Config) -> dict[str, Any]:
    """Seconds per output frame of ``cfg.timing_size`` and peak memory above the baseline."""
    import torch

    torch.set_num_threads(2)
    h, w = cfg.timing_size
    rng = np.random.default_rng(0)
    clip = [np.clip(rng.random((h // SCALE, w // SCALE, 3), dtype=np.float32) * 0.2
                    + np.linspace(0.2, 0.8, w // SCALE, dtype=np.float32)[None, :, None],
                    0, 1) for _ in range(5)]
    ups = make_upscalers("bd")
    runs = {
        "Bicubic": lambda: imresize(clip[2], SCALE),
        "Single-image SR (sr-quality-x4)": lambda: sisr(clip[2]),
        "SPMC-3": lambda: ups[3].upscale(clip[1:4], 1),
        "SPMC-5": lambda: ups[5].upscale(clip, 2),
    }
    out = {}
    for name, fn in runs.items():
        base = results.rss_mb()
        results.reset_peak_rss()
        seconds = results.median_seconds(fn, cfg.timing_repeats)
        peak = results.peak_rss_mb()
        out[name] = {"seconds": seconds,
                     "peak_mb_above_baseline": None if peak is None or base is None
                     else max(0.0, peak - base)}
    return out


def build_models(source=None):
    """(single-image SR function, degradation -> {frames: VideoUpscaler})."""
    from editor.engine.registry import REGISTRY
    from editor.engine.tiling import run_tiled
    from editor.engine.weights import load_model
    from editor.tools.video_sr import VideoUpscaler

    spec = REGISTRY.get("sr-quality-x4")
    net = load_model(spec, "cpu")

    def sisr(frame: np.ndarray) -> np.ndarray:
        return np.clip(run_tiled(net, frame, scale=SCALE, tile=512,
                                 overlap=spec.tile_overlap), 0, 1)

    def make_upscalers(degradation: str) -> dict[int, VideoUpscaler]:
        ups = {n: VideoUpscaler({"scale": SCALE, "frames": str(n),
                                 "degradation": degradation}, source) for n in (3, 5)}
        return {1: _single(degradation, source), **ups}

    return sisr, make_upscalers


def _single(degradation: str, source):
    """The network given only the reference frame (a window of one)."""
    from editor.tools.video_sr import VideoUpscaler

    up = VideoUpscaler({"scale": SCALE, "frames": "3", "degradation": degradation}, source)
    up.frames = 1  # an ablation, not a user setting: windows of the reference alone
    return up


def report(data: dict[str, Any]) -> str:
    lines = []
    bd, bi = data["bd"], data["bi"]
    rows = [[m, f"{bd[m]['psnr_y']:.2f} / {bd[m]['ssim_y']:.4f}",
             f"{bi[m]['psnr_y']:.2f} / {bi[m]['ssim_y']:.4f}",
             " · ".join(f"{v:.2f}" for v in bd[m]["per_sequence"].values())]
            for m in bd]
    lines.append(f"Vid4 ×{SCALE} ({data['frames']} frames, Y PSNR dB / SSIM, {BORDER}-px border "
                 "cropped; per-sequence BD PSNR in the order " + ", ".join(SEQUENCES) + "):")
    lines.append("")
    lines.append(results.markdown_table(["Method", "BD", "BI", "BD per sequence"], rows))
    lines.append("")
    t_rows = [[m, f"{v['seconds']:.3f}",
               "—" if v["peak_mb_above_baseline"] is None else f"{v['peak_mb_above_baseline']:.0f}"]
              for m, v in data["timing"].items()]
    h, w = data["timing_size"]
    lines.append(f"Speed: one {w}×{h} output frame (×{SCALE}), 2 CPU threads, median of "
                 f"{data['timing_repeats']}:")
    lines.append("")
    lines.append(results.markdown_table(["Method", "Seconds per frame", "Peak MiB above baseline"],
                                        t_rows))
    lines.append("")
    targets = data["targets"]
    lines.append(results.markdown_table(["Target", "Measured", "Met"],
                                        [[t["target"], t["value"], "PASS" if t["met"] else "MISS"]
                                         for t in targets]))
    lines.append("")
    lines.append("The single-image model was trained on bicubic (BI) pairs only, so its BD "
                 "column mostly shows a degradation it never saw; the row \"SPMC, reference "
                 "frame only\" (the same SPMC weights given one frame) separates what the "
                 "neighbouring frames add from what BD training adds.")
    return "\n".join(lines)


def run(cfg: Config, data_dir: Path, out: Path | None = None, source=None) -> dict[str, Any]:
    import torch

    torch.set_num_threads(2)
    start = time.monotonic()
    sequences = load_sequences(data_dir, cfg)
    sisr, make_upscalers = build_models(source)
    data: dict[str, Any] = {"frames": sum(len(v) for v in sequences.values())}
    for degradation in ("bd", "bi"):
        data[degradation] = evaluate(sequences, degradation, sisr, make_upscalers)
    data["timing"] = timing(make_upscalers, sisr, cfg)
    data["timing_size"] = list(cfg.timing_size)
    data["timing_repeats"] = cfg.timing_repeats
    from editor.engine.registry import find_weights
    from editor.tools.video_sr import MODEL

    model = source or MODEL.current()
    size = find_weights(model.spec.weights, model.directory).stat().st_size
    bd = data["bd"]
    gain = bd["SPMC-5"]["psnr_y"] - bd["Single-image SR (sr-quality-x4)"]["psnr_y"]
    motion = {d: data[d]["SPMC-3"]["psnr_y"] - data[d]["SPMC-3 (3 identical frames)"]["psnr_y"]
              for d in ("bd", "bi")}
    seconds = data["timing"]["SPMC-5"]["seconds"]
    data["targets"] = [
        {"target": f"SPMC-5 >= single-image SR + {TARGET_GAIN_DB} dB (Vid4 ×4 BD)",
         "value": f"{bd['SPMC-5']['psnr_y']:.2f} vs "
                  f"{bd['Single-image SR (sr-quality-x4)']['psnr_y']:.2f} ({gain:+.2f} dB)",
         "met": gain >= TARGET_GAIN_DB},
        {"target": "3 consecutive frames beat 3 identical frames",
         "value": f"BD {motion['bd']:+.3f} dB, BI {motion['bi']:+.3f} dB",
         "met": motion["bd"] > 0 and motion["bi"] > 0},
        {"target": f"<= {TARGET_SECONDS:g} s per 720×576 output frame, 2 threads (SPMC-5)",
         "value": f"{seconds:.2f} s" + ("" if tuple(cfg.timing_size) == (576, 720)
                                         else f" at {cfg.timing_size}"),
         "met": seconds <= TARGET_SECONDS},
        {"target": "weights <= 10 MB", "value": f"{size / 1e6:.2f} MB",
         "met": size <= TARGET_BYTES},
    ]
    data["total_seconds"] = time.monotonic() - start
    markdown = report(data)
    results.write_results("video", TITLE, markdown, data, out)
    return {"markdown": markdown, "data": data}


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="restora-cli bench video",
        description="SPMC video SR on Vid4 x4 (BI and BD) beside bicubic and single-image SR, "
                    "3 identical vs 3 consecutive frames, speed and memory. Writes "
                    "models/RESULTS.md and models/results/video.json.")
    parser.add_argument("--quick", action="store_true", help="tiny crops, few frames (tests)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR")
    try:
        ns = parser.parse_args(args)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        outcome = run(QUICK if ns.quick else FULL, ns.data or default_data_dir(), ns.out)
    except DataMissing as missing:
        print(f"restora-cli bench video: {missing}", file=sys.stderr)
        return 2
    print(f"## {TITLE}\n\n{outcome['markdown']}\n")
    print(f"({outcome['data']['total_seconds']:.0f} s in all)")
    return 0
