"""Train the identity network (:class:`editor.nets.face_id.FaceIdNet`): distil dlib's
128-D face embedding into a small CNN, on UTKFace's aligned crops and their augmentations.

    python -m editor.training.train_face_id --run-dir ~/.cache/restora/runs/face-id \
        --iters 3000 --threads 1 [--resume] [--stop-at N]

Loss: (1 - cosine of the offsets from dlib's mean vector) + l2_weight x squared distance
to dlib's vector of the clean face (:func:`editor.nets.face_id.distillation_loss`; the
mean over the training faces is the network's ``centre``). Each view is flipped, shifted/zoomed/rolled
a little, and (p = ``--p-degrade``) blurred, down-scaled (x1-x6), noised and JPEG'd
(:func:`editor.training.face_id_data.augment`), so the network keeps its answer on the
degraded faces FRGD starts from and the half-formed faces it predicts. Batches are seeded
by (seed, iteration); validation: mean cosine to dlib on 200 ``val`` faces, clean and
degraded (fixed seed).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
import torch

from editor.nets.face_id import FaceIdNet, centred_cosine, distillation_loss
from editor.training import face_id_data as fd
from editor.training import face_train_loop as loop

TRAIN_STREAM = 0x46494454  # "FIDT"
VAL_STREAM = 0x46494456    # "FIDV"
DEFAULT_ARCH = {"width": 16, "input_size": 64}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m editor.training.train_face_id",
                                description="Distil dlib's face embedding into a small CNN.")
    loop.add_common_arguments(p, batch=64, lr=2e-3)
    p.add_argument("--width", type=int, default=DEFAULT_ARCH["width"])
    p.add_argument("--input-size", type=int, default=DEFAULT_ARCH["input_size"])
    p.add_argument("--l2-weight", type=float, default=1.0)
    p.add_argument("--p-degrade", type=float, default=0.7)
    p.add_argument("--val-faces", type=int, default=200)
    return p


def to_tensor(images: list[np.ndarray] | np.ndarray) -> torch.Tensor:
    """HWC float32 RGB images -> NCHW tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2)))


def validation_views(faces: fd.FaceSet) -> tuple[torch.Tensor, torch.Tensor]:
    """(clean, degraded) views of ``faces``; the degradations from VAL_STREAM."""
    clean = [f.astype(np.float32) / 255.0 for f in faces.images]
    degraded = [fd.augment(f, fd.stream(VAL_STREAM, i), p_degrade=1.0)
                for i, f in enumerate(faces.images)]
    return to_tensor(clean), to_tensor(degraded)


@torch.no_grad()
def embed(net: torch.nn.Module, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    device = next(net.parameters()).device
    return torch.cat([net(x[i:i + batch].to(device)).cpu() for i in range(0, len(x), batch)])


def make_task(args: argparse.Namespace, train: fd.FaceSet, val: fd.FaceSet
              ) -> "callable":
    def task(saved: dict | None) -> loop.Task:
        config: dict[str, Any] = saved or {
            "model": "face_id", "arch": {"width": args.width, "input_size": args.input_size},
            "batch": args.batch, "lr": args.lr, "lr_min": args.lr_min, "seed": args.seed,
            "l2_weight": args.l2_weight, "p_degrade": args.p_degrade,
            "loss": "(1 - cosine of the offsets from dlib's mean) + l2_weight x squared L2 to "
                    "dlib's embedding"}
        targets = torch.from_numpy(train.embeddings)
        centre = targets.mean(0) if saved is None else None
        val_clean, val_degraded = validation_views(val)
        val_targets = torch.from_numpy(val.embeddings)

        def loss(net, iteration, device):
            rng, _ = loop.rngs(config["seed"], TRAIN_STREAM, iteration)
            index = rng.integers(0, len(train), config["batch"])
            x = to_tensor([fd.augment(train.images[i], rng, config["p_degrade"])
                           for i in index]).to(device)
            return distillation_loss(net(x), targets[index].to(device), config["l2_weight"],
                                     net.centre)

        def validate(net, device):
            scores = {}
            for kind, views in (("clean", val_clean), ("degraded", val_degraded)):
                pred = embed(net, views)
                scores[f"{kind}_cosine"] = float(centred_cosine(
                    pred, val_targets, net.centre.cpu()).mean())
                scores[f"{kind}_distance"] = float((pred - val_targets).norm(dim=1).mean())
            scores["score"] = 0.5 * (scores["clean_cosine"] + scores["degraded_cosine"])
            return scores

        def build(c):
            net = FaceIdNet(**c["arch"])
            if centre is not None:   # a fresh run: dlib's mean over the training faces
                net.centre.copy_(centre)
            return net

        return loop.Task(config, build, loss,
                         validate if len(val) else None,
                         describe=f"face_id {config['arch']}, {len(train)} train faces, "
                                  f"{len(val)} val, batch {config['batch']}")
    return task


def _load(args: argparse.Namespace) -> tuple[fd.FaceSet, fd.FaceSet]:
    root = loop.data_root(args)
    return fd.load_faces("train", root), fd.load_faces("val", root, args.val_faces)


#: train(argv=None, *, quiet=False, data=None): run (or continue) a run; ``data`` (tests) =
#: (train, val) faces instead of UTKFace's.
train = loop.trainer(build_parser, _load, make_task)


def main(argv: list[str] | None = None) -> int:
    train(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
