"""Writers of tiny fixture datasets (images, CSVs, oversized PNG headers) for the adapter tests."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image


def write_image(path: Path, size: tuple[int, int] = (8, 8), colour=(200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)  # format from the suffix (.png / .jpg)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


def huge_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares `width` x `height` pixels; no pixel data is allocated."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


# Canonical rows (filename, y, a, split) and how each CSV format names its columns.
ROWS = [
    ("imgs/a.png", "0", "0", "train"),
    ("imgs/b.jpg", "1", "1", "1"),
    ("imgs/c.png", "1", "0", "2"),
]
FORMATS = {
    "metadata-csv": ("metadata.csv", ["filename", "y", "a", "split"], {}),
    "waterbirds": ("metadata.csv", ["img_filename", "y", "place", "split"], {}),
    "folder-csv": (
        "labels.csv",
        ["file", "species", "bg", "part"],
        {
            "csv": "labels.csv",
            "path_column": "file",
            "label_column": "species",
            "attr_column": "bg",
            "split_column": "part",
        },
    ),
}


def make_csv_dataset(root: Path, fmt: str, rows=ROWS, header=None) -> tuple[Path, dict]:
    """Write the format's CSV and any missing imgs/ images; returns (csv path, options)."""
    csv_name, columns, options = FORMATS[fmt]
    for row in rows:
        if row[0].startswith("imgs/") and not (root / row[0]).exists():
            write_image(root / row[0])
    return write_csv(root / csv_name, header or columns, [list(r) for r in rows]), dict(options)
