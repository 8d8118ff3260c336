"""Pieces every training loop shares: device choice, atomic checkpoints, the run log."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

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
