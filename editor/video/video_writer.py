"""Writing a video file (the encoder half of :mod:`editor.video.io`): the codec chosen by
the suffix, the frame rate kept exactly, the source's audio copied, re-encoded or dropped,
and the file encoded under a hidden temporary name beside the target and renamed onto it
only by :meth:`FrameWriter.commit`. Frames are uint8 RGB HxWx3. :func:`editor.video.io.
open_writer` is the way in; nothing else should build these classes.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from editor.video.io import (VIDEO_SUFFIXES, FrameWriter, VideoError, _codec_name, _reason,
                             write_error_message)

_BT709 = 1  # AVCOL_SPC/PRI/TRC_BT709 and SWS_CS_ITU709 share the value
_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".gif": "gif"}
_VIDEO_CODECS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264",
                 ".webm": "libvpx-vp9", ".gif": "gif"}
_VIDEO_OPTIONS = {"libx264": {"crf": "18", "preset": "medium"},
                  "libvpx-vp9": {"crf": "20", "b": "0", "row-mt": "1", "deadline": "good",
                                 "cpu-used": "3"},
                  "gif": {}}
_AUDIO_COPY = {".mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
               ".mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s16be",
                        "pcm_s24le", "pcm_s24be"},
               ".webm": {"opus", "vorbis"}, ".gif": set()}
_AUDIO_ENCODE = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus"}
_AAC_RATES = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000}
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


class VideoFileWriter(FrameWriter):
    """Encodes into ``.<stem>.partial-<random><suffix>`` beside the target (the suffix picks
    the muxer) and renames it onto the target in commit()."""

    def __init__(self, target: Path, width: int, height: int, fps: Fraction,
                 audio_from: Path | None) -> None:
        super().__init__(target, width, height, fps)
        self.container = None
        self._audio = None
        self.suffix = target.suffix.lower()
        if self.suffix not in VIDEO_SUFFIXES:
            raise VideoError(f'Cannot write "{target.name}": choose a video file ending in '
                             f'{", ".join(VIDEO_SUFFIXES)}, or a folder for numbered frames.')
        if target.is_dir():
            raise VideoError(f'"{target}" is a folder, not a video file.')
        if not target.parent.is_dir():
            raise VideoError(f'The folder "{target.parent}" does not exist.')
        self.codec = _VIDEO_CODECS[self.suffix]
        if self.codec == "libx264":
            self.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        else:
            self.pix_fmt = "pal8" if self.codec == "gif" else "yuv420p"
        self.temp = target.parent / f".{target.stem}.partial-{secrets.token_hex(4)}{target.suffix}"
        try:  # reserve the temporary name; fails early on a read-only or missing folder
            os.close(os.open(self.temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except OSError as err:
            raise VideoError(write_error_message(err, target)) from err
        try:
            self._start(audio_from)
        except BaseException:
            self._state = "aborted"
            self._discard()
            raise
        self._state = "open"

    def _start(self, audio_from: Path | None) -> None:
        source, self.audio_note = _AudioSource.open(audio_from)
        if source is None:
            self._guard(self._open_container, None)
            return
        if self.suffix == ".gif":
            source.close()
            self.audio_note = "dropped: gif has no audio"
            self._guard(self._open_container, None)
            return
        copyable = _AUDIO_COPY.get(self.suffix)
        modes = ["copy", "encode"] if copyable is None or source.codec in copyable else ["encode"]
        for mode in modes:
            try:
                self._open_container(source, mode)
                break
            except (av.FFmpegError, ValueError) as err:
                self._close_container()
                if mode == "encode":
                    source.close()
                    self.audio_note = f"dropped: the audio could not be converted ({_reason(err)})"
                    self._guard(self._open_container, None)
                    return

    def _open_container(self, source: _AudioSource | None, mode: str = "") -> None:
        self.container = av.open(str(self.temp), "w", format=_FORMATS[self.suffix])
        video = self.container.add_stream(self.codec, rate=self.fps,
                                          options=dict(_VIDEO_OPTIONS[self.codec]))
        video.width, video.height, video.pix_fmt = self.width, self.height, self.pix_fmt
        ctx = video.codec_context
        ctx.time_base = 1 / self.fps
        if self.codec != "gif":  # tag what _write_frame converts to, so players agree
            ctx.colorspace = ctx.color_primaries = ctx.color_trc = _BT709
            ctx.color_range = _LIMITED_RANGE
        if self.codec == "libvpx-vp9":
            ctx.bit_rate = 0  # constant quality (crf)
        self.video = video
        if source is not None:
            source.add_output(self.container, mode, _AUDIO_ENCODE.get(self.suffix, "aac"))
        self.container.start_encoding()
        if source is not None:
            self._audio = source
            self.audio_note = "copied" if mode == "copy" else \
                f"re-encoded to {_AUDIO_ENCODE[self.suffix].removeprefix('lib')}"

    def _close_container(self) -> None:
        if self.container is not None:
            try:
                self.container.close()
            except (av.FFmpegError, OSError):
                pass
            self.container = None

    def _write_frame(self, rgb: np.ndarray) -> None:
        frame = _gif_frame(rgb) if self.codec == "gif" else av.VideoFrame.from_ndarray(
            rgb, format="rgb24").reformat(format=self.pix_fmt, dst_colorspace=_BT709,
                                          dst_color_range=_LIMITED_RANGE)
        frame.pts = self.frames_written
        self._mux(self.video.encode(frame))
        self._pump_audio((self.frames_written + 1) / self.fps)

    def _mux(self, packets) -> None:
        self.container.mux(packets)

    def _pump_audio(self, until: Fraction | float) -> None:
        if self._audio is not None:
            self._mux(list(self._audio.packets_until(until)))
            if self._audio.dropped:
                self.audio_note = self._audio.dropped

    def _finish(self) -> None:
        self._mux(self.video.encode(None))
        self._pump_audio(math.inf)
        if self._audio is not None:
            self._mux(self._audio.flush())
            self._audio.close()
        self.container.close()
        self.container = None
        with open(self.temp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self.temp, self.path)

    def _discard(self) -> None:
        self._close_container()
        if self._audio is not None:
            self._audio.close()
        try:
            os.unlink(self.temp)
        except (OSError, AttributeError):
            pass


def _gif_frame(rgb: np.ndarray):
    """A pal8 frame with its own adaptive 256-colour palette (median cut)."""
    from PIL import Image
    quantized = Image.fromarray(rgb).quantize(256, method=Image.Quantize.MEDIANCUT)
    colours = np.asarray(quantized.getpalette()[:768], dtype=np.uint8).reshape(-1, 3)
    palette = np.zeros((256, 4), dtype=np.uint8)  # columns A, R, G, B
    palette[:, 0] = 255
    palette[:len(colours), 1:] = colours
    return av.VideoFrame.from_ndarray((np.asarray(quantized), palette), format="pal8")


class _AudioSource:
    """The first audio stream of ``audio_from``, copied or re-encoded into the output in
    step with the video frames (so the muxer never buffers a whole track). A read error
    stops the audio there and sets ``dropped``; the video carries on."""

    def __init__(self, container, stream, offset: Fraction) -> None:
        self.container = container
        self.stream = stream
        self.codec = _codec_name(stream)
        self.offset = offset  # seconds: the source video's start, which becomes 0
        self.mode = ""
        self.out = None
        self.pending = None
        self.dropped = ""
        self.next_sample: int | None = None
        self._packets = None

    @classmethod
    def open(cls, path: Path | None) -> tuple[_AudioSource | None, str]:
        """(source, "none") or (None, why there is no audio to carry over)."""
        if path is None or Path(path).is_dir():  # a frames folder has no audio
            return None, "none"
        try:
            container = av.open(str(path), "r", metadata_errors="ignore")
        except av.FFmpegError as err:
            return None, f'dropped: "{Path(path).name}" could not be read ({_reason(err)})'
        if not container.streams.audio:
            container.close()
            return None, "none"
        stream = container.streams.audio[0]
        start = 0
        for s in (*container.streams.video, stream):
            if s.start_time is not None and s.time_base is not None:
                start = s.start_time * s.time_base
                break
        return cls(container, stream, Fraction(start)), "none"

    def add_output(self, container, mode: str, encoder: str) -> None:
        if self._packets is not None:  # a second try (copy failed): start over
            self.container.seek(0)
        self.mode = mode
        self.pending = None
        self.next_sample = None
        self._packets = self.container.demux(self.stream)
        if mode == "copy":
            self.out = container.add_stream_from_template(self.stream)
            return
        ctx = self.stream.codec_context
        rate = ctx.sample_rate if ctx.sample_rate in _AAC_RATES else 48000
        if encoder == "libopus":
            rate = 48000
        self.out = container.add_stream(encoder, rate=rate)
        layout = ctx.layout.name if ctx.layout.nb_channels <= 2 or encoder == "aac" else "stereo"
        self.out.layout = layout
        self.out.codec_context.time_base = Fraction(1, rate)

    def packets_until(self, until: Fraction | float) -> Iterator:
        """Output packets for the source audio up to ``until`` seconds of video."""
        while not self.dropped:
            try:
                if self.pending is None:
                    self.pending = next(self._packets, None)
                    while self.pending is not None and self.pending.dts is None:
                        self.pending = next(self._packets, None)  # demuxer flush packets
                packet = self.pending
                if packet is None:
                    return
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts * packet.time_base - self.offset >= until:
                    return
                self.pending = None
                if self.mode == "copy":
                    shift = int(self.offset / packet.time_base)
                    if packet.pts is not None:
                        packet.pts -= shift
                    packet.dts -= shift
                    packet.stream = self.out
                    yield packet
                    continue
                frames = packet.decode()
            except av.FFmpegError as err:
                self.dropped = f"dropped from {float(until):.1f} s: {_reason(err)}"
                return
            for frame in frames:
                yield from self._encode(frame)

    def _encode(self, frame) -> list:
        if self.next_sample is None:
            start = (frame.pts or 0) * frame.time_base - self.offset if frame.time_base else 0
            self.next_sample = max(0, round(start * frame.sample_rate))
        frame.pts = self.next_sample
        frame.time_base = Fraction(1, frame.sample_rate)
        self.next_sample += frame.samples
        return self.out.encode(frame)

    def flush(self) -> list:
        return self.out.encode(None) if self.mode == "encode" and self.out is not None else []

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None
