"""Content-addressed image files inside a project folder."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png_bytes(image: np.ndarray | Image.Image) -> bytes:
    """Encode pixels as PNG; the bytes depend on the pixels alone (no metadata chunks)."""
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def put_bytes(root: Path, data: bytes, suffix: str = ".png") -> tuple[str, str]:
    """Store `data` under files/ab/<sha256><suffix>; return (relative path, sha256).

    Writes go to a temporary name first and are renamed into place, so a crash never leaves a
    half-written file under a content address.
    """
    digest = sha256_bytes(data)
    rel = Path("files") / digest[:2] / f"{digest}{suffix}"
    target = root / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Per process and thread: two writers of the same bytes must not share a temp file.
        tmp = target.with_name(f".{digest}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return rel.as_posix(), digest


def put_image(root: Path, image: np.ndarray | Image.Image) -> tuple[str, str]:
    return put_bytes(root, png_bytes(image), ".png")


def put_file(root: Path, source: Path) -> tuple[str, str]:
    """Copy an existing image file into the store, keeping its format's suffix."""
    return put_bytes(root, Path(source).read_bytes(), Path(source).suffix.lower() or ".bin")
