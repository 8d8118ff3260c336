"""The video super-resolution run: read a clip, upscale every frame with its neighbours,
write the result. Qt-free; the GUI dialog runs it on its engine thread, ``restora-cli
video-sr`` runs it in the foreground.

Memory: frames are decoded in order and only the sliding window the current output frame
needs is kept (at most ``frames`` decoded frames), never the whole clip.

Safety: the writer puts its output under a hidden temporary name and moves it into place
only once every frame is written (:meth:`FrameWriter.commit`); cancelling, Ctrl+C or any
error calls :meth:`FrameWriter.abort`, so an interrupted run leaves no output at all and an
existing file at the target is left exactly as it was.

Pixels: frames are uint8 RGB HxWx3 (:mod:`editor.video.io`); the network gives float32 RGB
in [0, 1], rounded back to uint8 for the writer.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from editor.engine.progress import Progress
from editor.tools.video_sr import VideoUpscaler, bicubic_upscale, resolve
from editor.video.io import FrameReader, VideoError, open_reader, open_writer, probe

#: Seconds of work before the ETA is trusted (the first frame also pays for warming up).
_ETA_AFTER_S = 2.0


@dataclass(frozen=True)
class VideoSRSummary:
    """What a finished run wrote."""

    output: Path
    frames: int
    seconds: float
    seconds_per_frame: float
    width: int
    height: int
    audio_note: str

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every output frame."""
        return self.width, self.height


def format_eta(seconds: float) -> str:
    """A rough, human remaining-time text: "about 40 s left", "about 3 min left"."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"about {max(5, int(round(seconds / 5.0)) * 5)} s left"
    minutes = int(round(seconds / 60.0))
    if minutes < 60:
        return f"about {minutes} min left"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min left" if minutes else f"about {hours} h left"


def frame_message(index: int, count: int, started: float, done: int,
                  now: float | None = None) -> str:
    """"Frame 3 of 120 · about 3 min left" for 0-based ``index``, ``done`` frames finished
    since ``started`` (time.monotonic)."""
    now = time.monotonic() if now is None else now
    text = f"Frame {index + 1} of {count}"
    elapsed = now - started
    if done <= 0 or elapsed < _ETA_AFTER_S and done < 3:
        return text + " · estimating the time left"
    return f"{text} · {format_eta(elapsed / done * (count - done))}"


class _FrameStage(Progress):
    """The part of ``parent`` one output frame owns: fractions map into [start, end] and the
    frame's own message stays (the tiler's "Tile k of m" means nothing to the user here);
    cancelling is the parent's."""

    def __init__(self, parent: Progress, start: float, end: float) -> None:
        super().__init__(lambda f, _message: parent.set_progress(start + (end - start) * f))
        self._parent = parent

    def cancel(self) -> None:
        self._parent.cancel()

    @property
    def cancelled(self) -> bool:
        return self._parent.cancelled

    def check_cancelled(self) -> None:
        self._parent.check_cancelled()


def _same_path(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    return np.round(np.clip(frame, 0.0, 1.0) * 255.0).astype(np.uint8)


def default_output(input_path: str | os.PathLike, scale: int) -> Path:
    """Where the result goes unless the user says otherwise: ``clip_x4.mp4`` beside a video
    file, ``frames_x4`` (a folder) beside a frames folder."""
    source = Path(input_path)
    if source.is_dir():
        return source.with_name(f"{source.name}_x{int(scale)}")
    return source.with_name(f"{source.stem}_x{int(scale)}.mp4")


def check_paths(input_path: Path, output_path: Path) -> None:
    """The problems found before any work: a missing input, an output that is the input."""
    if not input_path.exists():
        raise VideoError(f'"{input_path}" does not exist.')
    if _same_path(input_path, output_path):
        raise VideoError(f'The output "{output_path}" is the input itself; choose another '
                         'name so the original is kept.')


def run_video_sr(input_path: str | os.PathLike, output_path: str | os.PathLike, values: dict,
                 progress: Progress | None = None, *,
                 upscaler: VideoUpscaler | None = None) -> VideoSRSummary:
    """Upscale the video file or frames folder at ``input_path`` into ``output_path`` (a video
    file, or a folder of numbered frames: :func:`editor.video.io.output_kind` decides), with
    the parameters ``values`` of :data:`editor.tools.video_sr.PARAMS` (defaults filled in).

    ``upscaler`` replaces the network built from ``values`` (tests, a dialog that has one
    loaded); its ``scale`` and ``frames`` then rule. Raises VideoError for a bad input or
    output, the engine's WeightsError when the model is missing, ValueError for bad values,
    Cancelled when ``progress`` is cancelled; in every such case nothing is left at the
    output path that was not there before.
    """
    progress = progress or Progress()
    source, target = Path(input_path), Path(output_path)
    params = resolve(values)
    check_paths(source, target)
    progress.set_progress(0.0, f'Reading "{source.name}"…')
    info = probe(source)
    if info.frame_count < 1:
        raise VideoError(f'"{source.name}" holds no frames.')
    scale = int(upscaler.scale if upscaler is not None else params["scale"])
    width, height = info.width * scale, info.height * scale
    with open_reader(source) as reader:
        count = len(reader)
        if count < 1:
            raise VideoError(f'"{source.name}" holds no frames.')
        # The writer first: a bad output (suffix, missing or full folder) is reported
        # before the model is loaded.
        writer = open_writer(target, width=width, height=height, fps=info.fps, like=info,
                             audio_from=source if info.kind == "video" else None)
        try:
            if upscaler is None:
                progress.set_progress(0.0, "Loading the video super-resolution model…")
                upscaler = VideoUpscaler(params)
            started = time.monotonic()
            _upscale_all(reader, count, upscaler, writer, progress, started)
            progress.set_progress(1.0, f'Finishing "{target.name}"…')
            written = writer.frames_written
            path = writer.commit()
        except BaseException:
            # Cancelled, Ctrl+C, a full disk, a bug: never leave a partial output behind.
            writer.abort()
            raise
    seconds = time.monotonic() - started
    return VideoSRSummary(output=path, frames=written, seconds=seconds,
                          seconds_per_frame=seconds / max(1, written), width=width,
                          height=height, audio_note=writer.audio_note)


def _upscale_all(reader: FrameReader, count: int, upscaler, writer, progress: Progress,
                 started: float) -> None:
    name = reader.info.path.name
    shape = (reader.info.height, reader.info.width, 3)
    decoded = iter(reader)
    window: deque[tuple[int, np.ndarray]] = deque()  # (index, frame), consecutive indices
    next_index = 0
    for index in range(count):
        progress.check_cancelled()
        progress.set_progress(index / count, frame_message(index, count, started, index))
        indices, ref = upscaler.window(index, count)
        while window and window[0][0] < indices[0]:
            window.popleft()
        while next_index <= indices[-1]:
            progress.check_cancelled()
            frame = next(decoded, None)
            if frame is None:
                raise VideoError(f'"{name}" ended after {next_index} of its {count} frames; '
                                 'the file may be truncated or damaged.')
            if frame.shape != shape:
                raise VideoError(f'Frame {next_index + 1} of "{name}" is {frame.shape[1]} x '
                                 f'{frame.shape[0]} pixels, not {shape[1]} x {shape[0]} like '
                                 'the others.')
            window.append((next_index, frame))
            next_index += 1
        frames = [frame for i, frame in window if i in indices]
        stage = _FrameStage(progress, index / count, (index + 1) / count)
        result = upscaler.upscale(frames, ref, progress=stage)
        progress.check_cancelled()
        writer.write(_to_uint8(result))


def preview_frame(reader: FrameReader, index: int, upscaler,
                  progress: Progress | None = None,
                  crop: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(before, after) of output frame ``index``: the bicubic enlargement and the network's,
    both float32 RGB in [0, 1] of the same size. ``crop`` (x, y, width, height in input
    pixels) previews only that part of the frame (and of its neighbours), for speed."""
    count = len(reader)
    indices, ref = upscaler.window(index, count)
    frames: Sequence[np.ndarray] = [reader.frame(i) for i in indices]
    if crop is not None:
        x, y, w, h = (int(v) for v in crop)
        frames = [np.ascontiguousarray(f[y:y + h, x:x + w]) for f in frames]
    before = bicubic_upscale(frames[ref], upscaler.scale)
    after = upscaler.upscale(frames, ref, progress=progress)
    return before, np.asarray(after, dtype=np.float32)


def centre_crop(width: int, height: int, max_width: int, max_height: int
                ) -> tuple[int, int, int, int] | None:
    """The centred (x, y, w, h) of at most ``max_width`` x ``max_height`` pixels, or None
    when the whole frame fits."""
    if width <= max_width and height <= max_height:
        return None
    w, h = min(width, max_width), min(height, max_height)
    return (width - w) // 2, (height - h) // 2, w, h
