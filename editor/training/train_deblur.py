"""Train the deblurring network (SRN-DeblurNet): resumable, seeded, CPU first, CUDA when
present.

    python -m editor.training.train_deblur --run-dir ~/.cache/restora/runs/deblur \
        --iters 20000 --batch 8 --patch 128 --lr 2e-4 --seed 0 [--resume] \
        [--init models/deblur-srn.safetensors] [--device auto] [--threads 2] [--workers 0] \
        [--arch '{"width": 12}']

On a CPU another job also uses, ``--threads 1`` is several times faster than 2 (OpenMP
threads that wait for each other on a busy core: 2.3 s/iteration against 7.5–15 s for the
command above, measured). With a GPU, ``--workers 8`` or more makes the next batch in
parallel threads while the GPU trains on this one.

Pairs come from :mod:`editor.training.deblur_data` (synthetic shake, motion, defocus,
Gaussian and moving-crop blur of ``../shared/data/train/natural``, then noise and JPEG).

Loss: the paper's multi-scale loss, summed over the levels, each level's error averaged
over its pixels (Tao et al.'s ``1/N_i`` weights): the finest level against the sharp patch,
coarser ones against its 2×2-averaged pyramid (the same pooling the network applies to its
input). ``--loss l1`` (default: more robust to the odd badly-aligned moving-crop pair, and
what most restoration networks since EDSR train with) or ``l2`` (the paper's).

Schedule: Adam (0.9, 0.999), cosine from ``--lr`` to ``--lr-min`` over ``--iters``,
gradients clipped to ``--clip`` (global norm; the ConvLSTM makes the occasional spike).

Resumability, as the SR trainer: ``<run-dir>/last.pt`` (atomic) holds the weights,
optimiser, iteration, RNG states and the validation history (a batch depends only on the
seed and the iteration, see ``DeblurPatchSampler``); it is written
every ``--checkpoint-minutes``, at the end and on SIGTERM/SIGINT at the next iteration
boundary. ``--resume`` continues exactly (the learning rate depends only on the iteration
and ``--iters``). ``best.pt`` holds the weights with the best validation PSNR on the
held-out training images (never ``bench/``). Every invocation is appended to
``<run-dir>/commands.jsonl``, from which the export writes the reproduction commands.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from editor.core.metrics import psnr
from editor.nets.srn_deblur import DEFAULT_WIDTH, SRNDeblur, count_parameters
from editor.training import deblur_data
from editor.training.checkpoints import RunCheckpoints, load_exact as load_init
from editor.training.run_utils import (RunLog, catch_stop_signals, cosine_lr, in_run_folder,
                                       training_device)

DEFAULT_ARCH: dict[str, Any] = {"width": DEFAULT_WIDTH, "scales": 3}
LOSSES = ("l1", "l2")


def target_pyramid(sharp: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """The sharp batch at every level, coarsest first (matching ``forward_scales``)."""
    pyramid = [sharp]
    for _ in range(levels - 1):
        pyramid.append(F.avg_pool2d(pyramid[-1], 2))
    return pyramid[::-1]


def multiscale_loss(outputs: list[torch.Tensor], sharp: torch.Tensor,
                    kind: str = "l1") -> torch.Tensor:
    """Sum over levels of the per-pixel mean error (Tao et al.'s multi-scale loss)."""
    fn = F.l1_loss if kind == "l1" else F.mse_loss
    return sum(fn(out, target) for out, target in
               zip(outputs, target_pyramid(sharp, len(outputs))))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m editor.training.train_deblur",
                                description="Train Restora's deblurring network (SRN).")
    p.add_argument("--run-dir", required=True, help="checkpoints, logs and command history")
    p.add_argument("--iters", type=int, required=True,
                   help="length of the cosine schedule (total iterations of the run)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=128,
                   help="sharp/blurry patch size (a multiple of 16)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--lr-min", type=float, default=None, help="default: lr / 50")
    p.add_argument("--loss", choices=LOSSES, default="l1")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/last.pt")
    p.add_argument("--init", default=None, help="start from shipped weights (.safetensors)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    p.add_argument("--workers", type=int, default=0,
                   help="threads that synthesise the next batch while this one trains "
                        "(0: in line; use several with a GPU, whose steps outrun one core)")
    p.add_argument("--arch", default="{}",
                   help='JSON overrides, e.g. {"width": 32} (the paper\'s) or {"scales": 3}')
    p.add_argument("--data", default=None, help="natural-image folder (T91/, BSD200/)")
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--stop-at", type=int, default=None,
                   help="leave after this iteration (checkpoint written) without changing "
                        "the schedule; a later --resume continues the same run")
    return p


def _quantised(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image * 255.0), 0.0, 255.0) / 255.0


@torch.no_grad()
def validate(net: SRNDeblur, val: list[deblur_data.ValPair],
             device: torch.device) -> dict[str, float]:
    """Mean RGB PSNR of the network's (8-bit rounded) output on the validation pairs, and
    of the blurry inputs themselves (the number to beat)."""
    net.eval()
    ours, inputs = [], []
    for pair in val:
        x = torch.from_numpy(np.ascontiguousarray(pair.blurry.transpose(2, 0, 1)))[None]
        out = net(x.to(device))[0].float().cpu().numpy().transpose(1, 2, 0)
        ours.append(psnr(_quantised(out), pair.sharp))
        inputs.append(psnr(pair.blurry, pair.sharp))
    net.train()
    mean_ours, mean_input = float(np.mean(ours)), float(np.mean(inputs))
    return {"psnr": mean_ours, "input_psnr": mean_input, "gain": mean_ours - mean_input}


def train(argv: list[str] | None = None, *, quiet: bool = False) -> dict[str, Any]:
    """Run (or continue) one training run; returns a summary (tests use it)."""
    args = build_parser().parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    if args.patch < 16 or args.patch % 16:
        raise SystemExit(f"--patch must be a multiple of 16 (3 levels, 2 stride-2 convs), "
                         f"got {args.patch}")
    return in_run_folder(args.run_dir, args.threads, quiet,
                         lambda run_dir, log: _train(args, argv, run_dir, log))


def _train(args: argparse.Namespace, argv: list[str], run_dir: Path, log: RunLog
           ) -> dict[str, Any]:
    device = training_device(args.device)
    arch = {**DEFAULT_ARCH, **json.loads(args.arch)}
    lr_min = args.lr / 50 if args.lr_min is None else args.lr_min
    config = {"arch": arch, "batch": args.batch, "patch": args.patch, "lr": args.lr,
              "lr_min": lr_min, "iters": args.iters, "seed": args.seed, "loss": args.loss,
              "clip": args.clip}

    # Seeds first: model initialisation draws from torch's generator.
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    net = SRNDeblur(**arch).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.9, 0.999))

    data_root = Path(args.data).expanduser() if args.data else deblur_data.default_data_root()
    config["data"] = str(data_root)
    train_images, val_images = deblur_data.load_dataset(data_root)
    sampler = deblur_data.DeblurPatchSampler(train_images, args.patch, args.batch, args.seed)
    val = deblur_data.make_val_set(val_images)

    run = RunCheckpoints(run_dir, net, optimizer, config, log)
    run.start(argv, resume=args.resume, init=args.init, load_init=lambda p: load_init(net, p),
              different=lambda saved: None if saved["arch"] == arch
              else f"is a different architecture ({saved['arch']})")

    stop_requested, restore_signals = catch_stop_signals()
    stop_at = args.iters if args.stop_at is None else min(args.stop_at, args.iters)
    log(f"SRN deblur {arch} on {device}, {count_parameters(net)} params, "
        f"{len(sampler.images)} train / {len(val)} val images, batch {args.batch} x "
        f"{args.patch}px, {args.loss} loss, iterations {run.iteration} -> {stop_at} of "
        f"{args.iters}")
    net.train()
    window_loss, window_start, window_n = 0.0, time.monotonic(), 0
    first_loss = last_loss = None
    # Batches depend only on (seed, iteration), so making the next one ahead in other
    # threads changes nothing but the wall-clock time.
    pool = ThreadPoolExecutor(args.workers) if args.workers > 0 else None
    ahead = ThreadPoolExecutor(1) if pool is not None else None
    pending = ahead.submit(sampler.batch, run.iteration, pool) if ahead is not None else None
    try:
        while run.iteration < stop_at and not stop_requested:
            iteration = run.iteration
            if pending is not None:
                blurry, sharp = pending.result()
                pending = (ahead.submit(sampler.batch, iteration + 1, pool)
                           if iteration + 1 < stop_at else None)
            else:
                blurry, sharp = sampler.batch(iteration)
            blurry_t = torch.from_numpy(blurry).to(device)
            sharp_t = torch.from_numpy(sharp).to(device)
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(iteration, args.iters, args.lr, lr_min)
            loss = multiscale_loss(net.forward_scales(blurry_t), sharp_t, args.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), args.clip)
            optimizer.step()
            run.iteration = iteration = iteration + 1
            value = float(loss.detach())
            first_loss = value if first_loss is None else first_loss
            last_loss = value
            window_loss += value
            window_n += 1
            if iteration % args.log_every == 0 or iteration == stop_at:
                elapsed = time.monotonic() - window_start
                log(f"it {iteration} loss {window_loss / window_n:.5f} "
                    f"lr {optimizer.param_groups[0]['lr']:.2e} "
                    f"{elapsed / window_n:.2f} s/it")
                window_loss, window_start, window_n = 0.0, time.monotonic(), 0
            if iteration % args.val_every == 0 or iteration == stop_at:
                scores = validate(net, val, device)
                marker = " (best)" if run.record_validation(scores) else ""
                log(f"val it {iteration}: psnr {scores['psnr']:.3f} dB (input "
                    f"{scores['input_psnr']:.3f}, gain {scores['gain']:+.3f})" + marker)
            run.save_every(args.checkpoint_minutes)
    except BaseException:
        # A crash mid-iteration leaves the step unfinished; the previous checkpoint is the
        # last consistent state, so it is left as it is.
        restore_signals()
        raise
    finally:
        for executor in (ahead, pool):
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
    summary = run.finish(bool(stop_requested), first_loss=first_loss, last_loss=last_loss)
    restore_signals()
    return summary


def main(argv: list[str] | None = None) -> int:
    train(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
