"""Export a deblurring training run as the shipped model: weights + model card.

    python -m editor.training.export_deblur --run-dir ~/.cache/restora/runs/deblur \
        [--id deblur-srn] [--which best|last]

Writes ``models/<id>.safetensors`` (the engine's ``save_weights``) and ``models/<id>.json``,
the card: architecture and kwargs, width (and whether it is the paper's), parameters,
multiply-adds per megapixel, the theoretical receptive radius and the MEASURED context
radius with the tile overlap it needs, CPU speed on 2 threads, the exact commands that
reproduce the weights, training data with licences, the synthesis recipe, validation PSNR
on held-out training images, and the issue's targets this step can judge (size, speed; the
PSNR targets are measured by ``restora-cli bench deblur`` into models/RESULTS.md).

The catalog (:mod:`editor.engine.catalog`) reads the sha256 from the card, so shipping
retrained weights needs no code change; export refuses weights whose architecture differs
from the catalog entry, or whose measured context needs more tile overlap than the catalog
gives (tiles would show seams).
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

import numpy as np
import torch

from editor.engine.catalog import DEBLUR_LICENCE
from editor.engine.weights import save_weights, sha256_file
from editor.nets import srn_deblur
from editor.training import blur_kernels as bk
from editor.training import deblur_data, sr_data
from editor.training.export_sr import DATA_NOTE
from editor.training import recipe

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
MODEL_ID = "deblur-srn"
SIZE_TARGET_BYTES = 10_000_000
SPEED_TARGET = 3.0             # s per megapixel, 2 CPU threads
#: Outputs within this of the untiled ones count as "the same" when measuring context.
CONTEXT_TOLERANCE = 0.5 / 255
#: Seed stream ("EXPT") of the synthetic image used when no validation images are around.
EXPORT_STREAM = 0x45585054


def shipped_kwargs(arch: dict[str, Any]) -> dict[str, Any]:
    """The catalog's arch_kwargs for a run's ``arch``: width and scales, plus the ConvLSTM
    kernel only when it is not the default (so default runs match the catalog entry)."""
    net = srn_deblur.SRNDeblur(**arch)
    kwargs = {"width": net.width, "scales": net.scales}
    if net.lstm_kernel != srn_deblur.LSTM_KERNEL:
        kwargs["lstm_kernel"] = net.lstm_kernel
    return kwargs


def seconds_per_megapixel(net: torch.nn.Module, side: int = 512, repeats: int = 5) -> float:
    """Median seconds per megapixel of the network alone on a ``side``² image, 2 threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))
        net = net.eval()
        times = []
        with torch.inference_mode():
            net(x)
            for _ in range(repeats):
                start = time.perf_counter()
                net(x)
                times.append(time.perf_counter() - start)
        return statistics.median(times) / (side * side / 1e6)
    finally:
        torch.set_num_threads(threads)


def context_images(data_root: str | None, count: int = 3, side: int = 512) -> list[np.ndarray]:
    """Blurry test images for :func:`measure_context`: the first held-out validation pairs
    (reflected out to ``side`` px, a mirror keeps natural statistics), or, without the
    training data, a seeded synthetic texture blurred by a camera-shake kernel."""
    images = []
    try:
        val = deblur_data.make_val_set(sr_data.load_val(
            Path(data_root).expanduser() if data_root else None)[:count])
        for pair in val:
            h, w = pair.blurry.shape[:2]
            pad_h, pad_w = max(0, side - h), max(0, side - w)
            images.append(np.pad(pair.blurry, ((pad_h // 2, pad_h - pad_h // 2),
                                               (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
                                 mode="reflect"))
    except (FileNotFoundError, ValueError):
        rng = deblur_data.stream(EXPORT_STREAM)
        import cv2

        coarse = rng.random((side // 8, side // 8, 3)).astype(np.float32)
        texture = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_CUBIC)
        texture += rng.standard_normal(texture.shape).astype(np.float32) * 0.05
        kernel = bk.camera_shake(25, rng).kernel
        images.append(np.clip(bk.convolve(np.clip(texture, 0, 1), kernel), 0, 1))
    return images


def measure_context(net: torch.nn.Module, images: list[np.ndarray]) -> dict[str, Any]:
    """The largest :func:`~editor.nets.srn_deblur.context_radius` over ``images`` (None
    when some image needed more context than it could give)."""
    radii = []
    with torch.inference_mode():
        for image in images:
            x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
            radii.append(srn_deblur.context_radius(net, x, tolerance=CONTEXT_TOLERANCE))
    known = [r for r in radii if r is not None]
    radius = None if len(known) < len(radii) or not known else max(known)
    return {"radius_px": radius, "per_image": radii, "tolerance": CONTEXT_TOLERANCE,
            "method": "smallest context margin around a 32-px core at the image centre for "
                      "which the core's output is within the tolerance of the whole image's, "
                      "largest over the first held-out validation images (reflected to "
                      "512 px); tiles need an overlap of twice it"}


def reproduction_commands(run_dir: Path, model_id: str, which: str,
                          final_iteration: int | None = None) -> list[str]:
    """The card's recipe: the train commands that led to these weights, then this export."""
    export_args = ([] if model_id == MODEL_ID else ["--id", model_id]) + ([] if which == "best" else ["--which", which])
    return recipe.reproduction_commands(run_dir, "editor.training.train_deblur", "editor.training.export_deblur",
                                        export_args, final_iteration)


def export(run_dir: Path, model_id: str = MODEL_ID, which: str = "best",
           models_dir: Path | None = None, measure_speed: bool = True,
           context: bool = True, notes: list[str] | None = None) -> dict[str, Any]:
    run_dir = Path(run_dir).expanduser()
    models_dir = Path(models_dir) if models_dir is not None else DEFAULT_MODELS_DIR
    checkpoint = torch.load(run_dir / f"{which}.pt", map_location="cpu", weights_only=False)
    config = checkpoint["config"]
    kwargs = shipped_kwargs(config["arch"])
    net = srn_deblur.SRNDeblur(**kwargs)
    net.load_state_dict(checkpoint["model"], strict=True)
    net.eval()

    measured = (measure_context(net, context_images(config.get("data")))
                if context else {"radius_px": None, "note": "not measured (--no-context)"})
    radius = measured["radius_px"]
    needed = None if radius is None else 2 * radius

    from editor.engine import registry

    overlap = needed if needed is not None else 0
    if model_id in registry.REGISTRY:
        spec = registry.REGISTRY.get(model_id)
        if spec.architecture != "srn_deblur" or spec.kwargs != kwargs:
            raise SystemExit(f"{model_id}: the catalog says {spec.architecture} {spec.kwargs}, "
                             f"this run is srn_deblur {kwargs}; update "
                             "editor/engine/catalog.py first")
        if context and (needed is None or spec.tile_overlap < needed):
            used = ("more context than could be measured" if radius is None
                    else f"{radius} px of context")
            raise SystemExit(
                f"{model_id}: these weights use {used}"
                f"; the catalog's tile_overlap {spec.tile_overlap} must be at least twice "
                "that, or tiles would show seams: raise _DEBLUR_OVERLAP in "
                "editor/engine/catalog.py (a multiple of 16)")
        overlap = spec.tile_overlap

    weights_path = models_dir / f"{model_id}.safetensors"
    sha = save_weights(net, weights_path)
    size = weights_path.stat().st_size
    params = srn_deblur.count_parameters(net)
    speed = seconds_per_megapixel(net) if measure_speed else None
    last = (torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)
            if (run_dir / "last.pt").is_file() else checkpoint)
    val = checkpoint.get("val") or (checkpoint["history"][-1] if checkpoint.get("history")
                                    else {})
    width = kwargs["width"]
    card = {
        "id": model_id,
        "task": "deblur",
        "architecture": "srn_deblur",
        "arch_kwargs": kwargs,
        "width": f"{width}-{2 * width}-{4 * width}"
                 + (" (the paper's full width)" if width == srn_deblur.PAPER_WIDTH
                    else " (reduced from the paper's 32-64-128 for CPU speed)"),
        "weights": weights_path.name,
        "sha256": sha,
        "size_bytes": size,
        "params": params,
        "multiply_adds_per_megapixel": round(srn_deblur.multiply_adds_per_pixel(
            width, kwargs["scales"], kwargs.get("lstm_kernel", srn_deblur.LSTM_KERNEL)) * 1e6),
        "receptive_radius_theoretical_px": srn_deblur.receptive_radius(kwargs["scales"]),
        "context_radius_measured": measured,
        "tile_overlap": overlap,
        "speed": {"seconds_per_megapixel_2_threads":
                  None if speed is None else round(speed, 3),
                  "measured": f"network alone, random 512x512 RGB, median of 5, torch "
                              f"{torch.__version__}, at export time"},
        "input": "float32 NCHW RGB in [0, 1], any size (padded internally to a multiple of "
                 f"{srn_deblur.pad_multiple(kwargs['scales'])}); output not clipped",
        "licence": DEBLUR_LICENCE,
        "training": {
            "data": DATA_NOTE,
            "validation": "every 20th image of sorted BSD200 (10 images, centre 256 px), "
                          "held out from training, fixed blurs from their own seed stream; "
                          "never bench/",
            "synthesis": {"module": "editor.training.deblur_data",
                          **json.loads(json.dumps(dataclasses.asdict(deblur_data.DEFAULT)))},
            "config": config,
            "iterations_of_these_weights": checkpoint["iteration"],
            "iterations_run": max(last.get("iteration", 0), checkpoint["iteration"]),
            "checkpoint": which,
            "commands": reproduction_commands(run_dir, model_id, which,
                                              checkpoint["iteration"]),
            "reproduce_note": ("Run the commands in order from the repository root. Each "
                               "train command resumes the same run; --stop-at marks where "
                               "that session was interrupted (it does not change the "
                               "learning-rate schedule). Floating-point results can differ "
                               "in the last bits between machines and thread counts."),
        },
        "validation": {
            "metric": "mean RGB PSNR of the 8-bit rounded output on the held-out pairs",
            "psnr": None if "psnr" not in val else round(val["psnr"], 3),
            "input_psnr": None if "input_psnr" not in val else round(val["input_psnr"], 3),
            "gain_db": None if "gain" not in val else round(val["gain"], 3),
        },
        "results": "filled by `restora-cli bench deblur` in models/RESULTS.md",
        "targets": [
            {"target": "weights <= 10 MB", "value": f"{size} bytes",
             "met": size <= SIZE_TARGET_BYTES},
            {"target": "<= 3 s per megapixel on 2 CPU threads (network alone here; the "
                       "tool's whole path is in RESULTS.md)",
             "value": None if speed is None else f"{speed:.2f} s/MP",
             "met": None if speed is None else speed <= SPEED_TARGET},
            {"target": "synthetic +3 dB, Levin +2 dB, GoPro +1.5 dB over the input, never "
                       "worse on a synthetic image", "value": "see models/RESULTS.md",
             "met": None},
        ],
        "notes": list(notes or []),
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    card_path = models_dir / f"{model_id}.json"
    temporary = card_path.with_name(card_path.name + ".partial")
    temporary.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    temporary.replace(card_path)
    assert sha256_file(weights_path) == sha
    return card


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m editor.training.export_deblur",
                                description="Export a deblurring run as weights + model card.")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--id", default=MODEL_ID)
    p.add_argument("--which", choices=("best", "last"), default="best")
    p.add_argument("--models-dir", default=None)
    p.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    p.add_argument("--no-context", action="store_true",
                   help="skip measuring the context radius (and the tile-overlap check)")
    p.add_argument("--note", action="append", default=[],
                   help="a line for the card's notes (repeatable)")
    args = p.parse_args(argv)
    card = export(Path(args.run_dir), args.id, args.which,
                  Path(args.models_dir) if args.models_dir else None, not args.no_speed,
                  not args.no_context, args.note)
    print(json.dumps({k: card[k] for k in ("id", "sha256", "params", "context_radius_measured",
                                           "tile_overlap", "validation", "targets")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
