"""Export the Makeup-Go runs as shipped models: ``makeup-go`` (the CRN) and ``makeup-plain``
(the plain CNN baseline), weights + model cards, measured on the held-out test split.

    python -m editor.training.export_makeup --run-dir ~/.cache/restora/runs/makeup-crn \
        --plain-run-dir ~/.cache/restora/runs/makeup-plain [--which best|last]

Writes ``models/makeup-go.safetensors`` + ``.json`` and ``models/makeup-plain.safetensors``
+ ``.json``. Both cards carry the same held-out table — PSNR/SSIM (RGB, 8-bit rounded
outputs, :mod:`editor.core.metrics`) of the input, the plain CNN and the CRN on the
``test`` split's synthetic-beautified UTKFace faces and on its real makeup pairs — and the
paper's improvement per component (:func:`editor.training.pca_basis.
improvement_per_component`, in the CRN's basis) for both models, which shows component
domination. Also: architecture, parameters, size, speed per face (the whole
numpy -> network -> numpy path, 2 CPU threads), the commands that reproduce the weights in
order, training data with licences.

For the tool and the benchmark: :func:`load_makeup_net` builds a model from the registry
(or from a weights file), :func:`editor.nets.crn.revert_crop` runs it on one aligned crop.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from editor.core.metrics import psnr, ssim
from editor.engine.catalog import MAKEUP_LICENCE
from editor.engine.weights import save_weights, sha256_file
from editor.nets import crn
from editor.training import makeup_data as md
from editor.training import recipe
from editor.training.pca_basis import improvement_per_component, summarise_improvement
from editor.training.train_makeup import build_net, run_images

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
MODEL_IDS = {"crn": "makeup-go", "plain": "makeup-plain"}
ARCHITECTURES = {"crn": "crn", "plain": "plain_makeup_cnn"}
SIZE_TARGET_BYTES = 5_000_000
SPEED_TARGET_S = 0.3     # per face at 256 px, 2 CPU threads, everything included
TRAINER = "editor.training.train_makeup"
EXPORTER = "editor.training.export_makeup"

DATA_NOTE = [
    {"name": "UTKFace aligned crops (synthetically beautified by "
             "editor.training.beautify)",
     "path": "../shared/data/train/faces_utkface/images",
     "source": "bagashvilit/facial_recognition_bias @abe87302, data/images",
     "licence": "UTKFace: non-commercial research",
     "identities": "no identity labels: each file is treated as one identity for the "
                   "train/val/test split"},
    {"name": "makeup_pairs_96 (same person with / without makeup; FAM, MIFS, VMU, YMU)",
     "path": "../shared/data/train/makeup_pairs_96/{with,without}",
     "source": "Oceanland-428/Makeup-Removal-System-with-CNN-and-GAN @20f8c5b8, "
               "data/gan_makeup_data_96",
     "licence": "research",
     "pairs": "1,012 named pairs (N_m/N_n, N_k_y/N_k_n, N_A_k/N_B_k, NdK_mu/NdK; the 77 "
              "unpaired MIW files are not used); the without-makeup photo aligned to the "
              "with-makeup one by a similarity transform on dlib landmarks (921 pairs with "
              "both faces found are used), both upscaled 96 -> 128 px (bicubic); pose, "
              "expression and lighting still differ within a pair (~13 dB apart)",
     "loss_weight": "a real pair's loss is scaled by the run's real_weight (see config)"},
]

SPLIT_NOTE = ("crc32(identity) % 10: 0 = test (these held-out numbers, the benchmark), "
              "1 = val (best-checkpoint choice), 2-9 = train; identity = UTKFace file name, "
              "or the leading number of a real pair's file name "
              "(editor.training.makeup_data.split). Never bench/.")

FRAMING = ("an aligned face crop framed like UTKFace: the face (jaw to upper forehead) "
           "fills most of a square crop, eyes level at ~40 % of the height; trained at "
           "128 px (96 px random crops); any size works (padded to a multiple of 4), "
           "128-256 px recommended")


def load_run_net(run_dir: Path, which: str = "best") -> tuple[torch.nn.Module, dict, dict]:
    """(network in eval mode, the checkpoint, the run's last.pt or the checkpoint)."""
    run_dir = Path(run_dir).expanduser()
    checkpoint = torch.load(run_dir / f"{which}.pt", map_location="cpu", weights_only=False)
    config = checkpoint["config"]
    net = build_net(config["model"], config["arch"])
    net.load_state_dict(checkpoint["model"], strict=True)
    last = (torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)
            if (run_dir / "last.pt").is_file() else checkpoint)
    return net.eval(), checkpoint, last


def arch_kwargs(model: str, net: torch.nn.Module) -> dict[str, Any]:
    """The registry's constructor kwargs (a CRN's basis and deviations come with the
    weights, as buffers)."""
    # context_levels only when used, so pyramid-less cards (and the catalog) stay as they were.
    extra = {"context_levels": net.context_levels} if net.context_levels else {}
    if model == "crn":
        return {"components": net.components, "patch": net.patch, "width": net.width,
                "depth": net.depth, "groups": net.groups, **extra}
    return {"width": net.width, "depth": net.depth,
            "groups": net.head[0].out_channels // crn.HEAD_WIDTH, **extra}


def load_makeup_net(model_id: str = "makeup-go", weights: Path | None = None
                    ) -> torch.nn.Module:
    """The shipped model by registry id (sha256-verified by the engine), or the same
    architecture loaded from a ``weights`` file (before the catalog knows the model)."""
    if weights is None:
        from editor.engine.registry import REGISTRY
        from editor.engine.weights import load_model

        return load_model(REGISTRY.get(model_id), device="cpu")
    from safetensors.torch import load_file

    state = load_file(str(weights))
    width = state["trunk.inp.weight"].shape[0]
    depth = len({key.split(".")[2] for key in state if key.startswith("trunk.blocks.")})
    levels = len({key.split(".")[3] for key in state if key.startswith("trunk.pyramid.down.")})
    if "basis" in state:
        k, _, m, _ = state["basis"].shape
        net = crn.ComponentRegressionNet(components=k, patch=m, width=width, depth=depth,
                                         groups=len({key.split(".")[1] for key in state
                                                     if key.startswith("heads.")}),
                                         context_levels=levels)
    else:
        net = crn.PlainCNN(width=width, depth=depth,
                           groups=state["head.0.weight"].shape[0] // crn.HEAD_WIDTH,
                           context_levels=levels)
    net.load_state_dict(state, strict=True)
    return net.eval().requires_grad_(False)


def seconds_per_face(net: torch.nn.Module, side: int = 256, repeats: int = 5) -> float:
    """Median seconds for one ``side``-px face on 2 threads: numpy HWC in, numpy out."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        face = np.random.default_rng(0).random((side, side, 3), dtype=np.float32)
        crn.revert_crop(net, face)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            crn.revert_crop(net, face)
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    finally:
        torch.set_num_threads(threads)


def _scores(outputs, pairs) -> dict[str, float]:
    return {"psnr": round(float(np.mean([psnr(o, p[1]) for o, p in zip(outputs, pairs)])), 3),
            "ssim": round(float(np.mean([ssim(o, p[1]) for o, p in zip(outputs, pairs)])), 4)}


def evaluate(nets: dict[str, torch.nn.Module], evaluation: md.EvalSet,
             basis: np.ndarray | None) -> dict[str, Any]:
    """Held-out PSNR/SSIM of the input and of each network, per kind (synthetic, real),
    and each network's improvement per component (in ``basis``)."""
    device = torch.device("cpu")
    results: dict[str, Any] = {}
    for kind, pairs in (("synthetic", evaluation.synthetic), ("real", evaluation.real)):
        if not pairs:
            continue
        inputs = [p[0] for p in pairs]
        table = {"pairs": len(pairs), "input": _scores(inputs, pairs)}
        for name, net in nets.items():
            outputs = run_images(net, inputs, device)
            table[name] = _scores(outputs, pairs)
            table[name]["gain_db"] = round(table[name]["psnr"] - table["input"]["psnr"], 3)
            if basis is not None:
                improvement = improvement_per_component(
                    basis, inputs, [p[1] for p in pairs], outputs)
                bounds = crn.group_bounds(len(improvement), 3)
                table[name]["improvement_per_component"] = {
                    "by_group": summarise_improvement(improvement, bounds),
                    "first_10": [round(float(v), 4) for v in improvement[:10]],
                    "all": [round(float(v), 4) for v in improvement]}
        results[kind] = table
    return results


def _targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    synthetic, real = results.get("synthetic", {}), results.get("real", {})
    if "crn" in synthetic:
        gain = synthetic["crn"]["gain_db"]
        out.append({"target": "CRN >= +3 dB PSNR over the input on held-out synthetic faces",
                    "value": f"{gain:+.2f} dB", "met": gain >= 3.0})
        if "plain" in synthetic:
            diff = synthetic["crn"]["psnr"] - synthetic["plain"]["psnr"]
            out.append({"target": "CRN >= plain CNN + 0.5 dB on held-out synthetic faces",
                        "value": f"{diff:+.2f} dB", "met": diff >= 0.5})
    if "crn" in real and "plain" in real:
        diff = real["crn"]["psnr"] - real["plain"]["psnr"]
        out.append({"target": "CRN >= plain CNN in PSNR on held-out real makeup pairs",
                    "value": f"{diff:+.2f} dB", "met": diff >= 0.0})
    return out


def reproduction_commands(runs: dict[str, Path], final: dict[str, int], which: str,
                          basis_command: str | None, export_flags: list[str] = ()
                          ) -> list[str]:
    """In order: the landmark cache, the PCA basis, the CRN's and the plain CNN's train
    commands (each stopping at the exported weights' iteration), then this export."""
    commands = ["python -m editor.training.makeup_data"]
    if basis_command:
        commands.append(basis_command)
    for model in ("crn", "plain"):
        if model in runs:
            lines = recipe.reproduction_commands(Path(runs[model]), TRAINER, EXPORTER, [],
                                                 final.get(model))
            # the last line is a one-run export; an --init chain repeats earlier lines
            commands.extend(c for c in lines[:-1] if c not in commands)
    args = (["--run-dir", str(runs["crn"])] if "crn" in runs else []) + (
        ["--plain-run-dir", str(runs["plain"])] if "plain" in runs else []) + (
        ["--which", which] if which != "best" else []) + list(export_flags)
    commands.append(f"python -m {EXPORTER} " + recipe.shell_line(args))
    return commands


def _check_catalog(model_id: str, model: str, kwargs: dict[str, Any]) -> None:
    from editor.engine import registry

    if model_id in registry.REGISTRY:
        spec = registry.REGISTRY.get(model_id)
        if spec.architecture != ARCHITECTURES[model] or spec.kwargs != kwargs:
            raise SystemExit(f"{model_id}: the catalog says {spec.architecture} {spec.kwargs}, "
                             f"this run is {ARCHITECTURES[model]} {kwargs}; update "
                             "editor/engine/catalog.py first")


def export(crn_run: Path | None, plain_run: Path | None, which: str = "best",
           models_dir: Path | None = None, measure_speed: bool = True,
           evaluation: md.EvalSet | None = None, eval_limit: int | None = None,
           notes: list[str] | None = None, calibrate: bool = False,
           calibration_pairs: list | None = None,
           prior_commands: list[str] | None = None,
           export_flags: list[str] = ()) -> dict[str, dict[str, Any]]:
    """Export the given runs; returns the cards by model id. ``evaluation`` (tests)
    replaces the test split read from ../shared/data. ``calibrate``: scale the CRN's
    components by gains fitted on the val split's synthetic pairs
    (:mod:`editor.training.calibrate_crn`; ``calibration_pairs`` replaces them in tests).
    ``prior_commands``: the commands that made a run's ``--init`` weights, listed first;
    ``export_flags``: this export's other flags, for the card's last command."""
    models_dir = Path(models_dir) if models_dir is not None else DEFAULT_MODELS_DIR
    runs = {m: Path(r).expanduser() for m, r in (("crn", crn_run), ("plain", plain_run))
            if r is not None}
    if not runs:
        raise SystemExit("nothing to export: give --run-dir and/or --plain-run-dir")
    loaded = {m: load_run_net(r, which) for m, r in runs.items()}
    for m, (_, checkpoint, _) in loaded.items():
        if checkpoint["config"]["model"] != m:
            raise SystemExit(f"{runs[m]} holds a {checkpoint['config']['model']} run, not {m}")
    nets = {m: v[0] for m, v in loaded.items()}
    calibration = None
    if calibrate and "crn" in nets:
        from editor.training import calibrate_crn

        if calibration_pairs is None:
            calibration_pairs = md.load_eval_set("val").synthetic
        gains = calibrate_crn.component_gains(nets["crn"], calibration_pairs)
        calibrate_crn.apply_gains(nets["crn"], gains)
        calibration = {"method": "per-component least-squares gain, clipped to [0, 1], "
                                 "baked into the heads' last convolutions "
                                 "(editor.training.calibrate_crn)",
                       "fitted_on": f"val split, {len(calibration_pairs)} synthetic pairs",
                       "gains": calibrate_crn.summary(gains)}
    if evaluation is None:
        evaluation = md.load_eval_set("test", synthetic_limit=eval_limit)
    basis = nets["crn"].basis.numpy() if "crn" in nets else None
    results = evaluate(nets, evaluation, basis)
    final = {m: v[1]["iteration"] for m, v in loaded.items()}
    basis_meta = (loaded["crn"][1]["config"].get("basis", {}).get("meta", {})
                  if "crn" in loaded else {})
    basis_command = basis_meta.get("command")
    commands = reproduction_commands(runs, final, which, recipe.shell_line(
        basis_command.split()) if basis_command else None, export_flags)
    if prior_commands:
        # the chain that made the --init weights first (landmark cache, basis, the earlier
        # runs, the export that wrote the --init file), then what this export adds
        commands = list(prior_commands) + [c for c in commands if c not in prior_commands]

    cards = {}
    for model, (net, checkpoint, last) in loaded.items():
        model_id = MODEL_IDS[model]
        kwargs = arch_kwargs(model, net)
        _check_catalog(model_id, model, kwargs)
        weights_path = models_dir / f"{model_id}.safetensors"
        sha = save_weights(net, weights_path)
        size = weights_path.stat().st_size
        speed = seconds_per_face(net) if measure_speed else None
        config = checkpoint["config"]
        card = {
            "id": model_id,
            "task": "makeup_removal",
            "architecture": ARCHITECTURES[model],
            "arch_kwargs": kwargs,
            "description": (
                "Makeup-Go Component Regression Network (Chen, Shen, Jia, ICCV 2017): "
                "regresses the PCA components of the edit's discrepancy map, each with a "
                "balanced loss, and rebuilds the discrepancy by a transposed convolution"
                if model == "crn" else
                "Plain CNN baseline for Makeup-Go: the CRN's trunk, predicting the "
                "discrepancy in pixels, trained with the plain per-pixel L2 loss"),
            "weights": weights_path.name,
            "sha256": sha,
            "size_bytes": size,
            "params": crn.count_parameters(net),
            "speed": {"seconds_per_face_256px_2_threads":
                      None if speed is None else round(speed, 4),
                      "measured": "revert_crop on a random 256x256 RGB face (numpy in, "
                                  "numpy out), median of 5, torch "
                                  f"{torch.__version__}, at export time on a shared "
                                  "2-core machine",
                      "load_average_1min_at_export": round(os.getloadavg()[0], 2)},
            "input": "float32 NCHW RGB in [0, 1]; " + FRAMING + "; output = input + "
                     "predicted discrepancy, not clipped",
            "tiling": "none: whole face crops (the global-context term sees the whole face)",
            "licence": MAKEUP_LICENCE,
            "training": {
                "data": DATA_NOTE,
                "split": SPLIT_NOTE,
                "pairs": "synthetic: (beautify(face), face) made on the fly, seeded by "
                         "(seed, iteration, index); real pairs with probability "
                         f"{config.get('real_fraction')} per batch element; random "
                         f"{config.get('patch')} px crops of the 128 px faces, flips",
                "beautification": "editor.training.beautify: skin smoothing (bilateral / "
                                  "guided filter in a skin mask), whitening/brightening, "
                                  "blush, lip tint, eye enlargement and face slimming "
                                  "(smooth local warps), random combinations and "
                                  "strengths",
                "loss": config.get("loss"),
                "config": config,
                "iterations_of_these_weights": checkpoint["iteration"],
                "iterations_run": max(last.get("iteration", 0), checkpoint["iteration"]),
                "checkpoint": which,
                "validation_at_checkpoint": checkpoint.get("val"),
                "commands": commands,
                "reproduce_note": ("Run the commands in order from the repository root "
                                   "(the first caches UTKFace landmarks, the second "
                                   "computes the PCA basis the CRN keeps in its weights). "
                                   "--stop-at marks where a session was interrupted or "
                                   "where these weights were taken; it does not change "
                                   "the learning-rate schedule. Floating-point results "
                                   "can differ in the last bits between machines."),
            },
            "heldout_test": {
                "metric": "mean RGB PSNR (dB) / SSIM of the 8-bit rounded output against "
                          "the original, test split; synthetic pairs beautified with the "
                          "seed stream makeup_data.BENCH_STREAM (face i of the sorted "
                          "test split: stream(BENCH_STREAM, i))",
                **results,
            },
            "targets": [{"target": "weights < 5 MB", "value": f"{size} bytes",
                         "met": size < SIZE_TARGET_BYTES},
                        {"target": "<= 0.3 s per 256 px face on 2 CPU threads",
                         "value": None if speed is None else f"{speed:.3f} s",
                         "met": None if speed is None else speed <= SPEED_TARGET_S},
                        *_targets(results)],
            "notes": list(notes or []),
            "exported": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        if model == "crn" and calibration is not None:
            card["calibration"] = calibration
        if model == "crn":
            card["pca_basis"] = {
                "patch": net.patch, "stride": net.stride, "components": net.components,
                "groups": crn.group_bounds(net.components, net.groups),
                "std_floor_relative": config.get("std_floor"),
                "computed": basis_meta}
        card_path = models_dir / f"{model_id}.json"
        temporary = card_path.with_name(card_path.name + ".partial")
        temporary.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        temporary.replace(card_path)
        assert sha256_file(weights_path) == sha
        cards[model_id] = card
    return cards


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {EXPORTER}",
                                description="Export Makeup-Go (CRN) and the plain CNN.")
    p.add_argument("--run-dir", default=None, help="the CRN run (exported as makeup-go)")
    p.add_argument("--plain-run-dir", default=None,
                   help="the plain CNN run (exported as makeup-plain)")
    p.add_argument("--which", choices=("best", "last"), default="best")
    p.add_argument("--models-dir", default=None)
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--eval-limit", type=int, default=None,
                   help="only the first N synthetic test faces (quick look; cards say so)")
    p.add_argument("--note", action="append", default=[])
    p.add_argument("--calibrate", action="store_true",
                   help="scale the CRN's components by least-squares gains fitted on the "
                        "val split (editor.training.calibrate_crn)")
    p.add_argument("--prior-commands", default=None, metavar="CARD",
                   help="a model card whose training commands made the --init weights of "
                        "the CRN run: they are listed first in the new cards")
    args = p.parse_args(argv)
    prior = None
    if args.prior_commands:
        prior = json.loads(Path(args.prior_commands).read_text(encoding="utf-8"))[
            "training"]["commands"]
    notes = list(args.note)
    if args.eval_limit is not None:
        notes.append(f"held-out synthetic numbers on the first {args.eval_limit} test faces "
                     "only (--eval-limit)")
    cards = export(args.run_dir, args.plain_run_dir, args.which,
                   Path(args.models_dir) if args.models_dir else None, not args.no_speed,
                   eval_limit=args.eval_limit, notes=notes, calibrate=args.calibrate,
                   prior_commands=prior,
                   export_flags=(["--calibrate"] if args.calibrate else []) + (
                       ["--prior-commands", args.prior_commands] if prior else []))
    for card in cards.values():
        print(json.dumps({k: card[k] for k in ("id", "sha256", "params", "size_bytes",
                                               "targets")}, indent=2))
    first = next(iter(cards.values()))["heldout_test"]
    for kind in ("synthetic", "real"):
        if kind in first:
            print(kind, {k: v if not isinstance(v, dict) else
                         {a: b for a, b in v.items() if a != "improvement_per_component"}
                         for k, v in first[kind].items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
