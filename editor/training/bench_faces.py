"""``restora-cli bench faces``: the face toolkit and Makeup-Go, measured in one run.

1. Detection: every image of ``bench/faces/hq_celeba`` and ``bench/faces/hq_ffhq`` (one
   face each) through :func:`editor.faces.detect_faces` (upright + ±25° passes): found or
   not, seconds per image, and the 68-point landmark time per face (the shape predictor
   alone, timed on the found box).
2. Makeup-Go on the held-out identities (``editor.training.makeup_data``'s ``test`` part,
   never trained or tuned on): synthetic beautifications of UTKFace faces (a fixed seed
   stream of the benchmark's own) and the real with/without-makeup pairs; PSNR / SSIM
   (RGB, 8-bit rounded outputs) of the input, the plain CNN (same trunk, plain L2 — the
   baseline the paper argues against) and ours (the CRN); and the dlib identity distance
   between each output and the un-made-up target next to the input's.
3. Paste-back seam on the HQ faces: the Remove-makeup path (align → CRN → paste back the
   change, colour-matched, under the least-visible-loop mask of
   :mod:`editor.faces.seam_mask`, its candidates judged in the photo), then
   :func:`editor.faces.seam_ratio` of the output on that mask's boundary (gradient energy
   on the 0.5 crossing / just inside); beside it the same with the fixed ellipse mask the
   paste-back used before.
4. Time per face on 2 CPU threads: align to a 256² crop, network, paste back; and the
   tool's own crop size.

Results go to ``models/RESULTS.md`` (section ``faces``) and ``models/results/faces.json``.
``--quick`` (tests) takes a few images of each part. No PySide6.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from editor.core.imageio import load_image
from editor.core.metrics import psnr, ssim
from editor.training.bench_common import json_safe, quantise
from editor.training.results import write_results

NAME = "faces"
TITLE = "Faces and Makeup-Go"
THREADS = 2
DETECTION_SETS = ("hq_celeba", "hq_ffhq")
IDENTITY_PAIRS = 150          # identity distances cost ~0.3 s per pair: a seeded subset

TARGET_DETECTION = 1.0
TARGET_SYNTH_GAIN_DB = 3.0
TARGET_OVER_PLAIN_DB = 0.5
TARGET_SEAM = 1.2
TARGET_FACE_SECONDS = 0.3
SPEED_CROP = 256


class DataMissing(RuntimeError):
    pass


def default_data_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def _images(folder: Path, limit: int | None) -> list[Path]:
    if not folder.is_dir():
        raise DataMissing(f"{folder} not found (the shared benchmark data)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return files[:limit] if limit else files


def _u8(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray((np.clip(image[..., :3], 0, 1) * 255 + 0.5).astype(np.uint8))


# -- 1. detection ---------------------------------------------------------------------------

def detection(root: Path, limit: int | None) -> dict[str, Any]:
    from editor.faces import default_backend, detect_faces

    backend = default_backend()
    out: dict[str, Any] = {}
    for name in DETECTION_SETS:
        rows = []
        for path in _images(root / "bench" / "faces" / name, limit):
            image, _ = load_image(path)
            t0 = time.perf_counter()
            scan = detect_faces(image)
            seconds = time.perf_counter() - t0
            marks = []
            for face in scan.faces:
                rgb = _u8(image)
                t1 = time.perf_counter()
                backend.landmarks(rgb, face.box)
                marks.append(time.perf_counter() - t1)
            rows.append({"file": path.name, "size": list(image.shape[:2]),
                         "faces": len(scan.faces), "too_small": len(scan.too_small),
                         "seconds": seconds, "landmark_seconds": marks})
        found = sum(1 for r in rows if r["faces"] >= 1)
        all_marks = [m for r in rows for m in r["landmark_seconds"]]
        out[name] = {"images": len(rows), "found": found,
                     "rate": found / len(rows) if rows else None,
                     "missed": [r["file"] for r in rows if r["faces"] == 0],
                     "extra_faces": sum(max(0, r["faces"] - 1) for r in rows),
                     "detect_seconds_mean": statistics.fmean(r["seconds"] for r in rows),
                     "landmark_ms_mean": 1000 * statistics.fmean(all_marks) if all_marks else None,
                     "rows": rows}
    return out


# -- 2. Makeup-Go on held-out faces --------------------------------------------------------

def _load(model_id: str):
    from editor.engine.registry import REGISTRY
    from editor.engine.weights import load_model

    return load_model(REGISTRY.get(model_id), "cpu")


def _run(net, image: np.ndarray) -> np.ndarray:
    from editor.tools.demakeup import run_network

    return quantise(run_network(net, image))


def _tool_output(image: np.ndarray) -> np.ndarray:
    """What Remove makeup gives a user for this photo (detect, align, network, paste back,
    the "Whole face" region as the layer mask, composited); a photo where it finds no
    usable face is left unchanged, as the tool leaves it."""
    from editor.tools.demakeup import NoFaceFound, demakeup_image

    try:
        result = demakeup_image(image, region="face")
    except NoFaceFound:
        return image
    return quantise(image + result.mask[..., None] * (result.image - image))


def _identity_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """dlib distance between the faces of two aligned 128² crops (None: a face not found)."""
    from editor.faces import detect_faces, face_distance

    faces = []
    for image in (a, b):
        scan = detect_faces(image, rotations=False, embeddings=True, min_size=8)
        if not scan.faces:
            return None
        faces.append(max(scan.faces, key=lambda f: f.size))
    return face_distance(faces[0], faces[1])


def makeup(root: Path, limit: int | None, models: dict) -> dict[str, Any]:
    """``models``: key -> a network (run alone on the crop) or a callable image -> output."""
    from editor.training.makeup_data import load_eval_set

    ev = load_eval_set("test", data_root=root / "train", synthetic_limit=limit)
    parts = {"synthetic": ev.synthetic, "real": ev.real if limit is None else ev.real[:limit]}
    out: dict[str, Any] = {}
    for part, pairs in parts.items():
        scores: dict[str, list[tuple[float, float]]] = {"input": [], **{k: [] for k in models}}
        identity: dict[str, list[float]] = {"input": [], **{k: [] for k in models}}
        rng = np.random.default_rng(7)
        id_pick = set(rng.permutation(len(pairs))[:IDENTITY_PAIRS if limit is None else 2])
        for i, (inp, target) in enumerate(pairs):
            outputs = {"input": inp, **{k: _run(net, inp) if isinstance(net, torch.nn.Module)
                                        else net(inp) for k, net in models.items()}}
            for k, img in outputs.items():
                scores[k].append((psnr(img, target), ssim(img, target)))
            if i in id_pick:
                dists = {k: _identity_distance(img, target) for k, img in outputs.items()}
                if all(d is not None for d in dists.values()):
                    for k, d in dists.items():
                        identity[k].append(d)
        out[part] = {"pairs": len(pairs),
                     "psnr": {k: statistics.fmean(s[0] for s in v) for k, v in scores.items()},
                     "ssim": {k: statistics.fmean(s[1] for s in v) for k, v in scores.items()},
                     "worse_than_input": {k: int(sum(a[0] < b[0] - 1e-9 for a, b in
                                                     zip(v, scores["input"])))
                                          for k, v in scores.items() if k != "input"},
                     "identity_pairs": len(identity["input"]),
                     "identity": {k: statistics.fmean(v) if v else None
                                  for k, v in identity.items()}}
    return out


# -- 3. seam and 4. speed -------------------------------------------------------------------

def seams(root: Path, limit: int | None, net) -> dict[str, Any]:
    from editor.faces import align_face, default_paste_mask, detect_faces, paste_back, seam_ratio
    from editor.tools.demakeup import PADDING, crop_size, paste_face, run_network

    rows = []
    for name in DETECTION_SETS:
        for path in _images(root / "bench" / "faces" / name, limit):
            image, _ = load_image(path)
            rgb = np.ascontiguousarray(image[..., :3])
            for face in detect_faces(rgb).faces:
                size = crop_size()
                crop, matrix = align_face(rgb, face, size=size, padding=PADDING)
                edited = run_network(net, crop)
                inverse = cv2.invertAffineTransform(matrix)

                def in_photo(mask_crop: np.ndarray) -> np.ndarray:
                    return cv2.warpAffine(mask_crop, inverse, rgb.shape[1::-1],
                                          flags=cv2.INTER_LINEAR, borderValue=0)

                out, loop = paste_face(rgb, crop, edited, matrix)     # as the tool pastes
                mask = in_photo(loop)
                ellipse = default_paste_mask(size)
                rows.append({"file": f"{name}/{path.name}", "seam_ratio": seam_ratio(out, mask),
                             "input_ratio": seam_ratio(rgb, mask),
                             "with_colour_match": seam_ratio(
                                 paste_back(rgb, crop, edited, matrix, mask_crop=loop), mask),
                             "ellipse_ratio": seam_ratio(
                                 paste_back(rgb, crop, edited, matrix, mask_crop=ellipse),
                                 in_photo(ellipse))})
    return seam_summary(rows)


def seam_summary(rows: list[dict]) -> dict[str, Any]:
    """The seam rows summarised. The issue's measure (boundary / inside gradient energy of
    the output) also sees the photo's own edges where the paste boundary crosses the jaw
    or the hair, so the same measure of the untouched photo on the same bands is kept
    beside it, and their ratio says what the paste-back itself added."""
    ratios = [r["seam_ratio"] for r in rows]
    added = [r["seam_ratio"] / r["input_ratio"] for r in rows if r["input_ratio"] > 0]
    return {"worst_added": max(added) if added else None,
            "over_target": sum(v > TARGET_SEAM for v in ratios),
            "input_over_target": sum(r["input_ratio"] > TARGET_SEAM for r in rows),
            "faces": len(rows), "median": statistics.median(ratios) if ratios else None,
            "worst": max(ratios) if ratios else None,
            "input_median": statistics.median(r["input_ratio"] for r in rows) if rows else None,
            "colour_match_worst": max((r["with_colour_match"] for r in rows
                                       if "with_colour_match" in r), default=None),
            "ellipse_worst": max((r["ellipse_ratio"] for r in rows if "ellipse_ratio" in r),
                                 default=None),
            "ellipse_over_target": sum(r.get("ellipse_ratio", 0) > TARGET_SEAM for r in rows),
            "rows": rows}


def speed(root: Path, net, repeats: int) -> dict[str, Any]:
    from editor.faces import align_face, detect_faces
    from editor.tools.demakeup import PADDING, crop_size, paste_face, run_network

    path = _images(root / "bench" / "faces" / "hq_ffhq", 1)[0]
    image, _ = load_image(path)
    rgb = np.ascontiguousarray(image[..., :3])
    face = detect_faces(rgb).faces[0]
    out: dict[str, Any] = {}
    for label, size in (("crop_256", SPEED_CROP), ("tool_crop", crop_size())):
        def one() -> None:
            crop, matrix = align_face(rgb, face, size=size, padding=PADDING)
            paste_face(rgb, crop, run_network(net, crop), matrix)
        one()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            one()
            times.append(time.perf_counter() - t0)
        out[label] = {"size": size, "median_seconds": statistics.median(times)}
    return out


# -- report -----------------------------------------------------------------------------------

def _f(v, fmt="{:.2f}") -> str:
    return "—" if v is None else fmt.format(v)


def report(data: dict) -> str:
    det, mk, seam, spd = data["detection"], data["makeup"], data["seam"], data["speed"]
    lines = ["### Detection (upright + ±25° passes, one face per image)", "",
             "| set | images | found | detect s/image | landmarks ms/face |", "|---|---|---|---|---|"]
    for name, d in det.items():
        lines.append(f"| {name} | {d['images']} | {d['found']} | {_f(d['detect_seconds_mean'])} "
                     f"| {_f(d['landmark_ms_mean'], '{:.1f}')} |")
    lines += ["", "### Makeup-Go on held-out identities (PSNR dB / SSIM, RGB; identity = dlib "
              "distance to the un-made-up target, lower is better)", "",
              "| part | pairs | input | plain CNN | ours (CRN) | Remove makeup tool "
              "| identity input / plain / ours / tool |",
              "|---|---|---|---|---|---|---|"]
    keys = ("input", "plain", "crn", "tool")
    for part, m in mk.items():
        cells = [f"{_f(m['psnr'][k])} / {_f(m['ssim'][k], '{:.3f}')}" if k in m["psnr"] else "—"
                 for k in keys]
        ident = " / ".join(_f(m["identity"].get(k), "{:.3f}") for k in keys)
        lines.append(f"| {part} | {m['pairs']} | {' | '.join(cells)} | {ident} "
                     f"(n={m['identity_pairs']}) |")
    lines += ["", "Ours (CRN): the network alone on the aligned crop. Remove makeup tool: "
              "what a user gets from the same weights on the same crop (face detection, "
              "alignment to the network's frame with margins, network, paste-back of the "
              "change under the least-visible-loop mask without colour matching, then the "
              "Whole face region as the layer mask); a crop where no usable face is found "
              "is left unchanged. The targets below are judged on ours (CRN).",
              "", f"Seam (paste-back under the least-visible-loop mask, {seam['faces']} HQ "
              f"faces): median {_f(seam['median'])}, worst {_f(seam['worst'])} (the untouched "
              f"photos on the same bands: median {_f(seam['input_median'])}; with colour "
              f"matching, used before, the worst is {_f(seam.get('colour_match_worst'))}; "
              f"with the fixed ellipse mask used before, worst {_f(seam.get('ellipse_worst'))}, "
              f"{seam.get('ellipse_over_target', '—')} faces above {TARGET_SEAM:g}).", "",
              f"Time per face, {THREADS} threads (align + network + paste back): 256² crop "
              f"{_f(spd['crop_256']['median_seconds'], '{:.3f}')} s; the tool's "
              f"{spd['tool_crop']['size']}² crop {_f(spd['tool_crop']['median_seconds'], '{:.3f}')} s.",
              "", "### Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    for t in data["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {t['verdict']} |")
    return "\n".join(lines)


def targets(data: dict) -> list[dict]:
    out = []

    def add(target: str, measured: str, ok: bool | None) -> None:
        out.append({"target": target, "measured": measured,
                    "verdict": "not measured" if ok is None else ("PASS" if ok else "MISSED")})

    det = data["detection"]
    found = sum(d["found"] for d in det.values())
    total = sum(d["images"] for d in det.values())
    add("every HQ face found", f"{found}/{total}", found == total)
    mk = data["makeup"]
    s = mk["synthetic"]["psnr"]
    if "crn" in s:
        add("synthetic: ours ≥ input + 3 dB", f"{s['crn'] - s['input']:+.2f} dB",
            s["crn"] - s["input"] >= TARGET_SYNTH_GAIN_DB)
    if "crn" in s and "plain" in s:
        add("synthetic: ours ≥ plain CNN + 0.5 dB", f"{s['crn'] - s['plain']:+.2f} dB",
            s["crn"] - s["plain"] >= TARGET_OVER_PLAIN_DB)
    r = mk["real"]["psnr"]
    if "crn" in r and "plain" in r:
        add("real pairs: ours ≥ plain CNN (PSNR)", f"{r['crn']:.2f} vs {r['plain']:.2f} dB",
            r["crn"] >= r["plain"])
    for part in ("synthetic", "real"):
        ident = mk[part]["identity"]
        if ident.get("crn") is not None:
            add(f"{part}: identity distance ours ≤ input's",
                f"{ident['crn']:.3f} vs {ident['input']:.3f}", ident["crn"] <= ident["input"])
    seam = data["seam"]
    add("paste-back seam ≤ 1.2 (every face; output alone)",
        f"worst {_f(seam['worst'])}; {seam['over_target']}/{seam['faces']} faces above 1.2, "
        f"the untouched photo is above 1.2 on the same bands for "
        f"{seam['input_over_target']} of them", None if seam["worst"] is None
        else seam["worst"] <= TARGET_SEAM)
    add("seam added by the paste-back (output / untouched photo) ≤ 1.2",
        f"worst {_f(seam['worst_added'], '{:.3f}')}", None if seam["worst_added"] is None
        else seam["worst_added"] <= TARGET_SEAM)
    t = data["speed"]["crop_256"]["median_seconds"]
    add("≤ 0.3 s per face (256² crop, 2 threads)", f"{t:.3f} s", t <= TARGET_FACE_SECONDS)
    return out


def rerender(out: Path | None) -> dict:
    """Rebuild the derived summaries, targets and table from the recorded raw numbers of
    the last run (``results/faces.json``): no new measurement, so the table stays one
    run's; used when a summary or target row is added after a long run."""
    import json

    from editor.engine.registry import models_dir

    folder = Path(out) if out is not None else Path(models_dir())
    data = json.loads((folder / "results" / f"{NAME}.json").read_text())["data"]
    data["seam"] = seam_summary(data["seam"]["rows"])
    data["targets"] = targets(data)
    markdown = report(data)
    write_results(NAME, TITLE, markdown, json_safe(data), out)
    data["markdown"] = markdown
    return data


def run(root: Path, quick: bool, out: Path | None) -> dict:
    torch.set_num_threads(THREADS)
    t0 = time.perf_counter()
    limit = 2 if quick else None
    models = {}
    errors = []
    for key, model_id in (("plain", "makeup-plain"), ("crn", "makeup-go")):
        try:
            models[key] = _load(model_id)
        except Exception as e:  # noqa: BLE001 - a missing model is a row, not a crash
            errors.append(f"{model_id}: {e}")
    if "crn" in models:
        models["tool"] = _tool_output     # the registry's makeup-go, through the tool
    data: dict[str, Any] = {"detection": detection(root, limit)}
    data["makeup"] = makeup(root, limit, models)
    net = models.get("crn")
    if net is None:
        raise DataMissing("makeup-go weights are missing: " + "; ".join(errors))
    data["seam"] = seams(root, 1 if quick else None, net)
    data["speed"] = speed(root, net, 3 if quick else 7)
    data["targets"] = targets(data)
    data["errors"] = errors
    data["total_seconds"] = time.perf_counter() - t0
    markdown = report(data)
    write_results(NAME, TITLE, markdown, json_safe(data), out)
    data["markdown"] = markdown
    return data


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="restora-cli bench faces",
        description="Face detection rate and landmark time on the HQ faces, Makeup-Go vs a "
                    "plain CNN on held-out faces (PSNR/SSIM/identity), paste-back seams, "
                    "time per face. Writes models/RESULTS.md and models/results/faces.json.")
    parser.add_argument("--quick", action="store_true", help="a few images per part (tests)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR")
    parser.add_argument("--rerender", action="store_true",
                        help="rebuild the table from the last run's results/faces.json "
                             "(no new measurement)")
    try:
        ns = parser.parse_args(args)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    root = ns.data if ns.data is not None else default_data_dir()
    try:
        data = rerender(ns.out) if ns.rerender else run(root, ns.quick, ns.out)
    except DataMissing as e:
        print(f"restora-cli bench faces: {e}", file=sys.stderr)
        return 2
    print(f"## {TITLE}\n\n{data['markdown']}\n\n({data.get('total_seconds', 0):.0f} s in all)")
    return 0
