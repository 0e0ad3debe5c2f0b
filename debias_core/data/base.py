"""The canonical sample record every dataset adapter produces, and the adapter Protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from debias_core.registry import Registry

SPLITS = ("train", "val", "test")


class DatasetError(ValueError):
    """Bad dataset input. The message names the file (and row) at fault."""


@dataclass(frozen=True)
class SampleRecord:
    """One real sample as an adapter sees it, before it enters the store.

    `path` is absolute and already checked to exist inside the dataset root. `y` is the class,
    `a` the spurious attribute (context); both are small non-negative ints. `labels` holds a
    multi-label set (COCO-Stuff style) and is empty for single-label data.
    """

    path: Path
    y: int
    a: int
    split: str
    meta: dict[str, Any] = field(default_factory=dict)
    labels: tuple[int, ...] = ()
    mask_path: Path | None = None  # an exact foreground mask, where the dataset has one


@dataclass(frozen=True)
class DatasetImport:
    """What an adapter returns: the records and the human names of classes and attributes."""

    name: str
    records: list[SampleRecord]
    class_names: list[str]
    attr_names: list[str]
    root: Path
    params: dict[str, Any] = field(default_factory=dict)


class DatasetAdapter(Protocol):
    """Reads one on-disk dataset format into canonical records, validating everything first."""

    def __call__(self, root: Path, **options: Any) -> DatasetImport: ...


DATASETS: Registry[DatasetAdapter] = Registry("dataset")
