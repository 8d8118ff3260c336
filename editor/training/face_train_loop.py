"""The training loop the face-enhance trainers share (identity network, FRGD, the L1
baseline): seeded batches, cosine learning rate, gradient clipping, checkpoints every few
minutes, ``--resume`` / ``--stop-at``, SIGTERM-safe stop, validation, the run log.

A trainer describes its model with a :class:`Task`; every random choice of iteration ``i``
comes from generators seeded by (seed, i) (:func:`rngs`), so a resumed run draws exactly
the batches, noise and timesteps an uninterrupted one would.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from editor.training.checkpoints import RunCheckpoints
from editor.training.run_utils import (RunLog, catch_stop_signals, cosine_lr, in_run_folder,
                                       record_command, training_device)


DROPOUT_STREAM = 0x44524F50  # "DROP"


@dataclass
class Task:
    """What a trainer trains. ``build(config)`` makes the network from the run's config
    (so ``--resume`` rebuilds it from the checkpoint); ``loss(net, iteration, device)``
    returns (loss, terms to log); ``validate(net, device)`` returns scores including
    ``score`` (higher is better; picks best.pt)."""

    config: dict[str, Any]
    build: Callable[[dict[str, Any]], torch.nn.Module]
    loss: Callable[[torch.nn.Module, int, torch.device], tuple[torch.Tensor, dict[str, float]]]
    validate: Callable[[torch.nn.Module, torch.device], dict[str, float]] | None = None
    describe: str = ""


def add_common_arguments(p: argparse.ArgumentParser, batch: int, lr: float) -> None:
    p.add_argument("--run-dir", required=True, help="checkpoints, logs and command history")
    p.add_argument("--iters", type=int, required=True, help="length of the cosine schedule")
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--lr-min", type=float, default=None, help="default: lr / 50")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/last.pt")
    p.add_argument("--init", default=None,
                   help="start a new run from shipped weights (.safetensors) of the same "
                        "architecture, e.g. models/face-id.safetensors")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    p.add_argument("--data", default=None, help="data root (default ../shared/data/train)")
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--stop-at", type=int, default=None,
                   help="leave after this iteration (checkpoint written) without changing "
                        "the schedule; a later --resume continues the same run")


def rngs(seed: int, stream_word: int, iteration: int) -> tuple[np.random.Generator,
                                                                  torch.Generator]:
    """The numpy and torch generators of one iteration."""
    sequence = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, stream_word, iteration])
    generator = torch.Generator().manual_seed(int(sequence.generate_state(1, np.uint64)[0]))
    return np.random.default_rng(sequence), generator


def load_checkpoint(run_dir: Path, which: str = "last") -> dict[str, Any]:
    return torch.load(Path(run_dir).expanduser() / f"{which}.pt", map_location="cpu",
                      weights_only=False)


def run(args: argparse.Namespace, argv: list[str] | None, make_task: Callable[[dict | None],
        Task], quiet: bool = False) -> dict[str, Any]:
    """Train (or continue) one run. ``make_task(config)`` builds the task from the saved
    config on ``--resume`` (None on a fresh run: it reads ``args``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return in_run_folder(args.run_dir, args.threads, quiet,
                         lambda run_dir, log: _run(args, argv, make_task, run_dir, log))


def trainer(build_parser: Callable[[], argparse.ArgumentParser],
            load_data: Callable[[argparse.Namespace], tuple],
            make_task: Callable[..., Callable[[dict | None], Task]]) -> Callable[..., dict]:
    """A trainer's ``train(argv=None, *, quiet=False, data=None)``: parse, load the data
    (unless ``data`` is given: tests), run. ``make_task(args, *data)`` returns the task
    factory."""
    def train(argv: list[str] | None = None, *, quiet: bool = False,
              data: tuple | None = None) -> dict[str, Any]:
        args = build_parser().parse_args(argv)
        factory = make_task(args, *(data if data is not None else load_data(args)))
        return run(args, argv, factory, quiet)

    return train


def data_root(args: argparse.Namespace) -> Path:
    from editor.training.face_id_data import default_data_root

    return Path(args.data).expanduser() if args.data else default_data_root()


def _init_from(net: torch.nn.Module, path: Path, given: str) -> dict[str, Any]:
    """Load shipped weights (buffers too: the identity network's dlib centre) into ``net``,
    which must fit them exactly; returns the command record's note (checkpoints.init_note)."""
    from editor.training.checkpoints import init_note, load_exact

    if not path.is_file():
        raise SystemExit(f"--init: no weights file {path}")
    try:
        load_exact(net, path)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    return init_note(path, given)


def _run(args, argv, make_task, run_dir: Path, log: RunLog) -> dict[str, Any]:
    device = training_device(args.device)
    last_path = run_dir / "last.pt"
    checkpoint = None
    if args.resume:
        if not last_path.is_file():
            raise SystemExit(f"--resume: no checkpoint {last_path}")
        checkpoint = load_checkpoint(run_dir)
    elif last_path.exists():
        raise SystemExit(f"{run_dir} already has a checkpoint; use --resume or a new --run-dir")
    task = make_task(None if checkpoint is None else checkpoint["config"])
    config = task.config
    config["iters"] = args.iters  # only the schedule's length may change on resume
    lr, seed = config["lr"], config["seed"]
    lr_min = config.get("lr_min") or lr / 50
    torch.manual_seed(seed)
    net = task.build(config).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    # The network is built from the checkpoint's own configuration, so resuming is done
    # here; saving, the best weights and the end of the run are the shared RunCheckpoints'.
    run = RunCheckpoints(run_dir, net, optimizer, config, log)
    if checkpoint is not None:
        net.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        run.iteration, run.best, run.history = checkpoint["iteration"], checkpoint["best"], \
            checkpoint["history"]
        log(f"resumed from iteration {run.iteration}")
    iteration = run.iteration
    note: dict[str, Any] = {}
    if checkpoint is None and getattr(args, "init", None):
        note = _init_from(net, Path(args.init).expanduser(), args.init)
        log(f"initialised from {args.init}")
    record_command(run_dir, argv, iteration, **note)

    stop_requested, restore_signals = catch_stop_signals()
    stop_at = args.iters if args.stop_at is None else min(args.stop_at, args.iters)
    params = sum(p.numel() for p in net.parameters())
    log(f"{task.describe} on {device}, {params} params, iterations {iteration} -> "
        f"{stop_at} of {args.iters}")
    net.train()
    window: dict[str, float] = {}
    window_start, window_n = time.monotonic(), 0
    first_loss = last_loss = None
    try:
        while iteration < stop_at and not stop_requested:
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(iteration, args.iters, lr, lr_min)
            # Dropout draws from the global generator: seed it per iteration too.
            torch.manual_seed(int(rngs(seed, DROPOUT_STREAM, iteration)[1].initial_seed()))
            loss, terms = task.loss(net, iteration, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), args.clip)
            optimizer.step()
            run.iteration = iteration = iteration + 1
            value = float(loss.detach())
            first_loss = value if first_loss is None else first_loss
            last_loss = value
            for k, v in {"loss": value, **terms}.items():
                window[k] = window.get(k, 0.0) + v
            window_n += 1
            if iteration % args.log_every == 0 or iteration == stop_at:
                elapsed = time.monotonic() - window_start
                log(f"it {iteration} " + " ".join(f"{k} {v / window_n:.5f}"
                                                  for k, v in window.items())
                    + f" lr {optimizer.param_groups[0]['lr']:.2e} "
                      f"{elapsed / window_n:.2f} s/it")
                window, window_start, window_n = {}, time.monotonic(), 0
            if task.validate is not None and (iteration % args.val_every == 0
                                              or iteration == stop_at):
                net.eval()
                scores = task.validate(net, device)
                net.train()
                marker = " (best)" if run.record_validation(scores, key="score") else ""
                log(f"val it {iteration}: " + " ".join(f"{k} {v:.4f}" for k, v in
                                                       scores.items()) + marker)
            run.save_every(args.checkpoint_minutes)
    except BaseException:
        restore_signals()
        raise
    summary = run.finish(bool(stop_requested), first_loss=first_loss, last_loss=last_loss)
    restore_signals()
    return summary
