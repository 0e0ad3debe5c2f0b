"""Shared checks for dataset adapters: paths stay inside the root, images decode, labels are ints.

Every helper takes `where` (e.g. ``"/data/wb/metadata.csv row 3"``) and raises `DatasetError`
with it as the message prefix, so a user can find the offending file and row at once.
"""

from __future__ import annotations

import csv
import errno
import re
import warnings
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath

from PIL import Image

from debias_core.data.base import DatasetError

MAX_PIXELS = 64_000_000
"""Default per-image pixel limit (about 8000 x 8000); larger files are refused before decoding."""
MAX_LABELS = 10_000
"""Most classes (and most attribute values) a project holds: labels are 0 .. MAX_LABELS - 1.

Class and attribute names are made per label, so an unbounded label such as 99999999999 in a
CSV would exhaust memory; such a dataset is refused with this limit named instead."""

_SPLIT_ALIASES = {
    "train": "train",
    "0": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "1": "val",
    "test": "test",
    "2": "test",
}
_NON_NEGATIVE_INT = re.compile(r"[0-9]+")


def check_root(root: Path | str) -> Path:
    """The dataset root as an absolute, resolved directory path."""
    path = Path(root).expanduser()
    try:
        if path.is_dir():
            return path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # name too long, symlink loop, ...
        raise DatasetError(f"dataset root {str(path)!r} cannot be used: {_why(exc)}") from None
    raise DatasetError(f"dataset root {str(path)!r} is not a directory")


def _why(exc: BaseException) -> str:
    if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
        return "a symlink loop"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def resolve_inside(root: Path, rel: str, where: str, what: str = "image") -> Path:
    """Resolve `rel` under `root`; refuse absolute paths, escapes (.., symlinks), missing files."""
    path = _resolve(root, rel, where, what)
    if not path.is_file():
        raise DatasetError(f"{where}: {what} path {rel!r} is not a file")
    return path


def resolve_dir(root: Path, rel: str, where: str) -> Path:
    """Like `resolve_inside`, for a folder under the root ("" means the root itself)."""
    path = _resolve(root, rel or ".", where, "folder")
    if not path.is_dir():
        raise DatasetError(f"{where}: {rel!r} is not a folder")
    return path


def _resolve(root: Path, rel: str, where: str, what: str) -> Path:
    rel = rel.strip() if isinstance(rel, str) else ""
    if not rel:
        raise DatasetError(f"{where}: empty {what} path")
    if "\x00" in rel:
        raise DatasetError(f"{where}: {what} path {rel!r} contains a NUL byte")
    base = root.resolve()
    try:
        # resolve() follows symlinks, so a link inside the root that points outside is caught.
        path = (base / rel).resolve()
        inside = path.is_relative_to(base)
        exists = inside and path.exists()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name over the OS limit, ...
        raise DatasetError(f"{where}: {what} path {rel!r} cannot be used: {_why(exc)}") from None
    if _is_absolute(rel) and not inside:
        raise DatasetError(
            f"{where}: absolute path {rel!r} is not under the dataset root {str(base)!r}; use a "
            "path relative to the root, or an absolute one inside it"
        )
    if not inside:
        raise DatasetError(f"{where}: path {rel!r} points outside the dataset root {str(base)!r}")
    if not exists:
        raise DatasetError(f"{where}: {what} {rel!r} not found (looked for {str(path)!r})")
    return path


def _is_absolute(rel: str) -> bool:
    return Path(rel).is_absolute() or bool(PureWindowsPath(rel).drive) or rel.startswith("\\")


def check_image(path: Path, where: str, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Check that `path` is a whole, decodable image of at most `max_pixels`; returns (w, h).

    The size comes from the header, so an oversized image is refused before any decoding.
    PIL's own decompression-bomb guard (a process-wide setting) can fire first on gigantic
    headers; it is reported the same way. Its warning is silenced because our limit decides.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                size = im.size
                if size[0] * size[1] > max_pixels:
                    raise DatasetError(
                        f"{where}: image {str(path)!r} has {size[0]}x{size[1]} pixels, "
                        f"over the limit of {max_pixels}"
                    )
                im.verify()  # checks structure and checksums without decoding pixels
            # verify() leaves the object unusable; reopen to decode fully (catches truncation).
            with Image.open(path) as im:
                im.load()
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{where}: image {str(path)!r} is too large: {exc}") from None
    except DatasetError:
        raise
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, struct.error, ...
        raise DatasetError(
            f"{where}: image {str(path)!r} is corrupt or truncated ({type(exc).__name__}: {exc})"
        ) from None
    return size


def parse_label(value: str, where: str, column: str, upper: int | None = None) -> int:
    """Parse a non-negative integer label ("1.0", "-1", "cat" are refused); `< upper`.

    Without `upper` the bound is MAX_LABELS: a label space is a list of names in memory.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not _NON_NEGATIVE_INT.fullmatch(text):
        raise DatasetError(
            f"{where}: column {column!r} must be a non-negative integer, got {value!r}"
        )
    if upper is None and (len(text.lstrip("0")) > 9 or int(text) >= MAX_LABELS):
        raise DatasetError(
            f"{where}: column {column!r} is {value!r}, over the {MAX_LABELS:,} labels a project "
            "can hold; number the labels from 0"
        )
    label = int(text)
    if upper is not None and label >= upper:
        raise DatasetError(
            f"{where}: column {column!r} must be one of 0..{upper - 1}, got {value!r}"
        )
    return label


def normalize_split(value: str, where: str) -> str:
    """Map train/val/test, 0/1/2 (SubpopBench / Waterbirds codes) and valid(ation) to a split."""
    key = value.strip().lower() if isinstance(value, str) else ""
    if key not in _SPLIT_ALIASES:
        raise DatasetError(
            f"{where}: unknown split {value!r}; use train/val/test (or 0/1/2, valid, validation)"
        )
    return _SPLIT_ALIASES[key]


def read_csv_rows(path: Path, required_columns: Sequence[str]) -> list[dict[str, str]]:
    """Read a CSV with a header into dicts (data row k is list index k-1); blank lines skipped.

    Refuses a missing or empty file, missing or repeated columns, and rows whose field count
    differs from the header's. A UTF-8 byte-order mark (Excel's CSV export) is accepted.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{str(path)!r}: CSV file not found")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            lines = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{str(path)!r}: cannot read as UTF-8 CSV ({exc})") from None
    if not lines:
        raise DatasetError(f"{str(path)!r}: file is empty (expected a header row)")
    header = [name.strip() for name in lines[0]]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DatasetError(f"{str(path)!r}: repeated column(s) {repeated}")
    missing = [name for name in required_columns if name not in header]
    if missing:
        raise DatasetError(f"{str(path)!r}: missing column(s) {missing}; found {header}")
    if len(lines) == 1:
        raise DatasetError(f"{str(path)!r}: no data rows after the header")
    rows = []
    for n, cells in enumerate(lines[1:], start=1):
        if len(cells) != len(header):
            raise DatasetError(
                f"{str(path)} row {n}: {len(cells)} fields, expected {len(header)} ({cells!r})"
            )
        nul = next((name for name, cell in zip(header, cells, strict=True) if "\x00" in cell), None)
        if nul is not None:
            raise DatasetError(f"{str(path)} row {n}: column {nul!r} contains a NUL byte")
        rows.append({name: cell.strip() for name, cell in zip(header, cells, strict=True)})
    return rows


class ImageChecks:
    """Images gathered while parsing; `run()` checks them all in one final pass.

    Adding refuses a second row that points at an already listed file, so one image is never
    imported twice under different labels.
    """

    def __init__(self, max_pixels: int = MAX_PIXELS) -> None:
        if max_pixels < 1:
            raise DatasetError(f"max_pixels must be >= 1, got {max_pixels}")
        self.max_pixels = max_pixels
        self._where: dict[Path, str] = {}

    def add(self, path: Path, where: str) -> None:
        if path in self._where:
            raise DatasetError(
                f"{where}: image {str(path)!r} already listed at {self._where[path]}"
            )
        self._where[path] = where

    def __len__(self) -> int:
        return len(self._where)

    def run(self) -> None:
        for path, where in self._where.items():
            check_image(path, where, self.max_pixels)
