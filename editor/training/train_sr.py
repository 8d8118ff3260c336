"""Train the super-resolution networks: resumable, seeded, CPU first, CUDA when present.

    python -m editor.training.train_sr --model quality --scale 2,3,4 \
        --run-dir ~/.cache/restora/runs/quality --iters 20000 --batch 16 --patch 32 \
        --lr 5e-4 --seed 0 [--resume] [--init models/ID.safetensors] [--device auto]

``--model``: ``quality`` (ResidualSR), ``fast`` (ESPCN) or ``real`` (ResidualSR on randomly
degraded LR, see :mod:`editor.training.degrade`).

``--scale`` takes one scale or a comma list. With several, one body is shared and each
scale has its own upsampler; iteration ``i`` trains scale ``scales[i % len]`` (MDSR's
multi-scale training). Every iteration then improves the body all scales use, which on a
2-core budget gives three usable models sooner than training x2, x3, x4 one after the
other; export writes one weights file per scale.

Resumability: ``<run-dir>/last.pt`` (atomic) holds weights, Adam state, iteration, the
patch sampler's and torch's RNG states and the validation history; it is written every
``--checkpoint-minutes`` and at the end, and on SIGTERM/SIGINT at the next iteration
boundary. ``--resume`` continues from it exactly: the learning rate depends only on the
iteration and ``--iters`` (cosine to ``--lr-min``), so an interrupted and resumed run
equals an uninterrupted one. ``best.pt`` holds the weights with the best validation PSNR
(mean over scales of the Y-channel PSNR on the held-out images, border = scale).

Every invocation is appended to ``<run-dir>/commands.jsonl`` with the iteration it started
from, which is how export writes the exact reproduction commands into the model card.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from editor.nets.espcn import ESPCN
from editor.nets.sr_residual import ResidualSRBody, Upsampler, base_upsample
from editor.training import sr_data
from editor.training.degrade import degrade, noisy_jpeg
from editor.training.checkpoints import RunCheckpoints
from editor.training.run_utils import RunLog, catch_stop_signals, cosine_lr, training_device

MODELS = ("quality", "fast", "real")

#: Architecture defaults per model kind; ``--arch`` (JSON) overrides single keys.
DEFAULT_ARCH: dict[str, dict[str, Any]] = {
    "quality": {"channels": 48, "blocks": 4, "base": "bicubic"},
    "real": {"channels": 48, "blocks": 4, "base": "bicubic"},
    "fast": {"width": 32, "mid": 16, "residual": True},
}

#: The issue's fixed test degradation for the real-photo model (noise sigma, JPEG quality).
REAL_VAL_NOISE = 5.0 / 255.0
REAL_VAL_JPEG = 60


class Trainee(nn.Module):
    """What is trained: a ResidualSR body with one upsampler per scale, or one ESPCN per
    scale. :meth:`export_state` gives the state dict of the shipped single-scale network."""

    def __init__(self, model: str, scales: list[int], arch: dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.scales = scales
        self.arch = dict(arch)
        if model == "fast":
            self.nets = nn.ModuleDict({str(s): ESPCN(s, **arch) for s in scales})
        else:
            self.body = ResidualSRBody(arch["channels"], arch["blocks"], 3,
                                       arch.get("res_init", 0.1))
            self.uppers = nn.ModuleDict({str(s): Upsampler(arch["channels"], s, 3)
                                         for s in scales})

    def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        if self.model == "fast":
            return self.nets[str(scale)](x)
        return (base_upsample(x, scale, self.arch.get("base", "bicubic"))
                + self.uppers[str(scale)](self.body(x)))

    def export_state(self, scale: int) -> dict[str, torch.Tensor]:
        if self.model == "fast":
            return {k: v.detach().cpu().clone()
                    for k, v in self.nets[str(scale)].state_dict().items()}
        state = {f"body.{k}": v for k, v in self.body.state_dict().items()}
        state.update({f"upsampler.{k}": v
                      for k, v in self.uppers[str(scale)].state_dict().items()})
        return {k: v.detach().cpu().clone() for k, v in state.items()}

    def load_init(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Load a shipped single-scale network's weights into every scale: all keys whose
        shapes fit (an upsampler of another scale does not, and keeps its zero start).
        Returns the skipped keys."""
        skipped: list[str] = []
        own = self.state_dict()
        loaded = {}
        for s in self.scales:
            for key, value in state.items():
                if self.model == "fast":
                    target = f"nets.{s}.{key}"
                elif key.startswith("upsampler."):
                    target = f"uppers.{s}.{key[len('upsampler.'):]}"
                else:
                    target = key
                if target in own and tuple(own[target].shape) == tuple(value.shape):
                    loaded[target] = value
                elif self.model != "fast" and not key.startswith("upsampler."):
                    # Only a scale's upsampler may differ; a body that does not fit means
                    # the wrong file or a different --arch, which must not pass silently.
                    raise ValueError(f"--init: {key} does not fit this architecture "
                                     f"({tuple(value.shape)} vs "
                                     f"{tuple(own[target].shape) if target in own else 'absent'})")
                else:
                    skipped.append(key)
        if not loaded:
            raise ValueError("--init weights share no tensor with this architecture")
        self.load_state_dict(loaded, strict=False)
        return sorted(set(skipped))




def parse_scales(text: str) -> list[int]:
    try:
        scales = sorted({int(v) for v in str(text).split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"scales must be integers like 4 or 2,3,4: {text!r}")
    if not scales or any(s not in (2, 3, 4) for s in scales):
        raise argparse.ArgumentTypeError(f"scales must be among 2, 3, 4: {text!r}")
    return scales


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m editor.training.train_sr",
                                description="Train Restora's super-resolution networks.")
    p.add_argument("--model", choices=MODELS, required=True)
    p.add_argument("--scale", type=parse_scales, required=True,
                   help="one scale (4) or several sharing one body (2,3,4)")
    p.add_argument("--run-dir", required=True, help="checkpoints, logs and command history")
    p.add_argument("--iters", type=int, required=True,
                   help="length of the cosine schedule (total iterations of the run)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=48, help="LR patch size")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--lr-min", type=float, default=None, help="default: lr / 50")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/last.pt")
    p.add_argument("--init", default=None, help="start from shipped weights (.safetensors)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    p.add_argument("--arch", default="{}", help='JSON overrides, e.g. {"channels": 32}')
    p.add_argument("--data", default=None, help="natural-image folder (T91/, BSD200/)")
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--stop-at", type=int, default=None,
                   help="leave after this iteration (checkpoint written) without changing "
                        "the schedule; a later --resume continues the same run")
    return p


@torch.no_grad()
def validate(trainee: Trainee, val: dict[int, list[sr_data.ValImage]],
             device: torch.device) -> dict[str, float]:
    """Mean Y-PSNR per scale over the held-out images (key "x2"...), and their mean."""
    trainee.eval()
    result: dict[str, float] = {}
    for s, items in val.items():
        scores = []
        for item in items:
            lr = torch.from_numpy(item.lr[s].transpose(2, 0, 1).copy())[None].to(device)
            sr = trainee(lr, s)[0].float().cpu().numpy().transpose(1, 2, 0)
            scores.append(sr_data.y_psnr(sr, item.hr, s))
        result[f"x{s}"] = float(np.mean(scores))
    result["mean"] = float(np.mean([result[f"x{s}"] for s in val]))
    trainee.train()
    return result


def _real_val_degrade(lr_uint8: np.ndarray, scale: int, index: int) -> np.ndarray:
    return noisy_jpeg(sr_data.to_float(lr_uint8), REAL_VAL_NOISE, REAL_VAL_JPEG,
                      seed=1000 + index)


def train(argv: list[str] | None = None, *, quiet: bool = False) -> dict[str, Any]:
    """Run (or continue) one training run; returns a summary (tests use it)."""
    args = build_parser().parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    run_dir = Path(args.run_dir).expanduser()
    run_dir.mkdir(parents=True, exist_ok=True)
    log = RunLog(run_dir / "train.log", quiet)
    torch.set_num_threads(max(1, args.threads))
    device = training_device(args.device)
    arch = {**DEFAULT_ARCH[args.model], **json.loads(args.arch)}
    scales = args.scale
    if args.model == "real" and scales != [4]:
        raise SystemExit("the real-photo model is trained at x4 only (--scale 4)")
    lr_min = args.lr / 50 if args.lr_min is None else args.lr_min
    config = {"model": args.model, "scales": scales, "arch": arch, "batch": args.batch,
              "patch": args.patch, "lr": args.lr, "lr_min": lr_min, "iters": args.iters,
              "seed": args.seed}

    # Seeds first: model initialisation draws from torch's generator.
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    trainee = Trainee(args.model, scales, arch).to(device)
    optimizer = torch.optim.Adam(trainee.parameters(), lr=args.lr, betas=(0.9, 0.99))

    data_root = Path(args.data).expanduser() if args.data else sr_data.default_data_root()
    config["data"] = str(data_root)
    train_images, val_images = sr_data.load_dataset(data_root)
    sampler = sr_data.PatchSampler(train_images, scales, args.patch, args.batch, args.seed,
                                   degrade=degrade if args.model == "real" else None)
    val = sr_data.make_val_set(val_images, scales)
    val_noisy = (sr_data.make_val_set(val_images, scales, _real_val_degrade)
                 if args.model == "real" else None)

    def init_from(path: Path) -> dict[str, Any]:
        from safetensors.torch import load_file

        return {"init_skipped": trainee.load_init(load_file(str(path)))}

    run = RunCheckpoints(run_dir, trainee, optimizer, config, log,
                         sampler_state=(sampler.state, sampler.set_state))
    run.start(argv, resume=args.resume, init=args.init, load_init=init_from,
              different=lambda saved: None if (saved["model"], saved["scales"], saved["arch"])
              == (args.model, scales, arch) else
              f"is a different model/scales/architecture ({saved})")

    stop_requested, restore_signals = catch_stop_signals()
    stop_at = args.iters if args.stop_at is None else min(args.stop_at, args.iters)
    log(f"{args.model} x{','.join(map(str, scales))} {arch} on {device}, "
        f"{sum(p.numel() for p in trainee.parameters())} params, "
        f"{len(train_images)} train / {len(val_images)} val images, "
        f"iterations {run.iteration} -> {stop_at} of {args.iters}")
    trainee.train()
    window_loss, window_start, window_n = 0.0, time.monotonic(), 0
    first_loss = last_loss = None
    try:
        while run.iteration < stop_at and not stop_requested:
            iteration = run.iteration
            scale = scales[iteration % len(scales)]
            lr_batch, hr_batch = sampler.batch(scale)
            lr_t = torch.from_numpy(lr_batch).to(device)
            hr_t = torch.from_numpy(hr_batch).to(device)
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(iteration, args.iters, args.lr, lr_min)
            loss = F.l1_loss(trainee(lr_t, scale), hr_t)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
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
                    f"lr {optimizer.param_groups[0]['lr']:.2e} {window_n / elapsed:.2f} it/s")
                window_loss, window_start, window_n = 0.0, time.monotonic(), 0
            if iteration % args.val_every == 0 or iteration == stop_at:
                scores = validate(trainee, val, device)
                if val_noisy is not None:
                    noisy = validate(trainee, val_noisy, device)
                    scores = {"clean": scores["mean"], "noisy_jpeg": noisy["mean"],
                              # The real model is judged on both: noisy inputs are its job,
                              # clean ones must not get much worse.
                              "mean": 0.5 * (scores["mean"] + noisy["mean"]),
                              "x4": scores["x4"]}
                marker = " (best)" if run.record_validation(scores, key="mean") else ""
                log(f"val it {iteration}: " + ", ".join(f"{k} {v:.3f}" for k, v in
                                                       scores.items()) + marker)
            run.save_every(args.checkpoint_minutes)
    except BaseException:
        # A crash mid-iteration may have drawn patches without finishing the step; the
        # previous checkpoint is the last consistent state, so it is left as it is.
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
