"""Decoding a stored image to 8-bit RGB, the one way every stage reads pixels.

PIL's convert("RGB") clips high-bit-depth pixels instead of scaling them: a 16-bit grey
gradient (0..65535) becomes almost all 255. Here 16-bit and 32-bit integer images are scaled
to 0..255, and float images are read as 0..1 (or clipped to 0..255 when they exceed 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def to_rgb8(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of `image`, with 16-bit / integer / float pixels scaled, not clipped."""
    if image.mode in SIXTEEN_BIT or image.mode == "I":
        pixels = np.asarray(image).astype(np.float64)
        # Mode "I" holds 16-bit files in some Pillow versions; values above 255 say so.
        scale = 257.0 if image.mode in SIXTEEN_BIT or pixels.max(initial=0) > 255 else 1.0
        grey = np.clip(np.round(pixels / scale), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode == "F":
        pixels = np.asarray(image).astype(np.float64)
        pixels = pixels * 255.0 if pixels.max(initial=0) <= 1.0 else pixels
        grey = np.clip(np.round(np.nan_to_num(pixels)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return image.convert("RGB")


def open_rgb(path: Path | str) -> Image.Image:
    """Decode the image file at `path` fully, as 8-bit RGB."""
    with Image.open(path) as im:
        return to_rgb8(im)
