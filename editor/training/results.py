"""Where benchmark numbers go: one JSON file per benchmark and one section of RESULTS.md.

Every ``restora-cli bench NAME`` writes through :func:`write_results`, so that

* ``models/results/NAME.json`` holds the raw numbers with the machine they were measured
  on (a median means little without the core count and thread limit beside it), and
* ``models/RESULTS.md`` gets the human table between ``<!-- bench:NAME -->`` and
  ``<!-- /bench:NAME -->``. Re-running one benchmark replaces only its own section; the
  others, and any prose written around them by hand, are kept as they were.

Both files are written atomically (temp file + rename) and RESULTS.md is rewritten under
an advisory lock, so a crash or two benchmarks finishing at once cannot leave a torn or
half-merged file.

Also here: the small measuring helpers every benchmark needs, so they all measure the
same way: :func:`median_seconds`, :func:`markdown_table` and the peak-memory pair
:func:`reset_peak_rss` / :func:`peak_rss_mb`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

from editor.core.imageio import atomic_write

RESULTS_FILE = "RESULTS.md"

_RESULTS_HEADER = (
    "# Benchmark results\n\n"
    "Written by `restora-cli bench NAME`; each section below is replaced by the next run "
    "of its benchmark (raw numbers and the machine: `results/NAME.json`).\n"
)

# Benchmark names become file names and HTML-comment markers: keep them plain.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

#: How :func:`peak_rss_mb` measures, for the tables to say so.
PEAK_RSS_METHOD = ("peak resident set size of the whole process (getrusage ru_maxrss; "
                   "reset per stage through /proc/self/clear_refs where Linux allows it)")


# -- measuring -----------------------------------------------------------------------------

def timings(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls
    (the first call pays for lazy imports, allocator growth and cold caches)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats!r}, {warmup!r}")
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn`` over ``repeats`` timed calls. The median, not
    the mean: one call disturbed by another process on a shared machine must not move it."""
    return statistics.median(timings(fn, repeats, warmup))


def reset_peak_rss() -> bool:
    """Start a new peak-memory window, so :func:`peak_rss_mb` reports the peak of the next
    stage rather than of everything the process did before. Linux only (writing 5 to
    /proc/self/clear_refs resets the kernel's RSS high-water mark, which is also what
    getrusage reports); returns False where that is not possible, and the peak then stays
    the process's lifetime peak."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process in MiB since start or the last successful
    :func:`reset_peak_rss`; None where the platform cannot tell (Windows).

    Resident memory rather than tracemalloc: image codecs (libjpeg, zlib, libtiff) and
    OpenCV allocate outside Python's allocator, and tracemalloc would not see them."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kibibytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def rss_mb() -> float | None:
    """Resident memory of this process now, in MiB (None where /proc is not available):
    the baseline a stage's peak is compared with."""
    try:
        with open("/proc/self/statm") as fh:
            resident_pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


# -- formatting ---------------------------------------------------------------------------

def _cell(value: object) -> str:
    # A "|" would end the cell and a newline the row; neither may leak out of a value.
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table (no trailing newline); every row must have one
    cell per header."""
    if not headers:
        raise ValueError("a table needs at least one column")
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    for i, row in enumerate(rows):
        if len(row) != len(headers):
            raise ValueError(f"row {i} has {len(row)} cells, expected {len(headers)}: {row!r}")
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)


def machine_info() -> dict:
    """What a reader needs to compare two runs of a benchmark."""
    info: dict = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        # Other processes competing for the cores are the usual reason two runs differ.
        info["load_average_1_5_15min"] = [round(v, 2) for v in os.getloadavg()]
    # Versions of the heavy libraries only when the benchmark already loaded them: a
    # results writer must not pay for importing torch.
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        info["numpy"] = numpy.__version__
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        info["opencv"] = cv2.__version__
        info["opencv_threads"] = cv2.getNumThreads()
    return info


# -- writing ------------------------------------------------------------------------------

def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def replace_section(document: str, name: str, section: str) -> str:
    """``document`` with the text between ``name``'s markers replaced by ``section`` (the
    markers kept), or with a new marked section appended when there is none yet."""
    begin, end = _markers(name)
    block = f"{begin}\n{section.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(document):
        # A function replacement: the section's backslashes (escaped "|") must stay literal.
        return pattern.sub(lambda _match: block, document, count=1)
    if not document.strip():
        document = _RESULTS_HEADER
    return document.rstrip("\n") + "\n\n" + block + "\n"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    # Read-modify-write of a shared file: two benchmarks finishing together would each
    # keep only their own section without this. The lock is taken on the folder itself,
    # so no lock file is left lying in models/. Advisory, POSIX only; elsewhere a no-op.
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def write_results(name: str, title: str, markdown: str, data: dict,
                  models_dir: Path | None = None) -> tuple[Path, Path]:
    """Record one benchmark run: ``models_dir/results/<name>.json`` (``data`` plus the
    machine) and the ``<name>`` section of ``models_dir/RESULTS.md`` (``## title`` then
    ``markdown``). ``models_dir`` defaults to the models folder the engine loads weights
    from (a checkout's models/, or $RESTORA_MODELS_DIR), so the tables sit beside the
    weights they describe; tests pass a temporary one. Returns (json path, RESULTS.md path)."""
    if not _NAME.match(name):
        raise ValueError(f"benchmark name {name!r} must be lower-case letters, digits, "
                         "'.', '_' or '-'")
    if models_dir is None:
        from editor.engine.registry import models_dir as engine_models_dir  # torch-free

        models_dir = engine_models_dir()
    folder = Path(models_dir)
    (folder / "results").mkdir(parents=True, exist_ok=True)

    record = {"name": name, "title": title, "machine": machine_info(), "data": data}
    json_path = folder / "results" / f"{name}.json"
    # allow_nan=False: a NaN would make the file unreadable to strict JSON parsers; a
    # benchmark that produced one has a bug that should surface here.
    _write_text(json_path, json.dumps(record, indent=2, sort_keys=False, allow_nan=False,
                                      default=str) + "\n")

    section = f"## {title}\n\n{markdown.strip()}\n\n" \
              f"_Measured {record['machine']['date']}; raw numbers: `results/{name}.json`._"
    md_path = folder / RESULTS_FILE
    with _locked(folder):
        old = md_path.read_text(encoding="utf-8") if md_path.exists() else ""
        _write_text(md_path, replace_section(old, name, section))
    return json_path, md_path
