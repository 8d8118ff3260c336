"""A run folder's checkpoints, shared by the trainers: ``last.pt`` (everything needed to
continue exactly: weights, optimiser, iteration, best score, validation history, RNG
states), ``best.pt`` (the weights with the best validation score) and ``commands.jsonl``
(every invocation, from which the exporters write a model card's recipe).

Starting a run is one of three things, and :meth:`RunCheckpoints.start` decides which:
``--resume`` (continue ``last.pt``; the caller says whether it is the same kind of run),
``--init`` (fresh optimiser, weights from a shipped ``.safetensors``), or a fresh run —
refused when the folder already holds a checkpoint, so a typo never overwrites days of
training.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any, Callable

import torch

from editor.training.run_utils import RunLog, atomic_save, record_command


class RunCheckpoints:
    """``sampler_state``: (get, set) of a data sampler's own random state, for samplers whose
    batches do not depend on the iteration alone; it is saved with the RNG states."""

    def __init__(self, run_dir: Path, net: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 config: dict[str, Any], log: RunLog,
                 sampler_state: tuple[Callable[[], Any], Callable[[Any], None]] | None = None,
                 ) -> None:
        self.run_dir, self.net, self.optimizer = Path(run_dir), net, optimizer
        self.config, self.log, self.sampler_state = config, log, sampler_state
        self.last_path, self.best_path = self.run_dir / "last.pt", self.run_dir / "best.pt"
        self.iteration, self.best, self.history = 0, -math.inf, []
        self._saved_at = time.monotonic()

    def start(self, argv: list[str], *, resume: bool, init: str | None,
              load_init: Callable[[Path], dict[str, Any] | None],
              different: Callable[[dict[str, Any]], str | None] = lambda _config: None,
              ) -> None:
        """Resume, initialise or start fresh (see the module docstring), then record the
        command. ``different(saved_config)`` returns why a checkpoint cannot be resumed by
        this run (another architecture...), or None; ``load_init(path)`` may return notes
        for the command record (say, which tensors it skipped)."""
        note: dict[str, Any] = {}
        if resume:
            if not self.last_path.is_file():
                raise SystemExit(f"--resume: no checkpoint {self.last_path}")
            # On the CPU first: the RNG state must stay a CPU tensor, and load_state_dict
            # moves weights and optimiser moments to the net's device.
            checkpoint = torch.load(self.last_path, map_location="cpu", weights_only=False)
            reason = different(checkpoint["config"])
            if reason:
                raise SystemExit(f"--resume: {self.last_path} {reason}")
            self.net.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.iteration = checkpoint["iteration"]
            self.best, self.history = checkpoint["best"], checkpoint["history"]
            torch.set_rng_state(checkpoint["rng"]["torch"])
            random.setstate(checkpoint["rng"]["python"])
            if self.sampler_state is not None:
                self.sampler_state[1](checkpoint["rng"]["sampler"])
            self.log(f"resumed from iteration {self.iteration} (best val {self.best:.3f} dB)")
        elif init:
            path = Path(init).expanduser()
            extra = load_init(path) or {}
            note = init_note(path, str(init), extra)
            self.log(f"initialised from {path}"
                     + "".join(f" ({k}: {v})" for k, v in extra.items()))
        elif self.last_path.exists():
            raise SystemExit(f"{self.run_dir} already has a checkpoint; use --resume or a new "
                             "--run-dir")
        record_command(self.run_dir, argv, self.iteration, **note)

    def save_last(self) -> None:
        rng = {"torch": torch.get_rng_state(), "python": random.getstate()}
        if self.sampler_state is not None:
            rng["sampler"] = self.sampler_state[0]()
        atomic_save({"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                     "iteration": self.iteration, "best": self.best, "history": self.history,
                     "config": self.config, "rng": rng}, self.last_path)
        self._saved_at = time.monotonic()

    def save_every(self, minutes: float) -> None:
        """Write ``last.pt`` when ``minutes`` have passed since it was last written."""
        if time.monotonic() - self._saved_at > minutes * 60:
            self.save_last()

    def finish(self, signalled: bool, **summary: Any) -> dict[str, Any]:
        """The end of a run (finished, or stopped by a signal): ``last.pt`` written, the
        stop logged, and the summary the trainers return (tests read it)."""
        self.save_last()
        self.log(f"stopped at iteration {self.iteration}" + (" (signal)" if signalled else ""))
        return {"iteration": self.iteration, "best": self.best, "history": self.history,
                "run_dir": str(self.run_dir), **summary}

    def record_validation(self, scores: dict[str, float], key: str = "psnr",
                          eligible: bool = True) -> bool:
        """Append ``scores`` to the history; when ``scores[key]`` is the best so far (and
        ``eligible``), save ``best.pt``. Returns whether it did."""
        self.history.append({"iteration": self.iteration, **scores})
        if not eligible or scores[key] <= self.best:
            return False
        self.best = scores[key]
        atomic_save({"model": self.net.state_dict(), "iteration": self.iteration,
                     "val": scores, "config": self.config}, self.best_path)
        return True


def load_exact(net: torch.nn.Module, path: Path, new: tuple[str, ...] = ()) -> None:
    """``--init``: start from shipped weights (buffers too), which must fit ``net``'s
    architecture exactly — a silently partial load would train something else. Only
    entries under the ``new`` prefixes (a part added on top of the shipped network) may
    be absent from the file; they keep their fresh values."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    own = net.state_dict()
    absent = [k for k in own if k not in state and not k.startswith(new)]
    bad = sorted(absent + [k for k in own if k in state
                           and tuple(state[k].shape) != tuple(own[k].shape)])
    wrong = bad + sorted(set(state) - set(own))
    if wrong:
        raise ValueError(f"--init {path}: does not fit this architecture (mismatched: "
                         f"{', '.join(wrong[:3])}{' ...' if len(wrong) > 3 else ''})")
    net.load_state_dict(state, strict=False)


def init_note(path: Path, given: str, extra: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """The command record's note for a run started from ``--init`` weights: the file as
    given, its sha256, ``extra``, and the commands of its model card — read NOW: a
    fine-tune exported under the same model id replaces that card, and the chain would be
    lost."""
    from editor.engine.weights import sha256_file

    note = {"init": given, "init_sha256": sha256_file(path), **(extra or {})}
    chain = card_commands(path)
    if chain:
        note["init_commands"] = chain
    return note


def card_commands(weights: Path) -> list[str] | None:
    """The reproduction commands of the model card beside ``weights`` (``X.json`` next to
    ``X.safetensors``), or None when there is none or it cannot be read."""
    import json

    try:
        card = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
        commands = card["training"]["commands"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return [str(c) for c in commands] if isinstance(commands, list) else None
