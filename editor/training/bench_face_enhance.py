"""``restora-cli bench face-enhance``: FRGD against its baselines, in one run.

1. Held-out UTKFace faces (``face_id_data``'s ``test`` split, the first ``--faces`` by
   name; never trained or tuned on), aligned to the 128 px frame, degraded to 32 x 32
   (x4) and 16 x 16 (x8) with seeded blur, noise and JPEG (BENCH_STREAM). Methods:
   bicubic; ``sr-quality-x4`` (at x8: x4 on the 16 px face, then bicubic x2 to 128);
   ``frgd-l1`` (the same-size L1 regression U-Net); FRGD (``frgd-face`` + ``face-id``,
   20 DDIM steps; a model with a ``prior`` refines frgd-l1's restoration, as the tool
   does) at identity 0, 0.5 and 1 with the ground truth's mirror image as the reference
   (its dlib vector, from mirrored landmarks), seed = face index.
   Measured: PSNR / SSIM (RGB, 8-bit rounded) and dlib identity distance to the ground
   truth (dlib reads every output with the ground truth's landmarks: no detection, so a
   blurred output is measured where the face is), and the distance to the reference.
2. Changing identity (x8): FRGD at identity 1 with ANOTHER held-out face's mirror as the
   reference; the distance of the output to that person, against the same face sampled
   with its own reference.
3. Seconds per face (FRGD, x8, identity 0.5 and 1) on 2 CPU threads, wall and CPU.
4. A contact sheet on ``bench/faces/lq_real_aligned`` (no ground truth): per face found,
   input | bicubic | SR | L1 | FRGD at 0, 0.5, 1 | FRGD at 0.5 with 3 more seeds, saved as
   ``models/face_enhance_contact_sheet.png``.

Results: ``models/RESULTS.md`` (section ``face-enhance``) and
``models/results/face-enhance.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from editor.core.metrics import psnr, ssim
from editor.training import face_id_data as fd
from editor.training.bench_common import json_safe, quantise
from editor.training.results import markdown_table, write_results

NAME = "face-enhance"
TITLE = "Face enhance (FRGD)"
THREADS = 2
STEPS = 20
SLIDER = (0.0, 0.5, 1.0)
BENCH_STREAM = 0x46524243  # "FRBC"
TARGET_X8_DISTANCE = 0.5
TARGET_SECONDS = 10.0
BENCH_DEGRADE = {4: fd.FaceDegrade(scale_range=(4.0, 4.0), p_blur=1.0, p_noise=1.0,
                                   p_jpeg=1.0, jpeg_quality_range=(50, 90)),
                 8: fd.FaceDegrade(scale_range=(8.0, 8.0), p_blur=1.0, p_noise=1.0,
                                   p_jpeg=1.0, jpeg_quality_range=(50, 90))}
#: iBUG-68 index of each point's mirror partner (a face flipped left-right).
MIRROR_68 = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])


def mirror(face: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face flipped left-right and its landmarks, in iBUG order again."""
    width = face.shape[1]
    flipped = np.ascontiguousarray(face[:, ::-1])
    marks = landmarks.copy()
    marks[:, 0] = width - 1 - marks[:, 0]
    return flipped, marks[MIRROR_68]


def _t(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))[None].copy())


def _np(x: torch.Tensor) -> np.ndarray:
    return x[0].clamp(0, 1).permute(1, 2, 0).float().numpy()


def load_models(frgd: str = "frgd-face", l1: str = "frgd-l1", face_id: str = "face-id"
                ) -> dict[str, torch.nn.Module]:
    from editor.engine.registry import REGISTRY
    from editor.engine.weights import load_model

    return {key: load_model(REGISTRY.get(model_id), device="cpu")
            for key, model_id in (("frgd", frgd), ("l1", l1), ("id", face_id),
                                  ("sr", "sr-quality-x4"))}


def prior_of(models: dict) -> torch.nn.Module | None:
    """The regression stage FRGD refines: the benchmark's own L1 U-Net (frgd-l1), the
    same model the tool loads for it."""
    wanted = getattr(models["frgd"], "prior", None)
    if wanted is None:
        return None
    if wanted != "frgd-l1":
        raise ValueError(f"FRGD refines {wanted!r}; the benchmark has frgd-l1")
    return models["l1"]


def baselines(models: dict, lq: np.ndarray) -> dict[str, np.ndarray]:
    """Bicubic, SR (x4; at x8 x4 then bicubic x2) and the L1 U-Net, each 128 px."""
    side = fd.SIZE
    bicubic = fd.upscale(lq, side)
    with torch.no_grad():
        sr = _np(models["sr"](_t(lq)))
        l1 = _np(models["l1"](_t(bicubic)))
    return {"bicubic": bicubic, "sr-quality-x4": fd.upscale(sr, side), "frgd-l1": l1}


def frgd(models: dict, lq: np.ndarray, reference: np.ndarray | None, identity: float,
         seed: int) -> np.ndarray:
    from editor.nets.frgd_sampler import sample

    ref = None if reference is None else torch.from_numpy(reference[None].astype(np.float32))
    return _np(sample(models["frgd"], _t(lq), ref, identity, seed, id_net=models["id"],
                      steps=STEPS, prior=prior_of(models)))


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def heldout(models: dict, faces: fd.FaceSet, log) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    n = len(faces)
    mirrors = [fd.dlib_embedding(*mirror(faces.images[i], faces.landmarks[i])) for i in range(n)]
    for i in range(n):
        gt = faces.images[i].astype(np.float32) / 255.0
        marks = faces.landmarks[i]
        gt_vec = fd.dlib_embedding(gt, marks)
        for scale in (4, 8):
            lq = fd.degrade_face(gt, fd.stream(BENCH_STREAM, scale, i), BENCH_DEGRADE[scale])
            outputs = baselines(models, lq)
            for s in SLIDER:
                outputs[f"frgd@{s:g}"] = frgd(models, lq, mirrors[i], s, seed=i)
            if scale == 8:
                other = (i + 1) % n
                outputs["frgd@1 other-ref"] = frgd(models, lq, mirrors[other], 1.0, seed=i)
            for method, out in outputs.items():
                out = quantise(out)
                vec = fd.dlib_embedding(out, marks)
                row = {"face": faces.names[i], "scale": scale, "method": method,
                       "psnr": psnr(out, gt), "ssim": ssim(out, gt),
                       "identity_distance": _distance(vec, gt_vec),
                       "distance_to_reference": _distance(vec, mirrors[i])}
                if scale == 8:
                    row["distance_to_other"] = _distance(vec, mirrors[(i + 1) % n])
                rows.append(row)
        log(f"face {i + 1}/{n}")
    return {"faces": n, "rows": rows}


def summarise(rows: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for scale in (4, 8):
        table: dict[str, dict[str, float]] = {}
        for method in dict.fromkeys(r["method"] for r in rows if r["scale"] == scale):
            picked = [r for r in rows if r["scale"] == scale and r["method"] == method]
            table[method] = {k: float(np.mean([r[k] for r in picked]))
                             for k in picked[0] if k not in ("face", "scale", "method")}
        out[f"x{scale}"] = table
    return out


def speed(models: dict, repeats: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    lq = rng.random((16, 16, 3)).astype(np.float32)
    ref = rng.standard_normal(128).astype(np.float32)
    out = {}
    for s in (0.5, 1.0):
        walls, cpus = [], []
        for r in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            frgd(models, lq, ref, s, seed=r)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        out[f"identity_{s:g}"] = {"wall_s": float(np.median(walls)),
                                  "cpu_s": float(np.median(cpus))}
    return out


def contact_sheet(models: dict, folder: Path, path: Path, limit: int, log) -> dict[str, Any]:
    """One row per face found in ``folder`` (see the module doc); faces dlib cannot find
    are listed as skipped."""
    from editor.core.imageio import load_image
    from editor.faces import detect_faces

    rows, used, skipped = [], [], []
    for file in sorted(folder.glob("*.png"))[:limit]:
        image, _ = load_image(file)
        scan = detect_faces(image[..., :3], embeddings=True)
        if not scan.faces:
            skipped.append(file.name)
            continue
        face = max(scan.faces, key=lambda f: f.size)
        crop, _ = fd.aligned_crop(np.round(image[..., :3] * 255).astype(np.uint8),
                                  face.landmarks)
        frame = crop.astype(np.float32) / 255.0
        lq = cv2.resize(frame, (32, 32), interpolation=cv2.INTER_AREA)
        cells = [frame, *baselines(models, lq).values()]
        cells += [frgd(models, lq, face.embedding, s, seed=0) for s in SLIDER]
        cells += [frgd(models, lq, face.embedding, 0.5, seed=k) for k in (1, 2, 3)]
        rows.append(np.concatenate(cells, axis=1))
        used.append(file.name)
        log(f"contact sheet: {file.name}")
    if rows:
        sheet = np.concatenate(rows, axis=0)
        bgr = cv2.cvtColor(np.round(sheet * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), bgr)
    return {"file": path.name, "faces": used, "skipped_no_face": skipped,
            "columns": ["input (aligned 128 px frame)", "bicubic from 32 px",
                        "sr-quality-x4", "frgd-l1", "FRGD identity 0", "FRGD 0.5",
                        "FRGD 1", "FRGD 0.5 seed 1", "seed 2", "seed 3"],
            "input_note": "the aligned frame area-reduced to 32 px is the low-quality input "
                          "(x4); reference = the face's own dlib vector"}


def targets(summary: dict, extra: dict) -> list[dict[str, Any]]:
    x8 = summary["x8"]
    frgd1 = x8["frgd@1"]["identity_distance"]
    base = {m: x8[m]["identity_distance"] for m in ("bicubic", "sr-quality-x4", "frgd-l1")}
    ref = [x8[f"frgd@{s:g}"]["distance_to_reference"] for s in SLIDER]
    other, own = x8["frgd@1 other-ref"]["distance_to_other"], x8["frgd@1"]["distance_to_other"]
    sec = max(v["wall_s"] for v in extra["speed"].values())
    cpu = max(v["cpu_s"] for v in extra["speed"].values())
    return [
        {"target": "x8: FRGD@1 mean identity distance below every baseline",
         "value": f"{frgd1:.3f} vs " + ", ".join(f"{k} {v:.3f}" for k, v in base.items()),
         "met": all(frgd1 < v for v in base.values())},
        {"target": "x8: FRGD@1 mean identity distance <= 0.5", "value": f"{frgd1:.3f}",
         "met": frgd1 <= TARGET_X8_DISTANCE},
        {"target": "x8: distance to the reference falls monotonically, identity 0 -> 0.5 -> 1",
         "value": " -> ".join(f"{v:.3f}" for v in ref),
         "met": ref[0] > ref[1] > ref[2]},
        {"target": "x8: with another person's reference the output moves toward that person",
         "value": f"distance to that person {other:.3f} (own reference: {own:.3f}); closer "
                  f"for {extra['moved_toward_other']:.0%} of faces",
         "met": other < own},
        {"target": f"<= {TARGET_SECONDS:g} s per face on 2 CPU threads",
         "value": f"{sec:.2f} s wall ({cpu:.2f} s CPU) at {STEPS} steps", "met": sec <= TARGET_SECONDS},
    ]


def report(data: dict) -> str:
    parts = [f"{data['heldout']['faces']} held-out UTKFace faces (test split), 128 px "
             f"ground truth, degraded to 32 px (x4) and 16 px (x8) with seeded blur, noise "
             f"and JPEG; FRGD {STEPS} DDIM steps, reference = the ground truth's mirror "
             "image. Identity distance = dlib distance to the ground truth (same person "
             "< 0.6)." + (f" **Reduced run: {data['heldout']['faces']} faces instead of 64.**"
                          if data["heldout"]["faces"] < 64 else "")]
    for scale, table in data["summary"].items():
        rows = [[m, f"{v['psnr']:.2f}", f"{v['ssim']:.4f}", f"{v['identity_distance']:.3f}",
                 f"{v['distance_to_reference']:.3f}"] for m, v in table.items()]
        parts.append(f"**{scale}**\n\n" + markdown_table(
            ["method", "PSNR (dB)", "SSIM", "identity distance to GT",
             "distance to reference"], rows))
    parts.append("Speed (x8, one face, 2 threads): " + ", ".join(
        f"{k}: {v['wall_s']:.2f} s wall / {v['cpu_s']:.2f} s CPU"
        for k, v in data["speed"].items()))
    parts.append(markdown_table(["target", "measured", "met"], [
        [t["target"], t["value"], "yes" if t["met"] else "**no**"] for t in data["targets"]]))
    sheet = data.get("contact_sheet")
    if sheet:
        parts.append(f"Contact sheet `{sheet['file']}` ({len(sheet['faces'])} faces of "
                     f"bench/faces/lq_real_aligned; columns: {', '.join(sheet['columns'])}).")
    return "\n\n".join(parts)


def default_data_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="restora-cli bench face-enhance",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=64, help="held-out faces (default 64)")
    parser.add_argument("--sheet-faces", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="models folder for RESULTS.md and the sheet (default: models/)")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR")
    ns = parser.parse_args(args)
    data_dir = ns.data or default_data_dir()
    if not (data_dir / "train" / "faces_utkface").is_dir():
        print(f"bench face-enhance: no data at {data_dir}", file=sys.stderr)
        return 1
    torch.set_num_threads(THREADS)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    models = load_models()
    faces = fd.load_faces("test", data_dir / "train", limit=ns.faces, log=log)
    held = heldout(models, faces, log)
    summary = summarise(held["rows"])
    other = [r for r in held["rows"] if r["method"] == "frgd@1 other-ref"]
    own = {r["face"]: r for r in held["rows"] if r["scale"] == 8 and r["method"] == "frgd@1"}
    moved = float(np.mean([r["distance_to_other"] < own[r["face"]]["distance_to_other"]
                           for r in other]))
    data = {"heldout": held, "summary": summary, "moved_toward_other": moved,
            "speed": speed(models), "steps": STEPS, "threads": THREADS}
    out_dir = ns.out
    sheet_path = (out_dir or Path(__file__).resolve().parents[2] / "models") / \
        "face_enhance_contact_sheet.png"
    data["contact_sheet"] = contact_sheet(models, data_dir / "bench" / "faces" /
                                          "lq_real_aligned", sheet_path, ns.sheet_faces, log)
    data["targets"] = targets(summary, data)
    markdown = report(data)
    write_results(NAME, TITLE, markdown, json_safe(data), out_dir)
    print(markdown)
    return 0
