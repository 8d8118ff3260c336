"""Export a training run's weights for one scale as a shipped model: weights + model card.

    python -m editor.training.export_sr --run-dir ~/.cache/restora/runs/quality \
        --id sr-quality-x4 [--which best|last] [--report-bench]

Writes ``models/<id>.safetensors`` (via the engine's ``save_weights``) and
``models/<id>.json``, the model card: architecture and kwargs, parameters, multiply-adds per
output megapixel, measured CPU speed, the exact commands that reproduce the weights (every
train invocation of the run in order, with the ``--stop-at`` each one was interrupted at,
then this export), training data with licences, iterations, validation PSNR, and which of
the issue's targets are met. The catalog (``editor.engine.catalog``) reads the sha256 from
the card, so shipping a retrained model needs no code change.

``--report-bench`` also scores the exported net on ``../shared/data/bench/sr`` (Set5,
Set14, B100) for the card's report. Those numbers are never used to pick a checkpoint:
the checkpoint is chosen on the held-out training images before this runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from editor.engine.weights import save_weights, sha256_file
from editor.nets import espcn as espcn_net
from editor.nets import sr_residual
from editor.training import sr_data
from editor.training.degrade import DEFAULT as DEGRADE_DEFAULT
from editor.training.degrade import noisy_jpeg
from editor.training.train_sr import REAL_VAL_JPEG, REAL_VAL_NOISE, Trainee
from editor.training import recipe

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
BENCH_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "bench" / "sr"

DATA_NOTE = [
    {"name": "T91 (Yang et al.)", "path": "../shared/data/train/natural/T91",
     "source": "fannymonori/TF-ESPCN @5c628eca, Test/", "licence": "research"},
    {"name": "BSD200 (BSDS500 train split)", "path": "../shared/data/train/natural/BSD200",
     "source": "Sisso16/ssn_pytorch @c4f9ac8c, BSR/BSDS500/data/images/train",
     "licence": "Berkeley: non-commercial research"},
]
LICENCE = ("Trained on T91 (research use) and BSD200 (Berkeley: non-commercial research); "
           "the weights inherit the non-commercial research restriction.")

#: The issue's targets: (model kind, scale) -> {benchmark: dB}.
PSNR_TARGETS: dict[tuple[str, int], dict[str, float]] = {
    ("quality", 4): {"Set5": 30.8, "Set14": 27.5, "B100": 26.9},
    ("quality", 2): {"Set5": 36.8},
    ("quality", 3): {"Set5": 32.9},
}
SPEED_TARGET_QUALITY_X4 = 0.5   # s per output megapixel, 2 threads
SPEED_TARGET_FAST = 0.15        # s for a 1-megapixel output, 2 threads
SIZE_TARGET_BYTES = 5 * 1000 * 1000


def scale_from_id(model_id: str) -> int | None:
    match = re.search(r"-x([234])$", model_id)
    return int(match.group(1)) if match else None


def shipped_network(config: dict[str, Any], scale: int) -> tuple[str, dict[str, Any], nn.Module]:
    """(registry architecture name, arch_kwargs, fresh network) for one scale of a run."""
    arch = config["arch"]
    if config["model"] == "fast":
        kwargs = {"scale": scale, "width": arch["width"], "mid": arch["mid"],
                  "residual": arch["residual"]}
        return "espcn", kwargs, espcn_net.ESPCN(**kwargs)
    kwargs = {"scale": scale, "channels": arch["channels"], "blocks": arch["blocks"],
              "base": arch.get("base", "bicubic")}
    return "residual_sr", kwargs, sr_residual.ResidualSR(**kwargs)


def macs_per_output_mp(architecture: str, kwargs: dict[str, Any]) -> float:
    s = kwargs["scale"]
    if architecture == "espcn":
        per_input = espcn_net.multiply_adds_per_input_pixel(kwargs["width"], kwargs["mid"], s)
    else:
        per_input = sr_residual.multiply_adds_per_input_pixel(kwargs["channels"],
                                                              kwargs["blocks"], s)
    return per_input * 1e6 / (s * s)


def receptive_radius(architecture: str, kwargs: dict[str, Any]) -> int:
    # ESPCN: 5x5 + 3x3 + 3x3 convolutions -> 2 + 1 + 1 input pixels.
    return 4 if architecture == "espcn" else sr_residual.receptive_radius(kwargs["blocks"])


def seconds_per_output_mp(net: nn.Module, scale: int, repeats: int = 7) -> float:
    """Median seconds for a ~1-megapixel output on 2 CPU threads (channels-last input, as
    the engine feeds it is not assumed: plain NCHW)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        side = round(1000 / scale)
        x = torch.rand(1, 3, side, side)
        net = net.eval()
        times = []
        with torch.inference_mode():
            net(x)
            for _ in range(repeats):
                start = time.perf_counter()
                net(x)
                times.append(time.perf_counter() - start)
        return statistics.median(times) / ((side * scale) ** 2 / 1e6)
    finally:
        torch.set_num_threads(threads)


def reproduction_commands(run_dir: Path, model_id: str, which: str,
                          final_iteration: int | None = None) -> list[str]:
    """The card's recipe: the train commands that led to these weights, then this export."""
    export_args = ["--id", model_id] + ([] if which == "best" else ["--which", which])
    return recipe.reproduction_commands(run_dir, "editor.training.train_sr", "editor.training.export_sr",
                                        export_args, final_iteration)


def _run(net: nn.Module, lr: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)))[None]
        return net(x)[0].numpy().transpose(1, 2, 0)


def _bicubic_up(lr: np.ndarray, scale: int) -> np.ndarray:
    from editor.core.imresize import imresize

    return imresize(lr, float(scale))


def bench_pairs(scale: int) -> dict[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """{set name: [(image, hr float, lr float)]} that exist for ``scale``."""
    out: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    set5 = BENCH_ROOT / "Set5"
    if (set5 / "LR_bicubic" / f"X{scale}").is_dir():
        items = []
        for hr_path in sorted((set5 / "HR").glob("*.png")):
            lr_path = set5 / "LR_bicubic" / f"X{scale}" / f"{hr_path.stem}x{scale}.png"
            if lr_path.is_file():
                items.append((hr_path.stem, sr_data.to_float(sr_data.modcrop(
                    sr_data.load_rgb(hr_path), scale)), sr_data.to_float(sr_data.load_rgb(
                        lr_path))))
        out["Set5"] = items
    for name in ("Set14", "B100"):
        folder = BENCH_ROOT / name / f"x{scale}"
        if folder.is_dir():
            items = []
            for hr_path in sorted(folder.glob("*_HR.png")):
                lr_path = hr_path.with_name(hr_path.name.replace("_HR.png", "_LR.png"))
                if lr_path.is_file():
                    lr = sr_data.to_float(sr_data.load_rgb(lr_path))
                    hr = sr_data.to_float(sr_data.load_rgb(hr_path))
                    hr = hr[: lr.shape[0] * scale, : lr.shape[1] * scale]
                    items.append((hr_path.stem, hr, lr))
            out[name] = items
    return out


def bench_report(net: nn.Module, scale: int, compare: nn.Module | None) -> dict[str, Any]:
    """Mean Y-PSNR on the benchmark sets (and bicubic's), for the card's report only."""
    report: dict[str, Any] = {}
    for name, items in bench_pairs(scale).items():
        ours = [sr_data.y_psnr(_run(net, lr), hr, scale) for _, hr, lr in items]
        bicubic = [sr_data.y_psnr(_bicubic_up(lr, scale), hr, scale) for _, hr, lr in items]
        report[name] = {"psnr_y": round(float(np.mean(ours)), 3),
                        "bicubic_psnr_y": round(float(np.mean(bicubic)), 3),
                        "images": len(items)}
        if compare is not None and name == "B100":
            # The real-photo test: B100 x4 LR + Gaussian noise 5/255 + JPEG 60.
            noisy = [(hr, noisy_jpeg(lr, REAL_VAL_NOISE, REAL_VAL_JPEG, seed=i))
                     for i, (_, hr, lr) in enumerate(items)]
            report["B100_noise5_jpeg60"] = {
                "psnr_y": round(float(np.mean([sr_data.y_psnr(_run(net, lr), hr, scale)
                                               for hr, lr in noisy])), 3),
                "quality_model_psnr_y": round(float(np.mean(
                    [sr_data.y_psnr(_run(compare, lr), hr, scale) for hr, lr in noisy])), 3),
                "quality_model_clean_psnr_y": round(float(np.mean(
                    [sr_data.y_psnr(_run(compare, lr), hr, scale) for _, hr, lr in items])), 3),
                "protocol": "noise sigma 5/255 (numpy default_rng(seed=image index)), then "
                            "OpenCV JPEG quality 60, on the given LR images",
            }
    return report


def validation_bicubic(scale: int, noisy: bool = False,
                       data_root: str | None = None) -> dict[str, float] | None:
    """Bicubic (MATLAB) Y-PSNR on the held-out validation images, the baseline the run's
    validation numbers are read against; None when the training data is absent."""
    from editor.core.imresize import imresize

    try:
        val = sr_data.load_val(Path(data_root).expanduser() if data_root else None)
    except (FileNotFoundError, ValueError):
        return None
    out = {}
    items = sr_data.make_val_set(val, [scale])[scale]
    out["clean"] = round(float(np.mean([sr_data.y_psnr(imresize(v.lr[scale], float(scale)),
                                                       v.hr, scale) for v in items])), 3)
    if noisy:
        from editor.training.train_sr import _real_val_degrade

        items = sr_data.make_val_set(val, [scale], _real_val_degrade)[scale]
        out["noisy_jpeg"] = round(float(np.mean([sr_data.y_psnr(
            imresize(v.lr[scale], float(scale)), v.hr, scale) for v in items])), 3)
    return out


def check_targets(kind: str, scale: int, report: dict[str, Any] | None, speed: float,
                  size: int) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = [{"target": "weights <= 5 MB", "value": f"{size} bytes",
                                      "met": size <= SIZE_TARGET_BYTES}]
    if kind == "quality":
        if scale == 4:
            targets.append({"target": "<= 0.5 s per output MP at x4 on 2 CPU threads",
                            "value": f"{speed:.3f} s/MP", "met": speed <= SPEED_TARGET_QUALITY_X4})
        for bench, goal in PSNR_TARGETS.get((kind, scale), {}).items():
            got = (report or {}).get(bench, {}).get("psnr_y")
            targets.append({"target": f"{bench} x{scale} >= {goal} dB",
                            "value": None if got is None else f"{got:.2f} dB",
                            "margin_db": None if got is None else round(got - goal, 2),
                            "met": None if got is None else got >= goal})
    elif kind == "fast":
        seconds = speed  # a 1-megapixel output, so s/MP == s
        targets.append({"target": "1-megapixel preview <= 0.15 s on 2 CPU threads "
                                  f"(measured at x{scale})",
                        "value": f"{seconds:.3f} s", "met": seconds <= SPEED_TARGET_FAST})
    elif kind == "real":
        noisy = (report or {}).get("B100_noise5_jpeg60")
        clean = (report or {}).get("B100", {}).get("psnr_y")
        if noisy:
            targets.append({"target": "beats the quality model on B100 x4 + noise 5/255 + "
                                      "JPEG 60", "value": f"{noisy['psnr_y']:.2f} vs "
                                                          f"{noisy['quality_model_psnr_y']:.2f} dB",
                            "met": noisy["psnr_y"] > noisy["quality_model_psnr_y"]})
            targets.append({"target": "clean B100 x4 no more than 1 dB below the quality model",
                            "value": f"{clean:.2f} vs {noisy['quality_model_clean_psnr_y']:.2f} dB",
                            "met": clean >= noisy["quality_model_clean_psnr_y"] - 1.0})
        else:
            targets.append({"target": "real-photo comparisons", "value": None, "met": None})
    return targets


def export(run_dir: Path, model_id: str, scale: int | None = None, which: str = "best",
           models_dir: Path | None = None, report_bench: bool = False,
           measure_speed: bool = True, quality_id: str = "sr-quality-x4",
           notes: list[str] | None = None) -> dict[str, Any]:
    run_dir = Path(run_dir).expanduser()
    models_dir = Path(models_dir) if models_dir is not None else DEFAULT_MODELS_DIR
    scale = scale or scale_from_id(model_id)
    checkpoint = torch.load(run_dir / f"{which}.pt", map_location="cpu", weights_only=False)
    config = checkpoint["config"]
    if scale is None or scale not in config["scales"]:
        raise SystemExit(f"scale {scale!r} was not trained in {run_dir} "
                         f"(scales {config['scales']}); name the id ...-xS or pass --scale")
    trainee = Trainee(config["model"], config["scales"], config["arch"])
    trainee.load_state_dict(checkpoint["model"])
    architecture, kwargs, net = shipped_network(config, scale)
    net.load_state_dict(trainee.export_state(scale), strict=True)
    net.eval()

    from editor.engine import registry

    radius = receptive_radius(architecture, kwargs)
    overlap = 2 * radius
    if model_id in registry.REGISTRY:
        spec = registry.REGISTRY.get(model_id)
        if spec.architecture != architecture or spec.kwargs != kwargs:
            raise SystemExit(f"{model_id}: the catalog says {spec.architecture} {spec.kwargs}, "
                             f"this run is {architecture} {kwargs}; update "
                             "editor/engine/catalog.py first")
        if spec.tile_overlap < overlap:
            raise SystemExit(f"{model_id}: catalog tile_overlap {spec.tile_overlap} is below "
                             f"twice the receptive radius ({overlap}); tiles would show seams")
        overlap = spec.tile_overlap

    weights_path = models_dir / f"{model_id}.safetensors"
    sha = save_weights(net, weights_path)
    size = weights_path.stat().st_size
    params = sum(p.numel() for p in net.parameters())
    speed = seconds_per_output_mp(net, scale) if measure_speed else float("nan")

    last = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False) \
        if (run_dir / "last.pt").is_file() else checkpoint
    val = checkpoint.get("val") or (checkpoint["history"][-1] if checkpoint.get("history")
                                    else {})
    val_bicubic = validation_bicubic(scale, config["model"] == "real", config.get("data"))
    report = None
    if report_bench:
        compare = None
        if config["model"] == "real":
            from editor.engine.registry import REGISTRY
            from editor.engine.weights import load_model

            compare = load_model(REGISTRY.get(quality_id), device="cpu")
        report = bench_report(net, scale, compare)

    card = {
        "id": model_id,
        "task": "superres",
        "kind": config["model"],
        "architecture": architecture,
        "arch_kwargs": kwargs,
        "scale": scale,
        "weights": weights_path.name,
        "sha256": sha,
        "size_bytes": size,
        "params": params,
        "multiply_adds_per_output_megapixel": round(macs_per_output_mp(architecture, kwargs)),
        "receptive_radius_input_px": radius,
        "tile_overlap": overlap,
        "speed": {"seconds_per_output_megapixel_2_threads":
                  None if speed != speed else round(speed, 4),  # NaN: not measured
                  "measured": f"random {round(1000 / scale)}x{round(1000 / scale)} RGB input "
                              f"-> x{scale}, median of 7, torch {torch.__version__}, "
                              "at export time on a shared 2-core machine"},
        "input": "float32 NCHW RGB in [0, 1]; output not clipped",
        "licence": LICENCE,
        "training": {
            "data": DATA_NOTE,
            "validation": "every 20th image of sorted BSD200 (10 images), held out from "
                          "training; never bench/",
            "lr_generation": ("MATLAB-bicubic imresize (editor.core.imresize, uint8 path)"
                              if config["model"] != "real" else
                              "random degradations (editor.training.degrade): blur, random "
                              "resize kernel, Gaussian/Poisson noise, JPEG 30-95"),
            "config": config,
            **({"degradations": dataclasses.asdict(DEGRADE_DEFAULT)}
               if config["model"] == "real" else {}),
            "iterations_of_these_weights": checkpoint["iteration"],
            "iterations_run": max(last.get("iteration", 0), checkpoint["iteration"]),
            "checkpoint": which,
            "commands": reproduction_commands(run_dir, model_id, which,
                                              checkpoint["iteration"]),
            "reproduce_note": ("Run the commands in order from the repository root. Each "
                               "train command resumes the same run; --stop-at marks where "
                               "that session was interrupted (it does not change the "
                               "learning-rate schedule, so the run is the same as one "
                               "uninterrupted run). Floating-point results can differ in "
                               "the last bits between machines and thread counts."),
        },
        "validation": {
            "metric": "mean Y-channel PSNR (BT.601), border = scale cropped, outputs "
                      "rounded to 8 bits",
            "psnr_y_this_scale": round(float(val.get(f"x{scale}", float("nan"))), 3),
            "bicubic_psnr_y": val_bicubic,
            "run_values": {k: round(v, 3) for k, v in val.items()
                           if isinstance(v, (int, float))},
        },
        "reported_bench_psnr": report if report is not None else
        "not measured at export (run export with --report-bench)",
        "results": "filled by `restora-cli bench superres` in models/RESULTS.md",
        "targets": check_targets(config["model"], scale, report, speed, size),
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
    p = argparse.ArgumentParser(prog="python -m editor.training.export_sr",
                                description="Export a trained SR run as weights + model card.")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--id", required=True, help="model id, e.g. sr-quality-x4")
    p.add_argument("--scale", type=int, default=None, help="default: from the id's -xS")
    p.add_argument("--which", choices=("best", "last"), default="best")
    p.add_argument("--models-dir", default=None)
    p.add_argument("--report-bench", action="store_true",
                   help="also score on ../shared/data/bench/sr for the card (reporting only)")
    p.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    p.add_argument("--quality-id", default="sr-quality-x4",
                   help="the quality model the real-photo model is compared with")
    p.add_argument("--note", action="append", default=[],
                   help="a line for the card's notes (repeatable)")
    args = p.parse_args(argv)
    card = export(Path(args.run_dir), args.id, args.scale, args.which,
                  Path(args.models_dir) if args.models_dir else None, args.report_bench,
                  not args.no_speed, args.quality_id, args.note)
    print(json.dumps({k: card[k] for k in ("id", "sha256", "params", "validation",
                                           "targets")}, indent=2))
    if isinstance(card["reported_bench_psnr"], dict):
        print(json.dumps(card["reported_bench_psnr"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
