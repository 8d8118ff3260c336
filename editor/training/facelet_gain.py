"""Choose a facelet's export gain (the pseudo targets' effective alpha) on TRAINING faces.

    python -m editor.training.facelet_gain --run-dir ~/.cache/restora/runs/facelet-older \
        --gains 1 2 3 4 6 --faces 48 --threads 1

A facelet regresses ``alpha x (DFI direction)``; with alpha = 1 the learnt change is the
neighbourhood-mean difference shrunk by regression, which is faint. The gain scales the
facelet's output (:func:`editor.training.export_facelet.scale_facelet`). For each gain this
prints, on ``--faces`` UTKFace faces of the training part aged ``--ages`` (default 18-70;
never the hold-out, never bench/): the age change at strength +1 judged by the benchmark's age regressor
(trained on the training part, :func:`editor.training.bench_portrait.train_age_regressor`)
and dlib's identity distance between the face and its edit at strength 0.7. The edit is
applied in the face frame itself (UTKFace crops are the frame): crop + decode(f + s g) -
decode(f).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from editor.nets.facelet import Facelet
from editor.training import facelet_data as fd


@torch.no_grad()
def measure(run_dir: Path, gains: list[float], count: int, log=print,
            ages: tuple[int, int] = (18, 70)) -> list[dict]:
    from editor.faces import default_backend, face_distance
    from editor.training.bench_portrait import judge_ages, train_age_regressor
    from editor.training.makeup_data import load_landmarks
    from editor.training.train_facelet import load_autoencoder

    run_dir = Path(run_dir).expanduser()
    checkpoint = torch.load(run_dir / "best.pt", map_location="cpu", weights_only=False)
    config = checkpoint["config"]
    net, sha = load_autoencoder(config["autoencoder"])
    if sha != config["autoencoder_sha256"]:
        raise SystemExit("the facelet was trained on other autoencoder weights")
    facelet = Facelet(net.features, config["width"])
    facelet.load_state_dict(checkpoint["model"])
    facelet.eval()
    faces = fd.load_faces()
    judge, _ = train_age_regressor(faces, 1200, log)
    train = faces.part("train")
    marks = load_landmarks(fd.default_data_root(), log=log)
    ok = [i for i in np.nonzero((train.ages >= ages[0]) & (train.ages <= ages[1]))[0]
          if str(train.names[i]) in marks]
    rng = np.random.default_rng(5)
    picked = np.sort(rng.choice(ok, min(count, len(ok)), replace=False))
    x = torch.from_numpy(train.floats(picked))
    f = net.encode(x)
    g = facelet(f)
    base = net.decode(f)
    backend = default_backend()
    root = fd.default_data_root() / "faces_utkface" / "images"
    originals = [cv2.imread(str(root / str(train.names[i])))[:, :, ::-1] for i in picked]
    emb_in = [backend.embedding(np.ascontiguousarray(o), marks[str(train.names[i])])
              for o, i in zip(originals, picked)]
    age0 = judge_ages(judge, list(train.floats(picked).transpose(0, 2, 3, 1)))
    rows = []
    for gain in gains:
        plus = (x + net.decode(f + gain * g) - base).clamp(0, 1)
        age1 = judge_ages(judge, list(plus.numpy().transpose(0, 2, 3, 1)))
        change = (net.decode(f + 0.7 * gain * g) - base).numpy().transpose(0, 2, 3, 1)
        dists = []
        for o, c, e, i in zip(originals, change, emb_in, picked):
            big = cv2.resize(c, (o.shape[1], o.shape[0]), interpolation=cv2.INTER_CUBIC)
            edited = np.clip(o.astype(np.float32) + 255 * big, 0, 255).astype(np.uint8)
            dists.append(face_distance(e, backend.embedding(edited, marks[str(train.names[i])])))
        rows.append({"gain": gain, "age_change_at_+1": round(float((age1 - age0).mean()), 2),
                     "identity_distance_at_0.7": round(float(np.mean(dists)), 3)})
        log(json.dumps(rows[-1]))
    return rows


def measure_through_tool(run_dir: Path, gains: list[float], count: int, log=print,
                         ages: tuple[int, int] = (18, 70)) -> list[dict]:
    """The same on TRAINING photos through the whole tool (detection, alignment, edit,
    paste-back inside the face mask, composited), so what the mask leaves out (hair) does
    not count: judged age change at +1 and identity distance at 0.7 for each gain."""
    import tempfile

    from editor.engine.registry import ModelSpec
    from editor.engine.weights import save_weights
    from editor.faces import default_backend, face_distance
    from editor.faces.pixels import as_rgb_u8
    from editor.tools import portrait
    from editor.tools.model_slot import SingleModel
    from editor.tools.schema import composite_masked
    from editor.training.bench_portrait import judge_ages, train_age_regressor
    from editor.training.export_facelet import scale_facelet

    run_dir = Path(run_dir).expanduser()
    checkpoint = torch.load(run_dir / "best.pt", map_location="cpu", weights_only=False)
    config = checkpoint["config"]
    faces = fd.load_faces()
    judge, _ = train_age_regressor(faces, 1200, log)
    train = faces.part("train")
    ok = np.nonzero((train.ages >= ages[0]) & (train.ages <= ages[1]))[0]
    rng = np.random.default_rng(5)
    root = fd.default_data_root() / "faces_utkface" / "images"
    photos = []
    for i in rng.permutation(ok):
        rgb = cv2.imread(str(root / str(train.names[i])))[:, :, ::-1].astype(np.float32) / 255
        try:
            face = max(portrait.find_faces(rgb, None), key=lambda f: f.size)
        except ValueError:
            continue
        photos.append((rgb, face))
        if len(photos) == count:
            break
    backend = default_backend()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for gain in gains:
            facelet = Facelet(config["features"] if "features" in config else 64,
                              config["width"])
            facelet.load_state_dict(checkpoint["model"])
            sha = save_weights(scale_facelet(facelet, gain), Path(folder) / f"g{gain}.safetensors")
            spec = ModelSpec(id=f"gain-{gain}", task="portrait_facelet", architecture="facelet",
                             weights=f"g{gain}.safetensors", sha256=sha, licence="-",
                             tiling=False, tile_overlap=0,
                             arch_kwargs={"features": facelet.features, "width": facelet.width})
            previous = portrait.set_facelet_source(lambda name: SingleModel(spec, folder))
            try:
                ages0, ages1, dists = [], [], []
                for rgb, face in photos:
                    portrait.clear_cache()
                    shown = [composite_masked(rgb, portrait.portrait_image(
                        rgb, effect=config["effect"], strength=s)) for s in (0.0, 1.0, 0.7)]
                    ages0.append(shown[0])
                    ages1.append(shown[1])
                    dists.append(face_distance(
                        backend.embedding(as_rgb_u8(rgb), face.landmarks),
                        backend.embedding(as_rgb_u8(shown[2]), face.landmarks)))
            finally:
                portrait.set_facelet_source(previous)
                portrait.clear_cache()
            change = judge_ages(judge, ages1) - judge_ages(judge, ages0)
            rows.append({"gain": gain, "age_change_at_+1": round(float(change.mean()), 2),
                         "identity_distance_at_0.7": round(float(np.mean(dists)), 3)})
            log(json.dumps(rows[-1]))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m editor.training.facelet_gain")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--gains", type=float, nargs="+", default=[1, 2, 3, 4, 6])
    p.add_argument("--faces", type=int, default=48)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ages", type=int, nargs=2, default=[18, 70], metavar=("MIN", "MAX"),
                   help="labelled age range of the training faces measured (an effect "
                        "should reach its target for young adults as well as for older "
                        "faces)")
    p.add_argument("--through-tool", action="store_true",
                   help="edit training photos through the whole tool (face mask included)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = (measure_through_tool if args.through_tool else measure)(
        Path(args.run_dir), args.gains, args.faces, ages=tuple(args.ages))
    print(json.dumps({"run_dir": args.run_dir, "training_faces": args.faces,
                      "ages": args.ages, "rows": rows},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
