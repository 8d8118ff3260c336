"""OpenCV's published super-resolution models, run as a side-by-side baseline in benchmarks.

These are the frozen TensorFlow graphs OpenCV's ``dnn_superres`` module ships (ESPCN and
FSRCNN at x2/x3/x4, LapSRN at x2/x4; Apache-2.0, from Saafke/FSRCNN_Tensorflow,
fannymonori/TF-ESPCN and fannymonori/TF-LapSRN), found in ``../shared/peers``. They are
a yardstick only: never part of the product, never loaded by a tool.

Why not ``cv2.dnn_superres``: it lives in opencv-contrib, and the project installs plain
opencv-python-headless. So this module does what ``DnnSuperResImpl::upsample`` does for
"espcn", "fsrcnn" and "lapsrn", with plain ``cv2.dnn``:

1. 8-bit BGR -> ``cv2.cvtColor(..., COLOR_BGR2YCrCb)`` (OpenCV's full-range JPEG YCrCb,
   *not* the studio-range BT.601 Y the metrics use), then float / 255;
2. the Y plane alone goes through the network (1x1xHxW in, 1x1x(sH)x(sW) out; for
   LapSRN x4 the last, x4, output);
3. Cr and Cb are enlarged with ``cv2.resize(..., fx=s, fy=s)`` (bilinear, OpenCV's
   default), the three planes merged, converted to 8 bits (x 255, rounded, saturated)
   and back to BGR with ``COLOR_YCrCb2BGR``.

One repair is needed on the way in. The graphs end in a TensorFlow ``DepthToSpace`` node
whose block size is the attribute ``block_size``; OpenCV 4.7+'s built-in DepthToSpace layer
reads ``blocksize`` and OpenCV's TensorFlow importer copies unknown attributes verbatim,
so loading fails with "blocksize is required". (``dnn_superres`` avoided this by
registering its own layer; a Python-registered layer hangs ``readNetFromTensorflow`` in
OpenCV 5.0.) :func:`_with_blocksize` adds a ``blocksize`` attribute beside ``block_size``
in those nodes by re-encoding the GraphDef's protobuf wire format; nothing else in the
graph changes, and older OpenCVs, which read ``block_size`` or ignore the extra key, load
it as before. TensorFlow's DepthToSpace is the "DCR" order, OpenCV's default.

Pixels at the boundary: float32 RGB HxWx3 in [0, 1] in and out (the project's contract);
BGR exists only inside :meth:`OpenCVPeer.upscale`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

#: Environment variable that replaces the default peers folder.
PEERS_DIR_ENV = "RESTORA_PEERS_DIR"


@dataclass(frozen=True)
class PeerSpec:
    """One published model: ``algorithm`` as dnn_superres names it, and its scale."""

    algorithm: str   # "espcn", "fsrcnn" or "lapsrn"
    scale: int
    filename: str
    label: str       # the paper's name, for tables

    @property
    def name(self) -> str:
        return f"{self.label} ×{self.scale}"


#: Every model OpenCV publishes for dnn_superres that runs on the Y channel (EDSR, the
#: fourth, is a 38 MB RGB network and is not among the peers we were given).
PEER_MODELS: tuple[PeerSpec, ...] = tuple(
    PeerSpec(alg, s, f"{label}_x{s}.pb", label)
    for alg, label, scales in (("fsrcnn", "FSRCNN", (2, 3, 4)), ("espcn", "ESPCN", (2, 3, 4)),
                               ("lapsrn", "LapSRN", (2, 4)))
    for s in scales)


def default_peers_dir() -> Path:
    """``../shared/peers`` beside the checkout (RESTORA_PEERS_DIR overrides)."""
    override = os.environ.get(PEERS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "peers"


class PeerUnavailable(RuntimeError):
    """A peer model cannot be used here; ``str()`` is a one-line reason for a table."""


# -- the GraphDef repair ---------------------------------------------------------------------
# Protobuf wire format, only as much as needed: GraphDef.node = field 1 (NodeDef);
# NodeDef.op = field 2, NodeDef.attr = field 5 (map entries: key = 1, value = 2).

def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _fields(buf: bytes) -> Iterator[tuple[int, bytes | None, bytes]]:
    """(field number, payload of a length-delimited field else None, raw bytes) in order."""
    i = 0
    while i < len(buf):
        start = i
        key, i = _read_varint(buf, i)
        number, wire = key >> 3, key & 7
        payload = None
        if wire == 0:
            _, i = _read_varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            length, i = _read_varint(buf, i)
            payload = buf[i:i + length]
            i += length
        else:  # groups (3, 4) are not used by GraphDef
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if i > len(buf):
            raise ValueError("truncated protobuf field")
        yield number, payload, buf[start:i]


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _repair_node(node: bytes) -> bytes:
    fields = list(_fields(node))
    if not any(n == 2 and p == b"DepthToSpace" for n, p, _ in fields):
        return node
    out = bytearray()
    keys = set()
    for number, payload, raw in fields:
        out += raw
        if number == 5 and payload is not None:
            entry = list(_fields(payload))
            key = next((p for n, p, _ in entry if n == 1), None)
            keys.add(key)
            if key == b"block_size":
                value = b"".join(r for n, _, r in entry if n != 1)
                out += _length_delimited(5, _length_delimited(1, b"blocksize") + value)
    if b"blocksize" in keys:  # already there: leave the node exactly as it was
        return node
    return bytes(out)


def _with_blocksize(graph: bytes) -> bytes:
    """The serialized GraphDef ``graph`` with ``blocksize`` added beside ``block_size`` in
    every DepthToSpace node (see the module docstring)."""
    out = bytearray()
    for number, payload, raw in _fields(graph):
        out += _length_delimited(1, _repair_node(payload)) \
            if number == 1 and payload is not None else raw
    return bytes(out)


# -- running ---------------------------------------------------------------------------------

class OpenCVPeer:
    """A loaded peer model; :meth:`upscale` enlarges float RGB by ``spec.scale``."""

    def __init__(self, spec: PeerSpec, directory: str | os.PathLike[str] | None = None) -> None:
        self.spec = spec
        folder = Path(directory) if directory is not None else default_peers_dir()
        self.path = folder / spec.filename
        if not folder.is_dir():
            raise PeerUnavailable(f"peers folder {folder} not found")
        if not self.path.is_file():
            raise PeerUnavailable(f"{spec.filename} not found in {folder}")
        if not hasattr(cv2.dnn, "readNetFromTensorflow"):
            # OpenCV 5 removed the TensorFlow importer; pyproject.toml pins 4.x for this.
            raise PeerUnavailable(f"OpenCV {cv2.__version__} cannot read TensorFlow graphs "
                                  f"such as {spec.filename}: install opencv-python-headless<5")
        try:
            graph = _with_blocksize(self.path.read_bytes())
            self.net = cv2.dnn.readNetFromTensorflow(np.frombuffer(graph, dtype=np.uint8))
        except (cv2.error, ValueError, OSError) as error:
            reason = str(error).strip().splitlines()
            raise PeerUnavailable(f"{spec.filename} could not be loaded by OpenCV "
                                  f"{cv2.__version__}: {reason[-1] if reason else error}"
                                  ) from None
        if self.net.empty():
            raise PeerUnavailable(f"{spec.filename}: OpenCV loaded an empty network")

    @property
    def file_bytes(self) -> int:
        return self.path.stat().st_size

    def upscale(self, image: np.ndarray) -> np.ndarray:
        """Float32 RGB HxWx3 in [0, 1] -> float32 RGB (sH)x(sW)x3 on 8-bit steps, as
        ``dnn_superres`` would return it for the same 8-bit input."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
        rgb8 = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
        ycrcb = cv2.cvtColor(cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR), cv2.COLOR_BGR2YCrCb)
        planes = ycrcb.astype(np.float32) / np.float32(255.0)
        s = self.spec.scale
        self.net.setInput(np.ascontiguousarray(planes[None, None, :, :, 0]))
        y = self.net.forward()[0, 0]
        expected = (image.shape[0] * s, image.shape[1] * s)
        if y.shape != expected:
            raise RuntimeError(f"{self.spec.filename} returned {y.shape[1]}x{y.shape[0]}, "
                               f"expected {expected[1]}x{expected[0]}")
        cr = cv2.resize(planes[..., 1], None, fx=s, fy=s)
        cb = cv2.resize(planes[..., 2], None, fx=s, fy=s)
        merged = cv2.merge([y.astype(np.float32), cr, cb])
        # convertTo(CV_8U, 255.0): multiply, round half to even, saturate.
        merged8 = np.clip(np.rint(merged * 255.0), 0, 255).astype(np.uint8)
        rgb = cv2.cvtColor(cv2.cvtColor(merged8, cv2.COLOR_YCrCb2BGR), cv2.COLOR_BGR2RGB)
        return rgb.astype(np.float32) / np.float32(255.0)


def load_peer(spec: PeerSpec, directory: str | os.PathLike[str] | None = None) -> OpenCVPeer:
    """The loaded peer; raises :class:`PeerUnavailable` with a one-line reason."""
    return OpenCVPeer(spec, directory)


def peers_for_scale(scale: int) -> list[PeerSpec]:
    return [spec for spec in PEER_MODELS if spec.scale == scale]
