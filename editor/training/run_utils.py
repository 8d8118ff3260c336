"""Pieces every training loop shares: device choice, atomic checkpoints, the run log."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import torch


def training_device(name: str) -> torch.device:
    """``auto`` trains on CUDA when present (a lent GPU), else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save via a temporary file: a run killed mid-write keeps its last checkpoint."""
    temporary = path.with_name(path.name + ".partial")
    torch.save(obj, temporary)
    os.replace(temporary, path)


class RunLog:
    """Timestamped lines appended to the run folder's log (and printed unless quiet)."""

    def __init__(self, path: Path, quiet: bool) -> None:
        self.path, self.quiet = path, quiet

    def __call__(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        if not self.quiet:
            print(line, flush=True)


def record_command(run_dir: Path, argv: list[str] | None, start_iteration: int,
                   **extra: Any) -> None:
    """Append this invocation to ``<run-dir>/commands.jsonl``, from which the exporters
    write a model card's reproduction recipe."""
    import json

    with open(Path(run_dir) / "commands.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"argv": argv, "start_iteration": start_iteration,
                             "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}) + "\n")


def catch_stop_signals() -> tuple[list[int], Callable[[], None]]:
    """SIGTERM/SIGINT only ask the loop to stop: it finishes the iteration, checkpoints and
    leaves. Returns (the list the signals land in — truthy once one came, a function that
    puts the previous handlers back)."""
    import signal

    requested: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: requested.append(signum))
                for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return requested, restore


def cosine_lr(iteration: int, total: int, lr: float, lr_min: float) -> float:
    """Cosine decay from ``lr`` at iteration 0 to ``lr_min`` at ``total``."""
    import math

    t = min(max(iteration / max(total, 1), 0.0), 1.0)
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * t))


def in_run_folder(run_dir: str | Path, threads: int, quiet: bool,
                  body: Callable[[Path, RunLog], Any]) -> Any:
    """Create ``run_dir`` and its ``train.log``, then return ``body(run_dir, log)`` run with
    torch limited to ``threads`` CPU threads (the previous count is restored after)."""
    folder = Path(run_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    log = RunLog(folder / "train.log", quiet)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        return body(folder, log)
    finally:
        torch.set_num_threads(threads_before)
