"""Video frame I/O for the video tools: read and write uint8 RGB frames (HxWx3, RGB order,
never BGR) from video files (through PyAV's bundled FFmpeg) and numbered-image folders.

Reading accepts whatever PyAV opens (mp4, mov, mkv, webm, gif...) and frames folders (see
:mod:`editor.video.frames_folder`). Writing picks the codec from the suffix and is atomic:
the output is written under a hidden temporary name in the target's folder and only moved
into place by :meth:`FrameWriter.commit`, so a cancelled or failed run leaves nothing that
looks complete. Every failure a user can cause raises :class:`VideoError`. No Qt here.
"""

from __future__ import annotations

import bisect
import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".gif")

# Audio codecs each container takes as-is (stream copy); mkv takes what its muxer lists.
# Animated-image codecs: every frame is a delta on the last, so never seek into them.
_NO_SEEK_CODECS = {"gif", "apng", "webp"}
# FFmpeg's "tty" demuxer renders any text file as ANSI art; that is not a video.
_TEXT_CODECS = {"ansi", "bintext", "xbin", "idf"}
# AVColorSpace tag -> swscale matrix (SWS_CS_*); untagged video gets swscale's BT.601 default.
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
_ATTACHED_PIC = 0x400  # AV_DISPOSITION_ATTACHED_PIC: cover art, not the video
_FORWARD_DECODE_LIMIT = 48  # frame(i) decodes on instead of seeking when i is this close ahead


class VideoError(ValueError):
    """A clear, user-facing message about a bad input or output (unreadable or truncated file,
    unsupported codec, numbering gaps, frames of different sizes, unwritable or full target).
    ``str(err)`` is shown to the user as is."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` found. ``width``/``height`` are as displayed (after any rotation
    the container asks for). A frames folder has no stored rate: ``fps`` is 25 there."""

    path: Path
    kind: str  # "video" (a container file) or "frames" (a folder of numbered images)
    width: int
    height: int
    frame_count: int
    fps: Fraction
    has_audio: bool
    codec: str  # e.g. "h264", or "png" for a frames folder
    frame_names: tuple[str, ...] = ()  # frames folder: the file names in order


def output_kind(path: str | os.PathLike) -> str:
    """``"frames"`` when ``path`` is an existing folder or has no suffix, else ``"video"``."""
    p = Path(path)
    return "frames" if p.is_dir() or not p.suffix else "video"


def probe(path: str | os.PathLike) -> VideoInfo:
    """Describe a video file or a frames folder; raises :class:`VideoError`. The frame count
    comes from the container when it stores one (mp4, mov, gif), else from counting the
    video packets (mkv, webm), which reads the file but decodes nothing."""
    p = Path(path)
    if p.is_dir():
        from editor.video import frames_folder
        return frames_folder.scan(p)
    if not p.exists():
        raise VideoError(f'"{p}" does not exist.')
    if not p.is_file():
        raise VideoError(f'"{p.name}" is not a video file or a folder of frames.')
    container = _open_input(p)
    try:
        stream = _video_stream(container, p)
        codec = _codec_name(stream)
        if codec in _TEXT_CODECS or container.format.name == "tty":
            raise VideoError(f'"{p.name}" is not a video file.')
        _check_not_truncated(stream, p)
        first = _first_frame(container, stream, p, codec)
        width, height = first.width, first.height
        if _quarter_turns(first) % 2:
            width, height = height, width
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        has_audio = any(s.type == "audio" for s in container.streams)
        count = stream.frames
    finally:
        container.close()
    if count <= 0:
        count = _count_packets(p)
    return VideoInfo(path=p, kind="video", width=width, height=height, frame_count=count,
                     fps=Fraction(fps), has_audio=has_audio, codec=codec)


def _open_input(path: Path):
    try:
        return av.open(str(path), "r", metadata_errors="ignore")
    except av.FFmpegError as err:
        if isinstance(err, FileNotFoundError):
            raise VideoError(f'"{path}" does not exist.') from err
        if isinstance(err, PermissionError):
            raise VideoError(f'"{path.name}" could not be opened: permission denied.') from err
        raise VideoError(f'"{path.name}" could not be decoded: it is not a video file that can '
                         f'be read, or it is damaged or truncated ({_reason(err)}).') from err


def _reason(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return str(text).rstrip(".")


def _video_stream(container, path: Path):
    for stream in container.streams.video:
        disposition = getattr(stream, "disposition", 0)  # a Flag enum, or an int
        if not int(getattr(disposition, "value", disposition)) & _ATTACHED_PIC:  # no cover art
            return stream
    raise VideoError(f'"{path.name}" has no video stream.')


def _codec_name(stream) -> str:
    ctx = stream.codec_context
    if ctx is None:
        return "unknown"
    return getattr(ctx.codec, "canonical_name", None) or ctx.name


def _check_not_truncated(stream, path: Path) -> None:
    """Containers with a sample index up front (mp4/mov) know where every frame lies."""
    try:
        entries = stream.index_entries
        end = max((e.pos + e.size for e in entries if e.pos >= 0), default=0)
    except (AttributeError, av.FFmpegError):
        return
    if end > path.stat().st_size:
        raise VideoError(f'"{path.name}" could not be decoded: the file is truncated (it ends '
                         'before its last frames).')


def _first_frame(container, stream, path: Path, codec: str):
    try:
        for frame in container.decode(stream):
            return frame
    except av.DecoderNotFoundError as err:
        raise VideoError(f'"{path.name}" uses the {codec} video codec, which cannot be '
                         'decoded here.') from err
    except av.FFmpegError as err:
        raise VideoError(f'"{path.name}" could not be decoded ({codec}: {_reason(err)}).') from err
    raise VideoError(f'"{path.name}" could not be decoded: its {codec} video stream has no '
                     'frames that can be decoded.')


def _count_packets(path: Path) -> int:
    container = _open_input(path)
    try:
        stream = _video_stream(container, path)
        return sum(1 for packet in container.demux(stream)
                   if packet.size and not packet.is_discard)
    except av.FFmpegError as err:
        raise VideoError(f'"{path.name}" could not be decoded: {_reason(err)}.') from err
    finally:
        container.close()


def _quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns asked for by the frame's display matrix."""
    try:
        return round((frame.rotation or 0) / 90) % 4
    except (AttributeError, TypeError, ValueError):
        return 0


def _to_rgb(frame) -> np.ndarray:
    # Say the YUV matrix and range the stream is tagged with: older PyAV ignores the tags.
    # Untagged range: limited for YUV, full for yuvj/grey/RGB/palette, as FFmpeg assumes.
    matrix = _SWS_MATRIX.get(int(getattr(frame, "colorspace", 2) or 2))
    tagged = int(getattr(frame, "color_range", 0) or 0)
    yuv = frame.format.name.startswith("yuv") and not frame.format.name.startswith("yuvj")
    src_range = tagged if tagged in (1, 2) else 1 if yuv else 2
    rgb = frame.to_ndarray(format="rgb24", src_colorspace=matrix, src_color_range=src_range,
                           dst_color_range=2)
    turns = _quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


class FrameReader:
    """Frames of one video or frames folder as uint8 RGB HxWx3 arrays, in order. Use as a
    context manager. 10/16-bit sources are reduced to 8 bits, alpha is dropped.

    ``len()`` is the stored frame count; iterating a damaged file stops early or raises
    :class:`VideoError`. :meth:`frame` is random access for a preview scrubber."""

    def __init__(self, info: VideoInfo) -> None:
        self.info = info
        self._seeker: _Seeker | None = None

    def __len__(self) -> int:
        return self.info.frame_count

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.info.kind == "frames":
            from editor.video import frames_folder
            for name in self.info.frame_names:
                yield self._checked(frames_folder.read_frame(self.info.path / name), name)
            return
        path = self.info.path
        container = _open_input(path)
        try:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"
            count = 0
            try:
                for frame in container.decode(stream):
                    yield _to_rgb(frame)
                    count += 1
            except av.FFmpegError as err:
                raise VideoError(f'"{path.name}" could not be decoded after frame {count}: '
                                 f'{_reason(err)}.') from err
            if count == 0:
                raise VideoError(f'"{path.name}" could not be decoded: no frame came out.')
        finally:
            container.close()

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as uint8 RGB. Seeks to the keyframe before it and decodes
        forward; raises IndexError outside ``range(len(self))``."""
        if not 0 <= index < self.info.frame_count:
            raise IndexError(f"frame {index} is outside 0..{self.info.frame_count - 1}")
        if self.info.kind == "frames":
            from editor.video import frames_folder
            name = self.info.frame_names[index]
            return self._checked(frames_folder.read_frame(self.info.path / name), name)
        if self._seeker is None:
            self._seeker = _Seeker(self.info)
        return self._seeker.get(index)

    def _checked(self, rgb: np.ndarray, name: str) -> np.ndarray:
        if rgb.shape[:2] != (self.info.height, self.info.width):
            raise VideoError(f'"{name}" is now {rgb.shape[1]} x {rgb.shape[0]} pixels, not '
                             f'{self.info.width} x {self.info.height} like the other frames.')
        return rgb

    def close(self) -> None:
        if self._seeker is not None:
            self._seeker.close()
            self._seeker = None

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Seeker:
    """Random access into one video: maps frame index -> presentation timestamp from the
    packet index, seeks to the keyframe before, decodes forward; decodes on without seeking
    when the next request is just ahead (scrubbing forward)."""

    def __init__(self, info: VideoInfo) -> None:
        self.path = info.path
        self.count = info.frame_count
        self.container = None
        self.pts = None
        self.can_seek = info.codec not in _NO_SEEK_CODECS
        self._reopen()
        if self.can_seek:
            self.pts = self._packet_pts()
            self.can_seek = self.pts is not None and len(self.pts) == self.count
        self._cache: tuple[int, np.ndarray] | None = None

    def _reopen(self) -> None:
        if self.container is not None:
            self.container.close()
        self.container = _open_input(self.path)
        self.stream = _video_stream(self.container, self.path)
        self.frames = self.container.decode(self.stream)
        self.next = 0  # index of the next frame self.frames yields; None when unknown

    def _packet_pts(self) -> list[int] | None:
        pts = []
        try:
            for packet in self.container.demux(self.stream):
                if packet.size and not packet.is_discard:
                    if packet.pts is None:
                        return None
                    pts.append(packet.pts)
        except av.FFmpegError:
            return None
        finally:
            self._reopen()
        return sorted(pts)

    def get(self, index: int) -> np.ndarray:
        if self._cache is not None and self._cache[0] == index:
            return self._cache[1].copy()
        try:
            frame = self._find(index)
        except av.FFmpegError as err:
            self._reopen()
            raise VideoError(f'"{self.path.name}" could not be decoded at frame {index}: '
                             f'{_reason(err)}.') from err
        if frame is None:
            raise VideoError(f'"{self.path.name}" could not be decoded at frame {index}; the '
                             'file may be truncated or damaged.')
        rgb = _to_rgb(frame)
        self._cache = (index, rgb)
        return rgb.copy()

    def _find(self, index: int):
        ahead = self.next is not None and self.next <= index < self.next + _FORWARD_DECODE_LIMIT
        if not ahead:
            if self.can_seek:
                try:
                    self.container.seek(self.pts[index], stream=self.stream, backward=True)
                except av.FFmpegError:
                    self.can_seek = False  # this file cannot seek: decode from the start
                else:
                    self.frames = self.container.decode(self.stream)
                    self.next = None
                    frame = self._decode_to(index)
                    if frame is not False:
                        return frame
            self._reopen()  # cannot seek, or the seek overshot: decode from the start
        frame = self._decode_to(index)
        return None if frame is False else frame

    def _decode_to(self, index: int):
        """Decode on to frame ``index``; False when the decoder is already past it."""
        for frame in self.frames:
            if self.can_seek and frame.pts is not None:
                at = bisect.bisect_left(self.pts, frame.pts)
            elif self.next is not None:
                at = self.next
            else:
                return False
            self.next = at + 1
            if at == index:
                return frame
            if at > index:
                return False
        self.next = None
        return None

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


def open_reader(path: str | os.PathLike) -> FrameReader:
    """Probe ``path`` and return a :class:`FrameReader` on it; raises :class:`VideoError`."""
    return FrameReader(probe(path))


def write_error_message(err: OSError, target: Path) -> str:
    """A user-facing sentence for an OS error met while writing ``target``."""
    code = getattr(err, "errno", None)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f'Not enough disk space to write "{target.name}" in "{target.parent}".'
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f'Cannot write into "{target.parent}": permission denied or a read-only disk.'
    if code in (errno.ENOENT, errno.ENOTDIR):
        return f'The folder "{target.parent}" does not exist.'
    return f'Writing "{target.name}" failed: {_reason(err)}.'


class FrameWriter:
    """Writes uint8 RGB HxWx3 frames to a video file or a frames folder, atomically. Use as a
    context manager: leaving the block with an exception calls :meth:`abort`, without one
    :meth:`commit`. ``audio_note`` says what happened to the audio of ``audio_from``:
    "copied", "re-encoded to aac" (or opus for webm), "dropped: ..." or "none"."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction) -> None:
        self.path = path
        self.width = width
        self.height = height
        self.fps = fps
        self.frames_written = 0
        self.audio_note = "none"
        self._state = "starting"  # subclasses set "open" once their temporary output exists

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 RGB frame of the size given to :func:`open_writer`."""
        if self._state != "open":
            raise RuntimeError(f"the writer for {self.path.name} is already {self._state}")
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
            raise VideoError(f"Frame {self.frames_written + 1} is not a uint8 RGB image.")
        if frame.shape != (self.height, self.width, 3):
            raise VideoError(f"Frame {self.frames_written + 1} has shape {frame.shape}; every "
                             f"frame must be {self.height} x {self.width} x 3 (RGB).")
        try:
            self._guard(self._write_frame, np.ascontiguousarray(frame))
        except BaseException:
            self.abort()
            raise
        self.frames_written += 1

    def commit(self) -> Path:
        """Finish the file (or folder) and move it onto the target; returns the target."""
        if self._state != "open":
            raise RuntimeError(f"the writer for {self.path.name} is already {self._state}")
        if self.frames_written == 0:
            self.abort()
            raise VideoError(f'No frames were written, so "{self.path.name}" was not created.')
        try:
            self._guard(self._finish)
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        return self.path

    def abort(self) -> None:
        """Remove everything written; the target is left exactly as it was."""
        if self._state == "open":
            self._state = "aborted"
            self._discard()

    def _guard(self, fn: Callable, *args):
        """Run fn, turning OS and FFmpeg errors into a VideoError for the user."""
        try:
            return fn(*args)
        except VideoError:
            raise
        except (OSError, av.FFmpegError) as err:
            if isinstance(err, OSError) and err.errno is not None:
                raise VideoError(write_error_message(err, self.path)) from err
            raise VideoError(f'Writing "{self.path.name}" failed: {_reason(err)}.') from err

    def _write_frame(self, rgb: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif self._state == "open":
            self.commit()

    def __del__(self) -> None:
        if getattr(self, "_state", None) == "open":
            try:
                self.abort()
            except Exception:
                pass


def open_writer(path: str | os.PathLike, *, width: int, height: int, fps: Fraction,
                like: VideoInfo | None = None, audio_from: Path | None = None) -> FrameWriter:
    """A writer for ``path``: a video (codec by suffix, see :data:`VIDEO_SUFFIXES`) or, when
    :func:`output_kind` says "frames", numbered PNGs in a folder (named like ``like``'s
    frames when it is a frames folder). Audio of ``audio_from`` is copied, re-encoded or
    dropped as the output allows. Raises :class:`VideoError`."""
    target = Path(path)
    if int(width) != width or int(height) != height or width < 1 or height < 1:
        raise VideoError(f"The output size {width} x {height} is not valid.")
    try:
        rate = Fraction(fps).limit_denominator(1_000_000)
    except (TypeError, ValueError) as err:
        raise VideoError(f"The frame rate {fps!r} is not a number.") from err
    if rate <= 0:
        raise VideoError(f"The frame rate {fps} must be above 0.")
    audio_path = Path(audio_from) if audio_from is not None else None
    if output_kind(target) == "frames":
        from editor.video import frames_folder
        return frames_folder.FramesFolderWriter(target, int(width), int(height), rate, like,
                                                audio_path)
    from editor.video import video_writer
    return video_writer.VideoFileWriter(target, int(width), int(height), rate, audio_path)
