"""Export a video SR training run as shipped weights + model card.

    python -m editor.training.export_video_sr --run-dir ~/.cache/restora/runs/video \
        [--which best|last] [--models-dir models] [--no-speed]

Writes ``models/video-spmc.safetensors`` and ``models/video-spmc.json``: architecture and size,
the exact commands that reproduce the weights (from the run's ``commands.jsonl``), training
data and licence, validation scores, the network's speed on a 720×576 output frame, and the
issue's targets (the quality ones are measured by ``restora-cli bench video``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from editor.core.imageio import atomic_write
from editor.engine.catalog import VIDEO_ARCH, VIDEO_LICENCE
from editor.engine.weights import save_weights, sha256_file
from editor.nets.spmc import SPMCVideoSR, count_parameters
from editor.training import recipe, video_data
from editor.training.export_sr import DATA_NOTE

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
MODEL_ID = "video-spmc"
SIZE_TARGET_BYTES = 10_000_000
SPEED_TARGET = 2.0   # s per 720x576 output frame, 2 CPU threads


def shipped_kwargs(arch: dict[str, Any]) -> dict[str, Any]:
    """The run's architecture in the catalog's spelling (tuples, every key)."""
    return {"flow_width": int(arch["flow_width"]), "widths": tuple(int(w) for w in arch["widths"]),
            "hidden": int(arch["hidden"])}


def seconds_per_frame(net: torch.nn.Module, frames: int = 5, scale: int = 4,
                      repeats: int = 3) -> float:
    """Median seconds of the network alone for one 720×576 output frame (180×144 LR)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = torch.rand(1, frames, 1, 576 // scale, 720 // scale)
        times = []
        with torch.inference_mode():
            net(x, frames // 2, scale, 1.0)  # warm-up
            for _ in range(repeats):
                start = time.perf_counter()
                net(x, frames // 2, scale, 1.0)
                times.append(time.perf_counter() - start)
        return statistics.median(times)
    finally:
        torch.set_num_threads(threads)


def export(run_dir: Path, which: str = "best", models_dir: Path | None = None,
           measure_speed: bool = True, notes: list[str] | None = None,
           check_catalog: bool = True) -> dict[str, Any]:
    """Weights + card into ``models_dir``. ``check_catalog=False`` (tests) exports an
    architecture the catalog entry does not describe."""
    run_dir = Path(run_dir).expanduser()
    models_dir = Path(models_dir) if models_dir is not None else DEFAULT_MODELS_DIR
    checkpoint = torch.load(run_dir / f"{which}.pt", map_location="cpu", weights_only=False)
    config = checkpoint["config"]
    kwargs = shipped_kwargs(config["arch"])
    if check_catalog and kwargs != dict(VIDEO_ARCH):
        raise SystemExit(f"{MODEL_ID}: the catalog says {VIDEO_ARCH}, this run is {kwargs}; "
                         "update VIDEO_ARCH in editor/engine/catalog.py first")
    net = SPMCVideoSR(**kwargs)
    net.load_state_dict(checkpoint["model"], strict=True)
    net.eval()
    weights_path = models_dir / f"{MODEL_ID}.safetensors"
    sha = save_weights(net, weights_path)
    size = weights_path.stat().st_size
    speed = seconds_per_frame(net) if measure_speed else None
    last = (torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)
            if (run_dir / "last.pt").is_file() else checkpoint)
    val = checkpoint.get("val") or {}
    export_args = [] if which == "best" else ["--which", which]
    card = {
        "id": MODEL_ID,
        "task": "video_sr",
        "architecture": "spmc",
        "arch_kwargs": {**kwargs, "widths": list(kwargs["widths"])},
        "weights": weights_path.name,
        "sha256": sha,
        "size_bytes": size,
        "params": count_parameters(net),
        "design": "motion net (3-level coarse-to-fine flow, LR) -> SPMC sub-pixel splatting "
                  "onto the xs grid (no parameters; scale is an argument) -> per-frame "
                  "encoder (2x2 space-to-depth, two stride-2 stages) -> ConvLSTM over the "
                  "frames at 1/8 of the output size, reference last -> decoder with skips; "
                  "luma only, residual over bicubic; inputs carry a BI/BD flag and 1/scale",
        "speed": {"seconds_per_720x576_frame_5_frames_x4_2_threads":
                  None if speed is None else round(speed, 3),
                  "measured": f"network alone, random input, median of 3, torch "
                              f"{torch.__version__}, at export time"},
        "input": "frames (N, T, 1, h, w) BT.601 luma in [0, 1], reference index, scale 2/3/4, "
                 "degradation flag (0 BI, 1 BD); output (N, 1, h*s, w*s) not clipped",
        "licence": VIDEO_LICENCE,
        "training": {
            "data": DATA_NOTE,
            "clips": {"module": "editor.training.video_data",
                      **json.loads(json.dumps(dataclasses.asdict(video_data.DEFAULT)))},
            "validation": "clips made from every 20th image of sorted BSD200 (10 photos x BI "
                          "and BD, x4, 5 frames, 192 px), held out from training; never bench/",
            "config": config,
            "iterations_of_these_weights": checkpoint["iteration"],
            "iterations_run": max(last.get("iteration", 0), checkpoint["iteration"]),
            "checkpoint": which,
            "commands": recipe.reproduction_commands(
                run_dir, "editor.training.train_video_sr", "editor.training.export_video_sr",
                export_args, checkpoint["iteration"]),
        },
        "validation": {k: round(v, 3) for k, v in val.items()},
        "results": "filled by `restora-cli bench video` in models/RESULTS.md",
        "targets": [
            {"target": "weights <= 10 MB", "value": f"{size} bytes",
             "met": size <= SIZE_TARGET_BYTES},
            {"target": "<= 2 s per 720x576 output frame on 2 CPU threads (network alone here; "
                       "the whole path is in RESULTS.md)",
             "value": None if speed is None else f"{speed:.2f} s",
             "met": None if speed is None else speed <= SPEED_TARGET},
            {"target": "SPMC-5 >= single-image SR + 0.3 dB on Vid4 x4 BD",
             "value": "see models/RESULTS.md", "met": None},
        ],
        "notes": list(notes or []),
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    text = json.dumps(card, indent=2) + "\n"
    atomic_write(models_dir / f"{MODEL_ID}.json", lambda fh: fh.write(text.encode("utf-8")))
    assert sha256_file(weights_path) == sha
    return card


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m editor.training.export_video_sr",
                                description="Export a video SR run as weights + model card.")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--which", choices=("best", "last"), default="best")
    p.add_argument("--models-dir", default=None)
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--note", action="append", default=[])
    args = p.parse_args(argv)
    card = export(Path(args.run_dir), args.which,
                  Path(args.models_dir) if args.models_dir else None, not args.no_speed,
                  args.note)
    print(json.dumps({k: card[k] for k in ("id", "sha256", "params", "size_bytes", "speed",
                                           "validation", "targets")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
