"""``restora-cli``: run Restora's tools headless over files and folders.

Subcommands and flags are generated from the tool registry and each tool's parameter
schema, the same schema that builds the GUI panel, and the work goes through the same
``tool.apply(image, params, progress)`` the GUI calls, so a batch gives the pixels the
editor would. Expected failures (unreadable images, missing weights, bad values, file
system errors) are reported as one line each, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TextIO

from editor import cli_portrait, cli_video
from editor.cli_bench import run_benchmark
from editor.core import imageio
from editor.engine.progress import Cancelled, Progress
from editor.tools import TOOLS, Param, Tool

PROG = "restora-cli"

# Output options every tool subcommand shares; a tool parameter may not reuse these names.
_COMMON_DESTS = {"inputs", "output_dir", "recursive", "format", "quality", "bit_depth",
                 "overwrite", "suffix", "command", "tool"}
_RESERVED_COMMANDS = {"list", "bench", "train-look", "video-sr", "train-facelet",
                      "portrait-video"}


class _UsageError(Exception):
    """A bad command line that argparse cannot catch (a parameter out of range...)."""


@dataclass(frozen=True)
class Job:
    """One input file and the output it will be written to."""
    source: Path
    target: Path


# --- parser ------------------------------------------------------------------------------

def _param_help(p: Param) -> str:
    # argparse %-formats help strings, so a literal "%" in a tooltip must be doubled.
    text = (p.help or p.display_label).replace("%", "%%")
    if p.kind == "choice":
        text += "; " + ", ".join(f"{value} = {label}" for value, label in p.choices)
    elif p.kind in (float, int):
        lo, hi = p.range
        text += f"; {lo:g}–{hi:g}"
    if p.kind == "path":
        return f"{text} (default: {p.default or 'none'})"
    return f"{text} (default: {p.default:g})" if p.kind in (float, int) else \
        f"{text} (default: {p.default})"


def _format_name(text: str) -> str:
    """--format value: case-insensitive, the usual aliases (jpg, tif) accepted."""
    name = text.strip().lower().lstrip(".")
    return {"jpg": "jpeg", "tif": "tiff"}.get(name, name)


def add_param_flags(group, owner: str, params: Sequence[Param]) -> None:
    """One flag per parameter of a schema (``--amount``, ``--no-faces``...), with the
    range, choices and default in its help; the values stay strings until
    :func:`param_values` validates them."""
    for p in params:
        if p.name in _COMMON_DESTS:
            raise ValueError(f"tool {owner!r}: parameter {p.name!r} clashes with a CLI option")
        if p.kind is bool:
            group.add_argument(p.flag, dest=p.name, default=None,
                               action=argparse.BooleanOptionalAction, help=_param_help(p))
            continue
        # Values stay strings here; main() validates them with Param.validate so the
        # message names the parameter and its range in one line.
        metavar = "{" + ",".join(v for v, _ in p.choices) + "}" if p.kind == "choice" \
            else p.name.upper()
        group.add_argument(p.flag, dest=p.name, default=None, metavar=metavar,
                           help=_param_help(p))


def _add_tool_parser(subparsers, tool: Tool) -> None:
    if tool.id in _RESERVED_COMMANDS:
        raise ValueError(f"tool id {tool.id!r} clashes with the {tool.id!r} command")
    sub = subparsers.add_parser(
        tool.id, help=tool.help or tool.label, description=tool.help or tool.label,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_param_flags(sub.add_argument_group(f"{tool.label} parameters"), tool.id, tool.params)
    sub.add_argument("inputs", nargs="+", metavar="INPUT", type=Path,
                     help="image files or folders of images")
    sub.add_argument("-o", "--output-dir", required=True, type=Path, metavar="OUTDIR",
                     help="folder for the results (created if missing)")
    sub.add_argument("-r", "--recursive", action="store_true",
                     help="also process subfolders, mirroring their structure under OUTDIR")
    sub.add_argument("--format", choices=[name.lower() for name in imageio.EXPORT_FORMATS],
                     type=_format_name, help="output format (default: the input's own format)")
    sub.add_argument("--quality", type=int, default=95, metavar="Q",
                     help="JPEG/WebP quality 1–100 (default: 95)")
    sub.add_argument("--bit-depth", type=int, choices=(8, 16), default=None,
                     help="bits per channel (default: the input's, where the format allows)")
    sub.add_argument("--overwrite", action="store_true",
                     help="replace existing outputs (inputs are never overwritten)")
    sub.add_argument("--suffix", default=None, metavar="S",
                     help=f"added to each output name (default: {tool.output_suffix!r})")
    sub.set_defaults(tool=tool)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Run Restora's tools on image files and folders.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    subparsers.add_parser("list", help="list the tools and models")
    bench = subparsers.add_parser("bench", help="run a benchmark")
    bench.add_argument("name", nargs="?", help="benchmark name (none: list them)")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    # Learn my look: listed for --help; main() hands its arguments to its own parser.
    subparsers.add_parser("train-look", help="learn a Retouch style from before/after photos")
    cli_video.add_parser(subparsers, add_param_flags)
    cli_portrait.add_parsers(subparsers)
    for tool in TOOLS.values():
        _add_tool_parser(subparsers, tool)
    return parser


def _coerce(p: Param, raw):
    """Turn a command-line string into the value Param.validate should judge, so that
    ``--amount 9`` is reported as ``9`` rather than ``'9'``."""
    if p.kind not in (float, int) or not isinstance(raw, str):
        return raw
    try:
        return int(raw)
    except ValueError:
        pass
    if p.kind is float:
        try:
            return float(raw)
        except ValueError:
            pass
    return raw  # let validate() explain: "expected a number" / "a whole number"


def tool_params(tool: Tool, ns: argparse.Namespace) -> dict:
    """The validated parameter dict for ``tool`` from parsed arguments (defaults filled)."""
    return param_values(tool.id, tool.params, ns)


def param_values(owner: str, params: Sequence[Param], ns: argparse.Namespace) -> dict:
    """The validated values of ``params`` from parsed arguments (defaults filled); a bad
    value is a usage error naming ``owner`` (the command) and the parameter."""
    values = {p.name: p.default for p in params}
    for p in params:
        raw = getattr(ns, p.name, None)
        if raw is None:
            continue
        try:
            values[p.name] = p.validate(_coerce(p, raw))
        except ValueError as e:
            raise _UsageError(f"{owner}: {e}") from None
        except OverflowError:  # int(inf) in Param.validate: still just an out-of-range value
            lo, hi = p.range
            raise _UsageError(f"{owner}: {p.name}: {raw} is outside {lo:g}–{hi:g}") from None
    return values


# --- listing -----------------------------------------------------------------------------

def _param_summary(p: Param) -> str:
    if p.kind == "choice":
        return f"{p.name}={p.default} {{{','.join(v for v, _ in p.choices)}}}"
    if p.kind is bool:
        return f"{p.name}={str(p.default).lower()}"
    if p.kind == "path":
        return f"{p.name}=PATH" + (f" (default {p.default})" if p.default else " (optional)")
    lo, hi = p.range
    return f"{p.name}={p.default:g} ({lo:g}–{hi:g})"


def _list(out: TextIO) -> int:
    print("Tools:", file=out)
    width = max((len(t) for t in TOOLS), default=0)
    for tool in TOOLS.values():
        params = ", ".join(_param_summary(p) for p in tool.params) or "no parameters"
        print(f"  {tool.id:<{width}}  {tool.label}: {params}", file=out)
    from editor.engine.registry import REGISTRY  # torch-free by design

    print("Models:", file=out)
    specs = list(REGISTRY)
    if not specs:
        print("  no models installed yet", file=out)
    for spec in specs:
        print(f"  {spec.id}  task={spec.task} arch={spec.architecture} x{spec.scale}"
              f"  licence: {spec.licence}", file=out)
    return 0


# --- planning ------------------------------------------------------------------------------

def _scan_folder(folder: Path, recursive: bool, skip_dir: Path) -> list[Path]:
    """Images in ``folder`` (by extension), sorted; hidden files and anything inside the
    output folder are ignored so a second run does not process its own results."""
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    skip_dir = skip_dir.resolve()
    found = []
    for path in pattern:
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() in imageio.OPEN_EXTENSIONS and path.is_file() \
                and not path.resolve().is_relative_to(skip_dir):
            found.append(path)
    return sorted(found)


def _output_suffix(source: Path, fmt: str | None) -> str:
    """Extension of the output: the chosen format's, else the input's own when we can
    write that format, else .png."""
    if fmt is not None:
        return imageio.EXPORT_FORMATS[fmt.upper()].extensions[0]
    return source.suffix if imageio.format_for_path(source) else ".png"


def plan_jobs(inputs: Sequence[Path], outdir: Path, *, recursive: bool, suffix: str,
              fmt: str | None) -> tuple[list[Job], list[str]]:
    """Map inputs to outputs. Returns the jobs and one problem line per unusable input."""
    jobs: list[Job] = []
    problems: list[str] = []
    for item in inputs:
        if item.is_dir():
            sources = [(p, p.parent.relative_to(item)) for p in
                       _scan_folder(item, recursive, outdir)]
            if not sources:
                problems.append(f"skipped {item}: no images found"
                                + ("" if recursive else " (use --recursive for subfolders)"))
        elif item.is_file():
            sources = [(item, Path())]
        else:
            problems.append(f"skipped {item}: no such file or folder")
            continue
        for source, rel in sources:
            name = source.stem + suffix + _output_suffix(source, fmt)
            jobs.append(Job(source, outdir / rel / name))
    return jobs, problems


# --- progress display ----------------------------------------------------------------------

class _Reporter:
    """Per-file lines on stderr, plus (on a terminal) one progress bar line redrawn with \\r."""

    BAR = 24

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.index = 0
        self.name = ""
        self._drawn = 0
        self._last = (-1, 0.0)

    def start(self, index: int, source: Path) -> None:
        self.index, self.name = index, source.name
        self.fraction(0.0, "")

    def fraction(self, fraction: float, _message: str) -> None:
        if not self.live:
            return
        done = (self.index + fraction) / max(1, self.total)
        percent = int(done * 100)
        now = time.monotonic()
        # Tiled tools report often; redraw only on a visible change, at most ~20 times a second.
        if percent == self._last[0] and now - self._last[1] < 0.05:
            return
        self._last = (percent, now)
        filled = int(done * self.BAR)
        text = (f"[{'#' * filled}{'-' * (self.BAR - filled)}] {self.index + 1}/{self.total} "
                f"{percent:3d}% {self.name}")
        text = text[:max(20, shutil.get_terminal_size().columns - 1)]
        self.stream.write("\r" + text.ljust(self._drawn))
        self.stream.flush()
        self._drawn = len(text)

    def clear(self) -> None:
        if self.live and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0

    def line(self, text: str) -> None:
        self.clear()
        print(text, file=self.stream, flush=True)


# --- running -------------------------------------------------------------------------------

def _expected_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (imageio.ImageIOError, ValueError, OSError,
                                               MemoryError)
    # Only model-backed tools import the weights module (and torch); if it was never
    # imported, no WeightsError can have been raised, so do not pay for the import.
    weights = sys.modules.get("editor.engine.weights")
    if weights is not None:
        errors += (weights.WeightsError,)
    return errors


def _reason(error: BaseException) -> str:
    if isinstance(error, MemoryError):
        return "not enough memory"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def run_jobs(tool: Tool, params: dict, jobs: list[Job], ns: argparse.Namespace,
             reporter: _Reporter) -> int:
    """Process every job; returns how many failed or were skipped."""
    failed = 0
    claimed: set[Path] = set()
    for index, job in enumerate(jobs):
        target = job.target.resolve()
        if _same_file(job.source, job.target):
            reporter.line(f"skipped {job.source}: the output would overwrite the input")
            failed += 1
            continue
        if target in claimed:
            reporter.line(f"skipped {job.source}: another input already writes {job.target}")
            failed += 1
            continue
        claimed.add(target)
        if job.target.exists() and not ns.overwrite:
            reporter.line(f"skipped {job.source}: {job.target} exists (use --overwrite)")
            failed += 1
            continue
        reporter.start(index, job.source)
        started = time.monotonic()
        try:
            image, meta = imageio.load_image(job.source)
            result = tool.apply(image, params, Progress(reporter.fraction))
            job.target.parent.mkdir(parents=True, exist_ok=True)
            imageio.save_image(job.target, result, meta, format=ns.format,
                               quality=ns.quality, bit_depth=ns.bit_depth,
                               original=job.source)
        except Cancelled:
            raise
        except Exception as error:  # noqa: BLE001 - one bad file must not stop the batch
            failed += 1
            if isinstance(error, _expected_errors()):
                reporter.line(f"skipped {job.source}: {_reason(error)}")
            else:
                reporter.line(f"skipped {job.source}: unexpected {type(error).__name__}: "
                              f"{error} (a bug; please report it)")
            continue
        reporter.line(f"{job.source} -> {job.target} ({time.monotonic() - started:.1f} s)")
    return failed


def _run_tool(ns: argparse.Namespace, err: TextIO) -> int:
    tool: Tool = ns.tool
    params = tool_params(tool, ns)
    if not 1 <= ns.quality <= 100:
        raise _UsageError(f"--quality: {ns.quality} is outside 1–100")
    info = imageio.EXPORT_FORMATS[ns.format.upper()] if ns.format else None
    if info is not None and ns.bit_depth == 16 and not info.supports_16bit:
        raise _UsageError(f"--bit-depth: {ns.format} files cannot hold 16 bits per channel")
    suffix = tool.output_suffix if ns.suffix is None else ns.suffix
    if os.sep in suffix or (os.altsep and os.altsep in suffix):
        raise _UsageError(f"--suffix: {suffix!r} must not contain a path separator")
    outdir: Path = ns.output_dir
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"{PROG}: cannot create output folder {outdir}: {_reason(e)}", file=err)
        return 1
    if not os.access(outdir, os.W_OK | os.X_OK):
        print(f"{PROG}: output folder {outdir} is not writable", file=err)
        return 1

    jobs, problems = plan_jobs(ns.inputs, outdir, recursive=ns.recursive, suffix=suffix,
                               fmt=ns.format)
    reporter = _Reporter(len(jobs), err)
    for line in problems:
        reporter.line(line)
    if not jobs:
        reporter.line(f"{PROG}: no images to process")
        return 1
    try:
        failed = run_jobs(tool, params, jobs, ns, reporter)
    except (KeyboardInterrupt, Cancelled):
        # save_image writes through a temp file + rename, so nothing half-written remains.
        reporter.line(f"{PROG}: interrupted")
        return 130
    failed += len(problems)
    written = len(jobs) - (failed - len(problems))
    reporter.line(f"{tool.id}: {written} written, {failed} skipped or failed")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``restora-cli``; returns the exit status (0 ok, 1 some file failed,
    2 usage error, 130 interrupted)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["train-look"]:
        # Its own parser, whole (argparse would keep "--help" from reaching it).
        from editor.training.learn_look import main as train_look  # torch: only when asked

        return train_look(args[1:])
    if args[:1] and args[0] in cli_portrait.COMMANDS:
        return cli_portrait.main(args)  # their own parsers, whole, like train-look
    parser = build_parser()
    try:
        ns = parser.parse_args(args)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2), already printed
        return e.code if isinstance(e.code, int) else 2
    try:
        if ns.command == "list":
            return _list(sys.stdout)
        if ns.command == "bench":
            return run_benchmark(ns.name, ns.args)
        if ns.command == cli_video.COMMAND:
            from editor.tools.video_sr import PARAMS

            return cli_video.run(ns, param_values(cli_video.COMMAND, PARAMS, ns), sys.stderr)
        return _run_tool(ns, sys.stderr)
    except _UsageError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
