"""Choose FRGD's slider mapping (:func:`editor.nets.frgd_sampler.guidance_for`) on ``val``
faces, never the benchmark's ``test`` faces.

A candidate is (cfg at 1, identity step at 1, content at 1); the slider ``s`` scales it as
the shipped mapping does (cfg and identity step grow linearly from 0, content falls
linearly from :data:`~editor.nets.frgd_sampler.CONTENT_MAX`). Each candidate restores the
first ``--faces`` ``val`` faces, degraded to 16 px exactly as the benchmark's x8 (its
degradation, but this module's own random stream), with the ground truth's mirror image as
the reference, and is scored by dlib: the mean identity distance to the ground truth at
``s = 1``, and whether the distance to the reference falls from ``s = 0`` to 0.5 to 1
(the issue's monotonic slider). Bicubic and the L1 U-Net are printed beside them.

    python -m editor.training.frgd_guidance --faces 24 \\
        --candidate 2,0.02,0.4 --candidate 2,0.05,0.4 [--face-id RUN_DIR] [--frgd RUN_DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from editor.training import face_id_data as fd
from editor.training.bench_common import quantise

#: Not the benchmark's BENCH_STREAM: the same kind of degradation, other draws.
VAL_STREAM = 0x56414C38  # "VAL8"
SLIDER = (0.0, 0.5, 1.0)


def scaled(candidate: tuple[float, float, float], s: float):
    """The candidate's Guidance at slider ``s`` (the shipped mapping's shape)."""
    from editor.nets.frgd_sampler import CONTENT_MAX, Guidance

    cfg, step, content = candidate
    return Guidance(cfg=cfg * s, identity_step=step * s,
                    content=CONTENT_MAX - (CONTENT_MAX - content) * s)


def evaluate(models: dict, faces: fd.FaceSet, candidates: list[tuple[float, float, float]],
             steps: int, log=print) -> dict[str, Any]:
    from editor.nets.frgd_sampler import sample
    from editor.training import bench_face_enhance as bench

    def distance(a, b):
        return float(np.linalg.norm(a - b))

    prior = bench.prior_of(models)
    base: dict[str, list[float]] = {}
    runs: dict[tuple, dict[float, list[tuple[float, float]]]] = {c: {} for c in candidates}
    for i in range(len(faces)):
        gt = faces.images[i].astype(np.float32) / 255.0
        marks = faces.landmarks[i]
        gt_vec = fd.dlib_embedding(gt, marks)
        ref = fd.dlib_embedding(*bench.mirror(faces.images[i], marks))
        lq = fd.degrade_face(gt, fd.stream(VAL_STREAM, 8, i), bench.BENCH_DEGRADE[8])
        for name, out in bench.baselines(models, lq).items():
            base.setdefault(name, []).append(distance(fd.dlib_embedding(quantise(out), marks),
                                                      gt_vec))
        reference = torch.from_numpy(ref[None].astype(np.float32))
        for c in candidates:
            for s in SLIDER:
                out = bench._np(sample(models["frgd"], bench._t(lq), reference, s, seed=i,
                                       id_net=models["id"], steps=steps,
                                       guidance=scaled(c, s), prior=prior))
                vec = fd.dlib_embedding(quantise(out), marks)
                runs[c].setdefault(s, []).append((distance(vec, gt_vec), distance(vec, ref)))
        log(f"face {i + 1}/{len(faces)}")
    result: dict[str, Any] = {"faces": len(faces), "baselines": {
        k: float(np.mean(v)) for k, v in base.items()}, "candidates": []}
    for c in candidates:
        to_gt = {s: float(np.mean([d for d, _ in runs[c][s]])) for s in SLIDER}
        to_ref = [float(np.mean([r for _, r in runs[c][s]])) for s in SLIDER]
        result["candidates"].append({
            "cfg": c[0], "identity_step": c[1], "content": c[2],
            "distance_to_gt": to_gt, "distance_to_reference": to_ref,
            "monotonic": bool(to_ref[0] > to_ref[1] > to_ref[2])})
    return result


def parse_candidate(text: str) -> tuple[float, float, float]:
    parts = [float(v) for v in text.split(",")]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected cfg,identity_step,content, got {text!r}")
    return parts[0], parts[1], parts[2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m editor.training.frgd_guidance",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--faces", type=int, default=24, help="val faces (the first by name)")
    p.add_argument("--candidate", type=parse_candidate, action="append", required=True,
                   help="cfg,identity_step,content at slider 1 (repeatable)")
    p.add_argument("--face-id", default=None,
                   help="identity network: a train_face_id run folder (its best.pt); "
                        "default the shipped face-id")
    p.add_argument("--frgd", default=None,
                   help="diffusion model: a train_frgd run folder (its last.pt); default "
                        "the shipped frgd-face")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from editor.training import bench_face_enhance as bench
    from editor.training.export_face_enhance import load_run

    models = bench.load_models()
    if args.face_id:
        models["id"], _ = load_run(Path(args.face_id).expanduser(), "best")
    if args.frgd:
        models["frgd"], _ = load_run(Path(args.frgd).expanduser(), "last")
    faces = fd.load_faces("val", args.data, limit=args.faces, log=None)
    result = evaluate(models, faces, args.candidate, args.steps,
                      log=lambda m: print(m, file=sys.stderr))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
