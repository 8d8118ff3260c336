"""Learn my look: a new Retouch style from a user's own before/after photos, trained on the
CPU in a few minutes, saved as a user style (:mod:`editor.tools.retouch_styles`).

    restora-cli train-look BEFORE_DIR AFTER_DIR --name NAME [--label TEXT]

Pairs are matched by file name without extension (``before/IMG_1.jpg`` ↔
``after/IMG_1.tif``), so an export to another format still pairs. In the editor they can
also come from the layers of the open document (:func:`pairs_from_layers`): a layer named
``beach after`` (or ``… edited``, ``… retouched``) pairs with ``beach`` or ``beach
before`` (or ``… original``). Everything that can be wrong is checked BEFORE training,
with a message that says what to fix, and nothing is written unless training finishes: a
style name that is taken or not allowed, fewer than :data:`MIN_PAIRS` pairs, an image
without its partner, a file that cannot be read, a pair of different sizes. Cancelling
(the dialog's Cancel, Ctrl+C) saves nothing.

How a look is learnt, in two steps:

1. The global grade. The style's network ends with a pointwise tone curve → colour matrix
   → tone curve (``LPTN(global_tone=True)``, :mod:`editor.nets.tone_curve`), fitted first,
   directly on the pairs' pixels (:func:`editor.training.fit_tone.fit_tone`, ~15 s). Most
   of a look is global (curves, white balance, saturation), and this part is exact at
   every pixel, detail included. Before it existed the pyramid learnt the whole look and
   flattened near 28 dB on a hidden curve + matrix look, with halos at bright edges; the
   grade alone reaches 57.6 dB there (8 BSD200 training photos learnt, 8 others scored;
   not the benchmark's photos).
2. The pyramid, for what a global grade cannot do (local contrast, dodging and burning).
   It starts from the shipped pre-trained weights (``retouch-base``: distort and recover)
   with every branch's last layer zeroed (:meth:`editor.nets.lptn.LPTN.reset_to_identity`):
   the network starts as the identity, so the grade's result is the starting point, yet
   keeps the pre-trained features to learn from. All weights (the grade's too) are tuned
   with the trainer's loss (L1 + colour angle) on random crops with flips, Adam with a
   cosine schedule. The schedule runs on whichever is further along, the iteration count
   or the clock against what is left of :data:`TIME_LIMIT_S`, so a slow or busy machine
   still finishes within the time budget with the learning rate properly decayed (it then
   simply learns for fewer steps).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from editor.engine.progress import Cancelled, Progress
from editor.training.retouch_data import Pair, PairSampler, align_pair

#: Fewest pairs a look can be learnt from.
MIN_PAIRS = 5
#: Training never runs longer than this (the issue's budget is 5 minutes on 2 CPU threads).
TIME_LIMIT_S = 270.0
# Chosen with the benchmark's round trip (train/natural photos, never bench/; note that
# the comparison was scored on its 8 evaluation photos, so that number is not a blind
# one): 128-px crops give ~2.5x the steps of 192-px ones in the same time and learn faster
# per second (27.2 against 24.3 dB after 150 s, lr 2e-3 against 1e-3); the curve flattens
# near 28 dB after ~1000 steps (28.1 dB at 1000, 27.8 at 2000; 1 thread).
ITERATIONS = 2000
PATCH = 128
BATCH = 8
LR = 2e-3
LR_MIN = 2e-5
COLOUR_WEIGHT = 1.0
THREADS = 2
#: The shipped pre-trained model every look starts from.
BASE_MODEL_ID = "retouch-base"


class LookError(ValueError):
    """The photos or the name cannot make a style; the message says what to fix."""


@dataclass
class LookResult:
    style: Any                 # editor.tools.retouch_styles.Style
    iterations: int            # of the network's fine-tuning
    seconds: float             # grade fit and fine-tuning together
    losses: list[float]


# -- reading the pairs ------------------------------------------------------------------------

def _images(folder: Path) -> dict[str, Path]:
    from editor.core import imageio

    if not folder.is_dir():
        raise LookError(f"{folder} is not a folder")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() \
                or path.suffix.lower() not in imageio.OPEN_EXTENSIONS:
            continue
        if path.stem in found:
            raise LookError(f"{folder} has two images called {path.stem!r} "
                            f"({found[path.stem].name}, {path.name}); keep one")
        found[path.stem] = path
    return found


def _load(path: Path) -> np.ndarray:
    """RGB float32 (alpha dropped, grey expanded); LookError for an unreadable file."""
    from editor.core import imageio

    try:
        pixels, _meta = imageio.load_image(path)
    except (imageio.ImageIOError, OSError, ValueError) as error:
        raise LookError(f"cannot read {path}: {str(error).splitlines()[0] if str(error) else error}"
                        ) from None
    pixels = np.asarray(pixels, np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    rgb = pixels[..., :3] if pixels.shape[2] >= 3 else np.repeat(pixels[..., :1], 3, axis=2)
    return np.ascontiguousarray(rgb)


def pairs_from_folders(before_dir: str | Path, after_dir: str | Path) -> list[Pair]:
    """Before/after pairs matched by name; LookError naming the first problem."""
    before_dir, after_dir = Path(before_dir).expanduser(), Path(after_dir).expanduser()
    before, after = _images(before_dir), _images(after_dir)
    lonely = sorted(set(before) ^ set(after))
    if lonely:
        shown = ", ".join((before.get(n) or after.get(n)).name for n in lonely[:4])
        more = f" and {len(lonely) - 4} more" if len(lonely) > 4 else ""
        raise LookError(f"unpaired images: {shown}{more} (every photo in {before_dir} needs "
                        f"one with the same name in {after_dir}, and the other way round)")
    check_count(len(before))
    return pairs_from_arrays([(name, _load(before[name]), _load(after[name]))
                              for name in sorted(before)])


def pairs_from_arrays(items: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> list[Pair]:
    """Pairs from (name, before RGB, after RGB) arrays, e.g. layer pairs of a document."""
    pairs = []
    for name, before, after in items:
        try:
            pairs.append(align_pair(name, np.asarray(before, np.float32)[..., :3],
                                    np.asarray(after, np.float32)[..., :3]))
        except ValueError as error:
            raise LookError(str(error)) from None
    check_count(len(pairs))
    return pairs


#: Last words of a layer name that mark the edited / the original half of a pair.
AFTER_WORDS = ("after", "edited", "retouched")
BEFORE_WORDS = ("before", "original")
#: Layer pixels with at least this alpha count as part of the photo.
OPAQUE = 0.5


def layer_role(name: str) -> tuple[str, str | None]:
    """(pair key, "after" / "before" / None) from a layer name: ``"Beach  After"`` ->
    ``("beach", "after")``; a name without a marker word -> (name, None)."""
    words = name.strip().lower().split()
    if len(words) > 1 and words[-1] in AFTER_WORDS:
        return " ".join(words[:-1]), "after"
    if len(words) > 1 and words[-1] in BEFORE_WORDS:
        return " ".join(words[:-1]), "before"
    return " ".join(words), None


def _opaque_box(*alphas: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding box of the pixels opaque in every alpha (None: none)."""
    both = np.logical_and.reduce([a >= OPAQUE for a in alphas])
    rows, cols = np.nonzero(both.any(axis=1))[0], np.nonzero(both.any(axis=0))[0]
    if not len(rows) or not len(cols):
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def pairs_from_layers(layers: Sequence[tuple[str, np.ndarray]]) -> list[Pair]:
    """Pairs from a document's layers, ``(name, RGBA pixels)`` bottom first (see the module
    docstring for the names). Each pair is cropped to where both layers are opaque (photos
    placed on a larger canvas). LookError naming the first problem."""
    afters: dict[str, tuple[str, np.ndarray]] = {}
    befores: dict[str, list[tuple[str, str | None, np.ndarray]]] = {}
    for name, pixels in layers:
        key, role = layer_role(name)
        if role == "after":
            if key in afters:
                raise LookError(f"two layers are the edited {key!r} ({afters[key][0]!r}, "
                                f"{name!r}); rename one")
            afters[key] = (name, pixels)
        else:
            befores.setdefault(key, []).append((name, role, pixels))
    if not afters:
        raise LookError("no layer pairs: name each edited layer like its original plus "
                        "' after' (e.g. 'beach' and 'beach after')")
    items = []
    for key, (after_name, after) in sorted(afters.items()):
        candidates = befores.get(key, [])
        marked = [c for c in candidates if c[1] == "before"]
        chosen = marked or candidates
        if not chosen:
            raise LookError(f"layer {after_name!r} has no original: name it {key!r} or "
                            f"'{key} before'")
        if len(chosen) > 1:
            raise LookError(f"layer {after_name!r} matches several originals "
                            f"({', '.join(repr(c[0]) for c in chosen)}); rename all but one")
        before_name, _, before = chosen[0]
        before, after = np.asarray(before, np.float32), np.asarray(after, np.float32)
        if before.shape[:2] != after.shape[:2]:
            raise LookError(f"layers {before_name!r} and {after_name!r} differ in size")
        alphas = [im[..., 3] for im in (before, after) if im.ndim == 3 and im.shape[2] == 4]
        box = _opaque_box(*alphas) if alphas else (slice(None), slice(None))
        if box is None:
            raise LookError(f"layers {before_name!r} and {after_name!r} do not overlap "
                            "where both are opaque")
        items.append((key, before[box][..., :3], after[box][..., :3]))
    return pairs_from_arrays(items)


def check_count(count: int) -> None:
    if count < MIN_PAIRS:
        raise LookError(f"{count} before/after pair{'s' if count != 1 else ''} given; at "
                        f"least {MIN_PAIRS} are needed to learn a look")


# -- training ---------------------------------------------------------------------------------

def base_network(base=None, global_tone: bool = True):
    """A trainable copy of the pre-trained network (``base``: a SingleModel; None: the
    catalog's retouch-base) and its spec, with a fresh (identity) global grade when
    ``global_tone``. The engine's cached model is never modified."""
    from editor.engine.weights import load_model
    from editor.nets.lptn import LPTN
    from editor.tools.model_slot import SingleModel

    if base is None:
        from editor.engine.registry import REGISTRY

        spec = REGISTRY.get(BASE_MODEL_ID) if BASE_MODEL_ID in REGISTRY else None
        base = SingleModel(spec, what="pre-trained Retouch model")
    if base.spec is None:
        from editor.engine.weights import WeightsError

        raise WeightsError("The pre-trained Retouch model is not installed.")
    shipped = load_model(base.spec, "cpu", base.directory)
    net = LPTN(**{**base.spec.kwargs, "global_tone": global_tone or
                  bool(base.spec.kwargs.get("global_tone"))})
    state = shipped.state_dict()
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(not key.startswith("tone.") for key in missing):
        raise RuntimeError(f"the pre-trained weights do not fit: missing {missing}, "
                           f"unexpected {unexpected}")
    return net, base.spec


def train_look(net, pairs: Sequence[Pair], *, iterations: int | None = None,
               time_limit: float | None = None, progress: Progress | None = None,
               seed: int = 0, patch: int = PATCH, batch: int = BATCH, lr: float = LR,
               threads: int = THREADS) -> tuple[int, float, list[float]]:
    """Fine-tune ``net`` (an LPTN, modified in place) on ``pairs``; returns (iterations
    done, seconds, loss per iteration). Raises Cancelled from ``progress``."""
    import torch

    from editor.training.train_retouch import train_step

    progress = progress or Progress()
    iterations = ITERATIONS if iterations is None else iterations
    time_limit = TIME_LIMIT_S if time_limit is None else time_limit
    patch = min(patch, *(min(p.before.shape[:2]) for p in pairs))
    sampler = PairSampler(pairs, patch, batch, seed)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999))
    device = torch.device("cpu")
    net.train()
    losses: list[float] = []
    started = time.monotonic()
    done = 0
    try:
        while True:
            elapsed = time.monotonic() - started
            t = max(done / max(iterations, 1), elapsed / time_limit if time_limit else 0.0)
            if t >= 1.0:
                break
            progress.check_cancelled()
            progress.set_progress(min(t, 0.99), f"Learning the look: step {done + 1}")
            for group in optimizer.param_groups:
                group["lr"] = LR_MIN + 0.5 * (lr - LR_MIN) * (1.0 + math.cos(math.pi * t))
            before, after = sampler.batch(done)
            losses.append(train_step(net, optimizer, before, after, COLOUR_WEIGHT, device))
            done += 1
    finally:
        torch.set_num_threads(threads_before)
        net.eval()
    return done, time.monotonic() - started, losses


def learn_look(pairs: Sequence[Pair], name: str, *, label: str | None = None,
               progress: Progress | None = None, base=None, iterations: int | None = None,
               time_limit: float | None = None, seed: int = 0) -> LookResult:
    """Train a style on ``pairs`` and save it as user style ``name``. LookError (a
    ValueError) before anything runs when the name or the pairs are unusable; Cancelled
    when cancelled (nothing saved)."""
    from editor.tools import retouch_styles
    from editor.training.fit_tone import fit_tone

    progress = progress or Progress()
    try:
        name = retouch_styles.check_new_name(name)
    except ValueError as error:
        raise LookError(str(error)) from None
    check_count(len(pairs))
    progress.set_progress(0.0, "Loading the pre-trained network")
    net, base_spec = base_network(base)
    started = time.monotonic()
    net.reset_to_identity()
    progress.set_progress(0.01, "Fitting the colour grade")
    grade_error = fit_tone(net.tone, [(p.before, p.after) for p in pairs], seed=seed,
                           check=progress.check_cancelled)
    grade_seconds = time.monotonic() - started
    time_limit = TIME_LIMIT_S if time_limit is None else time_limit
    done, seconds, losses = train_look(net, pairs, iterations=iterations,
                                       time_limit=max(time_limit - grade_seconds, 1.0),
                                       progress=progress.sub_progress(0.06, 0.97), seed=seed)
    progress.check_cancelled()
    progress.set_progress(0.98, "Saving the style")
    details = {
        "pairs": len(pairs),
        "pair_names": [p.name for p in pairs][:50],
        "grade": {"rmse": round(float(np.sqrt(grade_error)), 5),
                  "seconds": round(grade_seconds, 1)},
        "training": {"iterations": done, "seconds": round(seconds, 1), "patch": PATCH,
                     "batch": BATCH, "lr": LR, "seed": seed,
                     "first_loss": None if not losses else round(losses[0], 5),
                     "last_loss": None if not losses else round(float(np.mean(losses[-10:])), 5),
                     "from": {"id": base_spec.id, "sha256": base_spec.sha256}},
    }
    try:
        style = retouch_styles.save_user_style(name, label or name, net.state_dict(),
                                               {**base_spec.kwargs, "global_tone": True},
                                               details)
    except ValueError as error:
        raise LookError(str(error)) from None
    progress.set_progress(1.0)
    return LookResult(style, done, grade_seconds + seconds, losses)


# -- command line -----------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """``restora-cli train-look``: 0 saved, 1 could not, 2 usage, 130 interrupted."""
    parser = argparse.ArgumentParser(
        prog="restora-cli train-look",
        description="Learn a Retouch style from before/after photos (matched by file name) "
                    f"and save it as a user style; at least {MIN_PAIRS} pairs, a few minutes "
                    "on the CPU. Then: restora-cli retouch --style NAME ...")
    parser.add_argument("before_dir", metavar="BEFORE_DIR", help="the photos as they were")
    parser.add_argument("after_dir", metavar="AFTER_DIR", help="the same photos, edited")
    parser.add_argument("--name", required=True,
                        help="style name: lower-case letters, digits, '-' or '_'")
    parser.add_argument("--label", default=None, help="what the style menu shows")
    try:
        ns = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    from editor.tools import retouch_styles

    for line in retouch_styles.problems():
        print(line, file=sys.stderr)
    last = [-1]

    def report(fraction: float, message: str) -> None:
        percent = int(fraction * 100)
        if percent // 10 != last[0] // 10:
            last[0] = percent
            print(f"{percent:3d}% {message}", file=sys.stderr, flush=True)

    try:
        pairs = pairs_from_folders(ns.before_dir, ns.after_dir)
        retouch_styles.check_new_name(ns.name)
        print(f"{len(pairs)} pairs; training (at most {TIME_LIMIT_S / 60:.1f} minutes)…",
              file=sys.stderr)
        result = learn_look(pairs, ns.name, label=ns.label, progress=Progress(report))
    except (LookError, ValueError) as error:
        print(f"restora-cli train-look: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Cancelled):
        print("restora-cli train-look: interrupted; nothing saved", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - WeightsError and the like: one line
        print(f"restora-cli train-look: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    style = result.style
    print(f"saved style {style.name!r} ({result.iterations} steps, {result.seconds:.0f} s) "
          f"in {style.directory}; use it with: restora-cli retouch --style {style.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
