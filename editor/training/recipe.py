"""The reproduction recipe a model card carries: every train command of a run, in order,
then the export — rebuilt from the run folder's ``commands.jsonl``."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path


def _home_tilde(tokens: list[str]) -> list[str]:
    # The shell expanded ~ when the run was started; ~ keeps the recipe portable.
    home = str(Path.home())
    return [("~" + t[len(home):]) if t == home or t.startswith(home + "/") else t
            for t in tokens]


def shell_line(tokens: list[str]) -> str:
    # shlex.join would quote "~/..." and so stop the shell from expanding it.
    return " ".join(t if re.fullmatch(r"~(/[\w.@%+=:,/-]*)?", t) else shlex.quote(t)
                    for t in _home_tilde(tokens))


def _without_stop_at(argv: list[str]) -> list[str]:
    cleaned, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == "--stop-at":
            skip = True
        elif not token.startswith("--stop-at="):
            cleaned.append(token)
    return cleaned


def reproduction_commands(run_dir: Path, trainer: str, exporter: str, export_args: list[str],
                          final_iteration: int | None = None) -> list[str]:
    """The ``python -m <trainer>`` invocations that led to the exported weights, in order,
    then ``python -m <exporter> --run-dir RUN <export_args>``.

    Each one's ``--stop-at`` is where the next one resumed (where it was really
    interrupted); the command during which ``final_iteration`` (the exported weights'
    iteration) was reached stops there, and later commands are left out, since they
    cannot have changed those weights. ``--stop-at`` never changes the learning-rate
    schedule, so this replays the same run.

    A run started from ``--init`` weights that had a model card lists that card's
    commands first (recorded at the run's start as ``init_commands``), so the chain that
    made the starting weights is part of the recipe."""
    entries = [json.loads(line) for line in
               (run_dir / "commands.jsonl").read_text(encoding="utf-8").splitlines() if line]
    commands = []
    for i, entry in enumerate(entries):
        commands += [c for c in entry.get("init_commands") or () if c not in commands]
        argv = list(entry["argv"])
        stop = entries[i + 1]["start_iteration"] if i + 1 < len(entries) else None
        last = final_iteration is not None and (stop is None or final_iteration <= stop)
        if last:
            planned = int(argv[argv.index("--iters") + 1]) if "--iters" in argv else None
            stop = final_iteration if planned is None or final_iteration < planned else None
        cleaned = _without_stop_at(argv) if (stop is not None or last) else argv
        if stop is not None:
            cleaned += ["--stop-at", str(stop)]
        line = f"python -m {trainer} " + shell_line(cleaned)
        if entry.get("init_sha256"):
            line += f"    # --init file sha256 {entry['init_sha256']}"
        commands.append(line)
        if last:
            break
    first = entries[0]["argv"] if entries else []
    run_arg = first[first.index("--run-dir") + 1] if "--run-dir" in first else str(run_dir)
    commands.append(f"python -m {exporter} " + shell_line(["--run-dir", run_arg] + export_args))
    return commands
