"""Stand-ins for the video super-resolution tests: tiny generated clips (a video file or a
folder of numbered PNGs), a bicubic "upscaler" with the VideoUpscaler interface, and a
random-weight SPMC network saved as a model of the test's own (no trained weights)."""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from editor.tools.video_sr import bicubic_upscale, frame_window
from editor.video.io import open_writer

W, H = 24, 16


def level_frames(count: int, width: int = W, height: int = H) -> list[np.ndarray]:
    """Frames whose grey level says their index (30 + 20 * i, lossy codecs keep it within a
    few levels) over a faint texture, so frame order can be read back from any output."""
    rng = np.random.default_rng(0)
    texture = rng.integers(-6, 7, (height, width, 1))
    return [np.clip(30 + 20 * i + texture, 0, 255).repeat(3, axis=2).astype(np.uint8)
            for i in range(count)]


def frame_index(frame: np.ndarray) -> int:
    """The index a :func:`level_frames` frame (or an enlargement of it) carries."""
    return int(round((float(np.asarray(frame, np.float32).mean()) - 30) / 20))


def write_video(path: Path, frames: list[np.ndarray], fps=Fraction(12)) -> Path:
    h, w = frames[0].shape[:2]
    with open_writer(path, width=w, height=h, fps=fps) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def write_frames_folder(folder: Path, frames: list[np.ndarray], prefix: str = "shot_",
                        start: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{prefix}{start + i:03d}.png")
    return folder


def read_png_folder(folder: Path) -> list[tuple[str, np.ndarray]]:
    return [(p.name, np.asarray(Image.open(p).convert("RGB")))
            for p in sorted(folder.glob("*.png"))]


class BicubicUpscaler:
    """The VideoUpscaler interface without a network: the reference frame, enlarged
    bicubically. Records each window (as frame indices read from the pixels, see
    :func:`frame_index`) and can cancel or fail at a chosen output frame."""

    def __init__(self, scale: int = 2, frames: int = 3, *, cancel_at: int | None = None,
                 fail_at: int | None = None, delay: float = 0.0) -> None:
        self.scale = scale
        self.frames = frames
        self.cancel_at = cancel_at
        self.fail_at = fail_at
        self.delay = delay
        self.windows: list[tuple[list[int], int]] = []
        self.calls = 0
        self.started = threading.Event()

    def window(self, index: int, count: int) -> tuple[list[int], int]:
        return frame_window(index, count, self.frames)

    def upscale(self, window, ref, progress=None):
        self.started.set()
        index = self.calls
        self.calls += 1
        self.windows.append(([frame_index(f) for f in window], ref))
        if self.fail_at is not None and index == self.fail_at:
            raise RuntimeError("the upscaler broke")
        if self.cancel_at is not None and index == self.cancel_at and progress is not None:
            progress.cancel()
        if self.delay and progress is not None:
            for _ in range(max(1, int(self.delay / 0.01))):
                progress.check_cancelled()
                time.sleep(0.01)
        if progress is not None:
            progress.set_progress(1.0, "Tile 1 of 1")
        return bicubic_upscale(window[ref], self.scale)


#: A narrow SPMC (the shipped one is wider): fast enough for a test on two CPU cores.
TINY_SPMC = {"flow_width": 8, "widths": (8, 8, 8), "hidden": 8}


def tiny_spmc_source(directory: Path, *, save: bool = True):
    """A SingleModel for a random-weight SPMCVideoSR saved in ``directory`` (``save=False``:
    the same spec with no weights file, for the missing-model message). The output layer is
    nudged off its zero init so the network's "after" differs from bicubic."""
    import torch

    from editor.engine.registry import ModelSpec
    from editor.engine.weights import save_weights
    from editor.nets.spmc import SPMCVideoSR
    from editor.tools.model_slot import SingleModel

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = SPMCVideoSR(**TINY_SPMC)
    with torch.no_grad():
        net.fusion.out.weight.normal_(0.0, 0.01)
    sha = save_weights(net, directory / "test-spmc.safetensors") if save else "0" * 64
    spec = ModelSpec(id="test-spmc", task="video_sr", architecture="spmc",
                     weights="test-spmc.safetensors", sha256=sha, licence="none (test weights)",
                     scale=1, tiling=False, tile_overlap=0, arch_kwargs=TINY_SPMC,
                     description="random-weight SPMC for tests")
    return SingleModel(spec, directory=directory, device="cpu",
                       what="video super-resolution model")
