"""Inline thumbnails: a sample's image shrunk and written as a base64 PNG data: URI."""

from __future__ import annotations

import base64
import io

from PIL import Image

from debias_core.store import Store
from debias_core.store.images import open_rgb


def thumb_uri(store: Store, rel_path: str, size: int) -> str:
    """A PNG data: URI of the image at `rel_path`, at most `size` pixels a side (never enlarged:
    the page scales small images up with crisp pixels)."""
    image = open_rgb(store.resolve(rel_path, "a sample image"))
    if max(image.size) > size:
        image.thumbnail((size, size), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
