"""``restora-cli video-sr``: video super-resolution headless (the File ▸ Video
super-resolution… dialog's work, :func:`editor.tools.video_pipeline.run_video_sr`).

A video file in gives a video file out (same frame rate, audio carried over where the
container allows); a folder of numbered frames in gives a folder of numbered frames out, in
the same order. The parameter flags come from :data:`editor.tools.video_sr.PARAMS` through
the same generator as every tool's (``editor.cli.add_param_flags``). Expected failures are
one line and exit code 1; Ctrl+C exits with 130 and leaves no partial output.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Callable, TextIO

COMMAND = "video-sr"

_EXAMPLES = """examples:
  restora-cli video-sr clip.mp4 -o clip_x4.mp4 --scale 4 --frames 5
  restora-cli video-sr frames/ -o frames_x2/ --scale 2 --degradation bi"""


def add_parser(subparsers, add_param_flags: Callable) -> None:
    """The ``video-sr`` subcommand; ``add_param_flags`` is editor.cli's flag generator."""
    from editor.tools.video_sr import PARAMS
    from editor.video.io import VIDEO_SUFFIXES

    text = ("Enlarge a video, or a folder of numbered frames, with the SPMC video "
            "super-resolution network: each output frame borrows detail from its neighbours.")
    sub = subparsers.add_parser(COMMAND, help="video super-resolution (a video or a frames "
                                "folder)", description=text, epilog=_EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_param_flags(sub.add_argument_group("Video super-resolution parameters"), COMMAND,
                    PARAMS)
    kinds = ", ".join(s.lstrip(".") for s in VIDEO_SUFFIXES)
    sub.add_argument("input", type=Path, metavar="INPUT",
                     help=f"a video file ({kinds}) or a folder of numbered frames")
    sub.add_argument("-o", "--output", type=Path, default=None, metavar="OUTPUT",
                     help="the video file or frames folder to write (a name without a suffix "
                          "is a folder); default: INPUT_x<scale>.mp4 beside a video, "
                          "INPUT_x<scale> beside a folder")
    sub.add_argument("--overwrite", action="store_true",
                     help="replace an existing output file (it is replaced only once the new "
                          "one is complete)")


class VideoReporter:
    """Progress on ``stream``: on a terminal one line redrawn with \\r (bar, percent, frame,
    ETA); otherwise a line at each stage and every 10 %."""

    BAR = 24

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self._drawn = 0
        self._last = (-1, "", 0.0)
        self._next_percent = 0
        self._stage = ""

    def update(self, fraction: float, message: str) -> None:
        percent = int(fraction * 100)
        if self.live:
            now = time.monotonic()
            if (percent, message) == self._last[:2] or now - self._last[2] < 0.1 \
                    and message == self._last[1]:
                return
            self._last = (percent, message, now)
            filled = int(fraction * self.BAR)
            text = f"[{'#' * filled}{'-' * (self.BAR - filled)}] {percent:3d}% {message}"
            text = text[:max(20, shutil.get_terminal_size().columns - 1)]
            self.stream.write("\r" + text.ljust(self._drawn))
            self.stream.flush()
            self._drawn = len(text)
            return
        if not message.startswith("Frame"):
            if message and message != self._stage:
                self._stage = message
                print(message, file=self.stream, flush=True)
            return
        if percent >= self._next_percent:
            self._next_percent = (percent // 10 + 1) * 10
            print(f"{percent:3d}% {message}", file=self.stream, flush=True)

    def line(self, text: str) -> None:
        if self.live and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self._drawn = 0
        print(text, file=self.stream, flush=True)


def run(ns: argparse.Namespace, values: dict, err: TextIO) -> int:
    """Run ``video-sr`` with validated ``values``; returns the exit status (0 written, 1
    failed, 130 interrupted)."""
    from editor.cli import PROG, _expected_errors, _reason
    from editor.engine.progress import Cancelled, Progress
    from editor.tools import video_pipeline as pipeline

    source: Path = ns.input
    target: Path = ns.output or pipeline.default_output(source, values["scale"])
    prefix = f"{PROG}: {COMMAND}:"
    if not source.exists():
        print(f"{prefix} {source}: no such file or folder", file=err)
        return 1
    if target.exists() and not ns.overwrite and not (target.is_dir() and not any(target.iterdir())):
        print(f"{prefix} {target} exists (use --overwrite to replace it)", file=err)
        return 1
    reporter = VideoReporter(err)
    try:
        summary = pipeline.run_video_sr(source, target, values, Progress(reporter.update))
    except (KeyboardInterrupt, Cancelled):
        reporter.line(f"{PROG}: interrupted; nothing was written to {target}")
        return 130
    except Exception as error:  # noqa: BLE001 - one line, never a traceback
        if isinstance(error, _expected_errors()):
            reporter.line(f"{prefix} {_reason(error)}")
        else:
            reporter.line(f"{prefix} unexpected {type(error).__name__}: {error} "
                          "(a bug; please report it)")
        return 1
    audio = "" if summary.audio_note in ("", "none") else f", audio {summary.audio_note}"
    reporter.line(f"{source} -> {summary.output} ({summary.frames} frames, {summary.width}x"
                  f"{summary.height}, {summary.seconds_per_frame:.2f} s per frame{audio})")
    return 0
