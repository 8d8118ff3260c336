"""Video super-resolution: the SPMC network (:mod:`editor.nets.spmc`) on a window of frames.

Qt-free and file-free: :mod:`editor.tools.video_pipeline` reads and writes the video, the GUI
dialog and ``restora-cli video-sr`` drive it. One output frame comes from its window of
``frames`` consecutive input frames centred on it; at the start and the end of a clip the
window is cut short ("border frames use what exists": fewer neighbours, never invented ones).

Colour: the network restores luma (BT.601 Y, what it was trained on); chroma (Cb, Cr) is
up-sampled bicubically, as the paper does (the eye resolves far less colour detail).

Pixels: frames are uint8 (or float in [0, 1]) RGB HxWx3; results float32 RGB in [0, 1].
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from editor.engine.progress import Progress
from editor.tools.model_slot import ModelSlot, SingleModel
from editor.tools.schema import Param

VIDEO_SR_MODEL = "video-spmc"
MODEL = ModelSlot(VIDEO_SR_MODEL, "video super-resolution model")

PARAMS = (
    Param("scale", int, 4, range=(2, 4), label="Scale",
          help="How many times larger each frame gets (2, 3 or 4)", suffix="×"),
    Param("frames", "choice", "5", label="Frames",
          choices=(("3", "3 frames"), ("5", "5 frames"), ("7", "7 frames")),
          help="How many neighbouring frames lend their detail to each output frame: more "
               "frames reveal more detail where things move slowly, and take longer"),
    Param("degradation", "choice", "bd", label="Source looks",
          choices=(("bd", "Soft (camera blur, BD)"), ("bi", "Sharp but small (bicubic, BI)")),
          help="How the low-resolution video was made: most camera footage is soft (BD); a "
               "video shrunk by software is sharp and aliased (BI)"),
)
PARAM_BY_NAME = {p.name: p for p in PARAMS}

#: LR tile side and its context margin (the motion network's coarsest level sees about 24
#: LR pixels each way; the fusion net less).
TILE, OVERLAP = 256, 32


def resolve(values: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults overlaid with ``values``, each validated (ValueError names the bad one)."""
    out = {p.name: p.default for p in PARAMS}
    for name, value in (values or {}).items():
        if name not in PARAM_BY_NAME:
            raise ValueError(f"video-sr: unknown parameter {name!r}; known: "
                             f"{', '.join(PARAM_BY_NAME)}")
        out[name] = PARAM_BY_NAME[name].validate(value)
    return out


def frame_window(index: int, count: int, frames: int) -> tuple[list[int], int]:
    """(input frame indices, position of ``index`` among them) for output frame ``index``
    of a ``count``-frame clip: ``frames`` centred on it, cut at the clip's ends."""
    if not 0 <= index < count:
        raise IndexError(f"frame {index} is outside a clip of {count} frames")
    half = frames // 2
    start, stop = max(0, index - half), min(count, index + half + 1)
    return list(range(start, stop)), index - start


# BT.601 studio-swing YCbCr on [0, 1] (MATLAB rgb2ycbcr / 255), the network's luma.
_TO_YCC = np.array([[65.481, 128.553, 24.966],
                    [-37.797, -74.203, 112.0],
                    [112.0, -93.786, -18.214]], dtype=np.float64) / 255.0
_YCC_OFFSET = np.array([16.0, 128.0, 128.0]) / 255.0
_FROM_YCC = np.linalg.inv(_TO_YCC)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) @ _TO_YCC.T.astype(np.float32)
            + _YCC_OFFSET.astype(np.float32))


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    return (ycc - _YCC_OFFSET.astype(np.float32)) @ _FROM_YCC.T.astype(np.float32)


def as_float(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB frame, got shape {frame.shape}")
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    return frame.astype(np.float32, copy=False)


def bicubic_upscale(frame: np.ndarray, scale: int) -> np.ndarray:
    """The "before" of the comparison: plain bicubic enlargement, float32 RGB."""
    image = as_float(frame)
    h, w = image.shape[:2]
    return np.clip(cv2.resize(image, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC),
                   0.0, 1.0)


class VideoUpscaler:
    """The loaded network and one setting of the parameters; :meth:`upscale` makes one
    output frame. Loading raises the engine's one-line WeightsError when the weights file
    is missing or damaged."""

    def __init__(self, values: dict[str, Any] | None = None,
                 source: SingleModel | None = None) -> None:
        params = resolve(values)
        self.scale = int(params["scale"])
        self.frames = int(params["frames"])
        self.degradation = 1.0 if params["degradation"] == "bd" else 0.0
        self.net = (source or MODEL.current()).load()

    def window(self, index: int, count: int) -> tuple[list[int], int]:
        return frame_window(index, count, self.frames)

    def upscale(self, window: Sequence[np.ndarray], ref: int,
                progress: Progress | None = None) -> np.ndarray:
        """The ×scale RGB frame for ``window[ref]``, its neighbours lending detail."""
        import torch

        from editor.engine.tiling import run_tiled

        if not window:
            raise ValueError("no frames to upscale")
        if not 0 <= ref < len(window):
            raise IndexError(f"reference {ref} is outside the {len(window)}-frame window")
        frames = [as_float(f) for f in window]
        shape = frames[0].shape
        if any(f.shape != shape for f in frames):
            raise ValueError("the frames of a window must all have the same size")
        ycc = rgb_to_ycbcr(frames[ref])
        lumas = np.stack([ycc[..., 0] if i == ref else rgb_to_ycbcr(f)[..., 0]
                          for i, f in enumerate(frames)], axis=-1)
        net, scale, flag = self.net, self.scale, self.degradation

        def fn(tile: torch.Tensor) -> torch.Tensor:  # (1, T, h, w) -> (1, 1, hs, ws)
            return net(tile[:, :, None], ref, scale, flag)

        y = run_tiled(fn, np.ascontiguousarray(lumas), scale=scale, tile=TILE,
                      overlap=OVERLAP, progress=progress, min_size=8)[..., 0]
        h, w = shape[:2]
        chroma = cv2.resize(ycc[..., 1:], (w * scale, h * scale),
                            interpolation=cv2.INTER_CUBIC)
        out = ycbcr_to_rgb(np.concatenate([y[..., None], chroma], axis=-1))
        return np.clip(out, 0.0, 1.0).astype(np.float32)
