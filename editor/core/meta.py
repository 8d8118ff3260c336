"""What we remember about a file so export can give it back as it came (profile, EXIF, depth)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ImageMeta:
    """Facts about the file a document came from.

    ``icc_profile`` is the *original* embedded profile (pixels in memory are sRGB after
    loading; export converts back to it). ``exif`` is raw EXIF bytes with the orientation
    tag already reset to 1, because orientation is applied to the pixels on load.
    """

    path: Path | None = None
    format: str = "PNG"             # Pillow format name: PNG, JPEG, TIFF, WEBP, BMP
    bit_depth: int = 8              # 8 or 16 bits per channel in the source
    mode: str = "RGB"               # Pillow mode of the source (L, RGB, RGBA, CMYK, P, I;16 ...)
    has_alpha: bool = False
    icc_profile: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None
    extra: dict = field(default_factory=dict)
