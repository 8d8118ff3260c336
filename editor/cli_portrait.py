"""``restora-cli train-facelet`` and ``restora-cli portrait-video``: Portrait edit's two
commands that are not a per-image tool run (``restora-cli portrait`` is generated from the
tool's schema like every tool).

    restora-cli train-facelet --positive smiling/ --negative neutral/ --name smile
    restora-cli portrait-video clip.mp4 -o older.mp4 --effect older --strength 0.7

``train-facelet`` finds and aligns the faces in two folders of photos (positive = with the
attribute), trains a facelet on the CPU in minutes and saves it into the user facelets
folder ($RESTORA_FACELETS_DIR, else ~/.local/share/restora/facelets), where Portrait
edit's effect list finds it. ``portrait-video`` edits every frame of a video (or a folder
of numbered frames) with a fixed effect and strength (:func:`editor.tools.portrait.
portrait_frame`): the same strength gives the same edit on every frame. Expected failures
are one line and exit code 1; no partial output is left.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PROG = "restora-cli"
COMMANDS = ("train-facelet", "portrait-video")


def add_parsers(subparsers) -> None:
    """List both commands in ``restora-cli --help`` (main() parses their arguments)."""
    subparsers.add_parser("train-facelet", help="train your own Portrait edit effect from "
                                                "two folders of photos")
    subparsers.add_parser("portrait-video", help="Portrait edit on every frame of a video")


def _train_parser() -> argparse.ArgumentParser:
    from editor.training.train_facelet import MIN_USER_FACES, USER_ITERS

    p = argparse.ArgumentParser(
        prog=f"{PROG} train-facelet",
        description="Train a Portrait edit effect (a facelet) from two folders of photos: "
                    "faces WITH the attribute (--positive) and WITHOUT it (--negative), at "
                    f"least {MIN_USER_FACES} usable faces each (20+ work better).")
    p.add_argument("--positive", type=Path, required=True, metavar="DIR")
    p.add_argument("--negative", type=Path, required=True, metavar="DIR")
    p.add_argument("--name", required=True, help="effect name: lower-case letters, digits, - _")
    p.add_argument("--label", default="", help="what the effect list shows (default: name)")
    p.add_argument("--iters", type=int, default=USER_ITERS)
    p.add_argument("--threads", type=int, default=2)
    return p


def train_facelet(argv: list[str]) -> int:
    try:
        ns = _train_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    from editor.engine.weights import WeightsError
    from editor.training.train_facelet import train_user_facelet

    started = time.monotonic()
    try:
        effect = train_user_facelet(ns.positive, ns.negative, ns.name, label=ns.label,
                                    iters=ns.iters, threads=ns.threads,
                                    log=lambda line: print(line, file=sys.stderr))
    except (ValueError, OSError, WeightsError) as error:
        print(f"{PROG} train-facelet: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    print(f"saved effect '{effect.name}' ({effect.label}) to {effect.directory} in "
          f"{time.monotonic() - started:.0f} s; use it with: {PROG} portrait --effect "
          f"{effect.name}")
    return 0


def portrait_video(argv: list[str]) -> int:
    from editor.cli import add_param_flags, param_values
    from editor.tools.portrait import TOOL

    p = argparse.ArgumentParser(prog=f"{PROG} portrait-video",
                                description="Portrait edit on every frame of a video or a "
                                            "folder of numbered frames.")
    add_param_flags(p.add_argument_group("Portrait edit parameters"), "portrait-video",
                    TOOL.params)
    p.add_argument("input", type=Path, metavar="INPUT")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUTPUT")
    p.add_argument("--overwrite", action="store_true")
    try:
        ns = p.parse_args(argv)
        params = TOOL.resolve(param_values("portrait-video", TOOL.params, ns))
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    except Exception as error:  # noqa: BLE001 - a bad value is one line
        print(f"{PROG} portrait-video: {error}", file=sys.stderr)
        return 2
    try:
        frames = edit_video(ns.input, ns.output, params["effect"], params["strength"],
                            ns.overwrite)
    except (ValueError, OSError) as error:
        print(f"{PROG} portrait-video: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130
    print(f"{ns.output}: {frames} frames")
    return 0


def edit_video(source: Path, target: Path, effect: str, strength: float,
               overwrite: bool = False) -> int:
    """Every frame through :func:`portrait_frame`; the writer is aborted (no partial
    output) on any failure. Returns the frames written."""
    from editor.tools import portrait
    from editor.video.io import open_reader, open_writer, probe

    source, target = Path(source), Path(target)
    if target.exists() and not overwrite:
        raise ValueError(f"{target} exists (use --overwrite to replace it)")
    info = probe(source)
    with open_reader(source) as reader:
        writer = open_writer(target, width=info.width, height=info.height, fps=info.fps,
                             like=info, audio_from=source if info.kind == "video" else None)
        try:
            for frame in reader:
                writer.write(portrait.portrait_frame(frame, effect, strength))
            written = writer.frames_written
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    return written


def main(argv: list[str]) -> int:
    """``argv`` starts with the command name."""
    command, rest = argv[0], list(argv[1:])
    return train_facelet(rest) if command == "train-facelet" else portrait_video(rest)
