"""Train the Facelet-Bank face autoencoder (:class:`editor.nets.facelet.FaceAutoencoder`)
with its age and gender heads: resumable, seeded, CPU first.

    python -m editor.training.train_face_autoencoder --run-dir ~/.cache/restora/runs/face-ae \
        --iters 4000 --batch 16 --lr 2e-3 --seed 0 --threads 1 [--resume]

Data: :mod:`editor.training.facelet_data` — UTKFace crops at 128 px, the 95 % training
part, random flips; batches depend only on (seed, iteration).

Loss: L1 of the reconstruction + ``--grad-weight`` x L1 of its horizontal/vertical
differences (keeps edges and skin texture sharp, no perceptual network needed) +
``--age-weight`` x L1 of the age head (years / 50) + ``--gender-weight`` x binary
cross-entropy of the gender head. The heads shape the encoder's features so that age and
gender are readable from them — what the attribute directions need.

Every ``--val-every`` iterations: PSNR of the reconstruction (8-bit rounded, RGB) on
``--val-faces`` held-out faces (evenly spaced by name), the heads' age MAE and gender accuracy there;
``best.pt`` keeps the best PSNR. ``last.pt`` every ``--checkpoint-minutes`` (atomic), at the
end and on SIGTERM/SIGINT; ``--resume`` continues exactly. Every invocation is appended
to ``<run-dir>/commands.jsonl`` (the model card's recipe).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from editor.nets.facelet import AGE_SCALE, FaceAutoencoder, count_parameters
from editor.training import facelet_data as fd
from editor.training.checkpoints import RunCheckpoints
from editor.training.run_utils import (catch_stop_signals, cosine_lr,
                                       in_run_folder, record_command, training_device)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m editor.training.train_face_autoencoder",
                                description="Train the Facelet-Bank face autoencoder.")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--iters", type=int, required=True, help="length of the cosine schedule")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--lr-min", type=float, default=None, help="default: lr / 50")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grad-weight", type=float, default=0.5)
    p.add_argument("--age-weight", type=float, default=0.5)
    p.add_argument("--gender-weight", type=float, default=0.2)
    p.add_argument("--arch", default="{}", help='JSON overrides, e.g. {"features": 64}')
    p.add_argument("--resume", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default=None, help="data root (default ../shared/data/train)")
    p.add_argument("--val-faces", type=int, default=200)
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--stop-at", type=int, default=None,
                   help="leave after this iteration without changing the schedule")
    return p


def losses(net: FaceAutoencoder, x: torch.Tensor, age: torch.Tensor, gender: torch.Tensor,
           grad_weight: float, age_weight: float, gender_weight: float
           ) -> tuple[torch.Tensor, dict[str, float]]:
    r = net(x)
    y = r["output"]
    l1 = (y - x).abs().mean()
    grad = ((y[..., 1:] - y[..., :-1]) - (x[..., 1:] - x[..., :-1])).abs().mean() \
        + ((y[..., 1:, :] - y[..., :-1, :]) - (x[..., 1:, :] - x[..., :-1, :])).abs().mean()
    age_l = (r["age"] - age / AGE_SCALE).abs().mean()
    gender_l = F.binary_cross_entropy_with_logits(r["gender"], gender)
    total = l1 + grad_weight * grad + age_weight * age_l + gender_weight * gender_l
    return total, {"l1": float(l1.detach()), "age_mae": float(age_l.detach()) * AGE_SCALE,
                   "gender_bce": float(gender_l.detach())}


@torch.no_grad()
def evaluate(net: FaceAutoencoder, faces: fd.FaceSet, device: torch.device,
             batch: int = 32) -> dict[str, float]:
    """Held-out PSNR (8-bit rounded reconstructions, RGB), age MAE (years), gender accuracy."""
    was = net.training
    net.eval()
    psnrs, errors, correct = [], [], []
    for i in range(0, len(faces), batch):
        idx = np.arange(i, min(i + batch, len(faces)))
        x = torch.from_numpy(faces.floats(idx)).to(device)
        r = net(x)
        y = torch.round(r["output"].clamp(0, 1) * 255) / 255
        mse = ((y - x) ** 2).mean((1, 2, 3)).clamp_min(1e-12)
        psnrs.extend((10 * torch.log10(1.0 / mse)).cpu().tolist())
        errors.extend((r["age"].cpu() * AGE_SCALE - torch.from_numpy(
            faces.ages[idx].astype(np.float32))).abs().tolist())
        correct.extend(((r["gender"].cpu() > 0).numpy() == (faces.genders[idx] > 0)).tolist())
    net.train(was)
    return {"psnr": float(np.mean(psnrs)), "age_mae": float(np.mean(errors)),
            "gender_acc": float(np.mean(correct))}


def train(argv: list[str] | None = None, *, quiet: bool = False,
          faces: fd.FaceSet | None = None) -> dict[str, Any]:
    """Run (or continue) one run; ``faces`` (tests) replaces loading UTKFace."""
    args = build_parser().parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    return in_run_folder(args.run_dir, args.threads, quiet,
                         lambda run_dir, log: _train(args, argv, run_dir, log, faces))


def _train(args, argv, run_dir, log, faces) -> dict[str, Any]:
    device = training_device(args.device)
    lr_min = args.lr / 50 if args.lr_min is None else args.lr_min
    config = {"arch": json.loads(args.arch), "batch": args.batch, "lr": args.lr,
              "lr_min": lr_min, "iters": args.iters, "seed": args.seed,
              "grad_weight": args.grad_weight, "age_weight": args.age_weight,
              "gender_weight": args.gender_weight,
              "loss": "L1 + grad_weight x gradient L1 + age_weight x age L1 (years/50) + "
                      "gender_weight x gender BCE"}
    torch.manual_seed(args.seed)
    last_path = run_dir / "last.pt"
    checkpoint = None
    if args.resume:
        if not last_path.is_file():
            raise SystemExit(f"--resume: no checkpoint {last_path}")
        checkpoint = torch.load(last_path, map_location="cpu", weights_only=False)
        config = {**checkpoint["config"], "iters": args.iters}
    elif last_path.exists():
        raise SystemExit(f"{run_dir} already has a checkpoint; use --resume or a new --run-dir")
    net = FaceAutoencoder(**config["arch"]).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    # The network is built from the checkpoint's own configuration, so resuming is done
    # here; saving, the best weights and the end of the run are the shared RunCheckpoints'.
    run = RunCheckpoints(run_dir, net, optimizer, config, log)
    if checkpoint is not None:
        net.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        run.iteration, run.best, run.history = (checkpoint["iteration"], checkpoint["best"],
                                                checkpoint["history"])
        rng = checkpoint["rng"]  # a bare tensor in checkpoints written before RunCheckpoints
        torch.set_rng_state(rng["torch"] if isinstance(rng, dict) else rng)
        log(f"resumed from iteration {run.iteration} (best held-out {run.best:.2f} dB)")
    iteration = run.iteration

    if faces is None:
        faces = fd.load_faces(Path(args.data).expanduser() if args.data else None, log=log)
        config["data"] = str(Path(args.data).expanduser() if args.data
                             else fd.default_data_root())
    train_set = faces.part("train")
    held = faces.part("held_out")
    # Evenly spaced over the (name-sorted, so age-sorted) hold-out: every age is seen.
    val_set = held.subset(np.unique(np.linspace(0, len(held) - 1, min(args.val_faces, len(held)))
                                    .astype(int)))
    record_command(run_dir, argv, iteration)

    stop_requested, restore_signals = catch_stop_signals()
    stop_at = args.iters if args.stop_at is None else min(args.stop_at, args.iters)
    log(f"autoencoder {config['arch'] or 'default'} on {device}, {count_parameters(net)} "
        f"params, {len(train_set)} train / {len(val_set)} held-out faces, batch "
        f"{config['batch']}, iterations {iteration} -> {stop_at} of {args.iters}")
    net.train()
    window: dict[str, float] = {}
    window_n, window_start = 0, time.monotonic()
    try:
        while iteration < stop_at and not stop_requested:
            idx = fd.batch_indices(len(train_set), config["batch"], config["seed"], iteration)
            x = torch.from_numpy(fd.augment(train_set.floats(idx), config["seed"],
                                            iteration)).to(device)
            age = torch.from_numpy(train_set.ages[idx].astype(np.float32)).to(device)
            gender = torch.from_numpy(train_set.genders[idx].astype(np.float32)).to(device)
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(iteration, args.iters, args.lr, lr_min)
            loss, parts = losses(net, x, age, gender, config["grad_weight"],
                                 config["age_weight"], config["gender_weight"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            run.iteration = iteration = iteration + 1
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                window[k] = window.get(k, 0.0) + v
            window_n += 1
            if iteration % args.log_every == 0 or iteration == stop_at:
                log(f"it {iteration} " + " ".join(f"{k} {v / window_n:.4f}"
                                                  for k, v in window.items())
                    + f" {(time.monotonic() - window_start) / window_n:.2f} s/it")
                window, window_n, window_start = {}, 0, time.monotonic()
            if iteration % args.val_every == 0 or iteration == stop_at:
                scores = evaluate(net, val_set, device)
                marker = " (best)" if run.record_validation(scores) else ""
                log(f"held-out it {iteration}: psnr {scores['psnr']:.2f} dB, age MAE "
                    f"{scores['age_mae']:.2f} y, gender acc {scores['gender_acc']:.3f}{marker}")
            run.save_every(args.checkpoint_minutes)
    except BaseException:
        restore_signals()
        raise
    summary = run.finish(bool(stop_requested))
    restore_signals()
    return summary


def load_run(run_dir: Path, which: str = "best") -> tuple[FaceAutoencoder, dict]:
    """(autoencoder in eval mode, its checkpoint) of a run folder."""
    checkpoint = torch.load(Path(run_dir).expanduser() / f"{which}.pt", map_location="cpu",
                            weights_only=False)
    net = FaceAutoencoder(**checkpoint["config"]["arch"])
    net.load_state_dict(checkpoint["model"])
    return net.eval(), checkpoint


def main(argv: list[str] | None = None) -> int:
    train(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
