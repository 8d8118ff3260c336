"""Train the Retouch network (LPTN): resumable, seeded, CPU first, CUDA when present.

Two stages, each its own run folder:

    # 1. pre-train: distort and recover good photos (train/natural)
    python -m editor.training.train_retouch --task distort \
        --run-dir ~/.cache/restora/runs/retouch-base --iters 3000 --threads 1
    python -m editor.training.export_retouch --run-dir ~/.cache/restora/runs/retouch-base \
        --id retouch-base
    # 2. fine-tune on 13 FiveK pairs (Expert C), from the pre-trained weights
    python -m editor.training.train_retouch --task fivek \
        --run-dir ~/.cache/restora/runs/retouch-expert-c --iters 1500 --lr 2e-4 \
        --init models/retouch-base.safetensors --threads 1

Expert C with the global grade (``LPTN(global_tone=True)``, :mod:`editor.nets.tone_curve`),
the shipped ``retouch-expert-c``: the pre-trained network reset to the identity (every
branch's last layer zeroed, features kept), the grade started at per-channel histogram
matching of the training pairs and fitted briefly on their pixels
(:mod:`editor.training.fit_tone`) before the first step, then a short, gentle fine-tune
with the grade frozen. Longer or stronger fine-tuning did not generalise from 13 pairs
(see the model card's notes); the grade's start and length were chosen leave-one-out on
the 13 training pairs, never on the held-out four::

    python -m editor.training.train_retouch --task fivek --arch '{"global_tone": true}' \
        --run-dir ~/.cache/restora/runs/retouch-expert-c-hist --iters 100 --lr 5e-5 \
        --init models/retouch-base.safetensors --reset-identity --fit-grade 0.3 \
        --grade-start histogram --grade-steps 150 --grade-lr 0.002 --freeze-grade --threads 1

Loss: L1 plus ``--colour-weight`` × the colour loss, 1 − cos of the angle between the
output's and the target's RGB vectors per pixel (the angular colour error of the
enhancement literature): L1 alone lets a small hue shift through cheaply when it keeps
the brightness right, and a hue shift is what a retoucher notices first.

Schedule: Adam (0.9, 0.999), cosine from ``--lr`` to ``--lr-min`` over ``--iters``.

Resumability as the other trainers: ``<run-dir>/last.pt`` (atomic; weights, optimiser,
iteration, history) every ``--checkpoint-minutes``, at the end and on SIGTERM/SIGINT at
the next iteration boundary; ``--resume`` continues exactly (batches depend only on the
seed and the iteration). ``best.pt`` keeps the best validation PSNR — on held-out natural
images for ``distort``; for ``fivek`` the held-out pairs are the benchmark's quality set,
so they are only watched, and the export takes ``last`` (no checkpoint is chosen on
them). Every invocation is appended to ``<run-dir>/commands.jsonl`` for the model card.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from editor.core.metrics import psnr
from editor.nets.lptn import LPTN, count_parameters
from editor.training import retouch_data
from editor.training.checkpoints import RunCheckpoints, load_exact as load_init
from editor.training.run_utils import (catch_stop_signals, cosine_lr, in_run_folder,
                                       training_device)

TASKS = ("distort", "fivek")
DEFAULT_ARCH: dict[str, Any] = {}


def colour_loss(out: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean of 1 − cos(angle) between the RGB vectors of ``out`` and ``target``."""
    return (1.0 - F.cosine_similarity(out, target, dim=1, eps=eps)).mean()


def retouch_loss(out: torch.Tensor, target: torch.Tensor, colour_weight: float) -> torch.Tensor:
    return F.l1_loss(out, target) + colour_weight * colour_loss(out, target)


def _quantised(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image * 255.0), 0.0, 255.0) / 255.0


def run_net(net: torch.nn.Module, image: np.ndarray, device: torch.device | str = "cpu"
            ) -> np.ndarray:
    """The network on one HxWx3 float image -> HxWx3, not clipped."""
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(device)
    return net(x)[0].float().cpu().numpy().transpose(1, 2, 0)


@torch.no_grad()
def validate(net: torch.nn.Module, pairs: Sequence[retouch_data.Pair],
             device: torch.device | str = "cpu") -> dict[str, float]:
    """Mean RGB PSNR of the (8-bit rounded) output against ``after``, and of the input."""
    was_training = net.training
    net.eval()
    ours, inputs = [], []
    for pair in pairs:
        ours.append(psnr(_quantised(run_net(net, pair.before, device)), pair.after))
        inputs.append(psnr(pair.before, pair.after))
    net.train(was_training)
    mean_ours, mean_input = float(np.mean(ours)), float(np.mean(inputs))
    return {"psnr": mean_ours, "input_psnr": mean_input, "gain": mean_ours - mean_input}


def train_step(net: torch.nn.Module, optimizer: torch.optim.Optimizer, before: np.ndarray,
               after: np.ndarray, colour_weight: float, device: torch.device) -> float:
    """One optimiser step on a batch (NCHW float arrays); returns the loss."""
    out = net(torch.from_numpy(before).to(device))
    loss = retouch_loss(out, torch.from_numpy(after).to(device), colour_weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m editor.training.train_retouch",
                                description="Train Restora's Retouch network (LPTN).")
    p.add_argument("--task", choices=TASKS, required=True,
                   help="distort: pre-train on distorted natural photos; fivek: Expert C")
    p.add_argument("--run-dir", required=True, help="checkpoints, logs and command history")
    p.add_argument("--iters", type=int, required=True,
                   help="length of the cosine schedule (total iterations of the run)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=256, help="crop size in pixels")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--lr-min", type=float, default=None, help="default: lr / 20")
    p.add_argument("--colour-weight", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/last.pt")
    p.add_argument("--init", default=None, help="start from exported weights (.safetensors)")
    p.add_argument("--reset-identity", action="store_true",
                   help="after --init, zero every branch's last layer (the network starts "
                        "as the identity, keeping the features)")
    p.add_argument("--fit-grade", type=float, default=None, metavar="SMOOTHNESS",
                   help="with a global grade: fit it on the training pairs before the first "
                        "step, with this curve smoothness (fivek only)")
    p.add_argument("--grade-start", choices=("identity", "histogram"), default="identity",
                   help="--fit-grade starts from the identity or from per-channel histogram "
                        "matching of the training pairs (better on unseen photos with few "
                        "pairs; see editor.training.fit_tone.match_histograms)")
    p.add_argument("--grade-steps", type=int, default=None,
                   help="--fit-grade steps (default: fit_tone's)")
    p.add_argument("--grade-lr", type=float, default=None,
                   help="--fit-grade learning rate (default: fit_tone's)")
    p.add_argument("--freeze-grade", action="store_true",
                   help="keep the global grade fixed while the network trains")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    p.add_argument("--arch", default="{}", help='JSON LPTN overrides, e.g. {"mask_width": 64}')
    p.add_argument("--data", default=None,
                   help="natural-image folder (distort) or FiveK folder (fivek)")
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--stop-at", type=int, default=None,
                   help="leave after this iteration (checkpoint written) without changing "
                        "the schedule; a later --resume continues the same run")
    return p


def load_task(task: str, data: str | None, patch: int, batch: int, seed: int
              ) -> tuple[Any, list[retouch_data.Pair], str]:
    """(sampler, validation pairs, data root) for ``task``."""
    if task == "distort":
        root = Path(data).expanduser() if data else None
        images, val = retouch_data.load_natural(root)
        from editor.training import sr_data

        return (retouch_data.DistortSampler(images, patch, batch, seed),
                retouch_data.distorted_val_pairs(val), str(root or sr_data.default_data_root()))
    root = Path(data).expanduser() if data else retouch_data.default_fivek_root()
    train, held = retouch_data.load_fivek(root)
    return retouch_data.PairSampler(train, patch, batch, seed), held, str(root)


def train(argv: list[str] | None = None, *, quiet: bool = False) -> dict[str, Any]:
    """Run (or continue) one training run; returns a summary (tests use it)."""
    args = build_parser().parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    return in_run_folder(args.run_dir, args.threads, quiet,
                         lambda run_dir, log: _train(args, argv, run_dir, log))


def _train(args: argparse.Namespace, argv: list[str], run_dir: Path,
           log: Callable[[str], None]) -> dict[str, Any]:
    device = training_device(args.device)
    arch = {**DEFAULT_ARCH, **json.loads(args.arch)}
    lr_min = args.lr / 20 if args.lr_min is None else args.lr_min
    config = {"task": args.task, "arch": arch, "batch": args.batch, "patch": args.patch,
              "lr": args.lr, "lr_min": lr_min, "iters": args.iters, "seed": args.seed,
              "colour_weight": args.colour_weight, "reset_identity": args.reset_identity,
              "fit_grade": args.fit_grade, "freeze_grade": args.freeze_grade,
              "grade_start": args.grade_start, "grade_steps": args.grade_steps,
              "grade_lr": args.grade_lr}
    grade = bool(arch.get("global_tone"))
    if (args.fit_grade is not None or args.freeze_grade) and not grade:
        raise SystemExit("--fit-grade / --freeze-grade need --arch '{\"global_tone\": true}'")
    if (args.reset_identity or args.fit_grade is not None) and not args.init:
        raise SystemExit("--reset-identity / --fit-grade apply to the --init weights")
    if args.fit_grade is not None and args.task != "fivek":
        raise SystemExit("--fit-grade needs --task fivek (pairs to fit it on)")

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    net = LPTN(**arch).to(device)
    if args.freeze_grade:
        net.tone.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad],
                                 lr=args.lr, betas=(0.9, 0.999))
    sampler, val, data_root = load_task(args.task, args.data, args.patch, args.batch, args.seed)
    config["data"] = data_root

    def start_from(path: Path) -> None:
        # A grade added on top of weights trained without one starts fresh.
        load_init(net, path, new=("tone.",) if grade else ())
        if args.reset_identity:
            net.reset_to_identity()
        if args.fit_grade is not None:
            from editor.training import fit_tone as fitting

            error = fitting.fit_tone(
                net.tone, [(p.before, p.after) for p in sampler.pairs],
                smoothness=args.fit_grade, seed=args.seed,
                start="histogram" if args.grade_start == "histogram" else "current",
                steps=fitting.STEPS if args.grade_steps is None else args.grade_steps,
                lr=fitting.LR if args.grade_lr is None else args.grade_lr)
            log(f"global grade fitted on {len(sampler.pairs)} pairs: rmse {error ** 0.5:.4f}")
            scores = validate(net, val, device)
            log(f"val with the grade alone: psnr {scores['psnr']:.3f} dB "
                f"(input {scores['input_psnr']:.3f})")

    run = RunCheckpoints(run_dir, net, optimizer, config, log)
    run.start(argv, resume=args.resume, init=args.init, load_init=start_from,
              different=lambda saved: None if saved["arch"] == arch and
              saved["task"] == args.task else "is another task or architecture")

    stop_requested, restore_signals = catch_stop_signals()
    stop_at = args.iters if args.stop_at is None else min(args.stop_at, args.iters)
    log(f"LPTN {arch or 'default'} on {device}, {count_parameters(net)} params, task "
        f"{args.task}, {len(val)} val pairs, batch {args.batch} x {args.patch}px, "
        f"iterations {run.iteration} -> {stop_at} of {args.iters}")
    # Held-out FiveK pairs are the benchmark's: watched, never used to choose weights.
    choose_best = args.task == "distort"
    net.train()
    window_loss, window_start, window_n = 0.0, time.monotonic(), 0
    first_loss = last_loss = None
    try:
        while run.iteration < stop_at and not stop_requested:
            iteration = run.iteration
            before, after = sampler.batch(iteration)
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(iteration, args.iters, args.lr, lr_min)
            value = train_step(net, optimizer, before, after, args.colour_weight, device)
            run.iteration = iteration = iteration + 1
            first_loss = value if first_loss is None else first_loss
            last_loss = value
            window_loss += value
            window_n += 1
            if iteration % args.log_every == 0 or iteration == stop_at:
                elapsed = time.monotonic() - window_start
                log(f"it {iteration} loss {window_loss / window_n:.5f} "
                    f"lr {optimizer.param_groups[0]['lr']:.2e} {elapsed / window_n:.2f} s/it")
                window_loss, window_start, window_n = 0.0, time.monotonic(), 0
            if iteration % args.val_every == 0 or iteration == stop_at:
                scores = validate(net, val, device)
                marker = " (best)" if run.record_validation(scores, eligible=choose_best) else ""
                log(f"val it {iteration}: psnr {scores['psnr']:.3f} dB (input "
                    f"{scores['input_psnr']:.3f}, gain {scores['gain']:+.3f})" + marker)
            run.save_every(args.checkpoint_minutes)
    except BaseException:
        restore_signals()
        raise
    summary = run.finish(bool(stop_requested), first_loss=first_loss, last_loss=last_loss)
    restore_signals()
    return summary


def main(argv: list[str] | None = None) -> int:
    train(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
