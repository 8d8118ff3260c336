"""Shared helpers for the core tests: hand-built ICC profiles, so colour management is
tested against real non-sRGB profiles without shipping any files."""

from __future__ import annotations

import struct

import pytest

# D50-adapted colorants of the Adobe RGB (1998) primaries, as found in Adobe's own profile.
ADOBE_RGB_COLUMNS = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609),
                     (0.1492, 0.0632, 0.7446))
D50 = (0.9642, 1.0, 0.8249)


def _s15(*values: float) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x, y, z)


def _gamma_curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_
            + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67)


def build_icc_v2(space: bytes, tags: dict[bytes, bytes]) -> bytes:
    """A minimal ICC v2 display profile with ``tags`` (4-byte aligned, shared data allowed)."""
    table_len = 4 + 12 * len(tags)
    offset = 128 + table_len
    entries, blobs, seen = [], b"", {}
    for sig, data in tags.items():
        if data not in seen:
            seen[data] = offset + len(blobs)
            blobs += data + b"\0" * (-len(data) % 4)
        entries.append(struct.pack(">4sII", sig, seen[data], len(data)))
    body = struct.pack(">I", len(tags)) + b"".join(entries) + blobs
    size = 128 + len(body)
    header = (struct.pack(">I", size) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntr" + space
              + b"XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
              + _s15(*D50) + b"\0" * 48)
    assert len(header) == 128
    return header + body


def make_rgb_profile(columns=ADOBE_RGB_COLUMNS, gamma: float = 2.2,
                     name: str = "Test Adobe-like RGB") -> bytes:
    trc = _gamma_curve(gamma)
    tags = {b"desc": _desc(name), b"cprt": b"text\0\0\0\0PD\0", b"wtpt": _xyz(*D50),
            b"rXYZ": _xyz(*columns[0]), b"gXYZ": _xyz(*columns[1]), b"bXYZ": _xyz(*columns[2]),
            b"rTRC": trc, b"gTRC": trc, b"bTRC": trc}
    return build_icc_v2(b"RGB ", tags)


def make_gray_profile(gamma: float = 2.2, name: str = "Test Gray 2.2") -> bytes:
    tags = {b"desc": _desc(name), b"cprt": b"text\0\0\0\0PD\0", b"wtpt": _xyz(*D50),
            b"kTRC": _gamma_curve(gamma)}
    return build_icc_v2(b"GRAY", tags)


@pytest.fixture
def adobe_like_icc() -> bytes:
    return make_rgb_profile()


@pytest.fixture
def gray22_icc() -> bytes:
    return make_gray_profile()
