"""Export a Retouch training run as a shipped style: weights + model card.

    python -m editor.training.export_retouch --run-dir ~/.cache/restora/runs/retouch-base \
        --id retouch-base
    python -m editor.training.export_retouch --run-dir ~/.cache/restora/runs/retouch-expert-c \
        --id retouch-expert-c

Writes ``models/<id>.safetensors`` (the engine's ``save_weights``) and ``models/<id>.json``:
architecture and kwargs, parameters, multiply-adds of the network for a 1080p and a 4K
photo, the exact commands that reproduce the weights (for a fine-tuned style, the
pre-training's commands first), training data with licences, the validation numbers and
the issue's targets this step can judge (size; the quality of Expert C on the held-out
FiveK pairs). Speed and the comparison with baselines are measured by ``restora-cli bench
retouch`` into models/RESULTS.md.

Which checkpoint: ``best`` for the pre-training (chosen on held-out NATURAL images), always
``last`` for FiveK — its held-out pairs are the benchmark's quality set, so no checkpoint
is chosen on them. The catalog reads the sha256 from the card; export refuses weights
whose architecture differs from the catalog entry.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from editor.engine.weights import save_weights, sha256_file
from editor.nets import lptn
from editor.training import recipe, retouch_data
from editor.training.export_sr import DATA_NOTE
from editor.training.train_retouch import validate

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
PARAMS_TARGET = 600_000
GAIN_TARGET_DB = 3.0

FIVEK_NOTE = {"name": "MIT-Adobe FiveK, Expert C (17 pairs; 13 trained on, "
                      f"indices {list(retouch_data.HELD_OUT)} of the sorted names held out)",
              "path": "../shared/data/train/retouch_fivek",
              "source": "sjmoran/DeepLPF @e610b2ba and sjmoran/CURL @4be9753a, "
                        "adobe5k_dpe/*example_test*",
              "licence": "FiveK: research use"}


def network_macs(kwargs: dict[str, Any], height: int, width: int) -> int:
    """Multiply-adds of the network's convolutions for one photo (the pyramid's few adds per
    pixel are left out), counted with forward hooks on a random input of the low bands'
    real sizes."""
    net = lptn.LPTN(**kwargs).eval()
    total = [0]

    def hook(module, _inputs, output):
        total[0] += (output.numel() * module.in_channels // module.groups
                     * module.kernel_size[0] * module.kernel_size[1])

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if isinstance(m, torch.nn.Conv2d)]
    levels = net.levels_for(height, width)
    sizes = [(height, width)]
    for _ in range(levels):
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    bands = [torch.zeros(1, 3, h, w) for h, w in sizes]
    with torch.inference_mode():
        low_out = net.translate_low(bands[-1])
        net.masked_bands(bands[:-1] + [bands[-1]], low_out)
    for h in handles:
        h.remove()
    return total[0]


def shipped_kwargs(arch: dict[str, Any]) -> dict[str, Any]:
    """Every LPTN constructor argument, explicitly (so the catalog pins them all)."""
    net = lptn.LPTN(**arch)
    return {"levels": net.levels, "low_width": net.low.expand.out_channels,
            "low_blocks": len(net.low.blocks), "mask_width": net.mask.head.out_channels,
            "mask_blocks": len(net.mask.blocks),
            "refine_width": net.refine[0].conv1.out_channels, "low_side": net.low_side,
            "instance_norm": net.low.norm is not None,
            # Only when present: styles without the grade keep their older kwargs.
            **({"global_tone": True} if net.tone is not None else {})}


def _validation_pairs(config: dict[str, Any]) -> tuple[str, list[retouch_data.Pair]]:
    if config["task"] == "fivek":
        _, held = retouch_data.load_fivek(Path(config["data"]))
        return "the 4 held-out FiveK pairs (input → Expert C), whole images", held
    _, val = retouch_data.load_natural(Path(config["data"]))
    return ("10 held-out BSD200 images, each distorted from a fixed stream, recovered "
            "to the original"), retouch_data.distorted_val_pairs(val)


def export(run_dir: Path, model_id: str, which: str | None = None,
           models_dir: Path | None = None, notes: list[str] | None = None) -> dict[str, Any]:
    run_dir = Path(run_dir).expanduser()
    models_dir = Path(models_dir) if models_dir is not None else DEFAULT_MODELS_DIR
    last = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)
    config = last["config"]
    if which is None:
        which = "best" if config["task"] == "distort" and (run_dir / "best.pt").is_file() \
            else "last"
    if which == "best" and config["task"] == "fivek":
        raise SystemExit("FiveK runs export 'last': their held-out pairs are the benchmark's "
                         "quality set and must not choose the checkpoint")
    checkpoint = last if which == "last" else torch.load(run_dir / "best.pt", map_location="cpu",
                                                          weights_only=False)
    kwargs = shipped_kwargs(config["arch"])
    net = lptn.LPTN(**kwargs)
    net.load_state_dict(checkpoint["model"], strict=True)
    net.eval()

    from editor.engine import registry

    if model_id in registry.REGISTRY:
        spec = registry.REGISTRY.get(model_id)
        if spec.architecture != "lptn" or spec.kwargs != kwargs:
            raise SystemExit(f"{model_id}: the catalog says {spec.architecture} {spec.kwargs}, "
                             f"this run is lptn {kwargs}; update editor/engine/catalog.py first")

    what, pairs = _validation_pairs(config)
    scores = validate(net, pairs)
    weights_path = models_dir / f"{model_id}.safetensors"
    sha = save_weights(net, weights_path)
    size = weights_path.stat().st_size
    params = lptn.count_parameters(net)

    commands: list[str] = []
    base_card = None
    if config["task"] == "fivek":
        base_path = models_dir / "retouch-base.json"
        if base_path.is_file():
            base_card = json.loads(base_path.read_text(encoding="utf-8"))
            commands += base_card["training"]["commands"]
    default = "best" if config["task"] == "distort" else "last"
    export_args = ["--id", model_id] + ([] if which == default else ["--which", which])
    # A run that recorded its --init chain lists the pre-training's commands itself.
    commands += [c for c in recipe.reproduction_commands(
        run_dir, "editor.training.train_retouch", "editor.training.export_retouch",
        export_args, checkpoint["iteration"]) if c not in commands]
    data = list(DATA_NOTE) + ([FIVEK_NOTE] if config["task"] == "fivek" else [])
    from editor.engine.catalog import RETOUCH_BASE_LICENCE, RETOUCH_FIVEK_LICENCE

    gain = scores["gain"]
    targets = [{"target": f"≤ {PARAMS_TARGET:,} parameters", "value": params,
                "met": params <= PARAMS_TARGET}]
    if config["task"] == "fivek":
        targets.append({"target": f"held-out FiveK ≥ input + {GAIN_TARGET_DB:g} dB",
                        "value": f"{scores['psnr']:.2f} dB vs input {scores['input_psnr']:.2f} "
                                 f"dB ({gain:+.2f} dB)", "met": gain >= GAIN_TARGET_DB})
        targets.append({"target": "above the global curve baseline; speed (4K ≤ 1.5 s, 1080p "
                                  "≤ 0.4 s, ≥ 5× the full-resolution CNN)",
                        "value": "see models/RESULTS.md (restora-cli bench retouch)",
                        "met": None})
    card = {
        "id": model_id,
        "task": "retouch",
        "architecture": "lptn",
        "arch_kwargs": kwargs,
        "network": "LPTN (Liang, Zeng, Zhang, CVPR 2021): Laplacian pyramid with the fixed "
                   "5-tap binomial kernel; the paper's low-frequency branch (64 channels, 5 "
                   "residual blocks; without its instance norm, see editor/nets/lptn.py); mask network at the band next to the low "
                   "one (32 channels, 3 residual blocks: half the paper's width, for CPU "
                   "speed); 1×1 progressive mask refinement per level. At least 3 levels, "
                   "more for large photos so the low band is ≤ 64 px across."
                   + (" Then a pointwise global grade at full resolution: per-channel tone "
                      "curve (33 knots), 3×3 colour matrix + offset, per-channel tone curve "
                      "(editor/nets/tone_curve.py)." if net.tone is not None else ""),
        "weights": weights_path.name,
        "sha256": sha,
        "size_bytes": size,
        "params": params,
        "multiply_adds": {"1920x1080": network_macs(kwargs, 1080, 1920),
                          "3840x2160": network_macs(kwargs, 2160, 3840),
                          "note": "network convolutions only; the pyramid adds a few "
                                  "operations per pixel (cv2 at full resolution)"},
        "input": "float32 NCHW RGB in [0, 1], any size; output not clipped",
        "licence": RETOUCH_FIVEK_LICENCE if config["task"] == "fivek" else RETOUCH_BASE_LICENCE,
        "training": {
            "task": config["task"],
            "data": data,
            "pretrained_from": (None if base_card is None else
                                {"id": "retouch-base", "sha256": base_card["sha256"]}),
            "loss": f"L1 + {config['colour_weight']:g} × (1 − cos angle between RGB vectors)",
            "augmentation": "random-scale square crops, flips and 90° turns"
                            + ("; random exposure, contrast, gamma, white balance, "
                               "saturation and tone-curve distortions (editor.training."
                               "distort)" if config["task"] == "distort" else ""),
            "config": config,
            "iterations_of_these_weights": checkpoint["iteration"],
            "iterations_run": last["iteration"],
            "checkpoint": which,
            "commands": commands,
            "reproduce_note": ("Run the commands in order from the repository root. Each "
                               "train command resumes the same run; --stop-at marks where "
                               "that session was interrupted (it does not change the "
                               "learning-rate schedule). Floating-point results can differ "
                               "in the last bits between machines and thread counts."),
        },
        "validation": {"on": what,
                       "metric": "mean RGB PSNR of the 8-bit rounded output",
                       "psnr": round(scores["psnr"], 3),
                       "input_psnr": round(scores["input_psnr"], 3),
                       "gain_db": round(gain, 3)},
        "results": "speed, memory, baselines: models/RESULTS.md (restora-cli bench retouch)",
        "targets": targets,
        "notes": list(notes or []),
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    card_path = models_dir / f"{model_id}.json"
    temporary = card_path.with_name(card_path.name + ".partial")
    temporary.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    temporary.replace(card_path)
    assert sha256_file(weights_path) == sha
    return card


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m editor.training.export_retouch",
                                description="Export a Retouch run as weights + model card.")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--id", required=True, help="retouch-base or retouch-expert-c")
    p.add_argument("--which", choices=("best", "last"), default=None,
                   help="default: best for pre-training, last for FiveK")
    p.add_argument("--models-dir", default=None)
    p.add_argument("--note", action="append", default=[],
                   help="a line for the card's notes (repeatable)")
    args = p.parse_args(argv)
    card = export(Path(args.run_dir), args.id, args.which,
                  Path(args.models_dir) if args.models_dir else None, args.note)
    print(json.dumps({k: card[k] for k in ("id", "sha256", "params", "validation", "targets")},
                     indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
