"""Train FRGD's conditional diffusion U-Net, or (``--objective l1``) the same-size
regression U-Net baseline, on UTKFace faces degraded on the fly (:mod:`frgd_data`).

    python -m editor.training.train_frgd --objective diffusion \
        --run-dir ~/.cache/restora/runs/frgd --iters 4000 --threads 1 [--resume]
    python -m editor.training.train_frgd --objective l1 \
        --run-dir ~/.cache/restora/runs/frgd-l1 --iters 4000 --threads 1 [--resume]

Diffusion: v-prediction on the residual over the up-sampled low-quality face
(:mod:`editor.nets.frgd_unet`), t ~ U(0, 1) on the cosine schedule, MSE on v; the identity
(dlib's vector of the clean face, jittered) is replaced by the learned null vector with
probability ``--p-uncond`` (classifier-free dropout). L1: the regression U-Net predicts the
face from the up-sampled low-quality face, mean absolute error. Both draw the same faces
and degradations for a given (seed, iteration). Validation on 32 ``val`` faces (fixed
degradations): PSNR of the predicted face — the regression output, or for diffusion the
one-step x_0 estimate at t = 0.5 from fixed noise (a cheap progress signal, not a sample).

``--prior WEIGHTS`` (diffusion; the shipped two-stage ``frgd-face`` uses
``models/frgd-l1.safetensors``): the up-sampled low-quality face is first restored by that
frozen regression U-Net, and the diffusion model is conditioned on, and samples the
residual over, the restoration (``config["prior"]`` records the file and its sha256; the
model's ``prior`` attribute names it, taken from the file name).

``--identity-source none`` trains with zero identity vectors (used as a warm-up while the
dlib embedding cache was still being computed; the run then resumed with ``dlib``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from editor.nets.frgd_unet import (DEFAULT_WIDTHS, FRGDUNet, RegressionUNet, alpha_sigma,
                                   from_residual, to_residual)
from editor.training import face_id_data as fd
from editor.training import face_train_loop as loop
from editor.training import frgd_data

TRAIN_STREAM = 0x46524454  # "FRDT"
VAL_STREAM = 0x46524456    # "FRDV"
OBJECTIVES = ("diffusion", "l1")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m editor.training.train_frgd",
                                description="Train the FRGD diffusion U-Net or the L1 "
                                            "regression U-Net baseline.")
    p.add_argument("--objective", choices=OBJECTIVES, default="diffusion")
    loop.add_common_arguments(p, batch=16, lr=1e-3)
    p.add_argument("--widths", default=",".join(map(str, DEFAULT_WIDTHS)),
                   help="channels of the three levels, e.g. 16,32,64")
    p.add_argument("--p-uncond", type=float, default=0.15,
                   help="classifier-free dropout of the identity (diffusion)")
    p.add_argument("--prior", default=None, metavar="WEIGHTS",
                   help="diffusion: condition on this regression U-Net's restoration of "
                        "the up-sampled face (e.g. models/frgd-l1.safetensors) instead of "
                        "the bicubic up-sampling: the two-stage model the tool ships")
    p.add_argument("--val-faces", type=int, default=32)
    p.add_argument("--identity-source", choices=("dlib", "none"), default="dlib",
                   help="none: zero identity vectors (a warm-up while the dlib embedding "
                        "cache is still being computed; resume with dlib afterwards)")
    return p


def build_net(config: dict[str, Any]) -> torch.nn.Module:
    widths = tuple(config["widths"])
    if config["objective"] != "diffusion":
        return RegressionUNet(widths)
    prior = config.get("prior")
    return FRGDUNet(widths, prior=prior["id"] if prior else None)


def _prior_file(path: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise SystemExit(f"--prior: no weights file {file}")
    return file


def load_prior(prior: dict[str, Any] | None) -> RegressionUNet | None:
    """The frozen regression U-Net of ``config["prior"]`` (checked against its sha256, so
    a resumed run conditions on exactly what it started with)."""
    if not prior:
        return None
    from safetensors.torch import load_file

    from editor.engine.weights import sha256_file

    path = _prior_file(prior["weights"])
    if sha256_file(path) != prior["sha256"]:
        raise SystemExit(f"--prior: {path} is not the file this run started with "
                         f"(sha256 {prior['sha256'][:12]}...)")
    net = RegressionUNet(tuple(prior["widths"]))
    net.load_state_dict(load_file(str(path)))
    return net.eval().requires_grad_(False)


def prior_config(path: str) -> dict[str, Any]:
    from safetensors.torch import load_file

    from editor.engine.weights import sha256_file

    file = _prior_file(path)
    state = load_file(str(file))
    try:   # the three levels' widths: the input convolution's and the two down-samplings'
        widths = [int(state[f"body.{k}.weight"].shape[0]) for k in ("inp", "down1", "down2")]
    except KeyError:
        raise SystemExit(f"--prior: {file} is not a regression U-Net's weights") from None
    return {"id": file.stem, "weights": path, "sha256": sha256_file(file), "widths": widths}


def with_prior(b: frgd_data.Batch, prior: torch.nn.Module | None) -> frgd_data.Batch:
    """The batch with ``lq`` replaced by the prior's restoration of it (clipped)."""
    if prior is None:
        return b
    with torch.no_grad():
        return dataclasses.replace(b, lq=prior(b.lq).clamp(0.0, 1.0))


def diffusion_loss(net: FRGDUNet, b: frgd_data.Batch, generator: torch.Generator,
                   p_uncond: float, device: torch.device) -> torch.Tensor:
    n = b.face.shape[0]
    t = torch.rand(n, generator=generator)
    noise = torch.randn(b.face.shape, generator=generator)
    drop = torch.rand(n, generator=generator) < p_uncond
    face, lq, noise, t = b.face.to(device), b.lq.to(device), noise.to(device), t.to(device)
    x0 = to_residual(face, lq)
    a, s = (v[:, None, None, None] for v in alpha_sigma(t))
    x_t = a * x0 + s * noise
    target = a * noise - s * x0
    pred = net(x_t, lq, t, b.identity.to(device), drop.to(device))
    return F.mse_loss(pred, target)


@torch.no_grad()
def predicted_faces(net: torch.nn.Module, objective: str, b: frgd_data.Batch,
                    device: torch.device, t_value: float = 0.5) -> torch.Tensor:
    """The regression output, or the diffusion model's x_0 estimate at ``t_value`` from
    fixed noise (seed 0), clipped to [0, 1]."""
    lq = b.lq.to(device)
    if objective == "l1":
        return net(lq).clamp(0, 1)
    noise = torch.randn(b.face.shape, generator=torch.Generator().manual_seed(0)).to(device)
    t = torch.full((lq.shape[0],), t_value, device=device)
    a, s = (v[:, None, None, None] for v in alpha_sigma(t))
    x_t = a * to_residual(b.face.to(device), lq) + s * noise
    v = net(x_t, lq, t, b.identity.to(device))
    return from_residual(a * x_t - s * v, lq).clamp(0, 1)


def psnr_batch(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a - b) ** 2).mean((1, 2, 3)).clamp_min(1e-10)
    return float((10 * torch.log10(1.0 / mse)).mean())


def make_task(args: argparse.Namespace, train: fd.FaceSet, val: fd.FaceSet):
    def task(saved: dict | None) -> loop.Task:
        config: dict[str, Any] = saved or {
            "model": "frgd" if args.objective == "diffusion" else "frgd_l1",
            "objective": args.objective,
            "widths": [int(w) for w in args.widths.split(",")],
            "batch": args.batch, "lr": args.lr, "lr_min": args.lr_min, "seed": args.seed,
            "p_uncond": args.p_uncond,
            "prior": prior_config(args.prior) if args.prior and
            args.objective == "diffusion" else None,
            "loss": ("MSE on v (v-prediction, cosine schedule, residual over the "
                     "up-sampled LQ face)" if args.objective == "diffusion" else
                     "L1 between the predicted and the clean face")}
        objective = config["objective"]
        prior = load_prior(config.get("prior"))
        val_batch = with_prior(frgd_data.fixed_batch(val, VAL_STREAM, args.val_faces),
                               prior) if len(val) else None

        def loss(net, iteration, device):
            rng, generator = loop.rngs(config["seed"], TRAIN_STREAM, iteration)
            b = with_prior(frgd_data.batch(train, rng, config["batch"]), prior)
            if objective == "l1":
                return F.l1_loss(net(b.lq.to(device)), b.face.to(device)), {}
            return diffusion_loss(net, b, generator, config["p_uncond"], device), {}

        def validate(net, device):
            out = predicted_faces(net, objective, val_batch, device)
            score = psnr_batch(out, val_batch.face.to(device))
            return {"psnr": score, "lq_psnr": psnr_batch(val_batch.lq, val_batch.face),
                    "score": score}

        return loop.Task(config, build_net, loss, validate if val_batch is not None else None,
                         describe=f"{config['model']} widths {config['widths']}, "
                                  f"{len(train)} train faces, batch {config['batch']}")
    return task


def _load(args: argparse.Namespace) -> tuple[fd.FaceSet, fd.FaceSet]:
    root = loop.data_root(args)
    need = args.objective == "diffusion" and args.identity_source == "dlib"
    return (fd.load_faces("train", root, embeddings=need),
            fd.load_faces("val", root, args.val_faces, embeddings=need))


#: train(argv=None, *, quiet=False, data=None): run (or continue) a run; ``data`` (tests) =
#: (train, val) faces instead of UTKFace's.
train = loop.trainer(build_parser, _load, make_task)


def main(argv: list[str] | None = None) -> int:
    train(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
