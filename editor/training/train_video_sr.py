"""Train the SPMC video super-resolution network: resumable, seeded, CPU first, CUDA when
present.

    python -m editor.training.train_video_sr --run-dir ~/.cache/restora/runs/video \
        --iters 12000 --flow-iters 600 --batch 8 --patch 128 --lr 4e-4 --seed 0 [--resume] \
        [--init models/video-spmc.safetensors] [--device auto] [--threads 2]

Clips come from :mod:`editor.training.video_data` (a window moving over still photos, with a
moving pasted patch; BI and BD degradations mixed; scales 2, 3, 4 and 3/5/7 frames mixed, so
one set of weights serves them all). Two stages, as the paper trains:

1. iterations ``< --flow-iters``: only the motion network, against the true synthetic flow
   (end-point error where the flow lands inside the reference);
2. then end to end: L1 of the HR luma plus ``--flow-weight`` × the flow error (the true flow
   is known, so it keeps the motion network honest while the fusion net learns).

Schedule: Adam, cosine from ``--lr`` to lr/50 over ``--iters``. ``<run-dir>/last.pt`` (weights,
optimiser, iteration, validation history) every ``--checkpoint-minutes``, at the end and on
SIGTERM/SIGINT; ``best.pt`` by validation PSNR on clips made from the held-out training
photos (never ``bench/``): ×4, 5 frames, BI and BD. Each validation also scores the same
network given only the reference frame, so the log shows what the neighbours add.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from editor.nets.spmc import SPMCVideoSR, count_parameters
from editor.training import sr_data, video_data
from editor.training.checkpoints import RunCheckpoints, load_exact as load_init
from editor.training.run_utils import (RunLog, catch_stop_signals, cosine_lr, in_run_folder,
                                       training_device)

DEFAULT_ARCH: dict[str, Any] = {"flow_width": 24, "widths": [16, 32, 48], "hidden": 32}
SCALE_WEIGHTS = {2: 0.25, 3: 0.2, 4: 0.55}
FRAME_WEIGHTS = {3: 0.25, 5: 0.6, 7: 0.15}
VAL_SCALE, VAL_FRAMES, VAL_PATCH, VAL_BORDER = 4, 5, 192, 8


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m editor.training.train_video_sr",
                                description="Train Restora's SPMC video SR network.")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--iters", type=int, required=True, help="length of the cosine schedule")
    p.add_argument("--flow-iters", type=int, default=600,
                   help="iterations that train only the motion network, on the true flow")
    p.add_argument("--flow-weight", type=float, default=0.02)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=128, help="HR patch side")
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--init", default=None, help="start from shipped weights (.safetensors)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--arch", default="{}", help="JSON overrides of the architecture")
    p.add_argument("--data", default=None, help="natural-image folder (T91/, BSD200/)")
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--stop-at", type=int, default=None)
    return p


def iteration_shape(seed: int, iteration: int) -> tuple[int, int, int]:
    """(scale, frames, reference index) of an iteration's batch: seeded by the iteration.
    The reference is the middle frame 80 % of the time, else anywhere (a clip's first and
    last frames only have neighbours on one side)."""
    rng = video_data.stream(seed, iteration, 0x5CA1E)
    scale = int(rng.choice(list(SCALE_WEIGHTS), p=list(SCALE_WEIGHTS.values())))
    frames = int(rng.choice(list(FRAME_WEIGHTS), p=list(FRAME_WEIGHTS.values())))
    ref = frames // 2 if rng.random() < 0.8 else int(rng.integers(frames))
    return scale, frames, ref


def flow_loss(flows: list[torch.Tensor | None], true_flow: torch.Tensor,
              valid: torch.Tensor) -> torch.Tensor:
    """Mean end-point error (LR pixels) where the true flow lands inside the reference."""
    terms = []
    for i, flow in enumerate(flows):
        if flow is None:
            continue
        mask = valid[:, i]
        error = ((flow - true_flow[:, i]) ** 2).sum(1, keepdim=True).add(1e-6).sqrt()
        terms.append((error * mask).sum() / (mask.sum() + 1.0))
    return torch.stack(terms).mean() if terms else true_flow.new_zeros(())


def make_val_set(val_images: list[tuple[str, np.ndarray]]) -> list[dict[str, Any]]:
    sampler = video_data.ClipSampler([im for _, im in val_images], VAL_PATCH, 1, 0)
    out = []
    for index, image in enumerate(sampler.images):
        for degradation in video_data.DEGRADATIONS:
            rng = video_data.stream(0x7A1, index, degradation == "bd")
            clip = sampler.clip(rng, VAL_SCALE, VAL_FRAMES, VAL_FRAMES // 2, degradation,
                                VAL_PATCH, image=image)
            out.append({"degradation": degradation, **clip})
    return out


def _psnr(out: torch.Tensor, hr: np.ndarray) -> float:
    b = VAL_BORDER
    a = np.clip(np.round(out[0, 0].cpu().numpy() * 255.0), 0, 255)[b:-b, b:-b]
    ref = np.round(hr[0] * 255.0)[b:-b, b:-b]
    mse = float(np.mean((a - ref) ** 2))
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-10))


@torch.no_grad()
def validate(net: SPMCVideoSR, val: list[dict[str, Any]], device: torch.device
             ) -> dict[str, float]:
    net.eval()
    scores: dict[str, list[float]] = {}
    ref = VAL_FRAMES // 2
    for clip in val:
        lr = torch.from_numpy(clip["lr"])[None].to(device)
        flag = float(clip["degradation"] == "bd")
        multi = net(lr, ref, VAL_SCALE, flag)
        single = net(lr[:, ref:ref + 1], 0, VAL_SCALE, flag)
        bicubic = F.interpolate(lr[:, ref], scale_factor=VAL_SCALE, mode="bicubic",
                                align_corners=False)
        for name, out in (("multi", multi), ("single", single), ("bicubic", bicubic)):
            scores.setdefault(f"{name}_{clip['degradation']}", []).append(_psnr(out, clip["hr"]))
    net.train()
    result = {k: float(np.mean(v)) for k, v in scores.items()}
    result["psnr"] = (result["multi_bi"] + result["multi_bd"]) / 2
    return result


def train(argv: list[str] | None = None, *, quiet: bool = False) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    return in_run_folder(args.run_dir, args.threads, quiet,
                         lambda run_dir, log: _train(args, argv, run_dir, log))


def _train(args: argparse.Namespace, argv: list[str], run_dir: Path, log: RunLog
           ) -> dict[str, Any]:
    device = training_device(args.device)
    arch = {**DEFAULT_ARCH, **json.loads(args.arch)}
    lr_min = args.lr / 50
    config = {"arch": arch, "batch": args.batch, "patch": args.patch, "lr": args.lr,
              "iters": args.iters, "flow_iters": args.flow_iters,
              "flow_weight": args.flow_weight, "seed": args.seed, "clip": args.clip}
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    net = SPMCVideoSR(**arch).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)

    data_root = Path(args.data).expanduser() if args.data else sr_data.default_data_root()
    config["data"] = str(data_root)
    train_images, val_images = sr_data.load_dataset(data_root)
    sampler = video_data.ClipSampler(train_images, args.patch, args.batch, args.seed)
    val = make_val_set(val_images)

    run = RunCheckpoints(run_dir, net, optimizer, config, log)
    run.start(argv, resume=args.resume, init=args.init, load_init=lambda p: load_init(net, p),
              different=lambda saved: None if saved["arch"] == arch
              else f"is a different architecture ({saved['arch']})")

    stop_requested, restore_signals = catch_stop_signals()
    stop_at = args.iters if args.stop_at is None else min(args.stop_at, args.iters)
    log(f"SPMC {arch} on {device}, {count_parameters(net)} params, {len(sampler.images)} "
        f"train / {len(val)} val clips, batch {args.batch} x {args.patch}px, "
        f"iterations {run.iteration} -> {stop_at} of {args.iters} "
        f"(flow only < {args.flow_iters})")
    net.train()
    window: dict[str, float] = {}
    window_n, window_start = 0, time.monotonic()
    first_loss = last_loss = None
    try:
        while run.iteration < stop_at and not stop_requested:
            iteration = run.iteration
            scale, frames, ref = iteration_shape(args.seed, iteration)
            batch = sampler.batch(iteration, scale, frames, ref)
            lr_t = torch.from_numpy(batch["lr"]).to(device)
            true_flow = torch.from_numpy(batch["flow"]).to(device)
            valid = torch.from_numpy(batch["valid"]).to(device)
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(iteration, args.iters, args.lr, lr_min)
            flows = net.flows(lr_t, ref)
            f_loss = flow_loss(flows, true_flow, valid)
            if iteration < args.flow_iters:
                loss, sr_loss = f_loss, None
            else:
                hr_t = torch.from_numpy(batch["hr"]).to(device)
                flag = torch.from_numpy(batch["degradation"]).to(device)
                out = net(lr_t, ref, scale, flag, flows=flows)
                sr_loss = F.l1_loss(out, hr_t)
                loss = sr_loss + args.flow_weight * f_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), args.clip)
            optimizer.step()
            run.iteration = iteration = iteration + 1
            value = float(loss.detach())
            first_loss = value if first_loss is None else first_loss
            last_loss = value
            window["flow"] = window.get("flow", 0.0) + float(f_loss.detach())
            if sr_loss is not None:
                window["sr"] = window.get("sr", 0.0) + float(sr_loss.detach())
            window_n += 1
            if iteration % args.log_every == 0 or iteration == stop_at:
                parts = " ".join(f"{k} {v / window_n:.5f}" for k, v in window.items())
                log(f"it {iteration} {parts} lr {optimizer.param_groups[0]['lr']:.2e} "
                    f"{(time.monotonic() - window_start) / window_n:.2f} s/it")
                window, window_n, window_start = {}, 0, time.monotonic()
            if iteration % args.val_every == 0 or iteration == stop_at:
                scores = validate(net, val, device)
                # The flow-only stage leaves the output at bicubic: not a model to ship.
                improved = run.record_validation(scores, eligible=iteration >= args.flow_iters)
                marker = " (best)" if improved else ""
                log(f"val it {iteration}: " + " ".join(
                    f"{k} {v:.3f}" for k, v in sorted(scores.items())) + marker)
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
