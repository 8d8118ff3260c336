"""Export the face-enhance runs as shipped models with model cards: ``face-id`` (the
identity network), ``frgd-face`` (the FRGD diffusion U-Net) and ``frgd-l1`` (the same-size
L1 regression U-Net).

    python -m editor.training.export_face_enhance \
        [--face-id-run ~/.cache/restora/runs/face-id] [--frgd-run ~/.cache/restora/runs/frgd] \
        [--l1-run ~/.cache/restora/runs/frgd-l1] [--which last|best] [--agreement-faces 200]

The identity card carries the held-out agreement with dlib (:func:`identity_agreement`):
UTKFace has no identity labels, so on the ``test`` split each face is paired with its own
augmented/degraded copy (same person) and with two other faces (different people); dlib
and our network each decide "same person" by distance < 0.6 on the same pairs, and the card
reports how often the two decisions agree, each one's accuracy against the pair labels,
and the mean cosine of our vectors to dlib's (of the offsets from dlib's mean vector). The diffusion and L1 cards carry the recipe
and seconds per face; their quality is the benchmark's (``restora-cli bench face-enhance``).
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

from editor.core.imageio import atomic_write
from editor.engine.catalog import FACE_ENHANCE_LICENCE
from editor.engine.weights import save_weights, sha256_file
from editor.faces import SAME_PERSON_DISTANCE
from editor.nets.face_id import FaceIdNet
from editor.training import face_id_data as fd
from editor.training import recipe
from editor.training.face_train_loop import load_checkpoint
from editor.training.train_face_id import embed, to_tensor
from editor.training.train_frgd import build_net as build_frgd

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
EXPORTER = "editor.training.export_face_enhance"
AGREEMENT_STREAM = 0x46494147  # "FIAG"

MODELS = {
    "face-id": {"trainer": "editor.training.train_face_id", "architecture": "face_id",
                "description": "Identity network distilled from dlib's 128-D face embedding "
                               "(cosine + L2), on aligned UTKFace faces and their flipped, "
                               "shifted, blurred, down-scaled, noisy and JPEG'd copies"},
    "frgd-face": {"trainer": "editor.training.train_frgd", "architecture": "frgd_unet",
                  "description": "FRGD conditional diffusion U-Net (v-prediction on the "
                                 "residual over the up-sampled low-quality face; identity "
                                 "by FiLM with classifier-free dropout)"},
    "frgd-l1": {"trainer": "editor.training.train_frgd", "architecture":
                "frgd_regression_unet",
                "description": "Regression U-Net of the same size as frgd-face, trained "
                               "with L1 (the non-generative baseline)"},
}

DATA_NOTE = {
    "name": "UTKFace aligned crops, re-aligned by the face toolkit to the canonical 128 px "
            "frame (editor.training.face_id_data)",
    "path": "../shared/data/train/faces_utkface/images",
    "licence": "UTKFace: non-commercial research",
    "identity_targets": "dlib_face_recognition_resnet_model_v1 vectors of the original "
                        "crops (68 cached landmarks), cached in "
                        "~/.cache/restora/utkface_dlib_embeddings.npz",
    "split": "crc32(file name) % 20: 0 = test (5 % hold-out: cards, benchmark), 1 = val "
             "(training logs), 2-19 = train; never bench/",
}


def load_run(run_dir: Path, which: str = "last") -> tuple[torch.nn.Module, dict[str, Any]]:
    checkpoint = load_checkpoint(run_dir, which)
    config = checkpoint["config"]
    net = FaceIdNet(**config["arch"]) if config["model"] == "face_id" else build_frgd(config)
    net.load_state_dict(checkpoint["model"])
    return net.eval(), checkpoint


def arch_kwargs(net: torch.nn.Module) -> dict[str, Any]:
    if isinstance(net, FaceIdNet):
        return {"width": net.width, "input_size": net.input_size}
    prior = getattr(net, "prior", None)
    return {"widths": tuple(net.widths), **({"prior": prior} if prior else {})}


# -- identity agreement ------------------------------------------------------------------------

def identity_agreement(net: torch.nn.Module, faces: fd.FaceSet, log=print) -> dict[str, Any]:
    """Same-person decisions of ``net`` vs dlib's on held-out pairs (see the module doc)."""
    n = len(faces)
    clean = [f.astype(np.float32) / 255.0 for f in faces.images]
    # Degraded copies keep the geometry, so dlib can read them with the face's landmarks.
    copies = [fd.upscale(fd.degrade_face(c, fd.stream(AGREEMENT_STREAM, i), fd.ID_DEGRADE))
              for i, c in enumerate(clean)]
    dlib_clean, dlib_copy = [], []
    for i in range(n):
        marks = faces.landmarks[i]
        dlib_clean.append(fd.dlib_embedding(clean[i], marks))
        dlib_copy.append(fd.dlib_embedding(copies[i], marks))
        if log is not None and (i + 1) % 50 == 0:
            log(f"agreement: dlib on {i + 1}/{n} faces")
    ours_clean = embed(net, to_tensor(clean)).numpy()
    ours_copy = embed(net, to_tensor(copies)).numpy()
    pairs = []  # (kind a, index a, kind b, index b, same)
    for i in range(n):
        pairs.append(("clean", i, "copy", i, True))
        for k in (1, 2):
            pairs.append(("clean", i, "clean", (i + k) % n, False))
            pairs.append(("copy", i, "clean", (i + 3 * k) % n, False))
    table = {"dlib": {"clean": np.asarray(dlib_clean), "copy": np.asarray(dlib_copy)},
             "ours": {"clean": ours_clean, "copy": ours_copy}}
    decisions = {}
    for who, vecs in table.items():
        d = np.array([np.linalg.norm(vecs[ka][ia] - vecs[kb][ib]) for ka, ia, kb, ib, _ in pairs])
        decisions[who] = d < SAME_PERSON_DISTANCE
    same = np.array([p[4] for p in pairs])
    agree = decisions["ours"] == decisions["dlib"]

    centre = net.centre.cpu().numpy()

    def cos(a, b):   # of the offsets from dlib's mean (raw cosines of any faces are ~0.9)
        a, b = a - centre, b - centre
        return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1)
                                                  * np.linalg.norm(b, axis=1))))
    return {
        "faces": n, "pairs": len(pairs), "same_pairs": int(same.sum()),
        "different_pairs": int((~same).sum()),
        "agreement_with_dlib": round(float(agree.mean()), 4),
        "agreement_on_same_pairs": round(float(agree[same].mean()), 4),
        "agreement_on_different_pairs": round(float(agree[~same].mean()), 4),
        "ours_accuracy_vs_labels": round(float((decisions["ours"] == same).mean()), 4),
        "dlib_accuracy_vs_labels": round(float((decisions["dlib"] == same).mean()), 4),
        "mean_cosine_to_dlib_clean": round(cos(ours_clean, table["dlib"]["clean"]), 4),
        "mean_cosine_to_dlib_degraded": round(cos(ours_copy, table["dlib"]["copy"]), 4),
        "mean_distance_to_dlib_clean": round(float(np.mean(np.linalg.norm(
            ours_clean - table["dlib"]["clean"], axis=1))), 4),
        "copies": "face_id_data.degrade_face(ID_DEGRADE) then bicubic back to 128 px: "
                  "blur (p 0.4), x1-x6 down-scaling, noise (p 0.4), JPEG (p 0.4), seeded by "
                  "stream(AGREEMENT_STREAM, i); dlib reads each view with the face's "
                  "landmarks (no detection)",
    }


# -- speed --------------------------------------------------------------------------------

def seconds_per_face(net: torch.nn.Module, id_net: torch.nn.Module | None, identity: float,
                     steps: int, repeats: int = 3, prior: torch.nn.Module | None = None
                     ) -> dict[str, float]:
    """Median wall and CPU seconds of one x8 (16 px) face through the sampler, 2 threads."""
    from editor.nets.frgd_sampler import sample

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        lq = torch.rand(1, 3, 16, 16)
        ref = torch.randn(1, 128)
        walls, cpus = [], []
        for _ in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            sample(net, lq, ref, identity, 0, id_net=id_net, steps=steps, prior=prior)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        return {"wall_s": round(float(np.median(walls)), 3),
                "cpu_s": round(float(np.median(cpus)), 3)}
    finally:
        torch.set_num_threads(threads)


def export_one(model_id: str, run_dir: Path, which: str, models_dir: Path,
               extra: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    net, checkpoint = load_run(run_dir, which)
    info = MODELS[model_id]
    weights_path = models_dir / f"{model_id}.safetensors"
    sha = save_weights(net, weights_path)
    config = checkpoint["config"]
    card = {
        "id": model_id, "task": "face_enhance", "architecture": info["architecture"],
        "arch_kwargs": arch_kwargs(net), "description": info["description"],
        "weights": weights_path.name, "sha256": sha,
        "size_bytes": weights_path.stat().st_size,
        "params": sum(p.numel() for p in net.parameters()),
        "input": "float32 NCHW RGB in [0, 1]: aligned faces in the face toolkit's canonical "
                 "frame (align_face(..., padding=0)), 128 x 128",
        "licence": FACE_ENHANCE_LICENCE,
        "training": {
            "data": DATA_NOTE, "loss": config.get("loss"), "config": config,
            "iterations_of_these_weights": checkpoint["iteration"], "checkpoint": which,
            "commands": recipe.reproduction_commands(
                Path(run_dir).expanduser(), info["trainer"], EXPORTER, [],
                checkpoint["iteration"])[:-1] + [f"python -m {EXPORTER} (see its --help)"],
            "reproduce_note": "python -m editor.training.face_id_data first (caches the "
                              "landmarks and dlib embeddings). --stop-at marks where a "
                              "session was interrupted; it does not change the schedule.",
        },
        **extra,
        "notes": notes,
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    text = json.dumps(card, indent=2, default=str) + "\n"
    atomic_write(models_dir / f"{model_id}.json", lambda fh: fh.write(text.encode("utf-8")))
    assert sha256_file(weights_path) == sha
    return card


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {EXPORTER}", description=__doc__.split(
        "\n\n")[0])
    p.add_argument("--face-id-run", default=None)
    p.add_argument("--frgd-run", default=None)
    p.add_argument("--l1-run", default=None)
    p.add_argument("--which", choices=("last", "best"), default="last")
    p.add_argument("--face-id-which", choices=("last", "best"), default=None,
                   help="checkpoint of the identity run (default: --which)")
    p.add_argument("--models-dir", default=None)
    p.add_argument("--agreement-faces", type=int, default=200,
                   help="held-out faces for the identity agreement (the first by name)")
    p.add_argument("--note", action="append", default=[])
    args = p.parse_args(argv)
    models_dir = Path(args.models_dir) if args.models_dir else DEFAULT_MODELS_DIR
    torch.set_num_threads(2)
    id_net = None
    if args.face_id_run:
        net, _ = load_run(Path(args.face_id_run), args.face_id_which or args.which)
        faces = fd.load_faces("test", limit=args.agreement_faces)
        agreement = identity_agreement(net, faces)
        print(json.dumps(agreement, indent=2))
        card = export_one("face-id", Path(args.face_id_run), args.face_id_which or args.which,
                          models_dir,
                          {"heldout_agreement_with_dlib": agreement}, args.note)
        id_net = net
        print(card["id"], card["sha256"])
    for model_id, run in (("frgd-face", args.frgd_run), ("frgd-l1", args.l1_run)):
        if not run:
            continue
        extra: dict[str, Any] = {}
        if model_id == "frgd-face":
            from editor.training.train_frgd import load_prior

            net, checkpoint = load_run(Path(run), args.which)
            prior = load_prior(checkpoint["config"].get("prior"))
            extra["speed"] = {
                "x8_face_20_steps_2_threads": {
                    f"identity_{s}": seconds_per_face(net, id_net, s, 20, prior=prior)
                    for s in (0.0, 0.5, 1.0)},
                "measured": "editor.nets.frgd_sampler.sample on one 16 px input, median of 3, "
                            "at export time on a shared 2-core machine (wall clock depends "
                            "on the other jobs; cpu_s is this process's CPU time)"}
        card = export_one(model_id, Path(run), args.which, models_dir, extra, args.note)
        print(card["id"], card["sha256"], json.dumps(extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
