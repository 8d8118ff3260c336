"""Export the Facelet-Bank runs as shipped models, weights + model cards, measured on the
held-out faces (the 5 % crc32 hold-out of :mod:`editor.training.facelet_data`).

    python -m editor.training.export_facelet autoencoder --run-dir ~/.cache/restora/runs/face-ae
    python -m editor.training.export_facelet facelet --run-dir ~/.cache/restora/runs/facelet-older

``autoencoder`` writes ``models/face-autoencoder.safetensors`` + ``.json``: architecture,
parameters, size, held-out reconstruction PSNR (every held-out face, 8-bit rounded, RGB;
target >= 30 dB), the heads' age MAE and gender accuracy, speed on 2 CPU threads (encode
once per face, and the slider step: facelet + decode of a 192 px crop), the commands.

``facelet`` writes ``models/facelet-<effect>.safetensors`` + ``.json``: the effect, its
pseudo-target recipe (K, alpha, positives / negatives), held-out normalised feature error,
the autoencoder head's age / gender change at strength +1 and -1 on the held-out faces,
size (target <= 2 MB), and the sha256 of the autoencoder it was trained on (the tool's
other half). Export the autoencoder first: a facelet trained on other autoencoder weights
than the shipped ones is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from editor.engine.catalog import FACE_AUTOENCODER_ARCH, FACELET_ARCH, FACELET_LICENCE
from editor.engine.weights import save_weights, sha256_file
from editor.nets.facelet import AGE_SCALE, FaceAutoencoder, Facelet, count_parameters
from editor.training import facelet_data as fd
from editor.training import recipe

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
PSNR_TARGET_DB = 30.0
SIZE_TARGET_BYTES = 2_000_000
SLIDER_TARGET_S = 0.150
EXPORTER = "editor.training.export_facelet"

DATA_NOTE = {
    "name": "UTKFace aligned crops with age / gender labels",
    "path": "../shared/data/train/faces_utkface/{images,labels.csv}",
    "source": "bagashvilit/facial_recognition_bias @abe87302, data/images",
    "licence": "UTKFace: non-commercial research",
    "split": "crc32(file name) % 20 == 0 is held out (5 %, 485 faces): the numbers here; "
             "the rest trains (editor.training.facelet_data). Never bench/.",
    "preprocessing": "200 px crops -> 128 px (INTER_AREA): the face frame the tool aligns "
                     "photos to (editor.faces.align_face, 128 px frame + 25 % margin)",
}


def _write(models_dir: Path, model_id: str, state: dict, card: dict) -> dict:
    models_dir.mkdir(parents=True, exist_ok=True)
    weights = models_dir / f"{model_id}.safetensors"
    card["sha256"] = save_weights(state, weights)
    card["size_bytes"] = weights.stat().st_size
    path = models_dir / f"{model_id}.json"
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return card


def _timed(fn, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def speed(net: FaceAutoencoder, facelet: Facelet | None = None, threads: int = 2
          ) -> dict[str, float]:
    """Median seconds on ``threads`` CPU threads for one 192 px face crop."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        facelet = facelet or Facelet(net.features)
        x = torch.rand(1, 3, 192, 192)
        with torch.inference_mode():
            f = net.encode(x)
            encode = _timed(lambda: net.encode(x))
            step = _timed(lambda: net.decode(f + 0.5 * facelet(f)))
    finally:
        torch.set_num_threads(before)
    return {"encode_s": round(encode, 4), "slider_step_s": round(step, 4), "threads": threads}


def export_autoencoder(run_dir: Path, models_dir: Path = DEFAULT_MODELS_DIR,
                       which: str = "best") -> dict:
    from editor.training.train_face_autoencoder import evaluate, load_run

    net, checkpoint = load_run(run_dir, which)
    arch = {"features": net.features, "width": net.width, "blocks": net.blocks}
    if arch != FACE_AUTOENCODER_ARCH:
        raise SystemExit(f"the run's architecture {arch} is not the catalog's "
                         f"{FACE_AUTOENCODER_ARCH}; update editor/engine/catalog.py first")
    held = fd.load_faces().part("held_out")
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    scores = evaluate(net, held, torch.device("cpu"))
    timing = speed(net)
    run_dir = Path(run_dir).expanduser()
    card: dict[str, Any] = {
        "id": "face-autoencoder", "task": "portrait_autoencoder",
        "architecture": "face_autoencoder", "arch_kwargs": arch,
        "paper": "Chen et al., Facelet-Bank for Fast Portrait Manipulation, CVPR 2018",
        "description": "Shared face encoder/decoder of Portrait edit: stride-4 features "
                       f"({net.features} channels at H/4 x W/4), space-to-depth encoder, "
                       "pixel-shuffle decoder, age and gender heads trained jointly",
        "params": count_parameters(net),
        "input": "aligned RGB face crop, float32 [0, 1], sides a multiple of 4 (the tool: "
                 "192 px = the 128 px face frame + 25 % margin)",
        "training": {"iteration": checkpoint["iteration"], "config": checkpoint["config"]},
        "results_held_out": {"faces": len(held), "psnr_db": round(scores["psnr"], 2),
                             "age_head_mae_years": round(scores["age_mae"], 2),
                             "gender_head_accuracy": round(scores["gender_acc"], 3)},
        "speed_cpu": timing,
        "targets": {"held_out_psnr_db >= 30": scores["psnr"] >= PSNR_TARGET_DB,
                    "slider step <= 0.150 s (facelet + decode, 2 threads)":
                        timing["slider_step_s"] <= SLIDER_TARGET_S},
        "data": [DATA_NOTE], "licence": FACELET_LICENCE,
        "commands": recipe.reproduction_commands(
            run_dir, "editor.training.train_face_autoencoder", EXPORTER + " autoencoder",
            [], checkpoint["iteration"]),
    }
    return _write(models_dir, "face-autoencoder", net.state_dict(), card)


@torch.no_grad()
def head_changes(net: FaceAutoencoder, facelet: Facelet, features: np.ndarray
                 ) -> dict[str, float]:
    f = torch.from_numpy(np.asarray(features, np.float32))
    g = facelet(f)
    a0, s0 = net.heads(f)
    out = {}
    for s in (1.0, -1.0):
        a, gl = net.heads(f + s * g)
        out[f"age_change_years_at_{s:+.0f}"] = round(float((a - a0).mean()) * AGE_SCALE, 2)
        out[f"gender_logit_change_at_{s:+.0f}"] = round(float((gl - s0).mean()), 3)
    return out


def scale_facelet(facelet: Facelet, gain: float) -> Facelet:
    """The facelet whose output is ``gain`` times this one's: its last layer scaled. Since
    the loss is normalised by the targets' size, training on ``gain`` x the targets
    learns this same network (up to the small pixel term), so the gain is a post-hoc
    choice of the pseudo targets' alpha."""
    with torch.no_grad():
        facelet.out.weight.mul_(gain)
        facelet.out.bias.mul_(gain)
    return facelet


def export_facelet(run_dir: Path, models_dir: Path = DEFAULT_MODELS_DIR,
                   which: str = "best", gain: float = 1.0) -> dict:
    from editor.training.train_facelet import held_out_error, load_autoencoder

    run_dir = Path(run_dir).expanduser()
    checkpoint = torch.load(run_dir / f"{which}.pt", map_location="cpu", weights_only=False)
    config = checkpoint["config"]
    shipped = models_dir / "face-autoencoder.safetensors"
    if not shipped.is_file() or sha256_file(shipped) != config["autoencoder_sha256"]:
        raise SystemExit("this facelet was trained on other autoencoder weights than "
                         f"{shipped}; export the autoencoder first or retrain the facelet")
    net, _ = load_autoencoder(shipped)
    facelet = Facelet(net.features, config["width"])
    facelet.load_state_dict(checkpoint["model"])
    facelet.eval()
    with np.load(run_dir / "targets.npz") as data:
        eval_f, eval_t = data["eval_features"], data["eval_targets"]
    error = held_out_error(facelet, eval_f, eval_t)      # before the gain: vs its targets
    scale_facelet(facelet, gain)
    arch = {"features": facelet.features, "width": facelet.width}
    if arch != FACELET_ARCH:
        raise SystemExit(f"the facelet's architecture {arch} is not the catalog's {FACELET_ARCH}")
    effect = config["effect"]
    changes = head_changes(net, facelet, eval_f)
    model_id = f"facelet-{effect}"
    card: dict[str, Any] = {
        "id": model_id, "task": "portrait_facelet", "architecture": "facelet",
        "arch_kwargs": arch, "effect": effect,
        "paper": "Chen et al., Facelet-Bank for Fast Portrait Manipulation, CVPR 2018",
        "params": count_parameters(facelet),
        "autoencoder": {"id": "face-autoencoder", "sha256": config["autoencoder_sha256"]},
        "pseudo_targets": {"method": "deep feature interpolation: alpha x (mean of the K "
                                     "nearest positives - mean of the K nearest negatives)",
                           "k": config["k"], "alpha": config["alpha"],
                           "export_gain": gain,
                           "effective_alpha": config["alpha"] * gain,
                           "positives": config["positives"], "negatives": config["negatives"],
                           "queries": config["queries"],
                           "sets": _SETS[effect]},
        "training": {"iteration": checkpoint["iteration"], "config": config},
        "results_held_out": {"faces": int(len(eval_f)),
                             "normalised_feature_error": round(error, 4),
                             "autoencoder_head": changes},
        "data": [DATA_NOTE], "licence": FACELET_LICENCE,
        "commands": recipe.reproduction_commands(
            run_dir, "editor.training.train_facelet", EXPORTER + " facelet",
            ["--gain", f"{gain:g}"], checkpoint["iteration"]),
        "note": "The benchmark (restora-cli bench portrait) measures the age change with an "
                "independent pixel-space age regressor; see models/RESULTS.md.",
    }
    card = _write(models_dir, model_id, facelet.state_dict(), card)
    card["targets"] = {"weights <= 2 MB": card["size_bytes"] <= SIZE_TARGET_BYTES}
    (models_dir / f"{model_id}.json").write_text(json.dumps(card, indent=2) + "\n",
                                                  encoding="utf-8")
    return card


_SETS = {
    "older": "positives: age >= 60; negatives: age 18-35 (UTKFace training part)",
    "younger": "every face (one rule): the mean of two DFI deltas, (positives 18-35, "
               "negatives >= 60) and (positives 5-12, negatives 18-35) = half of (K nearest "
               "5-12 - K nearest >= 60) (UTKFace training part); positives / negatives "
               "above count the union over both pairs",
    "masculine": "positives: men 18-60; negatives: women 18-60",
    "feminine": "positives: women 18-60; negatives: men 18-60",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {EXPORTER}")
    p.add_argument("what", choices=("autoencoder", "facelet"))
    p.add_argument("--run-dir", required=True)
    p.add_argument("--which", choices=("best", "last"), default="best")
    p.add_argument("--models-dir", default=str(DEFAULT_MODELS_DIR))
    p.add_argument("--gain", type=float, default=1.0,
                   help="facelet: scale its output (= the pseudo targets' alpha x gain)")
    args = p.parse_args(argv)
    if args.what == "autoencoder":
        card = export_autoencoder(Path(args.run_dir), Path(args.models_dir), args.which)
    else:
        card = export_facelet(Path(args.run_dir), Path(args.models_dir), args.which, args.gain)
    print(json.dumps({k: card[k] for k in ("id", "sha256", "params", "size_bytes",
                                           "results_held_out") if k in card}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
