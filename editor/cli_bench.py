"""Benchmarks runnable as ``restora-cli bench NAME [ARGS...]``.

One explicit table, like the tool and model registries: a benchmark is a callable taking
the remaining command-line arguments and returning an exit code. Benchmark modules are
imported inside their callable so that ``restora-cli list`` never pays for torch.
"""

from __future__ import annotations

import sys
from typing import Callable

#: name -> run(args: list[str]) -> exit code. Later issues add entries here.
BENCHMARKS: dict[str, Callable[[list[str]], int]] = {}


def register_benchmark(name: str, run: Callable[[list[str]], int]) -> None:
    if name in BENCHMARKS:
        raise ValueError(f"duplicate benchmark name {name!r}")
    BENCHMARKS[name] = run


def run_benchmark(name: str | None, args: list[str]) -> int:
    """Run benchmark ``name`` with ``args``; with no name, list the benchmarks.
    Unknown names are a usage error (exit 2)."""
    if name is None:
        if not BENCHMARKS:
            print("no benchmarks yet")
        for known in BENCHMARKS:
            print(known)
        return 0
    if name not in BENCHMARKS:
        if BENCHMARKS:
            print(f"restora-cli: bench: unknown benchmark {name!r}; known: "
                  f"{', '.join(BENCHMARKS)}", file=sys.stderr)
        else:
            print(f"restora-cli: no benchmarks yet: {name!r} is not one", file=sys.stderr)
        return 2
    return int(BENCHMARKS[name](list(args)) or 0)


def _bench_editor(args: list[str]) -> int:
    from editor.training.bench_editor import main  # torch, OpenCV: only when asked for

    return main(args)


register_benchmark("editor", _bench_editor)
register_benchmark("superres", lambda args: __import__(
    "editor.training.bench_superres", fromlist=["main"]).main(args))  # lazy: torch, OpenCV
register_benchmark("deblur", lambda args: __import__(
    "editor.training.bench_deblur", fromlist=["main"]).main(args))  # lazy: torch, OpenCV
register_benchmark("faces", lambda args: __import__(
    "editor.training.bench_faces", fromlist=["main"]).main(args))  # lazy: torch, dlib
register_benchmark("retouch", lambda args: __import__(
    "editor.training.bench_retouch", fromlist=["main"]).main(args))  # lazy: torch, OpenCV
register_benchmark("video", lambda args: __import__(
    "editor.training.bench_video", fromlist=["main"]).main(args))  # lazy: torch, OpenCV
register_benchmark("portrait", lambda args: __import__(
    "editor.training.bench_portrait", fromlist=["main"]).main(args))  # lazy: torch, dlib
register_benchmark("face-enhance", lambda args: __import__(
    "editor.training.bench_face_enhance", fromlist=["main"]).main(args))  # lazy: torch, dlib
