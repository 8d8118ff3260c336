"""Train one facelet (:class:`editor.nets.facelet.Facelet`) per effect on the frozen face
autoencoder: resumable and seeded for the shipped effects, and in minutes from two folders
of photos for a user's own effect.

Shipped effects (older, younger, masculine, feminine; UTKFace training part only):

    python -m editor.training.train_facelet --effect older \
        --run-dir ~/.cache/restora/runs/facelet-older --iters 800 --batch 16 --lr 1e-3 \
        --seed 0 --threads 1 [--resume] [--autoencoder models/face-autoencoder.safetensors]

1. Every UTKFace face is encoded once by the autoencoder (cached in
   ``~/.cache/restora/facelet_features_<sha>.npy``, keyed by the autoencoder's weights).
2. Pseudo targets for ``--queries`` training faces and ``--eval-faces`` held-out faces:
   ``alpha * (mean of the K nearest positives - mean of the K nearest negatives)``, or the
   mean of several such pairs, one rule for every face
   (:mod:`editor.training.facelet_directions`; positives and negatives from the training
   part); ``--alpha`` gives the step, or it is calibrated with the autoencoder's own
   attribute head. Saved in the run
   folder, so a resumed run does not recompute them.
3. The facelet learns ``facelet(f) ~ target delta``: L2 in feature space, normalised by
   the targets' mean square, plus ``--pixel-weight`` x L1 between
   ``decode(f + facelet(f))`` and ``decode(f + target)`` on ``--pixel-batch`` faces of
   each batch (the decoder is frozen; the term asks for what shows in the picture).

``best.pt`` keeps the facelet with the lowest held-out normalised error; ``last.pt`` is
written every ``--checkpoint-minutes``, at the end and on SIGTERM/SIGINT, and
``--resume`` continues exactly. The exporter (:mod:`editor.training.export_facelet`)
writes the weights and the model card.

A user's effect (``restora-cli train-facelet --positive DIR --negative DIR --name NAME``):
:func:`train_user_facelet` finds and aligns the faces of both folders with the face toolkit
(the same canonical frame the tool uses), refuses folders with fewer than
:data:`MIN_USER_FACES` usable faces, builds the targets from the two sets (alpha 1) and
trains for a few minutes on the CPU; the facelet and its card are saved into the user
facelets folder (:mod:`editor.tools.portrait_effects`).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from editor.nets.facelet import FRAME_PX, FaceAutoencoder, Facelet, count_parameters
from editor.training import facelet_data as fd
from editor.training import facelet_directions as dirs
from editor.training.run_utils import (atomic_save, catch_stop_signals, cosine_lr,
                                       in_run_folder, record_command)

FEATURE_CACHE = Path("~/.cache/restora")
MIN_USER_FACES = 6
USER_ITERS = 300
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m editor.training.train_facelet",
                                description="Train one shipped facelet.")
    p.add_argument("--effect", choices=dirs.EFFECTS, required=True)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--iters", type=int, required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=48, help="facelet width")
    p.add_argument("--k", type=int, default=dirs.DEFAULT_K, help="nearest neighbours (DFI)")
    p.add_argument("--queries", type=int, default=2000, help="training faces with targets")
    p.add_argument("--eval-faces", type=int, default=128, help="held-out faces with targets")
    p.add_argument("--alpha", type=float, default=None,
                   help="step along the direction (default: calibrated with the "
                        "autoencoder's attribute head; 1 = the full difference between the "
                        "nearest positives and negatives)")
    p.add_argument("--pixel-weight", type=float, default=0.1)
    p.add_argument("--pixel-batch", type=int, default=4)
    p.add_argument("--autoencoder", default=None,
                   help="autoencoder weights (.safetensors) or run checkpoint (.pt); default: "
                        "the shipped face-autoencoder")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default=None)
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--stop-at", type=int, default=None)
    return p


# -- the autoencoder ---------------------------------------------------------------------------

def load_autoencoder(path: str | Path | None = None) -> tuple[FaceAutoencoder, str]:
    """(frozen autoencoder, sha256 of its weights). ``path``: a .safetensors file, a
    training checkpoint (.pt), or None for the shipped ``face-autoencoder``."""
    from editor.engine.weights import load_model, sha256_file

    if path is None:
        from editor.engine.registry import REGISTRY

        spec = REGISTRY.get("face-autoencoder")
        return load_model(spec, device="cpu"), spec.sha256
    path = Path(path).expanduser()
    if path.suffix == ".pt":
        from editor.training.train_face_autoencoder import load_run

        net, _ = load_run(path.parent, path.stem)
    else:
        from safetensors.torch import load_file

        state = load_file(str(path))
        net = FaceAutoencoder(features=state["encoder.out.weight"].shape[0],
                              width=state["encoder.conv3.weight"].shape[0],
                              blocks=len({k.split(".")[2] for k in state
                                          if k.startswith("encoder.blocks.")}))
        net.load_state_dict(state)
    return net.eval().requires_grad_(False), sha256_file(path)


def cached_features(net: FaceAutoencoder, sha: str, faces: fd.FaceSet, log) -> np.ndarray:
    """float16 features of every face, computed once per autoencoder."""
    digest = hashlib.sha256((sha + "".join(faces.names[:50].tolist())
                             + str(len(faces))).encode()).hexdigest()[:16]
    path = FEATURE_CACHE.expanduser() / f"facelet_features_{digest}.npy"
    if path.is_file():
        return np.load(path, mmap_mode="r")
    log(f"encoding {len(faces)} faces (once per autoencoder) -> {path}")
    features = dirs.encode_all(net, faces.images)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial.npy")
    np.save(temporary, features)
    temporary.replace(path)
    return np.load(path, mmap_mode="r")


# -- the loss and one optimisation loop shared by both kinds of training ----------------------

def facelet_loss(facelet: Facelet, decoder: torch.nn.Module, f: torch.Tensor,
                 target: torch.Tensor, pixel_weight: float, pixel_batch: int
                 ) -> tuple[torch.Tensor, float]:
    """(loss, normalised feature error). ``target`` is the feature change."""
    g = facelet(f)
    feat = ((g - target) ** 2).mean() / (target ** 2).mean().clamp_min(1e-8)
    loss = feat
    if pixel_weight > 0 and pixel_batch > 0:
        n = min(pixel_batch, len(f))
        with torch.no_grad():
            want = decoder(f[:n] + target[:n])
        loss = loss + pixel_weight * (decoder(f[:n] + g[:n]) - want).abs().mean()
    return loss, float(feat.detach())


@torch.no_grad()
def held_out_error(facelet: Facelet, features: np.ndarray, targets: np.ndarray) -> float:
    g = facelet(torch.from_numpy(features.astype(np.float32)))
    t = torch.from_numpy(targets.astype(np.float32))
    return float(((g - t) ** 2).mean() / (t ** 2).mean().clamp_min(1e-8))


def fit(facelet: Facelet, decoder: torch.nn.Module, optimizer: torch.optim.Optimizer,
        features: np.ndarray, targets: np.ndarray, config: dict[str, Any], start: int,
        stop: int, step_done: Callable[[int, float, float], bool] | None = None) -> int:
    """Optimise from iteration ``start`` up to ``stop``; ``step_done(iteration, loss,
    feature error)`` runs after each step and returns True to stop early. Batches depend
    only on (seed, iteration). Returns the iteration reached."""
    iteration = start
    batch = min(config["batch"], len(features))
    while iteration < stop:
        idx = np.sort(fd.batch_indices(len(features), batch, config["seed"], iteration))
        f = torch.from_numpy(np.asarray(features[idx], np.float32))
        t = torch.from_numpy(np.asarray(targets[idx], np.float32))
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(iteration, config["iters"], config["lr"], config["lr"] / 20)
        loss, err = facelet_loss(facelet, decoder, f, t, config["pixel_weight"],
                                 config["pixel_batch"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(facelet.parameters(), 1.0)
        optimizer.step()
        iteration += 1
        if step_done is not None and step_done(iteration, float(loss.detach()), err):
            break
    return iteration


# -- shipped effects ---------------------------------------------------------------------------

def _pseudo_targets(args, net, sha, run_dir: Path, log) -> dict[str, np.ndarray]:
    """Training and held-out features with their target deltas (computed once per run)."""
    path = run_dir / "targets.npz"
    if path.is_file():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    faces = fd.load_faces(Path(args.data).expanduser() if args.data else None, log=log)
    features = np.ascontiguousarray(cached_features(net, sha, faces, log))
    held = np.array([fd.is_held_out(str(n)) for n in faces.names])
    train_idx, held_idx = np.nonzero(~held)[0], np.nonzero(held)[0]
    desc = dirs.descriptors(features)
    bank = dirs.label_directions(faces.ages, faces.genders)
    direction = bank[args.effect]
    for pos, neg in direction.pairs:
        pos &= ~held    # positives and negatives come from the training part only
        neg &= ~held
    rng = np.random.default_rng([args.seed, 0x51525953])
    queries = np.sort(rng.choice(train_idx, min(args.queries, len(train_idx)), replace=False))
    evals = held_idx[np.unique(np.linspace(0, len(held_idx) - 1,
                                           min(args.eval_faces, len(held_idx))).astype(int))]
    sets = ", ".join(f"{int(p.sum())} positives / {int(n.sum())} negatives"
                     for p, n in direction.pairs)
    log(f"{args.effect}: {sets}; targets for {len(queries)} training "
        f"and {len(evals)} held-out faces (K = {args.k})")
    q_delta = dirs.raw_deltas(direction, queries, features, desc, args.k)
    e_delta = dirs.raw_deltas(direction, evals, features, desc, args.k)
    if args.alpha is None:
        calib = slice(0, min(512, len(queries)))
        alpha = dirs.calibrate_alpha(net, args.effect, np.asarray(features[queries[calib]]),
                                     q_delta[calib])
        log(f"{args.effect}: alpha {alpha:.3f} (head-calibrated)")
    else:
        alpha = float(args.alpha)
        log(f"{args.effect}: alpha {alpha:.3f} (given)")
    out = {"features": np.asarray(features[queries]), "targets": (alpha * q_delta.astype(
               np.float32)).astype(np.float16),
           "eval_features": np.asarray(features[evals]),
           "eval_targets": (alpha * e_delta.astype(np.float32)).astype(np.float16),
           "eval_names": faces.names[evals], "alpha": np.float32(alpha),
           "positives": np.int64(direction.positive.sum()),
           "negatives": np.int64(direction.negative.sum())}
    np.savez(run_dir / "targets.partial.npz", **out)
    (run_dir / "targets.partial.npz").replace(path)
    return out


def train(argv: list[str] | None = None, *, quiet: bool = False,
          autoencoder: tuple[FaceAutoencoder, str] | None = None) -> dict[str, Any]:
    """Run (or continue) one shipped-effect run. ``autoencoder`` (tests) replaces
    loading it."""
    args = build_parser().parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    return in_run_folder(args.run_dir, args.threads, quiet,
                         lambda run_dir, log: _train(args, argv, run_dir, log, autoencoder))


def _train(args, argv, run_dir, log, autoencoder) -> dict[str, Any]:
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    checkpoint = None
    if args.resume:
        if not last_path.is_file():
            raise SystemExit(f"--resume: no checkpoint {last_path}")
        checkpoint = torch.load(last_path, map_location="cpu", weights_only=False)
    elif last_path.exists():
        raise SystemExit(f"{run_dir} already has a checkpoint; use --resume or a new --run-dir")
    ae_path = checkpoint["config"]["autoencoder"] if checkpoint else args.autoencoder
    net, sha = autoencoder if autoencoder is not None else load_autoencoder(ae_path)
    if checkpoint is not None and checkpoint["config"]["autoencoder_sha256"] != sha:
        raise SystemExit("--resume: the autoencoder's weights changed since this run began")
    config = checkpoint["config"] if checkpoint else {
        "effect": args.effect, "width": args.width, "batch": args.batch, "lr": args.lr,
        "seed": args.seed, "k": args.k, "queries": args.queries,
        "pixel_weight": args.pixel_weight, "pixel_batch": args.pixel_batch,
        "autoencoder": ae_path, "autoencoder_sha256": sha}
    config["iters"] = args.iters
    torch.manual_seed(config["seed"])
    data = _pseudo_targets(args, net, sha, run_dir, log)
    config.update(alpha=float(data["alpha"]), positives=int(data["positives"]),
                  negatives=int(data["negatives"]))
    facelet = Facelet(net.features, config["width"])
    optimizer = torch.optim.Adam(facelet.parameters(), lr=config["lr"])
    iteration, best, history = 0, math.inf, []
    if checkpoint is not None:
        facelet.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        iteration, best, history = (checkpoint["iteration"], checkpoint["best"],
                                    checkpoint["history"])
        log(f"resumed from iteration {iteration} (best held-out error {best:.4f})")
    record_command(run_dir, argv, iteration)
    stop_at = args.iters if args.stop_at is None else min(args.stop_at, args.iters)
    log(f"facelet {config['effect']} width {config['width']}: {count_parameters(facelet)} "
        f"params, iterations {iteration} -> {stop_at} of {args.iters}")
    state = {"iteration": iteration, "best": best, "window": [], "last_save": time.monotonic(),
             "t": time.monotonic()}
    stop_requested, restore_signals = catch_stop_signals()

    def save_last() -> None:
        atomic_save({"model": facelet.state_dict(), "optimizer": optimizer.state_dict(),
                     "iteration": state["iteration"], "best": state["best"],
                     "history": history, "config": config}, last_path)

    def step_done(it: int, loss: float, err: float) -> bool:
        state["iteration"] = it
        state["window"].append((loss, err))
        if it % args.log_every == 0 or it == stop_at:
            w = np.mean(state["window"], 0)
            log(f"it {it} loss {w[0]:.4f} feature error {w[1]:.4f} "
                f"{(time.monotonic() - state['t']) / len(state['window']):.2f} s/it")
            state["window"], state["t"] = [], time.monotonic()
        if it % args.val_every == 0 or it == stop_at:
            err_h = held_out_error(facelet, data["eval_features"], data["eval_targets"])
            history.append({"iteration": it, "held_out_error": err_h})
            marker = ""
            if err_h < state["best"]:
                state["best"] = err_h
                atomic_save({"model": facelet.state_dict(), "iteration": it,
                             "held_out_error": err_h, "config": config}, best_path)
                marker = " (best)"
            log(f"held-out it {it}: normalised feature error {err_h:.4f}{marker}")
        if time.monotonic() - state["last_save"] > args.checkpoint_minutes * 60:
            save_last()
            state["last_save"] = time.monotonic()
        return bool(stop_requested)

    try:
        fit(facelet, net.decoder, optimizer, data["features"], data["targets"], config,
            iteration, stop_at, step_done)
    except BaseException:
        restore_signals()
        raise
    save_last()
    restore_signals()
    log(f"stopped at iteration {state['iteration']}" + (" (signal)" if stop_requested else ""))
    return {"iteration": state["iteration"], "best": state["best"], "history": history,
            "run_dir": str(run_dir), "alpha": config["alpha"]}


# -- a user's own effect -----------------------------------------------------------------------

def folder_images(folder: Path) -> list[Path]:
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def aligned_faces(paths: list[Path], progress=None) -> tuple[list[np.ndarray], list[str]]:
    """uint8 RGB FRAME_PX crops (the autoencoder's face frame) of every usable face in the
    photos, and a note per photo that gave none."""
    from editor.core.imageio import load_image
    from editor.faces import align_face, detect_faces

    crops, notes = [], []
    for i, path in enumerate(paths):
        if progress is not None:
            progress(i / max(1, len(paths)), f"Faces in {path.name}")
        try:
            image, _ = load_image(path)
        except Exception as error:  # noqa: BLE001 - any unreadable file is only skipped
            notes.append(f"{path.name}: cannot be read ({error})")
            continue
        rgb = np.ascontiguousarray(image[..., :3])
        scan = detect_faces(rgb, min_size=FRAME_PX // 2)
        if not scan.faces:
            notes.append(f"{path.name}: no face large enough")
        for face in scan.faces:
            crop, _ = align_face(rgb, face, size=FRAME_PX, padding=0.0)
            crops.append(np.clip(np.round(crop * 255), 0, 255).astype(np.uint8))
    return crops, notes


def train_user_facelet(positive: Path, negative: Path, name: str, *, label: str = "",
                       iters: int = USER_ITERS, threads: int = 2, seed: int = 0,
                       autoencoder: tuple[FaceAutoencoder, str] | None = None,
                       progress=None, log=print):
    """Train and save a user facelet from two folders of photos (positive = with the
    attribute); returns the saved effect. ValueError (nothing saved) when a folder has too
    few usable faces or the name is taken."""
    from editor.tools import portrait_effects

    name = portrait_effects.check_new_name(name)
    say = progress or (lambda fraction, text="": None)
    sets = {}
    for which, folder in (("positive", positive), ("negative", negative)):
        photos = folder_images(folder)
        crops, notes = aligned_faces(photos, lambda f, t="": say(0.3 * f, t))
        if len(crops) < MIN_USER_FACES:
            detail = ("; ".join(notes[:3]) + (" ..." if len(notes) > 3 else "")) if notes \
                else f"{len(photos)} photo{'s' if len(photos) != 1 else ''} in it"
            raise ValueError(f"the {which} folder {folder} has {len(crops)} usable face"
                             f"{'s' if len(crops) != 1 else ''}; at least {MIN_USER_FACES} "
                             f"are needed ({detail})")
        sets[which] = np.stack(crops)
        log(f"{which}: {len(crops)} faces from {folder}")
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        net, sha = autoencoder if autoencoder is not None else load_autoencoder()
        pos = dirs.encode_all(net, sets["positive"])
        neg = dirs.encode_all(net, sets["negative"])
        features = np.concatenate([pos, neg])
        k = max(1, min(dirs.DEFAULT_K, len(pos) // 2, len(neg) // 2))
        targets = dirs.set_deltas(features.astype(np.float32), pos.astype(np.float32),
                                  neg.astype(np.float32), k)
        torch.manual_seed(seed)
        facelet = Facelet(net.features)
        optimizer = torch.optim.Adam(facelet.parameters(), lr=2e-3)
        config = {"batch": 8, "lr": 2e-3, "seed": seed, "iters": iters,
                  "pixel_weight": 0.1, "pixel_batch": 2}

        def step_done(it: int, loss: float, err: float) -> bool:
            say(0.3 + 0.7 * it / iters, f"Training {it}/{iters}")
            if it % 50 == 0:
                log(f"it {it}/{iters} feature error {err:.4f}")
            return False

        start = time.monotonic()
        fit(facelet, net.decoder, optimizer, features, targets, config, 0, iters, step_done)
    finally:
        torch.set_num_threads(threads_before)
    details = {"trained_from": {"positive": str(positive), "negative": str(negative),
                                "positive_faces": len(pos), "negative_faces": len(neg)},
               "recipe": {"iters": iters, "k": k, "alpha": 1.0, "seed": seed,
                          "seconds": round(time.monotonic() - start, 1)},
               "autoencoder_sha256": sha}
    return portrait_effects.save_user_facelet(name, label or name, facelet.state_dict(),
                                              {"features": net.features,
                                               "width": facelet.width}, details)


def main(argv: list[str] | None = None) -> int:
    train(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
