"""Train Makeup-Go's Component Regression Network, or the plain CNN baseline: resumable,
seeded, CPU first.

    python -m editor.training.pca_basis --out ~/.cache/restora/makeup_pca.npz
    python -m editor.training.train_makeup --model crn --run-dir ~/.cache/restora/runs/makeup-crn \
        --basis ~/.cache/restora/makeup_pca.npz --iters 3000 --batch 12 --patch 96 \
        --lr 1e-3 --seed 0 --threads 1 [--resume] [--init models/makeup-go.safetensors]
    python -m editor.training.train_makeup --model plain --run-dir ~/.cache/restora/runs/makeup-plain \
        --iters 3000 --batch 12 --patch 96 --lr 1e-3 --seed 0 --threads 1

Data: :mod:`editor.training.makeup_data` — beautified UTKFace faces (the ``train`` split,
beautified on the fly by :mod:`editor.training.beautify`) mixed with real makeup pairs
(``--real-fraction`` of each batch on average, landmark-aligned), random ``--patch`` crops
of the 128 px faces, random flips. Batches depend only on (seed, iteration). A real pair
is two different photos (lighting, expression, hair differ: ~13 dB apart even aligned),
so its squared error is ~50x a synthetic pair's; its loss is scaled by ``--real-weight``
so the few real pairs do not drown the beautification signal (same for both models).

Losses:

- ``plain``: the per-pixel Euclidean loss, mean squared error of the output.
- ``crn``: the paper's component loss — the mean over the K principal components of the
  squared error of each normalised coefficient map (``editor.nets.crn.component_loss``),
  so every component counts equally whatever its eigenvalue; the target coefficients
  are the decomposition of ``target - input`` in the network's own basis. Component
  deviations below ``--std-floor`` times the largest are floored (noise components).
  ``--pixel-weight`` adds that much plain pixel MSE (default 0: the paper's loss alone).
- ``--identity-weight`` (either model) adds :mod:`editor.training.makeup_identity`'s term:
  ``--identity-pairs`` whole real pairs per step, 1 - centred face-id cosine between the
  output and the without-makeup photo (default 0: off).

``--arch '{"context_levels": 3}'`` adds the trunk's context pyramid
(:class:`editor.nets.crn.ContextPyramid`); with ``--init`` from pyramid-less weights the
network starts as exactly the shipped one.

Both models share the trunk, the data, the batches, the schedule (Adam, cosine from
``--lr`` to ``--lr-min``) and the budget, so they differ only in head and loss.

Resumability as the deblur trainer (shared helpers of :mod:`editor.training.run_utils`):
``<run-dir>/last.pt`` every ``--checkpoint-minutes`` (atomic), at the end and on
SIGTERM/SIGINT; ``--resume`` continues exactly; ``best.pt`` holds the weights with the
best validation score — the mean of the PSNR on the ``val`` split's synthetic pairs and on
its real pairs (never the ``test`` split the cards report, never ``bench/``) — so it can
be exported while training goes on. Every invocation is appended to
``<run-dir>/commands.jsonl`` for the model card's recipe.
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

from editor.core.metrics import psnr
from editor.nets.crn import (DEFAULT_DEPTH, DEFAULT_GROUPS, DEFAULT_WIDTH,
                             ComponentRegressionNet, PlainCNN, count_parameters)
from editor.training import makeup_data as md
from editor.training.checkpoints import RunCheckpoints, load_exact as load_init
from editor.training.run_utils import RunLog, catch_stop_signals, cosine_lr, training_device

MODELS = ("crn", "plain")
DEFAULT_ARCH: dict[str, Any] = {"width": DEFAULT_WIDTH, "depth": DEFAULT_DEPTH,
                                "groups": DEFAULT_GROUPS}
DEFAULT_STD_FLOOR = 0.01


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m editor.training.train_makeup",
                                description="Train Makeup-Go (CRN) or the plain CNN baseline.")
    p.add_argument("--model", choices=MODELS, required=True)
    p.add_argument("--run-dir", required=True, help="checkpoints, logs and command history")
    p.add_argument("--iters", type=int, required=True, help="length of the cosine schedule")
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--patch", type=int, default=96, help="crop of the 128 px faces (x4)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-min", type=float, default=None, help="default: lr / 50")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--basis", default=None,
                   help="PCA basis .npz from editor.training.pca_basis (crn, fresh runs)")
    p.add_argument("--std-floor", type=float, default=DEFAULT_STD_FLOOR,
                   help="floor of the component deviations, relative to the largest (crn)")
    p.add_argument("--pixel-weight", type=float, default=0.0,
                   help="weight of an added pixel MSE term (crn; 0: the paper's loss alone)")
    p.add_argument("--real-fraction", type=float, default=0.15,
                   help="share of real makeup pairs in the batches")
    p.add_argument("--real-weight", type=float, default=0.1,
                   help="loss weight of a real pair relative to a synthetic one")
    p.add_argument("--identity-weight", type=float, default=0.0,
                   help="weight of the identity term on whole real pairs "
                        "(editor.training.makeup_identity; 0: off)")
    p.add_argument("--identity-pairs", type=int, default=4,
                   help="real pairs the identity term scores per step")
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/last.pt")
    p.add_argument("--init", default=None, help="start from shipped weights (.safetensors)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    p.add_argument("--arch", default="{}", help='JSON overrides, e.g. {"width": 48}')
    p.add_argument("--data", default=None, help="data root (default ../shared/data/train)")
    p.add_argument("--landmarks", default=None, help="UTKFace landmark cache (.npz)")
    p.add_argument("--val-synthetic", type=int, default=200,
                   help="synthetic validation pairs (the first of the val split by name)")
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--stop-at", type=int, default=None,
                   help="leave after this iteration (checkpoint written) without changing "
                        "the schedule; a later --resume continues the same run")
    return p


def build_net(model: str, arch: dict[str, Any], basis: np.ndarray | None = None,
              std: np.ndarray | None = None) -> torch.nn.Module:
    if model == "crn":
        if basis is None:
            return ComponentRegressionNet(components=arch.get("components", 192), **{
                k: v for k, v in arch.items() if k != "components"})
        return ComponentRegressionNet(torch.from_numpy(basis), torch.from_numpy(std),
                                      **{k: v for k, v in arch.items() if k != "components"})
    return PlainCNN(**{k: v for k, v in arch.items() if k not in ("components", "patch")})


def training_loss(net: torch.nn.Module, model: str, x: torch.Tensor, y: torch.Tensor,
                  pixel_weight: float = 0.0, sample_weights: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, float]:
    """(loss to minimise, pixel MSE of the output for the log). ``sample_weights`` (N,)
    scale each pair's loss (the batch mean of weight x loss)."""
    result = net(x)
    weights = torch.ones(x.shape[0], device=x.device) if sample_weights is None \
        else sample_weights
    pixel_each = ((result["output"] - y) ** 2).mean((1, 2, 3))
    pixel = (weights * pixel_each).mean()
    if model == "plain":
        return pixel, float(pixel_each.mean().detach())
    with torch.no_grad():
        target = net.decompose(y - x)
    # The balanced component loss (editor.nets.crn.component_loss) per pair.
    loss = (weights * ((result["coefficients"] - target) ** 2).mean((1, 2, 3))).mean()
    if pixel_weight > 0:
        loss = loss + pixel_weight * pixel
    return loss, float(pixel_each.mean().detach())


def _quantised(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image * 255.0), 0.0, 255.0) / 255.0


@torch.no_grad()
def run_images(net: torch.nn.Module, images: list[np.ndarray], device: torch.device,
               batch: int = 16) -> list[np.ndarray]:
    """The network's 8-bit rounded outputs (HWC float32) on same-size HWC images."""
    was_training = net.training
    net.eval()
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(
            np.stack(images[i:i + batch]).transpose(0, 3, 1, 2))).to(device)
        y = net(x)["output"].float().cpu().numpy().transpose(0, 2, 3, 1)
        out.extend(_quantised(v) for v in y)
    net.train(was_training)
    return out


def validate(net: torch.nn.Module, val: md.EvalSet, device: torch.device) -> dict[str, float]:
    scores: dict[str, float] = {}
    for kind, pairs in (("synthetic", val.synthetic), ("real", val.real)):
        if not pairs:
            continue
        outputs = run_images(net, [p[0] for p in pairs], device)
        scores[f"{kind}_psnr"] = float(np.mean([psnr(o, p[1]) for o, p in zip(outputs, pairs)]))
        scores[f"{kind}_input_psnr"] = float(np.mean([psnr(p[0], p[1]) for p in pairs]))
    kinds = [k for k in ("synthetic", "real") if f"{k}_psnr" in scores]
    scores["score"] = float(np.mean([scores[f"{k}_psnr"] for k in kinds]))
    return scores


def train(argv: list[str] | None = None, *, quiet: bool = False,
          data: tuple[list[md.Face], list[md.RealPair], md.EvalSet] | None = None
          ) -> dict[str, Any]:
    """Run (or continue) one training run; returns a summary. ``data`` (tests) replaces
    loading the training faces, real pairs and validation set from disk."""
    args = build_parser().parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    if args.patch % 4 or args.patch < 16:
        raise SystemExit(f"--patch must be a multiple of 4 (>= 16), got {args.patch}")
    run_dir = Path(args.run_dir).expanduser()
    run_dir.mkdir(parents=True, exist_ok=True)
    log = RunLog(run_dir / "train.log", quiet)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, args.threads))
    try:
        return _train(args, argv, run_dir, log, data)
    finally:
        torch.set_num_threads(threads_before)


def _identity_term(config: dict[str, Any], reals: list[md.RealPair], device, log):
    """The run's identity term (None when its weight is 0): shipped face-id, the real
    training pairs' landmarks from the data root's cache."""
    if config.get("identity_weight", 0.0) <= 0:
        return None
    from editor.engine.registry import REGISTRY
    from editor.engine.weights import load_model
    from editor.training.makeup_identity import IdentityTerm

    spec = REGISTRY.get("face-id")
    marks = md.real_pair_landmarks(Path(config.get("data") or md.default_data_root()))
    term = IdentityTerm(reals, marks, load_model(spec, "cpu"), config["identity_pairs"],
                        config["seed"], device)
    log(f"identity term: weight {config['identity_weight']}, {config['identity_pairs']} of "
        f"{len(term)} real pairs per step, face-id {spec.sha256[:12]}")
    return term


def _load_data(args, log):
    root = Path(args.data).expanduser() if args.data else md.default_data_root()
    marks = md.load_landmarks(root, Path(args.landmarks) if args.landmarks else None, log)
    faces = md.load_faces(root, marks, "train")
    reals = md.load_real_pairs(root, "train")
    val = md.load_eval_set("val", root, args.val_synthetic)
    return faces, reals, val, str(root)


def _train(args, argv, run_dir, log, data) -> dict[str, Any]:
    device = training_device(args.device)
    arch = {**DEFAULT_ARCH, **json.loads(args.arch)}
    lr_min = args.lr / 50 if args.lr_min is None else args.lr_min
    config = {"model": args.model, "arch": arch, "batch": args.batch, "patch": args.patch,
              "lr": args.lr, "lr_min": lr_min, "iters": args.iters, "seed": args.seed,
              "clip": args.clip, "real_fraction": args.real_fraction,
              "real_weight": args.real_weight,
              "loss": "pixel MSE" if args.model == "plain" else "balanced component loss"}
    if args.model == "crn":
        config.update(std_floor=args.std_floor, pixel_weight=args.pixel_weight)
    if args.identity_weight > 0:
        config.update(identity_weight=args.identity_weight, identity_pairs=args.identity_pairs)

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    basis = std = None
    last_path = run_dir / "last.pt"
    # The architecture comes from the run being resumed, the --init file's basis or the
    # --basis file, so it is settled before the network and its checkpoints are built.
    if args.resume:
        if not last_path.is_file():
            raise SystemExit(f"--resume: no checkpoint {last_path}")
        saved = torch.load(last_path, map_location="cpu", weights_only=False)["config"]
        if saved["model"] != args.model:
            raise SystemExit(f"--resume: {last_path} is a {saved['model']} run")
        # The run's own settings; only the schedule's length may be changed on resume.
        config = {**saved, "iters": args.iters}
        arch = config["arch"]
    elif args.init and args.model == "crn":
        from safetensors.torch import load_file

        shapes = load_file(str(Path(args.init).expanduser()))["basis"].shape
        arch = {**arch, "patch": int(shapes[-1]), "components": int(shapes[0])}
        config["arch"] = arch
    elif args.model == "crn" and not args.init:
        if not args.basis:
            raise SystemExit("--model crn needs --basis (python -m editor.training.pca_basis)")
        from editor.training.pca_basis import component_std, load_basis
        from editor.engine.weights import sha256_file

        basis, eigenvalues, meta = load_basis(Path(args.basis))
        std = component_std(eigenvalues, args.std_floor)
        config["basis"] = {"file": str(args.basis), "sha256": sha256_file(
            Path(args.basis).expanduser()), "meta": meta}
        arch = {**arch, "patch": int(basis.shape[-1]), "components": int(basis.shape[0])}
        config["arch"] = arch
    net = build_net(args.model, arch, basis, std).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.9, 0.999))

    if data is None:
        faces, reals, val, root = _load_data(args, log)
        config["data"] = root
    else:
        faces, reals, val = data

    run = RunCheckpoints(run_dir, net, optimizer, config, log)
    # --init from weights without a context pyramid: the pyramid (zero-merged, so the
    # network starts as the shipped one) is the only part allowed to be new.
    run.start(argv, resume=args.resume, init=args.init,
              load_init=lambda p: load_init(net, p, new=("trunk.pyramid.",)))
    sampler = md.MakeupSampler(faces, reals, config["patch"], config["batch"],
                               config["seed"], config["real_fraction"])

    identity = _identity_term(config, reals, device, log)

    stop_requested, restore_signals = catch_stop_signals()
    stop_at = args.iters if args.stop_at is None else min(args.stop_at, args.iters)
    log(f"{args.model} {arch} on {device}, {count_parameters(net)} params, {len(faces)} "
        f"train faces + {len(reals)} real pairs, val {len(val.synthetic)} synthetic + "
        f"{len(val.real)} real, batch {args.batch} x {args.patch}px, iterations "
        f"{run.iteration} -> {stop_at} of {args.iters}")
    net.train()
    window_loss = window_pixel = window_identity = 0.0
    window_start, window_n = time.monotonic(), 0
    first_loss = last_loss = None
    try:
        while run.iteration < stop_at and not stop_requested:
            iteration = run.iteration
            x_np, y_np, real_np = sampler.batch_with_kinds(iteration)
            x, y = torch.from_numpy(x_np).to(device), torch.from_numpy(y_np).to(device)
            weights = torch.from_numpy(np.where(real_np, config["real_weight"], 1.0)
                                       .astype(np.float32)).to(device)
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(iteration, args.iters, args.lr, lr_min)
            loss, pixel = training_loss(net, args.model, x, y, config.get("pixel_weight", 0.0),
                                        weights)
            if identity is not None:
                identity_loss = identity.loss(net, iteration)
                loss = loss + config["identity_weight"] * identity_loss
                window_identity += float(identity_loss.detach())
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
            window_pixel += pixel
            window_n += 1
            if iteration % args.log_every == 0 or iteration == stop_at:
                elapsed = time.monotonic() - window_start
                extra = (f" identity {window_identity / window_n:.4f}" if identity is not None
                         else "")
                log(f"it {iteration} loss {window_loss / window_n:.5f} pixel-mse "
                    f"{window_pixel / window_n:.6f}{extra} lr "
                    f"{optimizer.param_groups[0]['lr']:.2e} {elapsed / window_n:.2f} s/it")
                window_loss = window_pixel = window_identity = 0.0
                window_start, window_n = time.monotonic(), 0
            if iteration % args.val_every == 0 or iteration == stop_at:
                scores = validate(net, val, device)
                marker = " (best)" if run.record_validation(scores, key="score") else ""
                log(f"val it {iteration}: " + " ".join(
                    f"{k} {v:.3f}" for k, v in scores.items()) + marker)
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
